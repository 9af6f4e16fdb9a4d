"""Witnesses: concrete event sequences from CLOSED that reach a state or apply a rule.

A witness is what check 6 (models/check_reach.py) finds for every rule of ``tcp.toml``: a list
of steps from the initial TCB, each an event (a user call, an arriving segment, a timer, or
the output process sending a segment), the rules the spec applies in it, the concrete segment
and inputs used, and the variables that the rules do not set (role "observed") as the
environment model below leaves them. The last step applies the rule the witness is for.

Witnesses are data (:meth:`Witness.to_json`): the conformance tests replay them against the
Rust core. The core's variables will not be the spec's exactly (its ISN, its buffers), so the
replay re-solves each step: :func:`solve_step` finds a segment and inputs for which, from the
core's actual TCB, the spec applies the same rules as the recorded step.

The environment model (:class:`Environment`) stands for the core's buffers and timers, which
the spec leaves open (the variables of role "observed"): the send buffer grows by what the
user queues and shrinks as SND.UNA passes data; the retransmission timer runs while something
is unacknowledged or the peer's window is shut; the reassembly buffer holds out-of-order text
up to its furthest byte; the receive window stays fully open. It is written in the spec's
expression language, so the search evaluates it on numbers and Z3 reasons about it alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import z3

from .expr import MASK, SpecError, Value, define_macro, evaluate, names, parse, to_z3
from .report import Segment, Trace, TraceEvent
from .spec import FLAGS, SEG_BOOLS, SEGMENT_FIELDS, Spec, out_env, step
from .symbolic import (
    SymStep,
    Term,
    env_of,
    fresh_inputs,
    fresh_segment,
    fresh_tcb,
    model_value,
    sym_step,
    val,
)

OUTPUT = "output"  # the event name of the output process in a witness
# Small limits so that giving up (RFC 9293 3.8.3 R2), fast retransmit and giving up on
# keep-alives (RFC 9293 3.8.4: two probes, so that one unanswered probe is not the end) are a
# few events away.
CONFIG: dict[str, Value] = {
    "reach": 65535,
    "dupack_threshold": 3,
    "max_retries": 3,
    "keepalive_count": 2,
    # Off: the witnesses of every rule but the timestamp ones need none (check_reach).
    "timestamps": False,
    # Off likewise but for the probe timer's own witness: with it on, the timer that
    # expires after data is the probe's, not the retransmission timer.
    "tail_loss_probe": False,
}
ISN = 1000  # our ISN (in.isn): readable numbers in witnesses
PEER_ISN = 5000  # the peer's, preferred for the SYNs Z3 makes up
SEND_N = 100  # bytes one SEND queues
RCV_WND = 65535  # the receive window: the application reads at once

# What the core's reassembly buffer reports as "new bytes held" (in.new_held): text that
# reaches past what is held already (held_end is RCV.NXT when nothing is), and does not lie
# wholly after a FIN waiting for the gap. Exact for a single held block, as in the witnesses.
REALISTIC_SEGMENT = (
    "in.new_held == (gt(seg.seq + seg.len, held_end) and not (peer_fin_held and "
    "ge(seg.seq, peer_fin_seq)))"
)
# Z3 picks whatever satisfies a query. These preferences, tried in order and each dropped
# when the rules cannot have it, make segments read like a well-behaved peer's; the last,
# "true", always applies, so a preference never hides a witness (an ACK for unsent data, a
# segment without ACK come from there).
# A well-behaved peer: numbers near ours, SYNs from its ISN, an ACK on everything after the
# SYN, an open window or the one it offered before, no RST with text.
PLAUSIBLE = (
    "(seg.wnd == 65535 or seg.wnd == snd_wnd) and seg.len <= 100 and in.fill <= 100"
    f" and ite(seg.SYN, seg.seq == {PEER_ISN} and seg.len == 0 and not seg.FIN and not seg.RST,"
    " seg.ACK and seg.seq - rcv_nxt + 65536 <= 196608)"
    " and ite(seg.ACK, seg.ack - snd_una + 65536 <= snd_max - snd_una + 131072, seg.ack == 0)"
    " and (seg.RST -> seg.len == 0 and not seg.FIN)"
    # Timestamps as a peer sends them (RFC 7323 3.2): on its SYN when we offer them, on
    # everything once agreed; its clock standing still, nothing echoed.
    " and seg.TS == (ts_ok or seg.SYN and timestamps) and seg.tsecr == 0"
    " and (not seg.TS or seg.SYN or seg.tsval == ts_recent)"
)
# ... that is, moreover, exactly in sequence, or a segment's length ahead or behind, and
# acknowledges all or nothing of what is outstanding.
NATURAL = (
    f"{PLAUSIBLE} and (seg.len == 0 or seg.len == 100) and in.fill == 0"
    " and (seg.SYN or seg.seq == rcv_nxt or seg.seq == rcv_nxt + 100"
    " or seg.seq == rcv_nxt - 100 or seg.seq == rcv_nxt + 65535)"
    " and (not seg.ACK or seg.ack == snd_max or seg.ack == snd_una or seg.ack == snd_max + 1)"
)
# ... and, moreover, sends no FIN and acknowledges all that is outstanding.
SIMPLE = f"{NATURAL} and not seg.FIN and (seg.ACK -> seg.ack == snd_max)"
PREFERENCES = (PLAUSIBLE, "true")  # the search's: one query per tier to learn it is spent
SOLVE_PREFERENCES = (SIMPLE, NATURAL, PLAUSIBLE, "true")  # solve_step's, and the witnesses' polish


class WitnessError(AssertionError):
    """A witness does not replay: a step applies other rules than it records."""


@dataclass
class WitnessStep:
    event: str  # an event of the spec, or "output"
    fired: list[str]  # rule ids spec.step applies (for "output": the [[output]] shape matched)
    seg: dict[str, Value] | None = None  # the arriving segment, for "segment"
    inputs: dict[str, Value] = field(default_factory=dict)  # in.* values
    out: dict[str, Value] | None = None  # the segment sent, for "output"
    state: str = ""  # the state after the step
    observed: dict[str, Value] = field(default_factory=dict)  # observed variables after it

    def describe(self) -> str:
        if self.event == "segment" and self.seg is not None:
            return f"segment({_segment(self.seg).label()})"
        if self.event == OUTPUT and self.out is not None:
            return f"output({_segment(self.out).label()})"
        if self.event == "send":
            return f"send({self.inputs.get('n', 0)})"
        return self.event


@dataclass
class Witness:
    target: str  # a rule id, an [[output]] id or a state name
    steps: list[WitnessStep]
    config: dict[str, Value] = field(default_factory=lambda: dict(CONFIG))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Witness:
        return cls(
            target=str(data["target"]),
            steps=[WitnessStep(**s) for s in data["steps"]],
            config=dict(data.get("config", CONFIG)),
        )

    def describe(self) -> str:
        return ", ".join(s.describe() for s in self.steps)

    def trace(self) -> Trace:
        """The witness as a message sequence chart: our TCP on the left, the peer right."""
        events: list[TraceEvent] = []
        for s in self.steps:
            if s.event == "segment" and s.seg is not None:
                events.append(TraceEvent("tcp", "deliver", "", _segment(s.seg), s.fired, s.state))
            elif s.event == OUTPUT and s.out is not None:
                events.append(TraceEvent("tcp", "send", "", _segment(s.out), s.fired, s.state))
            else:
                kind = "timeout" if s.event == "timeout" else "call"
                events.append(TraceEvent("tcp", kind, s.describe(), None, s.fired, s.state))
        return Trace(events, ("tcp", "peer"))


def _segment(fields: Mapping[str, Value]) -> Segment:
    flags = ",".join(f for f in FLAGS if fields.get(f))
    return Segment(
        flags, int(fields["seq"]), int(fields["ack"]), int(fields["len"]), int(fields["wnd"])
    )


# --- the initial TCB and the environment model ------------------------------------------

# The environment model, in the spec's expression language: names are the TCB after the
# step (``state``, ``snd_una``), before it (``pre.*``), the segment, the inputs and
# ``fired.<rule id>``. Helper definitions first (prefixed ``env_``, apart from the spec's).
ENV_MACROS: tuple[tuple[str, str], ...] = (
    ("env_off", "state == CLOSED or state == LISTEN"),
    ("env_was_off", "pre.state == CLOSED or pre.state == LISTEN"),
    # What an advance of SND.UNA acknowledges besides data: our SYN, our FIN (RFC 9293 3.4:
    # each occupies one sequence number).
    (
        "env_syn_acked",
        "snd_una != pre.snd_una and (pre.state == SYN_SENT or pre.state == SYN_RECEIVED)",
    ),
    ("env_fin_acked", "snd_una != pre.snd_una and pre.fin_sent and lt(pre.fin_seq, snd_una)"),
    ("env_acked", "snd_una - pre.snd_una - flag(env_syn_acked) - flag(env_fin_acked)"),
    ("env_offered", "pre.queued + ite(fired.send.queue, in.n, 0)"),
    (
        "env_queued",
        "ite(env_off or env_was_off, 0, ite(env_offered >= env_acked, env_offered - env_acked, 0))",
    ),
    ("env_waiting", "env_queued != 0 or fin_queued and not fin_sent"),
    # RFC 9293 3.8.6.1: the persist timer takes over once a probe went out, for as long as
    # the window stays shut and something waits to be sent.
    (
        "env_persisting",
        "not env_off and (pre.persisting or fired.timer.probe) and snd_wnd == 0 and env_waiting",
    ),
    # RFC 6298 5.1, 5.2: the timer runs while data (or a SYN, a FIN) is unacknowledged; with
    # the window shut and data waiting it runs as the persist timer. In TIME-WAIT the 2 MSL
    # timer runs instead.
    (
        "env_rto_armed",
        "not env_off and state != TIME_WAIT and (state == SYN_SENT or state == SYN_RECEIVED "
        "or snd_una != snd_max or snd_wnd == 0 and env_waiting)",
    ),
    # The reassembly buffer holds text beyond a gap, within the window and not past a FIN
    # that waits for the gap (the spec takes nothing after it either).
    ("env_text_end", "seg.seq + seg.len"),
    ("env_window_end", "pre.rcv_nxt + pre.rcv_wnd"),
    (
        "env_fits",
        "ite(lt(env_window_end, env_text_end), env_window_end, env_text_end)",
    ),
    (
        "env_hold_end",
        "ite(peer_fin_held and lt(peer_fin_seq, env_fits), peer_fin_seq, env_fits)",
    ),
    (
        "env_held_to",
        "ite(fired.data.out_of_order and (not pre.held or lt(pre.held_end, env_hold_end)), "
        "env_hold_end, pre.held_end)",
    ),
    (
        "env_held",
        "not env_off and (pre.held or fired.data.out_of_order) and lt(rcv_nxt, env_held_to)",
    ),
)
ENV_MACROS += (
    (
        "env_tlp_runs",
        "tail_loss_probe and sack_ok and (state == ESTABLISHED or state == CLOSE_WAIT or "
        "state == FIN_WAIT_1 or state == CLOSING or state == LAST_ACK) and snd_una != snd_max "
        "and snd_max - snd_una <= snd_wnd and not env_persisting and not in_recovery "
        "and env_rto_armed",
    ),
)
# The delayed-ACK timer runs after in-order text whose ACK may wait and did (RFC 9293
# 3.8.6.3): no gap filled, no FIN with it. Any later step is taken to have sent an ACK (an
# under-approximation: the witnesses wait for the timer right away or not at all).
ENV_MACROS += (
    (
        "env_ack_delayed",
        "not env_off and fired.data.in_order and in.ack_delay_ok and not pre.held "
        "and not fin_received",
    ),
)
# Each observed variable after a step.
ENVIRONMENT: dict[str, str] = {
    "ack_delayed": "env_ack_delayed",
    "queued": "env_queued",
    "persisting": "env_persisting",
    "rto_armed": "env_rto_armed",
    "held": "env_held",
    "held_end": "ite(env_held, env_held_to, rcv_nxt)",
    "rcv_wnd": str(RCV_WND),
    # Every step's ACK goes at once unless the delayed-ACK timer holds it (as above).
    "last_ack_sent": "ite(env_ack_delayed, pre.last_ack_sent, rcv_nxt)",
    # The witnesses' peer offers no SACK (its SYNs carry no SACK-permitted), so it stays
    # as the fresh TCB has it: off, and duplicate ACKs are RFC 5681's. Except for the probe
    # timer's witness (tail-loss probes need SACK): that peer's SYN offers it.
    "sack_ok": "ite(fired.listen.recv_syn or fired.syn_sent.recv_synack or "
    "fired.syn_sent.recv_syn, tail_loss_probe, pre.sack_ok)",
    # RFC 8985 7.2: the probe timer (re)starts when new data goes or an ACK acknowledges
    # new data, while data is outstanding outside recovery and persisting; its expiry
    # stops it until the next ACK of new data.
    "tlp_armed": "env_tlp_runs and not fired.timer.tlp and (snd_una != pre.snd_una or "
    "gt(snd_max, pre.snd_max) or pre.tlp_armed)",
}


class Environment:
    """The environment model of one spec: the observed variables after a step."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        macros = dict(spec.macros)
        for sig, body in ENV_MACROS:
            m = define_macro(sig, body, macros)
            if m.name in spec.macros:
                raise SpecError(f"environment helper {m.name} shadows a macro of the spec")
            macros[m.name] = m
        observed = {n for n, v in spec.variables.items() if v.role == "observed"}
        if observed != set(ENVIRONMENT):
            raise SpecError(
                f"the environment model covers {sorted(ENVIRONMENT)}, "
                f"the spec observes {sorted(observed)}"
            )
        self.exprs = {n: parse(t, macros) for n, t in ENVIRONMENT.items()}

    def reads(self) -> set[str]:
        """The TCB variables the model reads (before or after the step)."""
        used = set().union(*(names(e) for e in self.exprs.values()))
        return {n.removeprefix("pre.") for n in used} & set(self.spec.variables)

    def after(
        self,
        pre_state: str,
        pre: Mapping[str, Value],
        state: str,
        post: Mapping[str, Value],
        fired: Iterable[str],
        seg: Mapping[str, Value] | None,
        inputs: Mapping[str, Value],
    ) -> dict[str, Value]:
        """``post`` with the observed variables set as the model says."""
        spec = self.spec
        env: dict[str, Value] = {**spec.constants(), **post, "state": spec.state_index(state)}
        env.update({"pre." + k: v for k, v in pre.items()})
        env["pre.state"] = spec.state_index(pre_state)
        for f in SEGMENT_FIELDS + SEG_BOOLS:
            env["seg." + f] = (seg or {}).get(f, False if f in SEG_BOOLS else 0)
        for name, var in spec.inputs.items():
            env["in." + name] = inputs.get(name, False if var.type == "bool" else 0)
        applied = set(fired)
        env.update({"fired." + r.id: r.id in applied for r in spec.rules})
        vals = dict(post)
        vals.update({n: evaluate(e, env) for n, e in self.exprs.items()})
        return vals

    def terms(self, env_final: Mapping[str, Term], fired: Mapping[str, Term]) -> dict[str, Term]:
        """The same as Z3 terms, from ``sym_step``'s final environment and fired terms."""
        env = dict(env_final)
        for r in self.spec.rules:
            env["fired." + r.id] = fired.get(r.id, z3.BoolVal(False))
        return {n: to_z3(e, env) for n, e in self.exprs.items()}


def initial(spec: Spec, config: Mapping[str, Value] | None = None) -> tuple[str, dict[str, Value]]:
    """CLOSED, every variable zero or false, the configuration, an open receive window."""
    values: dict[str, Value] = {
        v.name: (False if v.type == "bool" else 0) for v in spec.variables.values()
    }
    values.update(CONFIG if config is None else config)
    values["rcv_wnd"] = RCV_WND
    return spec.initial, values


def holds(spec: Spec, state: str, values: Mapping[str, Value], exprs: Iterable[Any]) -> bool:
    env: dict[str, Value] = {**spec.constants(), **values, "state": spec.state_index(state)}
    return all(evaluate(e, env) for e in exprs)


def _seq(spec: Spec, call: str, *args: Value) -> bool:
    """A sequence-space macro of the spec (``lt``), so the model compares as the rules do."""
    m = spec.macros[call]
    return bool(evaluate(m.body, dict(zip(m.params, args, strict=True))))


def _sub(a: Value, b: Value) -> int:
    return (int(a) - int(b)) & MASK


# --- the output process -----------------------------------------------------------------


def apply_output(
    spec: Spec, state: str, values: Mapping[str, Value], out: Mapping[str, Value]
) -> tuple[list[str], dict[str, Value]]:
    """The [[output]] shapes ``out`` matches in ``state`` and the TCB after sending it."""
    env = out_env(spec, state, values, out)
    matched = [o for o in spec.outputs if state in o.states and evaluate(o.shape, env)]
    vals = dict(values)
    for o in matched[:1]:
        for var, e in o.sets:
            vals[var] = evaluate(e, env)
    return [o.id for o in matched], vals


def output_candidates(
    spec: Spec, state: str, values: Mapping[str, Value]
) -> list[dict[str, Value]]:
    """What a core would send now: the queued data from SND.NXT on as far as the peer's
    window allows (with the FIN after the last byte once the user closed), and a pure ACK.
    A shut window sends nothing but the persist timer's probe byte (RFC 9293 3.8.6.1)."""
    v = values
    una, nxt = int(v["snd_una"]), int(v["snd_nxt"])
    data_end = (una + int(v["queued"])) & MASK
    base = {
        "ack": int(v["rcv_nxt"]),
        "wnd": int(v["rcv_wnd"]),
        "SYN": False,
        "ACK": True,
        "RST": False,
    }
    found: list[dict[str, Value]] = []
    if not _seq(spec, "lt", data_end, nxt):
        room = max(int(v["snd_wnd"]), 1) if (v["snd_wnd"] or v["persisting"]) else 0
        window_end = (una + room) & MASK
        length = min(
            _sub(data_end, nxt), _sub(window_end, nxt) if _seq(spec, "lt", nxt, window_end) else 0
        )
        fin = bool(v["fin_queued"]) and (nxt + length) & MASK == data_end
        if length or fin:
            found.append({**base, "seq": nxt, "len": length, "FIN": fin})
    pure = int(evaluate(spec.macros["pure_ack_seq"].body, v))
    found.append({**base, "seq": pure, "len": 0, "FIN": False})
    return [o for o in found if apply_output(spec, state, values, o)[0]]


# --- Z3: segments and inputs that make given rules apply --------------------------------


def _no_segment() -> dict[str, Term]:
    seg: dict[str, Term] = {f: val(0) for f in SEGMENT_FIELDS}
    seg.update({f: z3.BoolVal(False) for f in SEG_BOOLS})
    return seg


# Constants propagated, equations solved, then bit-blasted: on these small queries (a concrete
# TCB, a free segment) several times faster than the default incremental solver.
_TACTIC = ("simplify", "propagate-values", "solve-eqs", "simplify", "bit-blast", "sat")


@dataclass
class _Pipeline:
    """One event's pipeline from one state as Z3 terms over a free TCB, segment and inputs."""

    pre: dict[str, Term]
    seg: dict[str, Term]
    inputs: dict[str, Term]
    st: SymStep
    env: dict[str, Term]  # before the step
    post_env: dict[str, Term]  # after it, the observed variables as the environment sets them
    base: Term
    valid: Term  # the TCB after the step (with the environment's values) is within bounds
    possible: list[str]
    terms: dict[str, Term] = field(default_factory=dict)
    post_terms: dict[str, Term] = field(default_factory=dict)


class Pipelines:
    """``sym_step`` for each (state, event), built once and shared by every TCB in that state
    (translating the pipeline costs far more than a query). Pass one to :func:`solve_step`
    when solving many steps."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.environment = Environment(spec)
        self._built: dict[tuple[str, str], _Pipeline] = {}

    def get(self, state: str, event: str) -> _Pipeline:
        key = (state, event)
        if key not in self._built:
            spec = self.spec
            pre = fresh_tcb(spec, "w.pre.")
            pre["state"] = val(spec.state_index(state))
            seg = fresh_segment("w.") if event == "segment" else _no_segment()
            inputs = fresh_inputs(spec, "w.")
            st = sym_step(spec, pre, event, seg, inputs)
            env = env_of(spec, pre, seg, inputs)
            post_env = {**st.env_final, **self.environment.terms(st.env_final, st.fired)}
            # Not `stuck`: check 1 proves the phases total, and the concrete interpreter, which
            # has the last word on every answer, raises if one is not; leaving it out of the
            # queries makes them a third cheaper.
            base = [st.assume, z3.Not(st.refused)]
            if event == "segment":
                base.append(to_z3(parse(REALISTIC_SEGMENT, spec.macros), env))
            valid = z3.And(*[to_z3(b, post_env) for b in spec.bounds.values()])
            possible = [r for r, f in st.fired.items() if not z3.is_false(z3.simplify(f))]
            self._built[key] = _Pipeline(
                pre, seg, inputs, st, env, post_env, z3.And(*base), valid, possible
            )
        return self._built[key]


class StepSolver:
    """Z3 queries about one event from one concrete TCB, the segment and the inputs free."""

    def __init__(
        self,
        spec: Spec,
        state: str,
        values: Mapping[str, Value],
        event: str,
        pipelines: Pipelines | None = None,
    ) -> None:
        if event == OUTPUT or event not in spec.pipelines:
            raise ValueError(f"cannot solve for event {event!r}")
        self.spec, self.state, self.event = spec, state, event
        self.values = dict(values)
        self.p = (pipelines or Pipelines(spec)).get(state, event)
        self.fired: dict[str, Term] = self.p.st.fired
        self.pins = [self.p.pre[k] == val(v) for k, v in values.items() if k in spec.variables]
        self.queries = 0

    def term(self, text: str) -> Term:
        """``text`` over the TCB before the step, the segment and the inputs."""
        if text not in self.p.terms:
            self.p.terms[text] = to_z3(parse(text, self.spec.macros), self.p.env)
        return self.p.terms[text]

    def post_term(self, text: str) -> Term:
        """``text`` over the TCB after the step (``pre.*`` for before it), its observed
        variables as the environment model sets them."""
        if text not in self.p.post_terms:
            self.p.post_terms[text] = to_z3(parse(text, self.spec.macros), self.p.post_env)
        return self.p.post_terms[text]

    def possible(self) -> list[str]:
        """Rules that may apply in this state (the others cannot, whatever the values)."""
        return self.p.possible

    def exactly(self, fired: Iterable[str]) -> Term | None:
        """The step applies the rules ``fired`` and no other (None: one cannot apply here)."""
        want = set(fired)
        if not want <= set(self.fired):
            return None
        return z3.And(*[f if r in want else z3.Not(f) for r, f in self.fired.items()])

    def solve_exactly(
        self,
        fired: list[str],
        fix: Mapping[str, Value] | None = None,
        also: Term | None = None,
    ) -> tuple[dict[str, Value] | None, dict[str, Value]] | None:
        """:func:`solve_step` on this solver, with ``also`` as a further condition."""
        goal = self.exactly(fired)
        if goal is None:
            return None
        found = self.solve(goal if also is None else z3.And(goal, also), fix, SOLVE_PREFERENCES)
        if found is None:
            return None
        seg, inputs = found
        # The concrete interpreter has the last word: sym_step and step read the same rules.
        result = step(self.spec, self.state, self.values, self.event, seg, inputs)
        if result.fired != list(fired):
            raise SpecError(
                f"sym_step and step disagree from {self.state} on {self.event} {seg} {inputs}:"
                f" {result.fired} != {fired}"
            )
        return seg, inputs

    def solve(
        self, goal: Term, fix: Mapping[str, Value] | None = None, prefer: Iterable[str] = ("true",)
    ) -> tuple[dict[str, Value] | None, dict[str, Value]] | None:
        """A segment (None for other events) and inputs satisfying ``goal``, under the first
        of the preferences that can hold with it; None if there is none."""
        pins = [self.p.env[k] == val(v) for k, v in (fix or {}).items() if k in self.p.env]
        segment = self.event == "segment"
        for text in prefer:
            s = z3.Then(*_TACTIC).solver()
            s.add(self.p.base, *self.pins, goal, *pins)
            if segment:
                s.add(self.term(text))
            self.queries += 1
            if s.check() == z3.sat:
                m = s.model()
                seg = {k: model_value(m, t) for k, t in self.p.seg.items()} if segment else None
                return seg, {k: model_value(m, t) for k, t in self.p.inputs.items()}
            if not segment:
                break  # the preferences are about segments
        return None


def solve_step(
    spec: Spec,
    state: str,
    values: Mapping[str, Value],
    event: str,
    fired: list[str],
    fix: Mapping[str, Value] | None = None,
    pipelines: Pipelines | None = None,
) -> tuple[dict[str, Value] | None, dict[str, Value]] | None:
    """A segment (None unless ``event`` is "segment") and inputs for which ``spec.step``
    from ``state``/``values`` applies exactly the rules ``fired``, in that order; None if no
    segment does. ``fix`` pins names (``"seg.wnd"``, ``"in.isn"``) to values, e.g. what the
    core chose itself. The segment is as natural as the rules allow (SOLVE_PREFERENCES)."""
    return StepSolver(spec, state, values, event, pipelines).solve_exactly(fired, fix)


# --- replay -------------------------------------------------------------------------------


def apply(
    spec: Spec, state: str, values: Mapping[str, Value], s: WitnessStep
) -> tuple[str, dict[str, Value], list[str]]:
    """One recorded step on the spec: the state and values after it, and the rules applied."""
    if s.event == OUTPUT:
        assert s.out is not None
        fired, vals = apply_output(spec, state, values, s.out)
        post_state = state
    else:
        result = step(spec, state, values, s.event, s.seg, s.inputs)
        fired, vals, post_state = result.fired, result.values, result.state
    vals.update(s.observed)
    return post_state, vals, fired


def replay(spec: Spec, witness: Witness) -> tuple[str, dict[str, Value]]:
    """Run ``witness`` through the concrete spec; :class:`WitnessError` unless every step
    applies the rules it records and ends in the state it records."""
    state, values = initial(spec, witness.config)
    for i, s in enumerate(witness.steps):
        state, values, fired = apply(spec, state, values, s)
        if fired != s.fired or state != s.state:
            raise WitnessError(
                f"{witness.target}: step {i} ({s.describe()}) applies {fired} -> {state}, "
                f"the witness says {s.fired} -> {s.state}"
            )
    return state, values
