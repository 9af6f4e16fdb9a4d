"""The spec as Z3 terms: one event of one connection, with a symbolic (or concrete) TCB.

:func:`sym_step` is the building block of every Z3 check: it runs an event's pipeline over
bit-vector terms exactly as :func:`models.spec.step` runs it over numbers, from the same
parsed rules. Phases run in one global order (every pipeline and every ``then`` list agrees
with it, see :func:`phase_order`); a Boolean per phase says whether it is still scheduled.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import z3

from .expr import WIDTH, SpecError, to_z3
from .spec import ERRNOS, OUT_FIELDS, SEG_BOOLS, SEGMENT_FIELDS, Emission, Spec

Term = Any  # a z3.ExprRef: z3's stubs are loose


def word(name: str) -> Term:
    return z3.BitVec(name, WIDTH)


def val(v: int | bool) -> Term:
    return z3.BoolVal(v) if isinstance(v, bool) else z3.BitVecVal(v, WIDTH)


def fresh_tcb(spec: Spec, prefix: str) -> dict[str, Term]:
    """Free terms for every variable and for ``state``."""
    tcb: dict[str, Term] = {"state": word(f"{prefix}state")}
    for v in spec.variables.values():
        tcb[v.name] = z3.Bool(prefix + v.name) if v.type == "bool" else word(prefix + v.name)
    return tcb


def concrete_tcb(spec: Spec, state: str, values: Mapping[str, int | bool]) -> dict[str, Term]:
    tcb = {k: val(values[k]) for k in spec.variables}
    tcb["state"] = val(spec.state_index(state))
    return tcb


def fresh_fields(prefix: str, fields: tuple[str, ...]) -> dict[str, Term]:
    out = {f: word(f"{prefix}{f}") for f in fields}
    out.update({f: z3.Bool(f"{prefix}{f}") for f in SEG_BOOLS})
    return out


def fresh_segment(prefix: str) -> dict[str, Term]:
    return fresh_fields(prefix + "seg.", SEGMENT_FIELDS)


def fresh_out(prefix: str) -> dict[str, Term]:
    return fresh_fields(prefix + "out.", OUT_FIELDS)


def fresh_inputs(spec: Spec, prefix: str) -> dict[str, Term]:
    return {
        i.name: z3.Bool(f"{prefix}in.{i.name}")
        if i.type == "bool"
        else word(f"{prefix}in.{i.name}")
        for i in spec.inputs.values()
    }


@cache
def _constants(spec_id: int, states: tuple[str, ...]) -> dict[str, Term]:
    consts = {s: val(i) for i, s in enumerate(states)}
    consts.update({e: val(i) for i, e in enumerate(ERRNOS)})
    return consts


def env_of(
    spec: Spec,
    tcb: Mapping[str, Term],
    seg: Mapping[str, Term] | None = None,
    inputs: Mapping[str, Term] | None = None,
    pre: Mapping[str, Term] | None = None,
    out: Mapping[str, Term] | None = None,
) -> dict[str, Term]:
    env = dict(_constants(id(spec), spec.states))
    env.update(tcb)
    for prefix, table in (("seg.", seg), ("in.", inputs), ("pre.", pre), ("out.", out)):
        for k, v in (table or {}).items():
            env[prefix + k] = v
    return env


def bounds(spec: Spec, tcb: Mapping[str, Term]) -> Term:
    env = env_of(spec, tcb)
    parts = [to_z3(b, env) for b in spec.bounds.values()]
    parts.append(z3.ULT(tcb["state"], val(len(spec.states))))
    return z3.And(*parts)


def segment_bounds(spec: Spec, seg: Mapping[str, Term]) -> Term:
    return to_z3(spec.segment_bounds, env_of(spec, {}, seg))


def phase_order(spec: Spec) -> tuple[str, ...]:
    """A single order of all phases that every pipeline and ``then`` list respects."""
    edges: dict[str, set[str]] = {p: set() for p in spec.phases}
    chains = [list(ph) for table in spec.pipelines.values() for ph in table.values()]
    chains += [list(r.then) for r in spec.rules if isinstance(r.then, tuple)]
    # A `then` list continues from the rule's own phase.
    chains += [[r.phase, *r.then] for r in spec.rules if isinstance(r.then, tuple)]
    for chain in chains:
        for a, b in zip(chain, chain[1:], strict=False):
            edges[a].add(b)
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(p: str) -> None:
        if state.get(p) == 1:
            raise SpecError(f"phases form a cycle through {p}")
        if state.get(p) == 2:
            return
        state[p] = 1
        for q in sorted(edges[p]):
            visit(q)
        state[p] = 2
        order.append(p)

    for p in spec.phases:
        visit(p)
    return tuple(reversed(order))


@dataclass
class SymStep:
    post: dict[str, Term]
    fired: dict[str, Term]  # rule id -> it applied
    refused: Term  # the event has no pipeline in this state
    stuck: Term  # a scheduled phase had no applicable rule (a spec error)
    error: Term  # errno index
    emissions: list[tuple[str, Emission, Term, Term]]  # (rule, shape, active, mandatory)
    env_final: dict[str, Term]
    assume: Term  # what the environment guarantees about the segment and the inputs


def _in_states(spec: Spec, state: Term, names: tuple[str, ...] | list[str]) -> Term:
    return (
        z3.Or(*[state == val(spec.state_index(s)) for s in names]) if names else z3.BoolVal(False)
    )


def sym_step(
    spec: Spec,
    pre: Mapping[str, Term],
    event: str,
    seg: Mapping[str, Term] | None = None,
    inputs: Mapping[str, Term] | None = None,
) -> SymStep:
    """The effect of ``event`` on the TCB ``pre`` (terms, including ``state``)."""
    order = phase_order(spec)
    sched: dict[str, Term] = {}
    for p in order:
        states = [s for s in spec.states if p in (spec.pipeline(event, s) or ())]
        sched[p] = _in_states(spec, pre["state"], states)
    refused = z3.Not(
        _in_states(
            spec, pre["state"], [s for s in spec.states if spec.pipeline(event, s) is not None]
        )
    )
    cur = dict(pre)
    fired: dict[str, Term] = {}
    stuck: Term = z3.BoolVal(False)
    error: Term = val(0)
    for p in order:
        # Earlier phases have added whatever their `then` lists schedule here.
        active = sched[p]
        if z3.is_false(z3.simplify(active)):
            continue
        env = env_of(spec, cur, seg, inputs)
        fires = []
        for r in spec.rules:
            if r.phase != p:
                continue
            f = z3.And(active, _in_states(spec, cur["state"], r.states), to_z3(r.guard, env))
            fired[r.id] = f
            fires.append((r, f))
        stuck = z3.Or(stuck, z3.And(active, z3.Not(z3.Or(*[f for _, f in fires]))))
        nxt = dict(cur)
        fresh = spec.fresh_values()
        for var in spec.variables:
            term = cur[var]
            for r, f in fires:
                if var in fresh and not z3.is_false(z3.simplify(to_z3(r.fresh, env))):
                    term = z3.If(z3.And(f, to_z3(r.fresh, env)), val(fresh[var]), term)
                e = dict(r.sets).get(var)
                if e is not None:
                    term = z3.If(f, to_z3(e, env), term)
            nxt[var] = term
        st = cur["state"]
        for r, f in fires:
            if r.to is not None:
                st = z3.If(f, to_z3(r.to, env), st)
            if r.error is not None:
                error = z3.If(f, to_z3(r.error, env), error)
        nxt["state"] = st
        for q in order[order.index(p) + 1 :]:
            cont = []
            for r, f in fires:
                if r.then == "next":
                    cont.append(z3.And(f, sched[q]))
                elif isinstance(r.then, tuple) and q in r.then:
                    cont.append(f)
            sched[q] = z3.If(active, z3.Or(*cont) if cont else z3.BoolVal(False), sched[q])
        cur = nxt
    env_final = env_of(spec, cur, seg, inputs, pre)
    emissions = []
    for r in spec.rules:
        f = fired.get(r.id)
        if f is None:
            continue
        for em in r.emits:
            active = z3.And(f, to_z3(em.when, env_final))
            emissions.append(
                (r.id, em, active, z3.And(active, z3.Not(to_z3(em.optional, env_final))))
            )
    assume_parts = [to_z3(spec.input_bounds, env_of(spec, pre, seg, inputs))] if inputs else []
    if seg is not None:
        assume_parts.append(segment_bounds(spec, seg))
    assume = z3.And(*assume_parts) if assume_parts else z3.BoolVal(True)
    return SymStep(cur, fired, refused, stuck, error, emissions, env_final, assume)


def output_effect(
    spec: Spec, tcb: Mapping[str, Term], out: Mapping[str, Term]
) -> tuple[Term, dict[str, Term]]:
    """Which output shape ``out`` may be (a disjunction) and the TCB after sending it."""
    env = env_of(spec, tcb, out=out)
    # What the core sends obeys the same bounds as what it receives.
    allowed_bounds = to_z3(spec.segment_bounds, env_of(spec, tcb, seg=out))
    allowed = []
    post = dict(tcb)
    for o in spec.outputs:
        ok = z3.And(_in_states(spec, tcb["state"], o.states), to_z3(o.shape, env))
        allowed.append(ok)
        for var, e in o.sets:
            post[var] = z3.If(ok, to_z3(e, env), post[var])
    return z3.And(allowed_bounds, z3.Or(*allowed)), post


def model_value(model: z3.ModelRef, term: Term) -> int | bool:
    v = model.eval(term, model_completion=True)
    if z3.is_bool(v):
        return bool(z3.is_true(v))
    return int(v.as_long())
