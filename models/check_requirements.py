"""Invariants of one connection, and the requirements its steps must meet.

``[tcb_invariants]`` in ``tcp.toml`` are proven inductive by Z3: they hold in the initial
CLOSED TCB, and every event (any user call, any arriving segment whatever its fields, any
timer, the output process sending any segment its shapes allow) keeps them. Observed
variables change freely within their bounds between steps, as they do in the core.

``[[requirement]]`` entries are then proven for every single step from every state where the
invariants hold. Each failure comes with the state, the segment and the rules applied.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor

import z3

from . import lia
from .expr import parse, to_z3
from .report import COUNTEREXAMPLE, FAILED, PROVEN, Finding
from .spec import SEG_BOOLS, SEGMENT_FIELDS, Emission, Requirement, Spec, load
from .symbolic import (
    Term,
    bounds,
    env_of,
    fresh_inputs,
    fresh_out,
    fresh_segment,
    fresh_tcb,
    model_value,
    output_effect,
    sym_step,
    val,
)


def invariants(spec: Spec) -> dict[str, Term]:
    """Parsed ``[tcb_invariants]`` as functions of a TCB (name -> expression)."""
    return {
        name: parse(text, spec.macros) for name, text in spec.raw.get("tcb_invariants", {}).items()
    }


def _inv(spec: Spec, tcb: dict[str, Term]) -> dict[str, Term]:
    env = env_of(spec, tcb)
    return {name: to_z3(e, env) for name, e in invariants(spec).items()}


def initial(spec: Spec, tcb: dict[str, Term]) -> Term:
    """CLOSED, before OPEN: every rule-set variable zero or false."""
    parts = [tcb["state"] == val(spec.state_index(spec.initial))]
    for v in spec.variables.values():
        if v.role == "state":
            parts.append(tcb[v.name] == (z3.BoolVal(False) if v.type == "bool" else val(0)))
    return z3.And(*parts)


def _havoc_observed(spec: Spec, post: dict[str, Term], tag: str) -> dict[str, Term]:
    """The observed variables after a step: anything within bounds (constrained by caller)."""
    fresh = fresh_tcb(spec, tag)
    return {
        k: (fresh[k] if k in spec.variables and spec.variables[k].role == "observed" else v)
        for k, v in post.items()
    }


def _no_segment() -> dict[str, Term]:
    seg: dict[str, Term] = {f: val(0) for f in SEGMENT_FIELDS}
    seg.update({f: z3.BoolVal(False) for f in SEG_BOOLS})
    return seg


def _solver(timeout_ms: int) -> z3.Solver:
    # Pure bit-vector queries: the QF_BV solver bit-blasts them, much faster than the default.
    s = z3.SolverFor("QF_BV")
    s.set("timeout", timeout_ms)
    return s


def _example(
    model: z3.ModelRef,
    spec: Spec,
    tcb: dict[str, Term],
    seg: dict[str, Term],
    fired: dict[str, Term],
) -> str:
    state = spec.states[int(model_value(model, tcb["state"]))]
    fields = ", ".join(f"{k}={model_value(model, v)}" for k, v in seg.items())
    rules = [r for r, t in fired.items() if model_value(model, t)]
    tcb_text = ", ".join(
        f"{k}={model_value(model, tcb[k])}"
        for k in spec.variables
        if spec.variables[k].role != "config"
    )
    return f"in {state} [{tcb_text}] segment {fields}; rules {rules}"


def _consecution(source: str, event: str, name: str, timeout_ms: int) -> list[str]:
    """Does ``event`` keep invariant ``name``? (Run in a worker process: it rebuilds the spec
    from its text, since Z3 terms cannot cross processes.)"""
    spec = load(text=source)
    pre = fresh_tcb(spec, f"{event}.pre.")
    fired: dict[str, Term] = {}
    if event == "output":
        out = fresh_out(f"{event}.")
        allowed, post = output_effect(spec, pre, out)
        seg, assume = out, allowed
    else:
        seg = fresh_segment(f"{event}.") if event == "segment" else _no_segment()
        st = sym_step(spec, pre, event, seg, fresh_inputs(spec, f"{event}."))
        assume = z3.And(st.assume, z3.Not(st.refused), z3.Not(st.stuck))
        post, fired = st.post, st.fired
    post = _havoc_observed(spec, post, f"{event}.post.")
    goal = _inv(spec, post)[name]
    for case in _cases(spec, fired):
        # A fresh solver per query, over the integers (models/lia.py: exact, and about
        # three times faster here than bit-blasting).
        s = lia.Solver()
        s.set("timeout", timeout_ms)
        s.add(bounds(spec, pre), *_inv(spec, pre).values(), assume, bounds(spec, post))
        s.add(case, z3.Not(goal))
        res = s.check()
        if res == z3.sat:
            return [f"{event} breaks {name}: " + _example(s.model(), spec, pre, seg, fired)]
        if res == z3.unknown:
            return [f"{event}/{name}: undecided ({s.reason_unknown()})"]
    return []


def check_invariants(
    spec: Spec, timeout_ms: int = 180_000, jobs: int | None = None
) -> list[Finding]:
    """Initiation and consecution of ``[tcb_invariants]``; the consecution queries (one per
    event and invariant) run on ``jobs`` processes (default: every core)."""
    names = list(invariants(spec))
    if not names:
        return []
    t0 = fresh_tcb(spec, "init.")
    s = _solver(timeout_ms)
    s.add(initial(spec, t0), bounds(spec, t0), z3.Not(z3.And(*_inv(spec, t0).values())))
    failures: list[str] = []
    if s.check() == z3.sat:
        failures.append("the initial TCB breaks an invariant")
    tasks = [(spec.source, e, n, timeout_ms) for e in [*spec.events, "output"] for n in names]
    # The segment event's queries are the slow ones: start them first.
    tasks.sort(key=lambda t: t[1] != "segment")
    workers = jobs or os.cpu_count() or 1
    if workers > 1:
        ctx = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
            for found in pool.map(_consecution, *zip(*tasks, strict=True)):
                failures += found
    else:
        for task in tasks:
            failures += _consecution(*task)
    status = PROVEN if not failures else COUNTEREXAMPLE
    detail = (
        f"{len(names)} invariants hold initially and after every event"
        if not failures
        else "; ".join(failures)
    )
    return [
        Finding(
            "requirements",
            "TCB invariants are inductive",
            status,
            detail,
            data={"invariants": names},
        )
    ]


def _cases(spec: Spec, fired: dict[str, Term]) -> list[Term]:
    """Split a segment's step by the rule of its text phase: delivery arithmetic dominates
    the cost of a query, and one case at a time is several times faster than all at once."""
    text_rules = [fired[r.id] for r in spec.rules if r.phase == "text" and r.id in fired]
    if not text_rules:
        return [z3.BoolVal(True)]
    return [*text_rules, z3.Not(z3.Or(*text_rules))]


def check_requirement(spec: Spec, req: Requirement, timeout_ms: int = 60_000) -> Finding:
    failures: list[str] = []
    for event in req.events:
        pre = fresh_tcb(spec, f"{req.id}.{event}.pre.")
        seg = fresh_segment(f"{req.id}.{event}.") if event == "segment" else _no_segment()
        st = sym_step(spec, pre, event, seg, fresh_inputs(spec, f"{req.id}.{event}."))
        env = dict(st.env_final)
        for r in spec.rules:
            env["fired." + r.id] = st.fired.get(r.id, z3.BoolVal(False))
        holds = to_z3(req.then, env)
        if req.sends is not None:
            holds = z3.And(holds, _sends(req, st.emissions, env))
        s = _solver(timeout_ms)
        s.add(bounds(spec, pre), *_inv(spec, pre).values(), st.assume)
        s.add(z3.Not(st.refused), z3.Not(st.stuck), to_z3(req.when, env), z3.Not(holds))
        res = s.check()
        if res == z3.sat:
            failures.append(_example(s.model(), spec, pre, seg, st.fired))
        elif res == z3.unknown:
            failures.append(f"{event}: undecided ({s.reason_unknown()})")
    if failures:
        return Finding(
            "requirements",
            req.id,
            COUNTEREXAMPLE if "undecided" not in failures[0] else FAILED,
            f"{req.doc} Violated {failures[0]}",
            data={"rfc": req.rfc},
        )
    return Finding("requirements", req.id, PROVEN, req.doc, data={"rfc": req.rfc})


def _sends(
    req: Requirement, emissions: list[tuple[str, Emission, Term, Term]], env: dict[str, Term]
) -> Term:
    """Some mandatory emission of the step has the required flags and fields."""
    want = req.sends
    assert want is not None
    options = []
    for _rule, em, _active, mandatory in emissions:
        if em.flags != want.flags or em.data != want.data:
            continue
        parts = [mandatory]
        for mine, theirs in ((want.seq, em.seq), (want.ack, em.ack)):
            if mine is None:
                continue
            if theirs is None:
                parts.append(z3.BoolVal(False))
            else:
                parts.append(to_z3(mine, env) == to_z3(theirs, env))
        options.append(z3.And(*parts))
    return z3.Or(*options) if options else z3.BoolVal(False)


def check(
    spec: Spec,
    depth: int | None = None,
    timeout_s: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Finding]:
    del depth  # single steps: no depth
    ms = int((timeout_s or 120) * 1000)
    findings = []
    for req in spec.requirements:
        if progress:
            progress(f"requirements: {req.id}")
        findings.append(check_requirement(spec, req, ms))
    if progress:
        progress("requirements: TCB invariants are inductive")
    return findings + check_invariants(spec, ms)


def first_violation(spec: Spec, timeout_s: float = 120) -> Finding | None:
    """The first requirement or invariant that fails, cheapest checks first (for mutants)."""
    ms = int(timeout_s * 1000)
    for req in spec.requirements:
        f = check_requirement(spec, req, ms)
        if not f.ok:
            return f
    return next((f for f in check_invariants(spec, ms) if not f.ok), None)
