"""Check 3: lemmas of sequence arithmetic, proven by Z3 for all 2^32 values.

The comparisons are the spec's macros (``lt``, ``le``, ``in_window``, ...), the definitions
``rust/core/src/seq.rs`` implements (a property test compares the two). Each lemma below is
a fact the rules or the core lean on; the comment says where.
"""

from __future__ import annotations

from collections.abc import Callable

import z3

from .expr import names, parse, to_z3
from .report import COUNTEREXAMPLE, FAILED, PROVEN, Finding
from .spec import Spec
from .symbolic import model_value, word

# (name, statement over the free words a, b, c, x, s, n, why it matters)
LEMMAS: tuple[tuple[str, str, str], ...] = (
    ("lt is irreflexive", "not lt(a, a)", "a segment never precedes itself"),
    (
        "lt is asymmetric except at the antipode",
        "lt(a, b) and lt(b, a) -> a - b == 2147483648",
        "the only ambiguity of RFC 9293 3.4 comparisons: numbers 2^31 apart",
    ),
    (
        "trichotomy away from the antipode",
        "a - b != 2147483648 -> (lt(a, b) or a == b or gt(a, b))",
        "every pair of nearby numbers is ordered: guards built from lt/le cover all cases",
    ),
    (
        "le is lt or equal",
        "le(a, b) == (lt(a, b) or a == b)",
        "the guards mix both forms",
    ),
    (
        "gt is the converse of lt except at the antipode",
        "a - b != 2147483648 -> gt(a, b) == lt(b, a)",
        "guards written with gt and with lt agree wherever numbers are comparable",
    ),
    (
        "at the antipode lt holds both ways and gt neither",
        "a - b == 2147483648 -> lt(a, b) and lt(b, a) and not gt(a, b) and not gt(b, a)",
        "the core's definitions (seq.rs) at the one ambiguous distance",
    ),
    (
        "transitivity within a 2^31 span",
        "lt(a, b) and lt(b, c) and b - a != 2147483648 and c - a < 2147483648 -> lt(a, c)",
        "SND.UNA <= SND.NXT <= SND.MAX implies SND.UNA <= SND.MAX when the span is small",
    ),
    (
        "le(a, a + n) for n < 2^31",
        "n < 2147483648 -> le(a, a + n)",
        "advancing by a segment length (or a window) moves forward",
    ),
    ("a + 1 follows a", "gt(a + 1, a)", "the SYN and the FIN each occupy one number"),
    (
        "translation invariance",
        "lt(a, b) == lt(a + x, b + x)",
        "comparisons do not depend on where the ISN put the stream (RFC 6528 ISNs are random)",
    ),
    (
        "in_window is the unsigned distance test",
        "in_window(x, s, n) == (x - s < n)",
        "the acceptance test of RFC 9293 3.10.7.4 as the core computes it",
    ),
    (
        "in_window implies ge and lt of the edges",
        "n <= 2147483648 and in_window(x, s, n) -> ge(x, s) and lt(x, s + n) or n == 2147483648",
        "a sequence number accepted into the window lies between RCV.NXT and RCV.NXT+RCV.WND",
    ),
    (
        "between is ge and le",
        "between(x, a, b) == (ge(x, a) and le(x, b))",
        "the ACK checks of 3.10.7.4 (SND.UNA < SEG.ACK =< SND.NXT)",
    ),
    (
        "a zero-length segment at RCV.NXT is acceptable with any window",
        "seg.len == 0 and not seg.SYN and not seg.FIN and seg.seq == rcv_nxt -> acceptable",
        "table 6, first two rows: ACKs and window probes at RCV.NXT are never refused",
    ),
    (
        "a zero window accepts only a zero-length segment at RCV.NXT",
        "rcv_wnd == 0 and acceptable -> seg.seq == rcv_nxt and seg_space == 0",
        "table 6, rows with RCV.WND = 0",
    ),
)


def _free(spec: Spec, text: str) -> dict[str, z3.ExprRef]:
    env: dict[str, z3.ExprRef] = {}
    types = spec.types()
    for n in names(parse(text, spec.macros)):
        env[n] = z3.Bool(n) if types.get(n) == "bool" else word(n)
    return env


def prove(spec: Spec, name: str, text: str, why: str = "", timeout_ms: int = 30_000) -> Finding:
    """A lemma in the spec's expression language, proven valid or refuted with values."""
    expr = parse(text, spec.macros)
    env = _free(spec, text)
    solver = z3.SolverFor("QF_BV")
    solver.set("timeout", timeout_ms)
    solver.add(z3.Not(to_z3(expr, env)))
    res = solver.check()
    if res == z3.unsat:
        return Finding("lemmas", name, PROVEN, f"{text}  ({why})" if why else text)
    if res == z3.sat:
        model = solver.model()
        values = ", ".join(f"{k}={model_value(model, v)}" for k, v in sorted(env.items()))
        return Finding("lemmas", name, COUNTEREXAMPLE, f"{text} fails for {values}")
    return Finding("lemmas", name, FAILED, f"undecided: {solver.reason_unknown()}")


def check(
    spec: Spec,
    depth: int | None = None,
    timeout_s: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Finding]:
    del depth, timeout_s
    out = []
    for name, text, why in LEMMAS:
        if progress:
            progress(f"lemmas: {name}")
        out.append(prove(spec, name, text, why))
    return out
