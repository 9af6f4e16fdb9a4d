"""Check 1: the rules are deterministic and total.

For every phase and every state in which the phase has rules, over every value of the TCB
(within ``[bounds]``), every arriving segment and every input: no two guards hold at once,
and at least one does. A failure names the state and the phase and gives a concrete
segment (and TCB values) that matches two rules or falls through.

Also static: every phase a pipeline or a ``then`` list schedules has a rule for every state
the connection can be in when it gets there.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator

import z3

from .expr import names, to_z3
from .report import COUNTEREXAMPLE, FAILED, PROVEN, Finding
from .spec import Rule, Spec
from .symbolic import (
    bounds,
    env_of,
    fresh_inputs,
    fresh_segment,
    fresh_tcb,
    model_value,
    segment_bounds,
    val,
)


def phase_states(spec: Spec) -> Iterator[tuple[str, str, list[Rule]]]:
    """(phase, state, rules) for every state a phase has rules for."""
    for phase in spec.phases:
        for state in spec.states:
            rules = spec.rules_for(phase, state)
            if rules:
                yield phase, state, rules


def _witness(
    spec: Spec,
    model: z3.ModelRef,
    rules: list[Rule],
    tcb: dict[str, z3.ExprRef],
    seg: dict[str, z3.ExprRef],
    inputs: dict[str, z3.ExprRef],
) -> dict[str, int | bool]:
    """The values of the names the guards mention, read off a Z3 model."""
    used: set[str] = set()
    for r in rules:
        used |= names(r.guard)
    env = env_of(spec, tcb, seg, inputs)
    return {
        n: model_value(model, env[n])
        for n in sorted(used)
        if n in env and n != "state" and n not in spec.constants()
    }


def check(
    spec: Spec,
    depth: int | None = None,
    timeout_s: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Finding]:
    del depth  # single phases: no depth
    timeout_ms = int((timeout_s or 20) * 1000)
    findings: list[Finding] = []
    tcb = fresh_tcb(spec, "")
    seg = fresh_segment("")
    inputs = fresh_inputs(spec, "")
    env = env_of(spec, tcb, seg, inputs)
    base = z3.And(bounds(spec, tcb), segment_bounds(spec, seg))
    for phase, state, rules in phase_states(spec):
        if progress:
            progress(f"wellformed: {state}/{phase}")
        solver = z3.Solver()
        solver.set("timeout", timeout_ms)
        solver.add(base, tcb["state"] == val(spec.state_index(state)))
        guards = {r.id: to_z3(r.guard, env) for r in rules}
        problems: list[str] = []
        example: dict[str, int | bool] | None = None
        for a, b in itertools.combinations(rules, 2):
            solver.push()
            solver.add(guards[a.id], guards[b.id])
            res = solver.check()
            if res == z3.sat:
                example = _witness(spec, solver.model(), rules, tcb, seg, inputs)
                problems.append(f"{a.id} and {b.id} both apply")
            elif res == z3.unknown:
                problems.append(f"undecided: {a.id} vs {b.id} ({solver.reason_unknown()})")
            solver.pop()
        solver.push()
        solver.add(z3.Not(z3.Or(*guards.values())))
        res = solver.check()
        if res == z3.sat:
            example = _witness(spec, solver.model(), rules, tcb, seg, inputs)
            problems.append("no rule applies")
        elif res == z3.unknown:
            problems.append(f"undecided totality ({solver.reason_unknown()})")
        solver.pop()
        name = f"{state}/{phase}"
        if not problems:
            findings.append(
                Finding("wellformed", name, PROVEN, f"{len(rules)} rules, exclusive and total")
            )
        else:
            status = COUNTEREXAMPLE if example is not None else FAILED
            detail = "; ".join(problems)
            if example is not None:
                detail += " — e.g. " + ", ".join(f"{k}={v}" for k, v in example.items())
            findings.append(Finding("wellformed", name, status, detail, data={"example": example}))
    findings.extend(check_pipelines(spec))
    return findings


def check_pipelines(spec: Spec) -> list[Finding]:
    """Every phase reached along a pipeline has rules for the state the connection is in."""
    problems: list[str] = []
    for event, table in spec.pipelines.items():
        for start in spec.states:
            phases = spec.pipeline(event, start)
            if phases is None or table is None:
                continue
            _walk(spec, event, start, start, list(phases), problems, depth=0)
    if problems:
        return [
            Finding("wellformed", "pipelines", COUNTEREXAMPLE, "; ".join(sorted(set(problems))))
        ]
    return [
        Finding("wellformed", "pipelines", PROVEN, "every scheduled phase has rules for its state")
    ]


def _walk(
    spec: Spec, event: str, start: str, state: str, todo: list[str], problems: list[str], depth: int
) -> None:
    if not todo or depth > 32:
        return
    phase, rest = todo[0], todo[1:]
    rules = spec.rules_for(phase, state)
    if not rules:
        problems.append(f"{event} from {start}: phase {phase} has no rule for {state}")
        return
    for r in rules:
        nxt = rest if r.then == "next" else ([] if r.then == "stop" else list(r.then))
        for target in [state] if r.to_text is None else r.targets(spec):
            _walk(spec, event, start, target, nxt, problems, depth + 1)
