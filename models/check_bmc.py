"""Check 4: bounded model checking of two peers joined by a lossy, duplicating, reordering
channel.

The system: a client and a server, each a TCB of ``tcp.toml`` run by :func:`sym_step`, and a
channel of :data:`SLOTS` slots. One step is one of

- a user call at a peer (the spec's ``connect``, ``listen``, ``send``, ``close``, ``abort``;
  the client connects, the server listens: the two-peer check is about a client and a server;
  a simultaneous open (both connect) is covered by checks 2 and 6 and the conformance tests);
- a timeout at a peer, whenever the spec's timer rules let one apply;
- the output process of a peer sending one segment its ``[[output]]`` shapes allow;
- the channel handing one in-flight segment to its destination (the ``segment`` event). The
  slot is kept (a duplicate stays in flight) or freed; never delivering a slot is a loss, and
  any slot may go first, which reorders.

The segment a step sends (the output process's, or a control segment a rule emits: SYN,
SYN-ACK, RST, ACK) enters the lowest free slot or, when the channel is full, takes the place of
one in flight (which is lost); or it is lost at once.

The environment model (what ``tcp.toml`` leaves to the core, see its header):

- Byte streams are abstract: byte ``i`` of a peer's stream sits at sequence number
  ``iss + 1 + i`` and its content is a function of ``i``. A peer's ghost ``app`` counts the
  bytes its user queued (SEND with no error, RFC 9293 3.10.2); the output process sends no byte
  past ``iss + 1 + app`` and puts the FIN right after the last one (3.10.4). A receiver's ghost
  ``dlv`` counts the bytes it delivered in order, so it delivers the other's stream exactly
  when every delivery starts at the other's byte ``dlv``, is made of bytes that arrived, and
  ends within ``app``.
- ``queued`` is what the user queued and has not seen acknowledged; ``persisting`` follows the
  probe timer (RFC 9293 3.8.6.1) as :func:`models.witness.observe` has it; ``rcv_wnd`` and
  ``rto_armed`` are free at every step (any window, a timer that may expire at any time), an
  over-approximation of the core.
- The reassembly buffer is one block of bytes that arrived beyond a gap (ghosts ``blk_lo`` to
  ``blk_hi``; ``held`` and ``held_end`` follow from it): text the spec holds
  (``data.out_of_order``) extends the block when they touch and otherwise replaces it or is
  forgotten. Environment assumption on ``in.fill``: a filled gap releases held bytes only when
  the text taken in order reaches the block. One block is exact for one gap; with more, bytes
  the core would hold are forgotten, which only delays them to their retransmission.
- Each peer opens at most once. Environment assumption: a second connection from the same
  peer would meet old duplicates of the first, which TCP keeps apart with the ISN clock and
  the quiet time (RFC 9293 3.4.1, 3.4.2), both outside the spec (its ISN is a free input).
- A stream is shorter than 2^30 bytes (SEND queues nothing past that): the sequence space
  never wraps onto old data (PAWS, RFC 7323 5, is outside the spec).
- A rule's data emissions (retransmissions) are left to the output process, which may send the
  same segment from the same state in the next step (``output.data`` allows any segment from
  SND.UNA on); an emitted acknowledgement is a pure ACK at ``pure_ack_seq`` (``output.ack``).

Properties, after every step up to the depth:

- (a) ``handshake agreement``: when both peers are ESTABLISHED, each one's IRS is the other's
  ISS and its RCV.NXT is the other's ISS + 1 + the bytes it delivered (RFC 9293 3.4, 3.5);
- (b) ``in-order prefix delivery``: every byte a peer delivers is the next byte of the other's
  stream, arrived, and queued by the other's user; a FIN is taken only where the other sent
  it, after its last byte (RFC 9293 3.10.7.4, seventh and eighth);
- (c) ``acknowledged only what arrived``: while the other peer is open, SND.UNA - ISS never
  exceeds what it took in order (its SYN, the bytes it delivered, its FIN) (RFC 9293 3.4).
  Once the other has closed for good, old acknowledgements of it may still be in flight;
  if the server has meanwhile gone back to LISTEN and been reopened by an old duplicate SYN,
  its new ISN may make them look current (RFC 9293 3.4.1: the ISN clock and the quiet time
  keep that from happening, outside the spec), so (c) speaks of a live pair;
- (d) ``ACK of unsent data ignored``: a segment acknowledging beyond SND.MAX does not move
  SND.UNA (RFC 9293 3.10.7.4 fifth, RFC 5961 5.2);
- ``model sanity``: every state meets ``[bounds]`` and no step falls through the rules (the
  environment model gives the rules no state the spec does not assume).

Lemmas (optional, ``lemmas=True``): the auxiliary invariants of ``invariants.toml`` (see
:mod:`models.check_induction`) and ``[tcb_invariants]`` are then checked at every depth like the
properties. Whatever is shown at a depth is assumed of the states up to it in the deeper
queries: that is sound (a condition is only assumed where it was shown to hold on every path)
and keeps each query about the last step.

Non-vacuity witnesses: both peers reach ESTABLISHED; client data lost in the channel is
retransmitted and delivered; both reach CLOSED, the client through TIME-WAIT. Each is searched
along a schedule (who does what at each step: :data:`SCHEDULES`) with every other choice
(segments, sizes, ISNs, losses, slots) left to Z3, so a witness is a real execution of the
same step relation; fixing the schedule only makes the search quick.
"""

from __future__ import annotations

import time
import tomllib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import z3

from . import lia
from .expr import Expr, Macro, SpecError, define_macro, parse, to_z3, type_of
from .report import (
    BOUNDED,
    COUNTEREXAMPLE,
    FAILED,
    WITNESSED,
    Finding,
    Segment,
    Trace,
    TraceEvent,
)
from .spec import FLAGS, OUT_FIELDS, SEG_BOOLS, SEGMENT_FIELDS, Emission, Spec
from .symbolic import (
    SymStep,
    Term,
    bounds,
    env_of,
    fresh_inputs,
    fresh_tcb,
    model_value,
    output_effect,
    sym_step,
    val,
    word,
)

SLOTS = 2  # enough to lose, duplicate and reorder; more only slows each query
BUDGET_S = 120.0  # the bounded check stops deepening after this, unless told otherwise
ROLES = ("client", "server")
CALLS = ("connect", "listen", "send", "close", "abort")
OPS = ("deliver", "timeout", "output", *CALLS)
EVENT_OF = {"deliver": "segment", "timeout": "timeout", **{c: c for c in CALLS}}
MAX_SEND = 65535  # bytes one SEND queues at most
MAX_STREAM = 1 << 30  # environment assumption: no stream wraps the sequence space
GHOST_BOOLS = ("opened", "syn_in", "blk", "bad_b", "bad_d", "stuck")
GHOST_WORDS = ("app", "dlv", "blk_lo", "blk_hi")
WITNESS_BOOLS = ("w_tw", "w_lost", "w_rexmit")  # ghosts of the non-vacuity witnesses
WITNESS_WORDS = ("w_lost_end",)
SLOT_FIELDS = ("valid", "to_server", *SEGMENT_FIELDS, *SEG_BOOLS)
OFF_STATES = ("CLOSED", "LISTEN")
RECEIVING = (
    "SYN_RECEIVED",
    "ESTABLISHED",
    "FIN_WAIT_1",
    "FIN_WAIT_2",
    "CLOSE_WAIT",
    "CLOSING",
    "LAST_ACK",
    "TIME_WAIT",
)
INVARIANTS_PATH = Path(__file__).with_name("invariants.toml")


# --- the state of the two-peer system ----------------------------------------------------


@dataclass
class Peer:
    tcb: dict[str, Term]  # the spec's variables and `state`
    ghost: dict[str, Term]

    def names(self, prefix: str = "") -> dict[str, Term]:
        return {prefix + k: v for k, v in {**self.tcb, **self.ghost}.items()}


@dataclass
class World:
    peers: tuple[Peer, Peer]  # client, server
    slots: list[dict[str, Term]]
    extra: dict[str, Term]  # witness ghosts

    def terms(self) -> Iterator[tuple[str, Term]]:
        for role, p in zip(ROLES, self.peers, strict=True):
            for k, v in p.names().items():
                yield f"{role}.{k}", v
        for i, s in enumerate(self.slots):
            for k, v in s.items():
                yield f"slot{i}.{k}", v
        yield from self.extra.items()


def _var(name: str, boolean: bool) -> Term:
    return z3.Bool(name) if boolean else word(name)


def fresh_peer(spec: Spec, prefix: str) -> Peer:
    ghost = {g: _var(prefix + g, g in GHOST_BOOLS) for g in (*GHOST_BOOLS, *GHOST_WORDS)}
    return Peer(fresh_tcb(spec, prefix), ghost)


def same_peer(a: Peer, b: Peer) -> Term:
    other = b.names()
    return z3.And(*[v == other[k] for k, v in a.names().items()])


def flag(b: Term) -> Term:
    return z3.If(b, val(1), val(0))


def mux(c: Term, a: Mapping[str, Term], b: Mapping[str, Term]) -> dict[str, Term]:
    """``a`` where ``c`` holds, else ``b``, key by key."""
    return {k: z3.If(c, a[k], b[k]) for k in a}


def mux_peer(c: Term, a: Peer, b: Peer) -> Peer:
    return Peer(mux(c, a.tcb, b.tcb), mux(c, a.ghost, b.ghost))


def no_segment() -> dict[str, Term]:
    seg: dict[str, Term] = {f: val(0) for f in SEGMENT_FIELDS}
    seg.update({f: z3.BoolVal(False) for f in SEG_BOOLS})
    return seg


# --- the spec's definitions as helpers ---------------------------------------------------


class Vocabulary:
    """The spec's macros and state numbers as Z3 helpers: sequence comparisons exactly as
    ``tcp.toml`` defines them, never restated."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec

    def seq(self, rel: str, a: Term, b: Term) -> Term:
        m = self.spec.macros[rel]
        return to_z3(m.body, dict(zip(m.params, (a, b), strict=True)))

    def is_state(self, tcb: Mapping[str, Term], *names: str) -> Term:
        return z3.Or(*[tcb["state"] == val(self.spec.state_index(n)) for n in names])

    def macro(self, name: str, env: Mapping[str, Term]) -> Term:
        return to_z3(parse(name, self.spec.macros), env)

    @staticmethod
    def fired(st: SymStep, rule: str) -> Term:
        return st.fired.get(rule, z3.BoolVal(False))


# --- one step ---------------------------------------------------------------------------


@dataclass
class Choice:
    """The free choices of one step and what the spec did with them, read back for traces."""

    op: Term  # index into OPS
    who: Term  # True: the server acts (or receives)
    slot: Term  # the slot delivered
    keep: Term  # the delivered slot stays in flight (a duplicate)
    put: Term  # the slot the sent segment takes
    sends: Term  # the step sends a segment
    enters: Term  # ... and it enters the channel (else it is lost at once)
    seg: dict[str, Term]  # the delivered segment
    out: dict[str, Term]  # the sent segment
    inputs: dict[str, Term]
    steps: dict[str, SymStep]  # event -> the actor's step
    outputs: dict[str, Term]  # [[output]] id -> the sent segment matches it
    allowed: Term  # ... some [[output]] shape
    out_post: dict[str, Term]  # the actor after the output process sends it
    replace: Term  # a held block that does not touch the new text gives way to it
    slots: list[dict[str, Term]]  # the channel before the step
    emitters: list[tuple[str, Term]] = field(default_factory=list)  # (rule, its emission sent)


class TwoPeers:
    """The two-peer system: states, the initial ones, the step relation, the properties."""

    def __init__(self, spec: Spec, slots: int = SLOTS) -> None:
        self.spec = spec
        self.voc = Vocabulary(spec)
        self.nslots = slots
        self.slot_bits = max(1, (slots - 1).bit_length())

    # -- states ---------------------------------------------------------------------------

    def world(self, tag: str) -> World:
        peers = tuple(fresh_peer(self.spec, f"{tag}{role}.") for role in ROLES)
        chan = [
            {
                f: _var(f"{tag}slot{i}.{f}", f in ("valid", "to_server", *SEG_BOOLS))
                for f in SLOT_FIELDS
            }
            for i in range(self.nslots)
        ]
        extra = {g: _var(tag + g, g in WITNESS_BOOLS) for g in (*WITNESS_BOOLS, *WITNESS_WORDS)}
        return World((peers[0], peers[1]), chan, extra)

    def derived(self, tcb: Mapping[str, Term], ghost: Mapping[str, Term]) -> dict[str, Term]:
        """The observed variables that follow from the rest: ``queued`` (queued by the user,
        not yet acknowledged: SND.UNA past the SYN and before the FIN, RFC 9293 3.4) and the
        reassembly buffer's ``held``/``held_end``."""
        v = self.voc
        end = tcb["iss"] + 1 + ghost["app"]
        una = z3.If(tcb["snd_una"] == tcb["iss"], tcb["iss"] + 1, tcb["snd_una"])
        held = z3.And(ghost["blk"], v.seq("gt", ghost["blk_hi"], tcb["rcv_nxt"]))
        return {
            "queued": z3.If(v.seq("gt", una, end), val(0), end - una),
            "held": held,
            "held_end": z3.If(held, ghost["blk_hi"], tcb["rcv_nxt"]),
        }

    def consistent(self, w: World) -> Term:
        """The derived observed variables agree with the ghosts (true of every state the step
        relation makes; assumed of the arbitrary states of the induction check)."""
        return z3.And(*[
            p.tcb[k] == t for p in w.peers for k, t in self.derived(p.tcb, p.ghost).items()
        ])

    def _closed(self, p: Peer) -> Term:
        """CLOSED before OPEN: every variable zero or false except the configuration (free)
        and the receive window (free, within bounds)."""
        spec = self.spec
        parts = [p.tcb["state"] == val(spec.state_index("CLOSED"))]
        for v in spec.variables.values():
            if v.role != "config" and v.name != "rcv_wnd":
                parts.append(p.tcb[v.name] == (z3.BoolVal(False) if v.type == "bool" else val(0)))
        parts += [p.ghost[g] == z3.BoolVal(False) for g in GHOST_BOOLS]
        parts += [p.ghost[g] == val(0) for g in GHOST_WORDS]
        return z3.And(*parts)

    def initial(self, w: World) -> Term:
        """The client CLOSED (it will connect); the server CLOSED or already in LISTEN (after
        its LISTEN, any ISN); the channel empty; the configuration free within bounds."""
        client, server = w.peers
        before = fresh_peer(self.spec, "init.server.")
        listen = sym_step(self.spec, before.tcb, "listen", no_segment(),
                          fresh_inputs(self.spec, "init."))
        listening = z3.And(
            *[server.tcb[k] == t for k, t in listen.post.items()],
            *[server.ghost[g] == before.ghost[g] for g in server.ghost if g != "opened"],
            server.ghost["opened"],
        )
        parts = [
            self._closed(client),
            self._closed(before),
            z3.Or(same_peer(before, server), listening),
            bounds(self.spec, client.tcb),
            bounds(self.spec, server.tcb),
            *[z3.Not(s["valid"]) for s in w.slots],
            *[w.extra[g] == z3.BoolVal(False) for g in WITNESS_BOOLS],
            *[w.extra[g] == val(0) for g in WITNESS_WORDS],
        ]
        return z3.And(*parts)

    # -- the step relation ----------------------------------------------------------------

    def is_op(self, op: Term, name: str) -> Term:
        return op == z3.BitVecVal(OPS.index(name), 3)

    def transition(self, w: World, n: World, tag: str) -> tuple[Term, Choice]:
        """The relation of one step from ``w`` to ``n``, and the choices it made."""
        c = self._choose(w, tag)
        actor = mux_peer(c.who, w.peers[1], w.peers[0])
        other = mux_peer(c.who, w.peers[0], w.peers[1])
        post = dict(c.out_post)
        for name in reversed(OPS):
            if name != "output":
                post = mux(self.is_op(c.op, name), c.steps[EVENT_OF[name]].post, post)
        ghost = self._ghosts(c, actor, other, post)
        acted = Peer(self._observe(c, actor, post, ghost, tag + "actor."), ghost)
        idle = Peer(dict(other.tcb), dict(other.ghost))
        idle.tcb["rcv_wnd"] = word(tag + "idle.rcv_wnd")
        idle.tcb["rto_armed"] = z3.Bool(tag + "idle.rto_armed")
        client, server = mux_peer(c.who, idle, acted), mux_peer(c.who, acted, idle)
        parts = [
            self._enabled(c, actor),
            self._sent(c),
            *[z3.ULE(p.tcb["rcv_wnd"], val(65535)) for p in (acted, idle)],
            same_peer(client, n.peers[0]),
            same_peer(server, n.peers[1]),
            self._channel(w, n, c),
            self._witness_ghosts(w, n, c, client),
        ]
        if self.nslots < 2**self.slot_bits:
            parts += [z3.ULT(c.slot, self.nslots), z3.ULT(c.put, self.nslots)]
        return z3.And(*parts), c

    def _choose(self, w: World, tag: str) -> Choice:
        spec = self.spec
        who = z3.Bool(tag + "who")
        slot = z3.BitVec(tag + "slot", self.slot_bits)
        seg = {f: self._pick(w.slots, slot, f) for f in (*SEGMENT_FIELDS, *SEG_BOOLS)}
        inputs = fresh_inputs(spec, tag)
        actor = mux_peer(who, w.peers[1], w.peers[0])
        steps = {
            ev: sym_step(spec, actor.tcb, ev, seg if ev == "segment" else no_segment(), inputs)
            for ev in ("segment", "timeout", *CALLS)
        }
        out = {f: word(f"{tag}out.{f}") for f in OUT_FIELDS}
        out.update({f: z3.Bool(f"{tag}out.{f}") for f in SEG_BOOLS})
        allowed, out_post = output_effect(spec, actor.tcb, out)
        env = env_of(spec, actor.tcb, out=out)
        outputs = {
            o.id: z3.And(self.voc.is_state(actor.tcb, *o.states), to_z3(o.shape, env))
            for o in spec.outputs
        }
        return Choice(
            op=z3.BitVec(tag + "op", 3),
            who=who,
            slot=slot,
            keep=z3.Bool(tag + "keep"),
            put=z3.BitVec(tag + "put", self.slot_bits),
            sends=z3.Bool(tag + "sends"),
            enters=z3.Bool(tag + "enters"),
            seg=seg,
            out=out,
            inputs=inputs,
            steps=steps,
            outputs=outputs,
            allowed=allowed,
            out_post=out_post,
            replace=z3.Bool(tag + "replace"),
            slots=w.slots,
        )

    def _pick(self, slots: list[dict[str, Term]], i: Term, f: str) -> Term:
        term = slots[-1][f]
        for k in range(len(slots) - 2, -1, -1):
            term = z3.If(i == k, slots[k][f], term)
        return term

    def _enabled(self, c: Choice, actor: Peer) -> Term:
        """The step is one the system can take."""
        options = []
        for name in OPS:
            if name == "output":
                ok = z3.And(c.allowed, self.available(actor, c.out))
            else:
                st = c.steps[EVENT_OF[name]]
                ok = z3.And(z3.Not(st.refused), st.assume, self._call_ok(name, c, actor))
            options.append(z3.And(self.is_op(c.op, name), ok))
        return z3.Or(*options)

    def _call_ok(self, name: str, c: Choice, actor: Peer) -> Term:
        g = actor.ghost
        if name == "connect":  # the client connects, the server listens (see the docstring)
            return z3.And(z3.Not(g["opened"]), z3.Not(c.who))
        if name == "listen":
            return z3.And(z3.Not(g["opened"]), c.who)
        if name == "send":
            n = c.inputs["n"]
            return z3.And(z3.ULE(n, val(MAX_SEND)), z3.ULE(g["app"] + n, val(MAX_STREAM)))
        if name == "deliver":
            return z3.And(self._deliverable(c), self._fill_ok(c, actor))
        return z3.BoolVal(True)

    def _deliverable(self, c: Choice) -> Term:
        return z3.Or(*[
            z3.And(c.slot == k, s["valid"], s["to_server"] == c.who)
            for k, s in enumerate(c.slots)
        ])

    def _fill_ok(self, c: Choice, actor: Peer) -> Term:
        """Environment assumption: a filled gap releases held bytes only when the text taken
        in order reaches the held block."""
        env = env_of(self.spec, actor.tcb, c.seg, c.inputs)
        reach = self.voc.seq("le", actor.ghost["blk_lo"], self.voc.macro("in_order_end", env))
        return z3.Or(c.inputs["fill"] == val(0), z3.And(actor.ghost["blk"], reach))

    def available(self, sender: Peer, out: Mapping[str, Term]) -> Term:
        """The output process sends only bytes the user queued, and the FIN right after the
        last of them (RFC 9293 3.10.2, 3.10.4). Offsets from ISS: the stream never wraps."""
        start = out["seq"] - sender.tcb["iss"] - 1
        app = sender.ghost["app"]
        return z3.And(
            z3.Implies(out["len"] != val(0), z3.And(z3.ULE(start, app),
                                                    z3.ULE(start + out["len"], app))),
            z3.Implies(out["FIN"], start + out["len"] == app),
        )

    def control_shape(self, em: Emission, env: Mapping[str, Term], out: Mapping[str, Term]
                      ) -> Term:
        """A control segment a rule emits: its shape, no text, no flag it does not name; an
        acknowledgement with no sequence number of its own is a pure ACK (output.ack)."""
        full = {**env, **{"out." + k: v for k, v in out.items()}}
        named = em.flags or ()
        parts = [to_z3(em.shape, full), out["len"] == val(0), z3.Not(out["FIN"])]
        if "SYN" not in named:
            parts.append(z3.Not(out["SYN"]))
        if em.flags is None:  # a raw shape (the RSTs of 3.10.7.1): no ACK field unless ACK
            parts.append(z3.Implies(z3.Not(out["ACK"]), out["ack"] == val(0)))
        if named == ("ACK",) and em.seq is None:
            parts.append(out["seq"] == self.voc.macro("pure_ack_seq", env))
        return z3.And(*parts)

    def _sent(self, c: Choice) -> Term:
        """What the step sends: the output process's segment, or one control segment the
        rules emitted (every active emission of a step is the same segment or the only one;
        sending one and losing the rest is what a lossy channel allows anyway)."""
        spec = self.spec
        options = [z3.And(self.is_op(c.op, "output"), c.allowed)]
        emits = [self.is_op(c.op, "output")]
        for name in OPS:
            if name == "output":
                continue
            st = c.steps[EVENT_OF[name]]
            for rule, em, active, _mandatory in st.emissions:
                if em.data:
                    continue  # a retransmission: the output process's (module docstring)
                on = z3.And(self.is_op(c.op, name), active)
                chosen = z3.And(on, self.control_shape(em, st.env_final, c.out))
                c.emitters.append((rule, chosen))
                options.append(chosen)
                emits.append(on)
        bounded = to_z3(spec.segment_bounds, env_of(spec, {}, seg=c.out))
        return z3.And(
            c.sends == z3.Or(*emits),
            z3.Implies(c.sends, z3.And(z3.Or(*options), bounded)),
        )

    def _ghosts(self, c: Choice, actor: Peer, other: Peer, post: Mapping[str, Term]
                ) -> dict[str, Term]:
        """The actor's ghosts after the step."""
        v, g, op = self.voc, actor.ghost, c.op
        delivering = self.is_op(op, "deliver")
        ok_b, m = self.delivery_ok(actor, post, other, c.seg)
        accepted = z3.And(self.is_op(op, "send"), c.steps["send"].error == val(0))
        ghost = {
            "opened": z3.Or(g["opened"], self.is_op(op, "connect"), self.is_op(op, "listen")),
            "app": g["app"] + z3.If(accepted, c.inputs["n"], val(0)),
            "dlv": g["dlv"] + z3.If(delivering, m, val(0)),
            "syn_in": z3.Or(g["syn_in"], v.is_state(post, *RECEIVING)),
            "bad_b": z3.Or(g["bad_b"], z3.And(delivering, z3.Not(ok_b))),
            "bad_d": z3.Or(g["bad_d"], z3.And(delivering, self.unsent_ack_taken(actor, post,
                                                                                 c.seg))),
            "stuck": z3.Or(g["stuck"], *[
                z3.And(self.is_op(op, name), c.steps[EVENT_OF[name]].stuck)
                for name in OPS if name != "output"
            ]),
        }
        holds = z3.And(delivering, v.fired(c.steps["segment"], "data.out_of_order"))
        ghost.update(self.hold(actor, c.seg, holds, post, c.replace))
        return ghost

    def hold(self, pre: Peer, seg: Mapping[str, Term], holds: Term, post: Mapping[str, Term],
             replace: Term) -> dict[str, Term]:
        """The held block after the spec holds (or not) the text of ``seg``: joined to the
        block when they touch, else it replaces the block or is forgotten (``replace``)."""
        v, g = self.voc, pre.ghost
        lo, hi = seg["seq"], seg["seq"] + seg["len"]
        touch = z3.And(g["blk"], v.seq("le", lo, g["blk_hi"]), v.seq("le", g["blk_lo"], hi))
        take = z3.And(holds, z3.Or(z3.Not(g["blk"]), touch, replace))
        blk_lo = z3.If(take, z3.If(z3.And(touch, v.seq("lt", g["blk_lo"], lo)), g["blk_lo"], lo),
                       g["blk_lo"])
        blk_hi = z3.If(take, z3.If(z3.And(touch, v.seq("gt", g["blk_hi"], hi)), g["blk_hi"], hi),
                       g["blk_hi"])
        live = z3.And(z3.Or(take, g["blk"]), v.seq("gt", blk_hi, post["rcv_nxt"]),
                      z3.Not(v.is_state(post, *OFF_STATES)))
        return {"blk": live, "blk_lo": blk_lo, "blk_hi": blk_hi}

    def delivery_ok(self, pre: Peer, post: Mapping[str, Term], other: Peer,
                    seg: Mapping[str, Term]) -> tuple[Term, Term]:
        """(Property b holds for this segment, the bytes it delivered): module docstring."""
        v, g = self.voc, pre.ghost
        fin_taken = z3.And(post["fin_received"], z3.Not(pre.tcb["fin_received"]))
        start = pre.tcb["rcv_nxt"]
        m = post["rcv_nxt"] - start - flag(fin_taken)
        end = start + m
        seg_end = seg["seq"] + seg["len"]
        data_ok = z3.Or(
            m == val(0),
            z3.And(
                v.seq("gt", end, start),
                start - other.tcb["iss"] - 1 == g["dlv"],  # the other's next byte
                z3.ULE(g["dlv"] + m, other.ghost["app"]),  # ... that its user queued
                v.seq("le", seg["seq"], start),  # it arrived in this segment
                v.seq("lt", start, seg_end),
                z3.Or(  # and so did the rest, here or in the held block
                    v.seq("le", end, seg_end),
                    z3.And(g["blk"], v.seq("le", g["blk_lo"], seg_end),
                           v.seq("le", end, g["blk_hi"])),
                ),
            ),
        )
        fin_ok = z3.Implies(
            fin_taken,
            z3.And(
                other.tcb["fin_sent"],
                post["rcv_nxt"] - 1 == other.tcb["fin_seq"],
                g["dlv"] + m == other.ghost["app"],
            ),
        )
        receiving = z3.And(v.is_state(pre.tcb, *RECEIVING), z3.Not(v.is_state(post, "LISTEN")))
        return z3.Implies(receiving, z3.And(data_ok, fin_ok)), z3.If(receiving, m, val(0))

    def unsent_ack_taken(self, pre: Peer, post: Mapping[str, Term], seg: Mapping[str, Term]
                         ) -> Term:
        """Property (d) broken: an ACK beyond SND.MAX moved SND.UNA."""
        return z3.And(
            z3.Not(self.voc.is_state(pre.tcb, *OFF_STATES)),
            seg["ACK"],
            self.voc.seq("gt", seg["ack"], pre.tcb["snd_max"]),
            post["snd_una"] != pre.tcb["snd_una"],
        )

    def _observe(self, c: Choice, pre: Peer, post: Mapping[str, Term],
                 ghost: Mapping[str, Term], tag: str) -> dict[str, Term]:
        """The actor's TCB with the observed variables as the environment model sets them."""
        v = self.voc
        tcb = dict(post)
        tcb.update(self.derived(post, ghost))
        tcb["rcv_wnd"] = word(tag + "rcv_wnd")
        tcb["rto_armed"] = z3.Bool(tag + "rto_armed")
        probe = z3.And(self.is_op(c.op, "timeout"), v.fired(c.steps["timeout"], "timer.probe"))
        # RFC 9293 3.8.6.1: the persist timer runs from the first probe for as long as the
        # window stays shut and something waits to be sent.
        tcb["persisting"] = z3.And(
            z3.Or(pre.tcb["persisting"], probe),
            tcb["snd_wnd"] == val(0),
            z3.Or(tcb["queued"] != val(0), z3.And(tcb["fin_queued"], z3.Not(tcb["fin_sent"]))),
            z3.Not(v.is_state(tcb, *OFF_STATES)),
        )
        return tcb

    def _channel(self, w: World, n: World, c: Choice) -> Term:
        """The slots after the step: the delivered one freed unless kept, the sent segment in
        the lowest free slot (over one in flight when none is free, or lost)."""
        ch = c
        delivered = [
            z3.And(self.is_op(ch.op, "deliver"), ch.slot == k, z3.Not(ch.keep))
            for k in range(self.nslots)
        ]
        free = [z3.Or(z3.Not(s["valid"]), d) for s, d in zip(w.slots, delivered, strict=True)]
        full = z3.Not(z3.Or(*free))
        enters = z3.And(ch.sends, ch.enters)
        new = {f: ch.out[f] for f in (*SEGMENT_FIELDS, *SEG_BOOLS)}
        new["to_server"] = z3.Not(ch.who)
        parts = []
        for k, (s, ns) in enumerate(zip(w.slots, n.slots, strict=True)):
            here = z3.And(enters, ch.put == k)
            lower_busy = z3.And(*[z3.Not(f) for f in free[:k]], z3.BoolVal(True))
            parts.append(z3.Implies(here, z3.And(lower_busy, z3.Or(free[k], full))))
            parts.append(ns["valid"] == z3.Or(here, z3.And(s["valid"], z3.Not(delivered[k]))))
            parts += [ns[f] == z3.If(here, new[f], s[f]) for f in SLOT_FIELDS if f != "valid"]
        return z3.And(*parts)

    def _witness_ghosts(self, w: World, n: World, c: Choice, client: Peer) -> Term:
        """Ghosts for the witnesses: the client was in TIME-WAIT; its data segment was lost
        before the server had it, then the client retransmitted."""
        v, ch = self.voc, c
        x, nx = w.extra, n.extra
        end = ch.out["seq"] + ch.out["len"]
        lost = z3.And(
            self.is_op(ch.op, "output"), z3.Not(ch.who), ch.out["len"] != val(0),
            z3.Not(ch.enters), v.seq("lt", w.peers[1].tcb["rcv_nxt"], end),
        )
        retransmits = z3.Or(
            z3.And(self.is_op(ch.op, "timeout"), v.fired(ch.steps["timeout"], "timer.retransmit")),
            z3.And(self.is_op(ch.op, "deliver"),
                   v.fired(ch.steps["segment"], "ack.fast_retransmit")),
        )
        return z3.And(
            nx["w_tw"] == z3.Or(x["w_tw"], v.is_state(client.tcb, "TIME_WAIT")),
            nx["w_lost"] == z3.Or(x["w_lost"], lost),
            nx["w_lost_end"] == z3.If(z3.And(lost, z3.Not(x["w_lost"])), end, x["w_lost_end"]),
            nx["w_rexmit"] == z3.Or(x["w_rexmit"],
                                    z3.And(x["w_lost"], z3.Not(ch.who), retransmits)),
        )

    # -- properties -------------------------------------------------------------------------

    def properties(self, w: World) -> dict[str, Term]:
        """Property name -> it holds in ``w`` (see the module docstring)."""
        v = self.voc
        c, s = w.peers
        both = z3.And(v.is_state(c.tcb, "ESTABLISHED"), v.is_state(s.tcb, "ESTABLISHED"))

        def agree(me: Peer, peer: Peer) -> Term:
            return z3.And(me.tcb["irs"] == peer.tcb["iss"],
                          me.tcb["rcv_nxt"] == peer.tcb["iss"] + 1 + me.ghost["dlv"])

        def took(p: Peer) -> Term:
            return flag(p.ghost["syn_in"]) + p.ghost["dlv"] + flag(p.tcb["fin_received"])

        def acked(me: Peer, peer: Peer) -> Term:
            gone = z3.And(peer.ghost["opened"], v.is_state(peer.tcb, "CLOSED"))
            return z3.Or(gone, z3.ULE(me.tcb["snd_una"] - me.tcb["iss"], took(peer)))

        return {
            "handshake agreement": z3.Implies(both, z3.And(agree(c, s), agree(s, c))),
            "in-order prefix delivery": z3.Not(z3.Or(c.ghost["bad_b"], s.ghost["bad_b"])),
            "acknowledged only what arrived": z3.And(acked(c, s), acked(s, c)),
            "ACK of unsent data ignored": z3.Not(z3.Or(c.ghost["bad_d"], s.ghost["bad_d"])),
            "model sanity": z3.And(bounds(self.spec, c.tcb), bounds(self.spec, s.tcb),
                                   z3.Not(z3.Or(c.ghost["stuck"], s.ghost["stuck"]))),
        }

    def witnesses(self, w: World) -> dict[str, Term]:
        """Non-vacuity goals: name -> ``w`` shows it."""
        v = self.voc
        c, s = w.peers
        x = w.extra
        closed = [
            z3.And(v.is_state(p.tcb, "CLOSED"), p.ghost["opened"], z3.Not(p.tcb["failed"]))
            for p in (c, s)
        ]
        return {
            "both peers reach ESTABLISHED": z3.And(v.is_state(c.tcb, "ESTABLISHED"),
                                                   v.is_state(s.tcb, "ESTABLISHED")),
            "lost data is retransmitted and delivered": z3.And(
                x["w_lost"], x["w_rexmit"], v.seq("ge", s.tcb["rcv_nxt"], x["w_lost_end"])
            ),
            "both close, the client through TIME-WAIT": z3.And(*closed, x["w_tw"]),
        }


# --- lemmas: the auxiliary invariants of invariants.toml ---------------------------------


@dataclass(frozen=True)
class Invariants:
    """``invariants.toml``: ``[invariants.peer]`` from one peer's view (bare names are its TCB
    and ghosts, ``peer.*`` the other's), instantiated for each peer; ``[invariants.segment]``
    of every segment in flight from that peer (``seg.*``)."""

    peer: dict[str, Expr]
    segment: dict[str, Expr]
    text: dict[str, str]


def _types(spec: Spec) -> dict[str, str]:
    t = spec.types()
    ghosts = {g: ("bool" if g in GHOST_BOOLS else "word") for g in (*GHOST_BOOLS, *GHOST_WORDS)}
    t.update(ghosts)
    t["server"] = "bool"
    t.update({"peer." + k: t[k] for k in [*spec.variables, "state", *ghosts]})
    return t


def load_invariants(spec: Spec, path: Path | None = None, text: str | None = None
                    ) -> Invariants:
    """Parse ``invariants.toml`` with the spec's macros (and its own ``[macros]``); every
    invariant must be a well-typed condition over known names."""
    if text is None:
        text = (path or INVARIANTS_PATH).read_text(encoding="utf-8")
    raw = tomllib.loads(text)
    macros: dict[str, Macro] = dict(spec.macros)
    for sig, body in raw.get("macros", {}).items():
        m = define_macro(sig, str(body), macros)
        macros[m.name] = m
    types = _types(spec)
    tables: dict[str, dict[str, Expr]] = {}
    texts: dict[str, str] = {}
    for kind in ("peer", "segment"):
        tables[kind] = {}
        for name, body in raw.get("invariants", {}).get(kind, {}).items():
            e = parse(str(body), macros)
            if type_of(e, types) != "bool":
                raise SpecError(f"invariant {name}: not a condition")
            tables[kind][name] = e
            texts[name] = str(body)
    return Invariants(tables["peer"], tables["segment"], texts)


def viewpoint(spec: Spec, me: Peer, peer: Peer, server: bool,
              seg: Mapping[str, Term] | None = None) -> dict[str, Term]:
    env = env_of(spec, me.tcb, seg)
    env["server"] = z3.BoolVal(server)
    env.update(me.ghost)
    env.update(peer.names("peer."))
    return env


def lemmas(model: TwoPeers, inv: Invariants, w: World) -> dict[str, Term]:
    """Every instance of the auxiliary invariants in ``w``, with the spec's
    ``[tcb_invariants]`` and the consistency of the derived observed variables."""
    spec = model.spec
    tcb_inv = {n: parse(t, spec.macros) for n, t in spec.raw.get("tcb_invariants", {}).items()}
    out: dict[str, Term] = {"observed variables follow the model": model.consistent(w)}
    client, server = w.peers
    for role, me, peer in (("client", client, server), ("server", server, client)):
        env = viewpoint(spec, me, peer, role == "server")
        for name, e in tcb_inv.items():
            out[f"{name} ({role})"] = to_z3(e, env)
        for name, e in inv.peer.items():
            out[f"{name} ({role})"] = to_z3(e, env)
        for i, slot in enumerate(w.slots):
            from_me = slot["to_server"] if role == "client" else z3.Not(slot["to_server"])
            senv = viewpoint(spec, me, peer, role == "server",
                             {f: slot[f] for f in (*SEGMENT_FIELDS, *SEG_BOOLS)})
            for name, e in inv.segment.items():
                out[f"{name} (slot {i}, from the {role})"] = z3.Implies(
                    z3.And(slot["valid"], from_me), to_z3(e, senv)
                )
    return out


# --- traces -----------------------------------------------------------------------------


def _segment(m: z3.ModelRef, fields: Mapping[str, Term]) -> Segment:
    flags = ",".join(f for f in FLAGS if model_value(m, fields[f]))
    return Segment(
        flags,
        int(model_value(m, fields["seq"])),
        int(model_value(m, fields["ack"])),
        int(model_value(m, fields["len"])),
        int(model_value(m, fields["wnd"])),
    )


def _applied(m: z3.ModelRef, fired: Mapping[str, Term]) -> list[str]:
    return [r for r, t in fired.items() if model_value(m, t)]


def step_events(spec: Spec, m: z3.ModelRef, c: Choice, after: World) -> list[TraceEvent]:
    """One step of a counterexample or witness as chart events."""
    op = OPS[int(model_value(m, c.op))]
    who = int(bool(model_value(m, c.who)))
    actor, other = ROLES[who], ROLES[1 - who]
    state = spec.states[int(model_value(m, after.peers[who].tcb["state"]))]
    events: list[TraceEvent] = []
    if op == "deliver":
        seg = _segment(m, c.seg)
        if model_value(m, c.keep):
            events.append(TraceEvent("channel", "duplicate", f"to {actor}", seg))
        rules = _applied(m, c.steps["segment"].fired)
        events.append(TraceEvent(actor, "deliver", "deliver", seg, rules, state))
    elif op == "output":
        rules = _applied(m, c.outputs)
        events.append(TraceEvent(actor, "send", "", _segment(m, c.out), rules, state))
    else:
        text = op
        if op == "send":
            text = f"send({model_value(m, c.inputs['n'])})"
        kind = "timeout" if op == "timeout" else "call"
        rules = _applied(m, c.steps[EVENT_OF[op]].fired)
        events.append(TraceEvent(actor, kind, text, None, rules, state))
        if model_value(m, c.sends):
            emitters = [r for r, t in c.emitters if model_value(m, t)][:1]
            events.append(TraceEvent(actor, "send", "", _segment(m, c.out), emitters))
    if model_value(m, c.sends):
        events += _losses(m, c, actor, other)
    return events


def _losses(m: z3.ModelRef, c: Choice, actor: str, other: str) -> list[TraceEvent]:
    if not model_value(m, c.enters):
        return [TraceEvent("channel", "drop", f"to {other}", _segment(m, c.out))]
    k = int(model_value(m, c.put))
    old = c.slots[k]
    freed = (
        OPS[int(model_value(m, c.op))] == "deliver"
        and int(model_value(m, c.slot)) == k
        and not model_value(m, c.keep)
    )
    if model_value(m, old["valid"]) and not freed:
        dest = ROLES[0 if not model_value(m, old["to_server"]) else 1]
        fields = {f: old[f] for f in (*SEGMENT_FIELDS, *SEG_BOOLS)}
        return [TraceEvent("channel", "drop", f"to {dest} (overwritten)", _segment(m, fields))]
    del actor
    return []


def trace_of(spec: Spec, m: z3.ModelRef, choices: list[Choice], worlds: list[World]) -> Trace:
    events: list[TraceEvent] = []
    server = worlds[0].peers[1]
    first = spec.states[int(model_value(m, server.tcb["state"]))]
    if first != "CLOSED":
        events.append(TraceEvent("server", "note", "starts listening", None, [], first))
    for c, after in zip(choices, worlds[1:], strict=True):
        events += step_events(spec, m, c, after)
    in_flight = [
        f"to {ROLES[int(bool(model_value(m, s['to_server'])))]}: "
        + _segment(m, {f: s[f] for f in (*SEGMENT_FIELDS, *SEG_BOOLS)}).label()
        for s in worlds[-1].slots
        if model_value(m, s["valid"])
    ]
    if in_flight:
        events.append(TraceEvent("channel", "note", "in flight: " + "; ".join(in_flight)))
    return Trace(events)


def describe_state(spec: Spec, m: z3.ModelRef, w: World) -> str:
    """The variables the properties speak of, for a counterexample's detail."""
    lines = []
    for role, p in zip(ROLES, w.peers, strict=True):
        n = int(model_value(m, p.tcb["state"]))
        state = spec.states[n] if n < len(spec.states) else f"state #{n} (no such state)"
        names = ("iss", "irs", "snd_una", "snd_nxt", "snd_max", "rcv_nxt")
        vals = ", ".join(f"{k}={model_value(m, p.tcb[k])}" for k in names)
        ghosts = ", ".join(f"{k}={model_value(m, p.ghost[k])}" for k in ("app", "dlv"))
        lines.append(f"{role} {state}: {vals}; {ghosts}")
    return "\n".join(lines)


# --- the bounded model checker -----------------------------------------------------------


@dataclass
class _Run:
    """The state of one BMC run: the unrolling and what has been decided."""

    spec: Spec
    model: TwoPeers
    inv: Invariants | None  # the lemmas to check too, if any
    solver: lia.Solver
    worlds: list[World] = field(default_factory=list)
    choices: list[Choice] = field(default_factory=list)
    alive: dict[str, str] = field(default_factory=dict)  # name -> "property" | "lemma"
    broken: dict[str, Finding] = field(default_factory=dict)
    witnessed: dict[str, Finding] = field(default_factory=dict)

    def extend(self) -> None:
        k = len(self.worlds)
        n = self.model.world(f"w{k}.")
        if not self.worlds:
            self.solver.add(self.model.initial(n))
        else:
            t, c = self.model.transition(self.worlds[-1], n, f"t{k}.")
            self.solver.add(t)
            self.choices.append(c)
        self.worlds.append(n)

    def every(self) -> dict[str, Term]:
        w = self.worlds[-1]
        extra = lemmas(self.model, self.inv, w) if self.inv is not None else {}
        return {**self.model.properties(w), **extra}

    def obligations(self) -> dict[str, Term]:
        return {k: t for k, t in self.every().items() if k in self.alive}

    def trace(self) -> Trace:
        return trace_of(self.spec, self.solver.model(), self.choices, self.worlds)


def _check_depth(run: _Run) -> str | None:
    """Decide every obligation still alive at the last depth; None, or why it stopped."""
    depth = len(run.worlds) - 1
    while True:
        todo = run.obligations()
        if not todo:
            return None
        run.solver.push()
        run.solver.add(z3.Or(*[z3.Not(t) for t in todo.values()]))
        res = run.solver.check()
        if res == z3.unsat:
            run.solver.pop()
            # Shown for every path of this length: assumed from now on (module docstring).
            run.solver.add(*todo.values())
            return None
        if res == z3.unknown:
            why = str(run.solver.reason_unknown())
            run.solver.pop()
            return why
        m = run.solver.model()
        trace = run.trace()
        detail = describe_state(run.spec, m, run.worlds[-1])
        for name, t in todo.items():
            if model_value(m, t):
                continue
            kind = run.alive.pop(name)
            label = name if kind == "property" else f"lemma: {name}"
            text = run.inv.text.get(name.split(" (")[0], "") if run.inv else ""
            run.broken[name] = Finding(
                "bmc", label, COUNTEREXAMPLE,
                f"violated after {depth} events" + (f" ({text})" if text else "") + "\n" + detail,
                depth=depth, trace=trace,
            )
        run.solver.pop()


Schedule = tuple[tuple[str, str], ...]  # (op, "client" or "server") per step
HANDSHAKE: Schedule = (("connect", "client"), ("deliver", "server"), ("deliver", "client"),
             ("deliver", "server"))
#: Who does what at each step of a witness; the initial server may already listen.
SCHEDULES: dict[str, Schedule] = {
    "both peers reach ESTABLISHED": HANDSHAKE,
    "lost data is retransmitted and delivered": HANDSHAKE + (
        ("send", "client"), ("output", "client"), ("timeout", "client"),
        ("output", "client"), ("deliver", "server"),
    ),
    "both close, the client through TIME-WAIT": HANDSHAKE + (
        ("close", "client"), ("output", "client"), ("deliver", "server"), ("deliver", "client"),
        ("close", "server"), ("output", "server"), ("deliver", "client"), ("deliver", "server"),
        ("timeout", "client"),
    ),
}


def along(spec: Spec, schedule: Schedule, goal: Callable[[TwoPeers, World], Term],
          slots: int = SLOTS, timeout_s: float | None = None) -> tuple[str, _Run]:
    """Search an execution from an initial state that follows ``schedule`` and ends in a
    state where ``goal`` holds: ("sat", the run holding its model), "unsat" or "unknown"."""
    model = TwoPeers(spec, slots)
    solver = lia.Solver()
    if timeout_s is not None:
        solver.set("timeout", int(timeout_s * 1000))
    run = _Run(spec, model, None, solver)
    run.extend()
    for op, role in schedule:
        run.extend()
        c = run.choices[-1]
        solver.add(model.is_op(c.op, op), c.who == z3.BoolVal(role == "server"))
    solver.add(goal(model, run.worlds[-1]))
    return str(solver.check()), run


def witness(spec: Spec, name: str, schedule: Schedule, slots: int = SLOTS,
            timeout_s: float | None = None) -> Finding:
    """Witness ``name`` along ``schedule``: WITNESSED with its trace, or FAILED."""
    res, run = along(spec, schedule, lambda m, w: m.witnesses(w)[name], slots, timeout_s)
    label, events = f"witness: {name}", {"events": len(schedule)}
    if res == "sat":
        return Finding("bmc", label, WITNESSED, f"after {len(schedule)} events",
                       trace=run.trace(), data=events)
    why = "none exists" if res == "unsat" else f"undecided ({run.solver.reason_unknown()})"
    return Finding("bmc", label, FAILED, f"no execution along its schedule ({why}): the "
                   "properties may hold vacuously", data=events)


def violation(spec: Spec, prop: str, schedule: Schedule, slots: int = SLOTS,
              timeout_s: float | None = None) -> Finding | None:
    """A counterexample to property ``prop`` along ``schedule``, or None when every
    execution that follows it keeps the property."""
    res, run = along(spec, schedule, lambda m, w: z3.Not(m.properties(w)[prop]), slots,
                     timeout_s)
    if res == "unsat":
        return None
    if res != "sat":
        return Finding("bmc", prop, FAILED, f"undecided ({run.solver.reason_unknown()})")
    detail = describe_state(spec, run.solver.model(), run.worlds[-1])
    return Finding("bmc", prop, COUNTEREXAMPLE,
                   f"violated after {len(schedule)} events\n{detail}",
                   depth=len(schedule), trace=run.trace())


def check(
    spec: Spec,
    depth: int = 12,
    timeout_s: float | None = None,
    progress: Callable[[str], None] | None = None,
    slots: int = SLOTS,
    invariants: Invariants | None = None,
    lemmas: bool = False,
    witnesses: bool = True,
) -> list[Finding]:
    """Bounded model checking to ``depth`` events, or as deep as ``timeout_s`` (default
    :data:`BUDGET_S`) allows; one finding per property (BOUNDED with the depth reached, or
    COUNTEREXAMPLE with a trace), per broken lemma, per witness."""
    start = time.monotonic()
    if timeout_s is None:
        timeout_s = BUDGET_S
    model = TwoPeers(spec, slots)
    inv = None
    if lemmas:
        inv = invariants if invariants is not None else load_invariants(spec)
    solver = lia.Solver()
    run = _Run(spec, model, inv, solver)
    run.extend()
    props = set(model.properties(run.worlds[0]))
    run.alive = {k: ("property" if k in props else "lemma") for k in run.every()}
    reached, stopped = -1, None
    for k in range(depth + 1):
        if timeout_s is not None and time.monotonic() - start > timeout_s:
            stopped = "time limit"
            break
        if k:
            run.extend()
        if progress:
            progress(f"bmc: depth {k} ({time.monotonic() - start:.0f}s)")
        if timeout_s is not None:
            left = max(1.0, timeout_s - (time.monotonic() - start))
            solver.set("timeout", int(left * 1000))
        stopped = _check_depth(run)
        if stopped is not None:
            break
        reached = k
    found = _findings(run, props, reached, stopped, time.monotonic() - start)
    for name, schedule in SCHEDULES.items() if witnesses else ():
        if progress:
            progress(f"bmc: witness {name}")
        found.append(witness(spec, name, schedule, slots))
    return found


def _findings(run: _Run, props: set[str], reached: int, stopped: str | None, seconds: float
              ) -> list[Finding]:
    findings: list[Finding] = []
    why = f"; stopped: {stopped}" if stopped else ""
    for name in sorted(props, key=list(run.model.properties(run.worlds[0])).index):
        if name in run.broken:
            findings.append(run.broken[name])
        else:
            findings.append(Finding(
                "bmc", name, BOUNDED if reached >= 0 else FAILED,
                f"no counterexample in any execution of up to {reached} events "
                f"({run.model.nslots} channel slots, {seconds:.0f}s){why}",
                depth=reached, data={"seconds": round(seconds, 1)},
            ))
    findings += [f for n, f in run.broken.items() if n not in props]
    return findings
