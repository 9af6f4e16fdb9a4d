"""Check 5: the two-peer properties proven for executions of every length.

The system is the one of :mod:`models.check_bmc` (two TCBs of the spec, the channel, the
environment model and its ghosts). A conjunction ``I`` of conditions on its states is an
inductive invariant when it holds initially (*initiation*) and every step from a state where
it holds leads to a state where it holds (*consecution*, one step of
:meth:`TwoPeers.transition` from an arbitrary state). Then it holds after any number of
steps, and so does every property it contains.

``I`` is: the properties (a) ``handshake agreement``, (b) ``in-order prefix delivery``, and
(c), (d) and the model's sanity as well; the spec's ``[tcb_invariants]`` for both peers; and
the auxiliary invariants of ``invariants.toml`` (``[invariants.peer]`` for each peer,
``[invariants.segment]`` for every segment in flight), written in the spec's expression
language with its macros.

Consecution is asked per kind of step (:data:`CASES`: the event and the peer that acts),
one query for all remaining obligations; a counterexample drops every obligation it breaks.
The queries are solved over the integers (:mod:`models.lia`, an exact translation of the
bit-vector terms): bit-blasted, the one for prefix delivery after in-order text was still
undecided after minutes; as linear arithmetic the whole proof takes seconds.

The channel has two slots: that proves the invariants for a channel of any size, because a
step touches at most the segment delivered and the one sent, so every per-segment obligation
is about those two and the peers, and with more slots the step relation only constrains
where a sent segment goes, never what the peers do.

A candidate that fails initiation or consecution is dropped and the rest is checked again,
until what remains is inductive (the Houdini algorithm): a property is PROVEN when it remains.
A property that had to be dropped is only BOUNDED (by the BMC depth); its finding gives the
counterexample to induction (CTI): a state satisfying everything else from which one step
breaks it, which is either unreachable (the invariants need strengthening) or the start of a
real counterexample (BMC finds it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import z3

from .check_bmc import (
    OPS,
    ROLES,
    SLOTS,
    Invariants,
    TwoPeers,
    World,
    describe_state,
    lemmas,
    load_invariants,
    step_events,
)
from .lia import Lia
from .report import BOUNDED, FAILED, PROVEN, Finding, Trace, TraceEvent
from .spec import Spec
from .symbolic import Term, model_value

Case = tuple[str, str]  # (op, role): one kind of step
#: Every kind of step: the client connects, the server listens, both do the rest.
CASES: tuple[Case, ...] = tuple(
    (op, role) for op in OPS for role in ROLES
    if (op, role) not in {("connect", "server"), ("listen", "client")}
)

QUERY_TIMEOUT_MS = 30_000  # one consecution query; undecided drops its obligation
BUDGET_S = 300.0  # the whole check, unless told otherwise

# The properties this check must prove (the others are proven when they survive too).
MUST = ("handshake agreement", "in-order prefix delivery")


@dataclass
class Obligation:
    name: str
    pre: Term  # it holds in the arbitrary state before the step
    post: Term  # ... and in the state after it
    initial: Term  # ... and in the initial state


@dataclass
class Verdict:
    kept: list[str]
    dropped: dict[str, str] = field(default_factory=dict)  # name -> why (the CTI)
    cti: dict[str, Trace] = field(default_factory=dict)
    queries: int = 0
    seconds: float = 0.0


class Induction:
    """The obligations of one spec over one arbitrary step of the two-peer system.

    Every query is solved over the integers (:mod:`models.lia`, an exact translation of the
    bit-vector terms): the consecution queries are chains of orderings between sequence
    numbers, which linear arithmetic decides in about a second where bit-blasting them does
    not finish in minutes. A counterexample found over the integers is rebuilt as a
    bit-vector model (the same values) to be printed."""

    def __init__(self, spec: Spec, inv: Invariants, timeout_ms: int = QUERY_TIMEOUT_MS,
                 slots: int = SLOTS, properties: bool = True) -> None:
        self.spec = spec
        self.model = TwoPeers(spec, slots)
        self.timeout_ms = timeout_ms
        self.w0 = self.model.world("i0.")
        self.pre = self.model.world("pre.")
        self.post = self.model.world("post.")
        self.step, self.choice = self.model.transition(self.pre, self.post, "t.")
        self.init = self.model.initial(self.w0)

        def all_of(w: World) -> dict[str, Term]:
            props = self.model.properties(w) if properties else {}
            return {**props, **lemmas(self.model, inv, w)}

        pre, post, w0 = all_of(self.pre), all_of(self.post), all_of(self.w0)
        self.obligations = [Obligation(n, pre[n], post[n], w0[n]) for n in pre]
        self.lia = Lia()
        self._int: dict[str, tuple[z3.ExprRef, z3.ExprRef, z3.ExprRef]] = {
            o.name: (self.lia(o.pre), self.lia(o.post), self.lia(o.initial))
            for o in self.obligations
        }
        self._step_int = self.lia(self.step)
        self._init_int = self.lia(self.init)
        self.queries = 0

    def case_of(self, case: Case) -> Term:
        op, role = case
        return z3.And(self.model.is_op(self.choice.op, op),
                      self.choice.who == z3.BoolVal(role == "server"))

    def solver(self) -> z3.Solver:
        # A fresh solver per query (incremental solving is slower on these).
        s = z3.SolverFor("QF_LIA")
        s.set("timeout", self.timeout_ms)
        s.add(*self.lia.ranges)
        return s

    def initiation(self, obs: list[Obligation]) -> dict[str, str]:
        """Obligations the initial states break, with why."""
        bad: dict[str, str] = {}
        todo = list(obs)
        while todo:
            s = self.solver()
            s.add(self._init_int, z3.Or(*[z3.Not(self._int[o.name][2]) for o in todo]))
            self.queries += 1
            res = s.check()
            if res != z3.sat:
                if res == z3.unknown:
                    why = f"initiation undecided ({s.reason_unknown()})"
                    bad.update({o.name: why for o in todo})
                return bad
            m = s.model()
            broken = [o for o in todo if not z3.is_true(m.eval(self._int[o.name][2], True))]
            bits = self.as_bits(m, z3.And(self.init, *[z3.Not(o.initial) for o in broken]))
            state = describe_state(self.spec, bits, self.w0)
            bad.update({o.name: f"fails initially:\n{state}" for o in broken})
            todo = [o for o in todo if o not in broken]
        return bad

    def consecution(self, assumed: list[Obligation], targets: list[Obligation], case: Case
                    ) -> tuple[str, list[Obligation], z3.ModelRef | None]:
        """("unsat", [], None) when every step of ``case`` from a state of ``assumed`` keeps
        every one of ``targets``; else the verdict, the targets the step breaks (all of them
        when undecided) and the counterexample, as a bit-vector model.

        One query per kind of step: with the actor and the event fixed, the step reduces to
        that event's rules."""
        s = self.solver()
        s.add(self._step_int, self.lia(self.case_of(case)),
              *[self._int[o.name][0] for o in assumed],
              z3.Or(*[z3.Not(self._int[o.name][1]) for o in targets]))
        self.queries += 1
        res = s.check()
        if res != z3.sat:
            return str(res), ([] if res == z3.unsat else list(targets)), None
        m = s.model()
        broken = [o for o in targets if not z3.is_true(m.eval(self._int[o.name][1], True))]
        query = z3.And(self.step, self.case_of(case), *[o.pre for o in assumed],
                       z3.Or(*[z3.Not(o.post) for o in broken]))
        return "sat", broken, self.as_bits(m, query)

    def as_bits(self, m: z3.ModelRef, formula: Term) -> z3.ModelRef:
        """The bit-vector model with the values of the integer model ``m`` of ``formula``."""
        s = z3.SolverFor("QF_BV")
        s.add(formula, *self.lia.pinned(m))
        if s.check() != z3.sat:  # the translation is exact: this would be a bug in it
            raise AssertionError("an integer model that is not a bit-vector model")
        return s.model()

    def cti(self, m: z3.ModelRef) -> tuple[str, Trace]:
        """The counterexample to induction: the state before, the step, the state after."""
        before = describe_state(self.spec, m, self.pre)
        after = describe_state(self.spec, m, self.post)
        chan = _channel_text(self.spec, m, self.pre)
        events = [TraceEvent("channel", "note", "from an arbitrary state satisfying I")]
        events += step_events(self.spec, m, self.choice, self.post)
        op = OPS[int(model_value(m, self.choice.op))]
        who = ROLES[int(bool(model_value(m, self.choice.who)))]
        text = f"before:\n{before}\n{chan}\nstep: {op} at the {who}\nafter:\n{after}"
        return text, Trace(events)


def _channel_text(spec: Spec, m: z3.ModelRef, w: World) -> str:
    from .check_bmc import _segment
    from .spec import SEG_BOOLS, SEGMENT_FIELDS

    lines = []
    for i, s in enumerate(w.slots):
        if model_value(m, s["valid"]):
            dest = ROLES[int(bool(model_value(m, s["to_server"])))]
            seg = _segment(m, {f: s[f] for f in (*SEGMENT_FIELDS, *SEG_BOOLS)})
            lines.append(f"slot {i} to {dest}: {seg.label()} wnd={seg.wnd}")
    del spec
    return "channel: " + ("; ".join(lines) if lines else "empty")


def houdini(ind: Induction, progress: Callable[[str], None] | None = None,
            deadline: float | None = None, cases: tuple[Case, ...] = CASES) -> Verdict:
    """The largest inductive subset of the obligations (Houdini): drop every obligation
    that fails initiation, or that some step from a state satisfying all remaining ones
    breaks, until none is dropped. One query per kind of step asks for all remaining
    obligations at once; its counterexample drops every obligation it breaks. An undecided
    query drops the obligations it was about."""
    start = time.monotonic()
    verdict = Verdict([])
    alive = list(ind.obligations)
    for name, why in ind.initiation(alive).items():
        verdict.dropped[name] = why
    alive = [o for o in alive if o.name not in verdict.dropped]
    settled: set[Case] = set()  # cases proven for the current set
    while len(settled) < len(cases):
        for case in cases:
            if case in settled:
                continue
            if deadline is not None and time.monotonic() > deadline:
                verdict.dropped.update({x.name: "not decided in the time limit" for x in alive})
                alive = []
                settled = set(cases)
                break
            if progress:
                progress(f"induction: {case[0]} at the {case[1]}, {len(alive)} candidates "
                         f"({time.monotonic() - start:.0f}s)")
            res, broken, m = ind.consecution(alive, alive, case)
            if res == "unknown" and len(alive) > 1:
                # Undecided all at once: ask one by one, so that only what is undecided
                # alone is dropped.
                res, broken, m = _one_by_one(ind, alive, case)
            if res == "unsat":
                settled.add(case)
                continue
            # Fewer assumptions now: every case must be asked again.
            settled.clear()
            alive = [o for o in alive if o not in broken]
            if m is None:
                why = f"{case[0]} at the {case[1]}: undecided ({res})"
                verdict.dropped.update({o.name: why for o in broken})
                continue
            text, trace = ind.cti(m)
            for o in broken:
                verdict.dropped[o.name] = f"a step breaks it:\n{text}"
                verdict.cti[o.name] = trace
            if progress:
                progress(f"induction: dropped {', '.join(o.name for o in broken)}")
    verdict.kept = [o.name for o in alive]
    verdict.queries = ind.queries
    verdict.seconds = time.monotonic() - start
    return verdict


def _one_by_one(ind: Induction, alive: list[Obligation], case: Case
                ) -> tuple[str, list[Obligation], z3.ModelRef | None]:
    """Consecution of each obligation alone: the first counterexample, or every obligation
    that stays undecided."""
    undecided = []
    for o in alive:
        res, broken, m = ind.consecution(alive, [o], case)
        if res == "sat":
            return res, broken, m
        if res != "unsat":
            undecided.append(o)
    return ("unknown", undecided, None) if undecided else ("unsat", [], None)


def check(
    spec: Spec,
    depth: int | None = None,
    timeout_s: float | None = None,
    progress: Callable[[str], None] | None = None,
    invariants: Invariants | None = None,
) -> list[Finding]:
    """Houdini over the properties and the auxiliary invariants, within ``timeout_s``
    (default :data:`BUDGET_S`): a property that remains is PROVEN for every depth."""
    del depth  # one step from an arbitrary state: no depth
    start = time.monotonic()
    inv = invariants if invariants is not None else load_invariants(spec)
    budget = timeout_s if timeout_s is not None else BUDGET_S
    ind = Induction(spec, inv, min(QUERY_TIMEOUT_MS, int(budget * 1000)))
    deadline = start + budget
    verdict = houdini(ind, progress, deadline)
    props = list(ind.model.properties(ind.w0))
    findings = []
    for name in props:
        if name in verdict.kept:
            findings.append(Finding(
                "induction", name, PROVEN,
                f"inductive with {len(verdict.kept)} invariants ({verdict.queries} queries, "
                f"{verdict.seconds:.0f}s): holds after any number of events",
                data={"invariants": len(verdict.kept), "unbounded": True},
            ))
        else:
            # The two the issue names must be proven: losing either fails the check, so a
            # change to the spec that breaks the proof is seen at once.
            findings.append(Finding(
                "induction", name, FAILED if name in MUST else BOUNDED,
                "not proven for every depth (only bounded, see bmc): " + verdict.dropped[name],
                trace=verdict.cti.get(name),
                data={"dropped": sorted(verdict.dropped), "must": name in MUST},
            ))
    dropped_lemmas = sorted(n for n in verdict.dropped if n not in props)
    if dropped_lemmas:
        first = dropped_lemmas[0]
        findings.append(Finding(
            "induction", "auxiliary invariants", BOUNDED,
            f"{len(dropped_lemmas)} not inductive, e.g. {first}: {verdict.dropped[first]}",
            trace=verdict.cti.get(first),
            data={"dropped": dropped_lemmas},
        ))
    return findings
