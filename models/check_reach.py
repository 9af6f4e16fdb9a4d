"""Check 2, reachability, and check 6, a witness for every rule.

From the initial TCB (CLOSED, every variable zero or false, small limits: see
:data:`models.witness.CONFIG`), a breadth-first search over concrete TCBs finds for every
state a sequence of events that reaches it, and for every rule of ``tcp.toml`` (those with
``report = false`` too) and every [[output]] shape a sequence whose last event applies it. A
rule no sequence applies is dead: its guard never holds where its phase runs, a mistake in
the spec (a condition that contradicts the pipeline, a typo in a guard) or a branch the RFC
text has that no real connection can take.

Search nodes are deduplicated on an :class:`Abstraction` of the TCB (the state, the flags that
can still matter, how the send sequence variables relate, small counters). Successors of a
node: every user call and the timer, run on the concrete interpreter (``spec.step``); what the
output process would send (:func:`models.witness.output_candidates`); and arriving segments,
which Z3 chooses: ``sym_step`` from the node's TCB with the segment and the inputs free, and
the query "some rule not witnessed yet applies, or the TCB after the step has an abstraction
not seen yet", repeated until it has no answer. So every segment Z3 finds is a new witness or
a new node, and one query per successor (plus one per preference tier) settles a node. The
observed variables (buffers, timers) follow the environment model of models/witness.py, which
Z3 sees too, and which keeps every TCB within ``[bounds]``.

The search runs twice: with timestamps off (:data:`models.witness.CONFIG`), then, for the
rules still without a witness (PAWS needs timestamps agreed), with them on. One search with
them on would explore most TCBs twice, with and without timestamps agreed, for nothing.

Breadth first, so witnesses are as short as the abstraction allows; within a level, TCBs near
a rule still to witness go first. The search stops when everything is witnessed, at ``depth``
events, or at the time limit. Then every witness is polished: its segments re-solved, as the
replay against the core will re-solve them, to read like a well-behaved peer's.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

import z3

from .check_requirements import invariants
from .expr import WIDTH, SpecError, Value, evaluate, names, parse, to_z3, type_of
from .report import FAILED, WITNESSED, Finding
from .spec import Spec, step
from .symbolic import Term, val
from .witness import (
    CONFIG,
    ISN,
    OUTPUT,
    PREFERENCES,
    SEND_N,
    SOLVE_PREFERENCES,
    Environment,
    Pipelines,
    StepSolver,
    Witness,
    WitnessStep,
    apply_output,
    holds,
    initial,
    output_candidates,
)

# Inputs of the events Z3 does not choose: our ISN, what SEND queues. The others (a gap's
# fill, the reassembly buffer's answer, the rate limiter) do not bear on user calls.
CALL_INPUTS: dict[str, Value] = {
    "isn": ISN,
    "fill": 0,
    "new_held": False,
    "oow_ok": True,
    "challenge_ok": True,
    "n": SEND_N,
    # A timer event is the next timer's expiry; the keep-alive timer runs only while no
    # other protocol timer does (the spec's `keepalive_idle`), so when it runs it is the one.
    "keepalive_due": True,
    # Likewise the delayed-ACK timer: it runs (`ack_delayed`) only right after text whose
    # ACK waits, and then it is the next to expire. `ack_delay_ok` bears on no timer or call.
    "ack_delay_ok": False,
    "ack_timer": True,
    # SACK news comes only with segments.
    "sack_news": False,
    # A timer event is the probe timer's when it runs (`tlp_armed`): it expires first.
    "tlp_due": True,
}

Key = tuple[Value | str, ...]  # an abstraction: its feature values, or ("CLOSED",)

# How the send sequence variables relate, and counters up to the limits where rules change.
RELATIONS = (
    "snd_una == snd_max",
    "snd_nxt == snd_max",
    "snd_nxt == snd_una",
    "snd_max - snd_una == 1",  # a probe byte, or the FIN alone, outstanding
    "snd_wnd == 0",
    "queued == 0",
    "umin(dupacks, dupack_threshold)",
    "umin(retries, max_retries)",
    "umin(keepalive_probes, keepalive_count)",
)


@dataclass
class Node:
    state: str
    values: dict[str, Value]
    path: tuple[WitnessStep, ...]


@dataclass
class _Polished:
    """A witness step re-solved, with the TCB after it and after the original step."""

    step: WitnessStep
    state: str
    values: dict[str, Value]
    orig_state: str
    orig_values: dict[str, Value]


@dataclass
class SearchResult:
    rules: dict[str, Witness]  # rule id or [[output]] id -> witness
    states: dict[str, Witness]  # state name -> witness
    depth: int
    seconds: float = 0.0
    nodes: int = 0  # TCBs expanded
    queries: int = 0  # Z3 queries
    dropped: int = 0  # successors outside the bounds or the invariants (none expected)
    timed_out: bool = False
    reached_depth: int = 0


def targets(spec: Spec) -> list[str]:
    """Every rule and every output shape that needs a witness."""
    return [r.id for r in spec.rules] + [o.id for o in spec.outputs]


def needs_timestamps(spec: Spec) -> set[str]:
    """The rules whose guard cannot hold unless timestamps were agreed (``ts_ok``): the first
    search, with timestamps off, does not look for them."""
    return needs(spec, "ts_ok")


def needs(spec: Spec, flag: str) -> set[str]:
    """The rules whose guard cannot hold unless the boolean variable ``flag`` does."""
    from .symbolic import env_of, fresh_inputs, fresh_segment, fresh_tcb

    env = env_of(spec, fresh_tcb(spec, "t."), fresh_segment("t."), fresh_inputs(spec, "t."))
    out = set()
    for r in spec.rules:
        solver = z3.Solver()
        solver.add(z3.Not(env[flag]), to_z3(r.guard, env))
        if solver.check() == z3.unsat:
            out.add(r.id)
    return out


def relevant_flags(spec: Spec, environment: Environment) -> dict[str, tuple[str, ...]]:
    """For each boolean variable, the states in which it can still matter: some rule or
    output shape of that state, or of a state reachable from it, or the environment model
    reads it. (``passive``, for one, only decides where a RST in SYN-RECEIVED leads: two
    ESTABLISHED TCBs that differ in it are the same.) CLOSED ends the walk: only fresh TCBs
    leave it."""
    reads: dict[str, set[str]] = {s: environment.reads() for s in spec.states}
    succ: dict[str, set[str]] = {s: set() for s in spec.states}
    for r in spec.rules:
        used = names(r.guard) | names(r.fresh)
        for e in [e for _, e in r.sets] + [x for x in (r.to, r.error) if x is not None]:
            used |= names(e)
        for st in r.states:
            reads[st] |= used
            succ[st] |= (set(r.targets(spec)) if r.to_text else {st}) - {spec.initial}
    for o in spec.outputs:
        used = names(o.shape).union(*(names(e) for _, e in o.sets))
        for st in o.states:
            reads[st] |= used
    changed = True
    while changed:  # close over the states reachable from each
        changed = False
        for st in spec.states:
            for t in succ[st]:
                if not reads[t] <= reads[st]:
                    reads[st] |= reads[t]
                    changed = True
    return {
        n: tuple(s for s in spec.states if n in reads[s])
        for n, v in spec.variables.items()
        if v.type == "bool"
    }


def features(spec: Spec, environment: Environment) -> list[str]:
    """The abstraction, as expressions of the spec's language: the state, each flag where it
    matters, and :data:`RELATIONS`. Evaluated on concrete TCBs and translated to Z3 alike."""
    texts = ["state"]
    for flag, states in relevant_flags(spec, environment).items():
        if len(states) == len(spec.states):
            texts.append(flag)
        elif states:
            where = " or ".join(f"state == {s}" for s in states)
            texts.append(f"{flag} and ({where})")
    return texts + list(RELATIONS)


class Abstraction:
    """What two TCBs must share to count as the same search node."""

    def __init__(self, spec: Spec, environment: Environment) -> None:
        self.spec = spec
        self.texts = features(spec, environment)
        self.exprs = [parse(t, spec.macros) for t in self.texts]
        types = spec.types()
        self.widths = [1 if type_of(e, types) == "bool" else WIDTH for e in self.exprs]
        self.closed = (spec.initial,)
        self._signatures: dict[int, Term] = {}
        self._known: dict[int, tuple[int, list[Term]]] = {}

    def key(self, state: str, values: Mapping[str, Value]) -> Key:
        if state == self.spec.initial:
            return self.closed  # whatever came before, only fresh TCBs leave CLOSED
        env = {**self.spec.constants(), **values, "state": self.spec.state_index(state)}
        return tuple(evaluate(e, env) for e in self.exprs)

    def packed(self, key: Key) -> int:
        n = 0
        for v, w in zip(key, self.widths, strict=True):
            n = (n << w) | int(v)
        return n

    def signature(self, solver: StepSolver) -> Term:
        """The abstraction of the TCB after the step as one bit-vector (see :meth:`packed`):
        excluding a key is then one disequation, however many keys are excluded."""
        sig = self._signatures.get(id(solver.p))
        if sig is None:
            bits = []
            for t in self.texts:
                term = solver.post_term(t)
                one, zero = z3.BitVecVal(1, 1), z3.BitVecVal(0, 1)
                bits.append(z3.If(term, one, zero) if z3.is_bool(term) else term)
            sig = self._signatures[id(solver.p)] = z3.Concat(*bits)
        return sig

    def leads_to(self, solver: StepSolver, key: Key) -> Term:
        """The step leads to a TCB whose abstraction is ``key``."""
        closed = solver.post_term("state") == val(self.spec.state_index(self.spec.initial))
        if key == self.closed:
            return closed
        sig = self.signature(solver)
        return sig == z3.BitVecVal(self.packed(key), sig.size())

    def unseen(self, solver: StepSolver, seen: list[Key]) -> Term:
        """The step leads to a TCB whose abstraction is not in ``seen`` (which only grows:
        the disequations are built once per pipeline, and only for the states a step of the
        pipeline can lead to)."""
        done, known = self._known.setdefault(id(solver.p), (0, []))
        states = {self.spec.state_index(s) for s in self._targets(solver)}
        for k in seen[done:]:
            if k == self.closed or k[0] in states:
                known.append(self.leads_to(solver, k))
        self._known[id(solver.p)] = (len(seen), known)
        return z3.Not(z3.Or(*known)) if known else z3.BoolVal(True)

    def _targets(self, solver: StepSolver) -> set[str]:
        """The states a step of this pipeline can lead to."""
        out = {solver.state}
        for rid in solver.possible():
            r = self.spec.rule_by_id[rid]
            if r.to_text:
                out |= set(r.targets(self.spec))
            else:
                out |= set(r.states)  # a later phase may run in a state an earlier one set
        return out


class _Search:
    def __init__(
        self,
        spec: Spec,
        depth: int,
        timeout_s: float | None,
        progress: Callable[[str], None] | None,
        config: Mapping[str, Value] = CONFIG,
        todo: set[str] | None = None,
    ) -> None:
        self.spec = spec
        self.config = dict(config)
        self.depth = depth
        self.deadline = None if timeout_s is None else time.monotonic() + timeout_s
        self.progress = progress
        self.pipelines = Pipelines(spec)
        self.environment = self.pipelines.environment
        self.abstraction = Abstraction(spec, self.environment)
        self.checks = [*spec.bounds.values(), *invariants(spec).values()]
        self.todo = set(targets(spec)) if todo is None else set(todo)
        self.seen: set[Key] = set()
        self.seen_order: list[Key] = []  # the same, in the order found
        self.result = SearchResult({}, {}, depth)
        self.fix = {"in.isn": ISN}

    def done(self) -> bool:
        return not self.todo and len(self.result.states) == len(self.spec.states)

    def out_of_time(self) -> bool:
        self.result.timed_out = self.deadline is not None and time.monotonic() > self.deadline
        return self.result.timed_out

    def run(self) -> SearchResult:
        start = time.monotonic()
        state, values = initial(self.spec, self.config)
        root = Node(state, values, ())
        self._reached(root)
        self._see(self.abstraction.key(state, values))
        level = [root]
        for d in range(self.depth):
            nxt: list[Node] = []
            for node in level:
                if self.done() or self.out_of_time():
                    break
                self.result.nodes += 1
                for child in self.successors(node):
                    self._reached(child)
                    key = self.abstraction.key(child.state, child.values)
                    if key not in self.seen:
                        self._see(key)
                        nxt.append(child)
            self.result.reached_depth = d + 1
            if self.progress:
                self.progress(
                    f"reachability: depth {d + 1}, {len(nxt)} new TCBs, "
                    f"{len(self.todo)} rules to witness"
                )
            level = sorted(nxt, key=self._priority)
            if self.done() or self.result.timed_out or not level:
                break
        self._polish()
        self.result.seconds = time.monotonic() - start
        return self.result

    def _polish(self) -> None:
        """Make every witness's segments as natural as the rules allow (SOLVE_PREFERENCES):
        re-solve each step from the polished TCB, as the replay against the core does, for the
        same rules and the same abstract TCB after it; the last step only for its target (the
        rule, or the state). A witness that does not polish stays as found."""
        memo: dict[tuple[int, ...], _Polished | None] = {}
        state, values = initial(self.spec, self.config)
        start = _Polished(WitnessStep("", []), state, values, state, values)
        for table in (self.result.rules, self.result.states):
            for name, w in table.items():
                if not w.steps:
                    continue
                done = [start]
                for i, s in enumerate(w.steps[:-1]):
                    key = tuple(id(x) for x in w.steps[: i + 1])
                    if key not in memo and not self.out_of_time():
                        memo[key] = self._polish_step(done[-1], s)
                    p = memo.get(key)
                    if p is None:
                        break
                    done.append(p)
                if len(done) < len(w.steps) or self.out_of_time():
                    continue
                last = self._polish_step(done[-1], w.steps[-1], name)
                if last is not None:
                    steps = [p.step for p in done[1:]] + [last.step]
                    table[name] = Witness(w.target, steps, dict(self.config))

    def _polish_step(
        self, before: _Polished, s: WitnessStep, target: str | None = None
    ) -> _Polished | None:
        """``s`` re-solved from ``before``: leading to the same abstract TCB (by the same rules
        if it can), or (``target``) only applying that rule or reaching that state."""
        orig = Node(before.orig_state, before.orig_values, ())
        _, orig_values, _ = self._step(orig, s.event, s.out or s.seg, s.inputs)
        here = Node(before.state, before.values, ())
        if s.event == "segment":
            solver = StepSolver(self.spec, here.state, here.values, s.event, self.pipelines)
            if target is None:
                # The same rules if they can apply here; if not (a stale segment may need a
                # number the polished TCB does not have), other rules to the same place.
                same = self.abstraction.leads_to(solver, self.abstraction.key(s.state, orig_values))
                found = solver.solve_exactly(s.fired, self.fix, same) or solver.solve(
                    same, self.fix, SOLVE_PREFERENCES
                )
            elif target in solver.fired:
                found = solver.solve(solver.fired[target], self.fix, SOLVE_PREFERENCES)
            else:
                goal = solver.post_term("state") == val(self.spec.state_index(target))
                found = solver.solve(goal, self.fix, SOLVE_PREFERENCES)
            self.result.queries += solver.queries
            if found is None:
                return None
            seg, inputs = found
        elif s.event == OUTPUT:
            assert s.out is not None
            same = [
                o
                for o in output_candidates(self.spec, here.state, here.values)
                if (o["FIN"], o["len"] == 0) == (s.out["FIN"], s.out["len"] == 0)
            ]
            if not same:
                return None
            seg, inputs = same[0], {}
        else:
            seg, inputs = None, s.inputs
        new, values, child = self._step(here, s.event, seg, inputs)
        if child is None:
            return None
        if target is None and self.abstraction.key(new.state, values) != self.abstraction.key(
            s.state, orig_values
        ):
            return None
        if target is not None and target not in new.fired and target != new.state:
            return None
        return _Polished(new, new.state, values, s.state, orig_values)

    def _priority(self, node: Node) -> tuple[bool, bool]:
        """Within a level, TCBs in a state where a rule still to witness applies first, and
        among them those whose last step applied a rule of the same phase (a duplicate ACK
        before the third one): the witnesses stay as short, and the search ends sooner."""
        wanted = [self.spec.rule_by_id[r] for r in self.todo if r in self.spec.rule_by_id]
        last = [self.spec.rule_by_id[r] for r in node.path[-1].fired if r in self.spec.rule_by_id]
        near = any(node.state in r.states for r in wanted)
        phases = {r.phase for r in last if node.state in r.states}
        related = any(r.phase in phases and node.state in r.states for r in wanted)
        return (not near, not related)

    def _see(self, key: Key) -> None:
        self.seen.add(key)
        self.seen_order.append(key)

    def _reached(self, node: Node) -> None:
        """Record the witnesses ``node``'s last step gives."""
        if node.state not in self.result.states:
            self.result.states[node.state] = Witness(
                node.state, list(node.path), dict(self.config)
            )
        if node.path:
            for rid in node.path[-1].fired:
                if rid in self.todo:
                    self.todo.discard(rid)
                    self.result.rules[rid] = Witness(rid, list(node.path), dict(self.config))

    def successors(self, node: Node) -> Iterator[Node]:
        for event in self.spec.events:
            if event != "segment" and self.spec.pipeline(event, node.state) is not None:
                child = self._step(node, event, None, CALL_INPUTS)[2]
                if child is not None:
                    yield child
        for out in output_candidates(self.spec, node.state, node.values):
            child = self._step(node, OUTPUT, out, {})[2]
            if child is not None:
                yield child
        yield from self._segments(node)

    def _step(
        self,
        node: Node,
        event: str,
        seg: dict[str, Value] | None,
        inputs: Mapping[str, Value],
    ) -> tuple[WitnessStep, dict[str, Value], Node | None]:
        """The step ``event`` (``seg`` is the segment sent, for "output"), the TCB after it,
        and the successor: None if that breaks a bound or an invariant (these are proven
        inductive, and Z3 keeps the environment model's values within bounds, so this is a
        safety net)."""
        spec = self.spec
        if event == OUTPUT:
            assert seg is not None
            fired, post = apply_output(spec, node.state, node.values, seg)
            state, arrived, out = node.state, None, seg
        else:
            r = step(spec, node.state, node.values, event, seg, inputs)
            fired, post, state, arrived, out = r.fired, r.values, r.state, seg, None
        vals = self.environment.after(node.state, node.values, state, post, fired, arrived, inputs)
        observed = {n: vals[n] for n in self.environment.exprs}
        s = WitnessStep(event, fired, arrived, dict(inputs), out, state, observed)
        if not holds(spec, state, vals, self.checks):
            self.result.dropped += 1
            return s, vals, None
        return s, vals, Node(state, vals, (*node.path, s))

    def _segments(self, node: Node) -> Iterator[Node]:
        """Arriving segments, chosen by Z3 (see the module's doc)."""
        solver = StepSolver(self.spec, node.state, node.values, "segment", self.pipelines)
        possible = solver.possible()
        applied: set[str] = set()  # by this node's successors, kept or dropped
        for tier in PREFERENCES:
            while not self.out_of_time():
                wanted = self.todo - applied
                new_rules = [solver.fired[r] for r in possible if r in wanted]
                unseen = self.abstraction.unseen(solver, self.seen_order)
                goal = z3.And(solver.p.valid, z3.Or(*new_rules, unseen))
                found = solver.solve(goal, self.fix, (tier,))
                if found is None:
                    break
                s, vals, child = self._step(node, "segment", *found)
                key = self.abstraction.key(s.state, vals)
                if not wanted & set(s.fired) and key in self.seen:
                    raise SpecError(f"Z3 and the interpreter disagree from {node.state}: {s}")
                applied.update(s.fired)
                if child is None:
                    self._see(key)  # not to be found again
                else:
                    yield child  # run() records it, and adds its key to `seen`
        self.result.queries += solver.queries


def search(
    spec: Spec,
    depth: int = 8,
    timeout_s: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> SearchResult:
    start = time.monotonic()
    probe = needs(spec, "tlp_armed")
    later = needs_timestamps(spec) | probe
    first = _Search(spec, depth, timeout_s, progress, CONFIG, set(targets(spec)) - later).run()
    result = first
    # Then with timestamps on, for the rules that need them; then with tail-loss probes on,
    # for the probe timer's (with them on, the timer after data would be the probe's).
    for feature in ("timestamps", "tail_loss_probe"):
        rest = set(targets(spec)) - set(result.rules)
        if feature == "timestamps":
            rest -= probe  # they wait for their own search
        if not rest or result.timed_out:
            continue
        if progress:
            progress(f"reachability: again with {feature} on, for {len(rest)} rules")
        left = None if timeout_s is None else max(1.0, timeout_s - (time.monotonic() - start))
        again = _Search(spec, depth, left, progress, {**CONFIG, feature: True}, rest)
        again.result.states = dict(first.states)  # reached already: done() needs the rules
        more = again.run()
        result = SearchResult(
            rules={**result.rules, **more.rules},
            states=first.states,
            depth=depth,
            seconds=time.monotonic() - start,
            nodes=result.nodes + more.nodes,
            queries=result.queries + more.queries,
            dropped=result.dropped + more.dropped,
            timed_out=more.timed_out,
            reached_depth=max(result.reached_depth, more.reached_depth),
        )
    return result


def find_witnesses(
    spec: Spec,
    depth: int = 8,
    timeout_s: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Witness]:
    """A witness for every rule and output shape the search applied (keyed by id)."""
    return search(spec, depth, timeout_s, progress).rules


def check(
    spec: Spec,
    depth: int = 8,
    timeout_s: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Finding]:
    return findings(spec, search(spec, depth, timeout_s, progress))


def findings(spec: Spec, res: SearchResult) -> list[Finding]:
    """A finding per state (check "reachability") and per rule or output shape ("witness"),
    the witness in ``data["witness"]`` as JSON."""
    limit = f"within depth {res.depth}" + (
        f" (search stopped at {res.seconds:.0f} s)" if res.timed_out else ""
    )
    out: list[Finding] = []
    for state in spec.states:
        w = res.states.get(state)
        if w is None:
            out.append(Finding("reachability", state, FAILED, f"unreachable {limit}"))
        else:
            out.append(_found("reachability", state, w))
    for rid in targets(spec):
        w = res.rules.get(rid)
        if w is None:
            out.append(Finding("witness", rid, FAILED, f"dead rule: no witness {limit}"))
        else:
            out.append(_found("witness", rid, w))
    return out


def _found(check_name: str, name: str, w: Witness) -> Finding:
    return Finding(
        check_name,
        name,
        WITNESSED,
        f"{len(w.steps)} events: {w.describe()}" if w.steps else "the initial state",
        depth=len(w.steps),
        trace=w.trace(),
        data={"witness": w.to_json()},
    )
