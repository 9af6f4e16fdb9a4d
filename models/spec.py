"""Load ``tcp.toml`` into typed objects, and run it on concrete values.

The file format (see the header of ``tcp.toml``): ``[spec]`` names the states, ``[variables]``
the TCB, ``[bounds]`` what every state satisfies, ``[segment]`` and ``[inputs]`` the event
parameters, ``[macros]`` the shared definitions, ``[pipelines]`` which phases an event runs in
each state, ``[[rule]]`` the rules, ``[[output]]`` the shapes of what the core may send on
its own and ``[sent]`` what every segment it sends carries. Everything here is
mechanical: the meaning lives in the TOML file.

Names in expressions: a variable (``snd_una``), ``state``, a state name (``ESTABLISHED``), an
errno name (``ECONNRESET``, or ``NONE``), a segment field (``seg.ack``, ``seg.SYN``), an input
(``in.fill``), the value of a variable when the event began (``pre.state``), or a field of a
sent segment (``out.seq``).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from .expr import Bool, Expr, Macro, Name, SpecError, Value, define_macro, evaluate, parse
from .expr import type_of as expr_type

SPEC_PATH = Path(__file__).with_name("tcp.toml")
ERRNOS = ("NONE", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENOTCONN", "EPIPE")
FLAGS = ("SYN", "ACK", "FIN", "RST")
# The Timestamps option (RFC 7323 3.2): whether a segment carries one (`TS`), and its two
# values. `tsval`/`tsecr` mean nothing when `TS` is false.
SEGMENT_FIELDS = ("seq", "ack", "len", "wnd", "tsval", "tsecr")
OUT_FIELDS = SEGMENT_FIELDS
# The Booleans of a segment: its control bits (what an `emit` names) and `TS`.
SEG_BOOLS = (*FLAGS, "TS")
# Known only of a segment the core sent, for `[sent]` (which no Z3 checker reads): whether
# it resent bytes its SACK scoreboard held as received.
OUT_ONLY_BOOLS = ("sacked",)


@dataclass(frozen=True)
class Var:
    name: str
    kind: str  # "seq", "word" or "bool"
    role: str  # "state", "observed" or "config"
    doc: str

    @property
    def type(self) -> str:
        return "bool" if self.kind == "bool" else "word"


@dataclass(frozen=True)
class Emission:
    """A segment shape a rule sends: ``shape`` over ``out.*``, when ``when`` holds."""

    shape: Expr
    when: Expr
    optional: Expr
    data: bool
    text: str
    # The fields it was written with (None for a raw `shape`), for requirements to name.
    flags: tuple[str, ...] | None = None
    seq: Expr | None = None
    ack: Expr | None = None


@dataclass(frozen=True)
class Rule:
    id: str
    phase: str
    states: tuple[str, ...]
    guard: Expr
    guard_text: str
    sets: tuple[tuple[str, Expr], ...]
    to: Expr | None
    to_text: str | None
    then: str | tuple[str, ...]
    emits: tuple[Emission, ...]
    report: bool
    fresh: Expr
    error: Expr | None
    rfc: str
    doc: str

    def targets(self, spec: Spec) -> tuple[str, ...]:
        """The states this rule can lead to (its own state when it has no ``to``)."""
        if self.to_text is None:
            return self.states
        return tuple(s for s in spec.states if s in _words(self.to_text))


def _words(text: str) -> set[str]:
    for ch in "(),":
        text = text.replace(ch, " ")
    return set(text.split())


@dataclass(frozen=True)
class Output:
    id: str
    states: tuple[str, ...]
    shape: Expr
    sets: tuple[tuple[str, Expr], ...]
    rfc: str
    doc: str


@dataclass(frozen=True)
class Requirement:
    """A property of single steps the rules must have, from the RFCs' own words: whenever
    ``when`` holds (over ``pre.*``, the variables after the step, ``seg.*``, ``in.*`` and
    ``fired.<rule id>``), ``then`` holds and, if ``sends`` is given, some mandatory emission
    of the step is a segment with those flags and fields."""

    id: str
    events: tuple[str, ...]
    when: Expr
    then: Expr
    sends: Emission | None
    rfc: str
    doc: str


@dataclass
class Spec:
    title: str
    states: tuple[str, ...]
    initial: str
    variables: dict[str, Var]
    bounds: dict[str, Expr]
    segment_bounds: Expr
    input_bounds: Expr
    inputs: dict[str, Var]
    macros: dict[str, Macro]
    pipelines: dict[str, dict[str, tuple[str, ...]]]
    rules: list[Rule]
    outputs: list[Output]
    requirements: list[Requirement] = field(default_factory=list)
    # [sent]: conditions every segment the core sends satisfies (over `out.*` and the state
    # after the event).
    sent: dict[str, Expr] = field(default_factory=dict)
    source: str = ""
    raw: dict[str, Any] = field(default_factory=dict)

    # --- lookups ---------------------------------------------------------------------
    @cached_property
    def rule_by_id(self) -> dict[str, Rule]:
        return {r.id: r for r in self.rules}

    @cached_property
    def reported_ids(self) -> frozenset[str]:
        """The rule ids the core logs (the set ``rules::ALL`` in Rust must equal)."""
        return frozenset(r.id for r in self.rules if r.report)

    @cached_property
    def phases(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for r in self.rules:
            seen.setdefault(r.phase, None)
        return tuple(seen)

    def rules_for(self, phase: str, state: str) -> list[Rule]:
        return [r for r in self.rules if r.phase == phase and state in r.states]

    def pipeline(self, event: str, state: str) -> tuple[str, ...] | None:
        """The phases ``event`` runs in ``state``; ``None`` when the event is refused there."""
        table = self.pipelines.get(event, {})
        return table.get(state, table.get("*"))

    @property
    def events(self) -> tuple[str, ...]:
        return tuple(self.pipelines)

    def fresh_values(self) -> dict[str, Value]:
        """The rule-set variables of a new TCB: zero or false."""
        return {
            v.name: (False if v.type == "bool" else 0)
            for v in self.variables.values()
            if v.role == "state"
        }

    def state_index(self, name: str) -> int:
        return self.states.index(name)

    def constants(self) -> dict[str, int]:
        """State and errno names as the numbers expressions compare."""
        consts = {s: i for i, s in enumerate(self.states)}
        consts.update({e: i for i, e in enumerate(ERRNOS)})
        return consts

    def types(self) -> dict[str, str]:
        """The type of every name an expression may use."""
        t: dict[str, str] = {"state": "word"}
        for v in self.variables.values():
            t[v.name] = v.type
            t["pre." + v.name] = v.type
        t["pre.state"] = "word"
        for f in SEGMENT_FIELDS:
            t["seg." + f] = "word"
        for f in OUT_FIELDS:
            t["out." + f] = "word"
        for f in SEG_BOOLS:
            t["seg." + f] = "bool"
            t["out." + f] = "bool"
        for f in OUT_ONLY_BOOLS:
            t["out." + f] = "bool"
        for i in self.inputs.values():
            t["in." + i.name] = i.type
        for c in self.constants():
            t[c] = "word"
        for r in self.rules:
            t["fired." + r.id] = "bool"
        return t


# --- loading ---------------------------------------------------------------------------


def _emission(spec_macros: Mapping[str, Macro], item: Mapping[str, Any]) -> Emission:
    """An ``emit`` entry: either a raw ``shape`` or ``flags`` with ``seq``/``ack`` fields."""
    when = parse(str(item.get("when", "true")), spec_macros)
    optional = parse(str(item.get("optional", "false")), spec_macros)
    data = bool(item.get("data", False))
    if "shape" in item:
        text = str(item["shape"])
        return Emission(parse(text, spec_macros), when, optional, data, text)
    flags = [f.strip() for f in str(item["flags"]).split(",") if f.strip()]
    for f in flags:
        if f not in FLAGS:
            raise SpecError(f"unknown flag {f!r} in emit {dict(item)}")
    # An acknowledgement may ride on data or a FIN: an ACK shape without `data` leaves the
    # segment's FIN bit and length open (output.data and output.ack judge those).
    carried = data or flags == ["ACK"]
    parts: list[str] = []
    for f in FLAGS:
        if f in flags:
            parts.append(f"out.{f}")
        elif not (carried and f == "FIN"):
            parts.append(f"not out.{f}")
    if "seq" in item:
        parts.append(f"out.seq == ({item['seq']})")
    if "ack" in item:
        parts.append(f"out.ack == ({item['ack']})")
    if data:
        parts.append("(out.len != 0 or out.FIN)")
    elif flags != ["ACK"]:
        parts.append("out.len == 0")
    text = " and ".join(parts)
    seq = parse(str(item["seq"]), spec_macros) if "seq" in item else None
    ack = parse(str(item["ack"]), spec_macros) if "ack" in item else None
    return Emission(parse(text, spec_macros), when, optional, data, text, tuple(flags), seq, ack)


def _sets(table: Mapping[str, Any], macros: Mapping[str, Macro]) -> tuple[tuple[str, Expr], ...]:
    return tuple((k, parse(str(v), macros)) for k, v in table.items())


def load(path: str | Path | None = None, text: str | None = None) -> Spec:
    """Read the spec (``tcp.toml`` beside this module unless told otherwise) and check that
    every expression is well-typed and every name known. Raises :class:`SpecError`."""
    if text is None:
        text = Path(path or SPEC_PATH).read_text(encoding="utf-8")
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise SpecError(f"tcp.toml: {e}") from None
    head = raw["spec"]
    states = tuple(head["states"])
    macros: dict[str, Macro] = {}
    for sig, body in raw.get("macros", {}).items():
        m = define_macro(sig, str(body), macros)
        if m.name in macros:
            raise SpecError(f"macro {m.name} defined twice")
        macros[m.name] = m
    variables = {
        n: Var(n, d["kind"], d.get("role", "state"), d.get("doc", ""))
        for n, d in raw["variables"].items()
    }
    inputs = {
        n: Var(n, d["kind"], "input", d.get("doc", "")) for n, d in raw.get("inputs", {}).items()
    }
    rules: list[Rule] = []
    for item in raw.get("rule", []):
        then_raw = item.get("then", "next")
        then: str | tuple[str, ...] = then_raw if isinstance(then_raw, str) else tuple(then_raw)
        to_text = item.get("to")
        rules.append(
            Rule(
                id=item["id"],
                phase=item["phase"],
                states=tuple(item["from"]),
                guard=parse(item["guard"], macros),
                guard_text=item["guard"],
                sets=_sets(item.get("set", {}), macros),
                to=parse(to_text, macros) if to_text is not None else None,
                to_text=to_text,
                then=then,
                emits=tuple(_emission(macros, e) for e in item.get("emit", [])),
                report=bool(item.get("report", True)),
                fresh=parse(str(item.get("fresh", "false")).lower(), macros),
                error=parse(item["error"], macros) if "error" in item else None,
                rfc=item.get("rfc", ""),
                doc=item.get("doc", ""),
            )
        )
    outputs = [
        Output(
            o["id"],
            tuple(o["states"]),
            parse(o["shape"], macros),
            _sets(o.get("set", {}), macros),
            o.get("rfc", ""),
            o.get("doc", ""),
        )
        for o in raw.get("output", [])
    ]
    requirements = [
        Requirement(
            q["id"],
            tuple(q["events"]),
            parse(q.get("when", "true"), macros),
            parse(q.get("then", "true"), macros),
            _emission(macros, q["sends"]) if "sends" in q else None,
            q.get("rfc", ""),
            q.get("doc", ""),
        )
        for q in raw.get("requirement", [])
    ]
    pipelines = {
        ev: {st: tuple(ph) for st, ph in table.items()}
        for ev, table in raw.get("pipelines", {}).items()
    }
    spec = Spec(
        title=head.get("title", ""),
        states=states,
        initial=head.get("initial", states[0]),
        variables=variables,
        bounds={k: parse(v, macros) for k, v in raw.get("bounds", {}).items()},
        segment_bounds=parse(raw.get("segment", {}).get("bounds", "true"), macros),
        input_bounds=parse(raw.get("environment", {}).get("bounds", "true"), macros),
        inputs=inputs,
        macros=macros,
        pipelines=pipelines,
        rules=rules,
        outputs=outputs,
        requirements=requirements,
        sent={k: parse(v, macros) for k, v in raw.get("sent", {}).items()},
        source=text,
        raw=raw,
    )
    _validate(spec)
    return spec


def _validate(spec: Spec) -> None:
    """Names, types and references; the logical checks are Z3's (check_wellformed)."""
    types = spec.types()
    ids: set[str] = set()
    phases = set(spec.phases)

    def want(e: Expr, t: str, where: str) -> None:
        try:
            got = expr_type(e, types)
        except SpecError as err:
            raise SpecError(f"{where}: {err}") from None
        if got != t:
            raise SpecError(f"{where}: expected a {t}, found a {got}")

    for r in spec.rules:
        where = f"rule {r.id}"
        if r.id in ids:
            raise SpecError(f"{where}: id used twice")
        ids.add(r.id)
        for s in r.states:
            if s not in spec.states:
                raise SpecError(f"{where}: unknown state {s}")
        want(r.guard, "bool", f"{where} guard")
        want(r.fresh, "bool", f"{where} fresh")
        for var, e in r.sets:
            v = spec.variables.get(var)
            if v is None:
                raise SpecError(f"{where}: sets unknown variable {var}")
            want(e, v.type, f"{where} set {var}")
        if r.to is not None:
            want(r.to, "word", f"{where} to")
            if isinstance(r.to, Name) and r.to.name not in spec.states:
                raise SpecError(f"{where}: unknown target state {r.to.name}")
        if r.error is not None:
            want(r.error, "word", f"{where} error")
        if isinstance(r.then, tuple):
            for p in r.then:
                if p not in phases:
                    raise SpecError(f"{where}: then names unknown phase {p}")
        elif r.then not in ("next", "stop"):
            raise SpecError(f"{where}: then must be next, stop or a list of phases")
        for em in r.emits:
            want(em.shape, "bool", f"{where} emit")
            want(em.when, "bool", f"{where} emit when")
            want(em.optional, "bool", f"{where} emit optional")
    for o in spec.outputs:
        want(o.shape, "bool", f"output {o.id}")
        for var, e in o.sets:
            want(e, spec.variables[var].type, f"output {o.id} set {var}")
    for q in spec.requirements:
        want(q.when, "bool", f"requirement {q.id} when")
        want(q.then, "bool", f"requirement {q.id} then")
        for ev in q.events:
            if ev not in spec.pipelines:
                raise SpecError(f"requirement {q.id}: unknown event {ev}")
    for name, b in spec.bounds.items():
        want(b, "bool", f"bound {name}")
    for name, b in spec.sent.items():
        want(b, "bool", f"sent {name}")
    for ev, table in spec.pipelines.items():
        for st, phs in table.items():
            if st != "*" and st not in spec.states:
                raise SpecError(f"pipeline {ev}: unknown state {st}")
            for p in phs:
                if p not in phases:
                    raise SpecError(f"pipeline {ev}/{st}: unknown phase {p}")


# --- running the spec on concrete values -----------------------------------------------


@dataclass
class Step:
    """What the spec says one event does."""

    fired: list[str]  # every rule applied, in order
    reported: list[str]  # those the core logs
    state: str
    values: dict[str, Value]
    emissions: list[tuple[Emission, bool]]  # (shape, mandatory), active ones only
    error: str | None
    refused: bool = False  # the event has no pipeline in this state


def _env(
    spec: Spec,
    state: str,
    values: Mapping[str, Value],
    seg: Mapping[str, Value] | None,
    inputs: Mapping[str, Value] | None,
    pre: Mapping[str, Value] | None = None,
) -> dict[str, Value]:
    env: dict[str, Value] = dict(spec.constants())
    env.update(values)
    env["state"] = spec.state_index(state)
    for k, v in (seg or {}).items():
        env["seg." + k] = v
    for k, v in (inputs or {}).items():
        env["in." + k] = v
    if pre is not None:
        for k, v in pre.items():
            env["pre." + k] = v
    return env


def step(
    spec: Spec,
    state: str,
    values: Mapping[str, Value],
    event: str,
    seg: Mapping[str, Value] | None = None,
    inputs: Mapping[str, Value] | None = None,
) -> Step:
    """Run ``event`` from ``state`` with TCB ``values``. ``seg`` holds the arriving segment's
    fields (``seq``, ``ack``, ``len``, ``wnd``, ``SYN``, ``ACK``, ``FIN``, ``RST``); ``inputs``
    the environment's choices. Raises :class:`SpecError` if no rule or two rules apply."""
    pipeline = spec.pipeline(event, state)
    vals: dict[str, Value] = dict(values)
    if pipeline is None:
        return Step([], [], state, vals, [], None, refused=True)
    pre = dict(vals)
    pre_state = state
    fired: list[Rule] = []
    error: str | None = None
    todo = list(pipeline)
    while todo:
        phase = todo.pop(0)
        env = _env(spec, state, vals, seg, inputs)
        matching = [r for r in spec.rules_for(phase, state) if evaluate(r.guard, env)]
        if len(matching) != 1:
            what = "no rule" if not matching else "rules " + ", ".join(r.id for r in matching)
            raise SpecError(f"{what} for {event} in {state}, phase {phase}: {env}")
        rule = matching[0]
        fired.append(rule)
        new_vals = dict(vals)
        if evaluate(rule.fresh, env):
            new_vals.update(spec.fresh_values())
        for var, e in rule.sets:
            new_vals[var] = evaluate(e, env)
        if rule.error is not None:
            code = int(evaluate(rule.error, env))
            if ERRNOS[code] != "NONE":
                error = ERRNOS[code]
        if rule.to is not None:
            state = spec.states[int(evaluate(rule.to, env))]
        vals = new_vals
        if rule.then == "stop":
            break
        if isinstance(rule.then, tuple):
            todo = list(rule.then)
    pre_env = {**pre, "state": spec.state_index(pre_state)}
    env = _env(spec, state, vals, seg, inputs, pre_env)
    emissions = [
        (em, not evaluate(em.optional, env))
        for r in fired
        for em in r.emits
        if evaluate(em.when, env)
    ]
    return Step(
        [r.id for r in fired],
        [r.id for r in fired if r.report],
        state,
        vals,
        emissions,
        error,
    )


def out_env(
    spec: Spec,
    state: str,
    values: Mapping[str, Value],
    out: Mapping[str, Value],
    seg: Mapping[str, Value] | None = None,
    inputs: Mapping[str, Value] | None = None,
    pre: Mapping[str, Value] | None = None,
) -> dict[str, Value]:
    """The environment in which a sent segment ``out`` is matched against a shape."""
    env = _env(spec, state, values, seg, inputs, pre)
    for k, v in out.items():
        env["out." + k] = v
    return env


def bound_holds(spec: Spec, state: str, values: Mapping[str, Value]) -> bool:
    env = _env(spec, state, values, None, None)
    return all(evaluate(b, env) for b in spec.bounds.values())


def is_true(e: Expr) -> bool:
    return isinstance(e, Bool) and e.value
