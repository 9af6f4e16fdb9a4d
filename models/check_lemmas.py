"""Check 3: the sequence-space arithmetic the rules stand on, proven over all 2^32 values.

The macros ``lt``, ``le``, ``gt``, ``ge``, ``in_window``, ``between`` and ``acceptable`` of
``tcp.toml`` are the definitions of ``rust/core/src/seq.rs`` (RFC 9293 3.4; RFC 1982 3.2 for
serial-number comparison). Every rule's guard is built from them, so the rules are only as
right as these properties: each lemma below is a statement in the spec's own expression
language, with the macros taken from the loaded spec (never restated here), and Z3 proves it
for every value of its free names or gives the values that break it.

Free names that are not spec names (``a``, ``b``, ``x``, ``n``, ...) are 32-bit words; spec
names (``rcv_nxt``, ``seg.len``, ``seg.SYN``) have the spec's types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import z3

from .expr import Expr, names, parse, to_z3
from .report import COUNTEREXAMPLE, FAILED, PROVEN, Finding
from .spec import Spec
from .symbolic import model_value, word

HALF = 2**31  # the antipode: RFC 1982 3.2 leaves comparison at this distance undefined


@dataclass(frozen=True)
class Lemma:
    name: str
    text: str  # an expression over the spec's macros, true for every value of its names
    why: str  # what in the core relies on it


LEMMAS: tuple[Lemma, ...] = (
    Lemma(
        "lt_irreflexive",
        "not lt(a, a)",
        # A segment is never "older than itself": ack.new (gt(seg.ack, snd_una)) must not
        # fire for an ACK that acknowledges nothing new.
        "no value precedes itself, so an ACK equal to SND.UNA is never new",
    ),
    Lemma(
        "lt_both_ways_only_at_the_antipode",
        f"(lt(a, b) and lt(b, a)) == (a - b == {HALF})",
        # RFC 1982 3.2: the one undefined case. The core never lets two values it compares
        # drift 2^31 apart (windows are 16-bit), and this says that is the only place to fear.
        "lt is asymmetric except for values exactly 2^31 apart (RFC 1982 3.2), where both hold",
    ),
    Lemma(
        "trichotomy",
        "(lt(a, b) or a == b or gt(a, b)) and not (lt(a, b) and gt(a, b))"
        " and not (a == b and (lt(a, b) or gt(a, b)))",
        # Every guard pair such as `le(seg.ack, snd_una)` / `gt(seg.ack, snd_una)` partitions
        # the ACK space, even for an ACK 2^31 away: exactly one of lt, ==, gt holds. The
        # phases' totality and exclusiveness (check 1) rest on it.
        "exactly one of lt, ==, gt holds, at the antipode too",
    ),
    Lemma(
        "gt_mirrors_lt_off_the_antipode",
        f"a - b != {HALF} -> (gt(a, b) == lt(b, a)) and (ge(a, b) == le(b, a))",
        # Guards are written with whichever reads like the RFC (SND.UNA < SEG.ACK as
        # gt(seg.ack, snd_una)); both spellings agree except 2^31 apart, where lt holds both
        # ways and gt neither (the sign of a two's complement difference, as seq.rs has it).
        "gt(a, b) is lt(b, a) and ge(a, b) is le(b, a), except for values 2^31 apart",
    ),
    Lemma(
        "le_ge_are_lt_gt_or_equal",
        "(le(a, b) == (lt(a, b) or a == b)) and (ge(a, b) == (gt(a, b) or a == b))",
        "le and ge are the strict orders or equality",
    ),
    Lemma(
        "lt_transitive_within_half_the_space",
        f"lt(a, b) and lt(b, c) and b - a < {HALF} and c - a < {HALF} -> lt(a, c)",
        # snd_una <= snd_nxt <= snd_max chains (send_order invariant) are only meaningful
        # because the three lie within 2^31 of snd_una; without the span transitivity fails.
        "lt is transitive for values within a 2^31 span (it is not over the whole circle)",
    ),
    Lemma(
        "le_transitive_within_half_the_space",
        f"le(a, b) and le(b, c) and b - a < {HALF} and c - a < {HALF} -> le(a, c)",
        "le likewise: SND.UNA =< SND.NXT =< SND.MAX gives SND.UNA =< SND.MAX",
    ),
    Lemma(
        "le_an_offset_ahead",
        f"n < {HALF} -> le(a, a + n)",
        # After `snd_nxt = snd_una + len`, the core may rely on snd_una <= snd_nxt for any
        # window-sized advance, across the wrap at 2^32.
        "advancing by less than 2^31 never goes backwards, across the wrap too",
    ),
    Lemma(
        "lt_a_positive_offset_ahead",
        f"n != 0 and n < {HALF} -> lt(a, a + n) and not lt(a + n, a)",
        "advancing by 1..2^31-1 is strictly ahead, unambiguously",
    ),
    Lemma(
        "successor_is_greater",
        "gt(a + 1, a)",
        # The SYN and the FIN each occupy one sequence number (RFC 9293 3.4): ISS + 1 > ISS,
        # FIN.SEQ + 1 > FIN.SEQ, including at 2^32 - 1.
        "a SYN or FIN's one sequence number moves strictly forward, even at 2^32 - 1",
    ),
    Lemma(
        "lt_translation_invariant",
        "lt(a, b) == lt(a + k, b + k)",
        # Nothing depends on the ISN (RFC 6528 picks it at random): shifting every value by
        # the same offset changes no comparison.
        "shifting both sides by the same offset (another ISN) changes no comparison",
    ),
    Lemma(
        "le_translation_invariant",
        "le(a, b) == le(a + k, b + k)",
        "le likewise",
    ),
    Lemma(
        "in_window_translation_invariant",
        "in_window(x, s, n) == in_window(x + k, s + k, n)",
        "the acceptance test does not depend on where RCV.NXT lies in the space",
    ),
    Lemma(
        "in_window_is_the_offset_below_the_length",
        "in_window(x, s, n) == (x - s < n)",
        # RFC 9293 3.4: "RCV.NXT =< SEG.SEQ < RCV.NXT+RCV.WND", written as an offset test so
        # that it stays right across the wrap.
        "in_window(x, s, n) means s =< x < s + n, as the offset x - s below n",
    ),
    Lemma(
        "in_window_is_at_or_after_its_start",
        f"n <= {HALF} and in_window(x, s, n) -> ge(x, s) and lt(x, s + n)",
        "a value in a window of at most 2^31 is at or after its start and before its end",
    ),
    Lemma(
        "empty_window_holds_nothing",
        "not in_window(x, s, 0)",
        # RFC 9293 3.10.7.4 table 6: a zero window accepts no byte; the RCV.WND = 0 rows
        # rely on in_window being false, not on a special case.
        "a zero-length window contains no value",
    ),
    Lemma(
        "between_is_the_interval",
        f"hi - lo < {HALF} -> (between(x, lo, hi) == (x - lo <= hi - lo))",
        # RFC 9293 3.4's "SND.UNA < SEG.ACK =< SND.NXT" style ranges: for a range shorter
        # than 2^31, between is exactly the offset test, wherever the range lies.
        "between(x, lo, hi) is lo =< x =< hi for a range shorter than 2^31",
    ),
    Lemma(
        "between_a_one_value_range",
        "between(x, lo, lo) == (x == lo)",
        # Not so for every definition: were ge the mirror of le, the antipode lo + 2^31 would
        # be "between" lo and lo. seq.rs's sign-based ge excludes it.
        "a range of one value holds that value only (its antipode is not in it)",
    ),
    Lemma(
        "segment_space_zero_iff_empty",
        "seg.len <= 65535 -> ((seg_space == 0) == (seg.len == 0 and not seg.SYN and not seg.FIN))",
        # Table 6 picks its row by SEG.LEN counting SYN and FIN: with 16-bit lengths the
        # 32-bit sum never wraps to 0 for a non-empty segment.
        "within the segment bounds, SEG.LEN (with SYN and FIN) is 0 only for an empty segment",
    ),
    Lemma(
        "acceptable_empty_segment_at_rcv_nxt",
        "seg.len == 0 and not seg.SYN and not seg.FIN and seg.seq == rcv_nxt -> acceptable",
        # RFC 9293 3.10.7.4 table 6: a pure ACK at RCV.NXT passes whatever the window,
        # which is how ACKs keep flowing while our receive window is shut.
        "a zero-length segment at RCV.NXT is acceptable for any receive window",
    ),
    Lemma(
        "acceptable_zero_window_only_at_rcv_nxt",
        "rcv_wnd == 0 and acceptable -> seg_space == 0 and seg.seq == rcv_nxt",
        # Table 6, RCV.WND = 0 rows: nothing that occupies sequence space is acceptable, and
        # an empty segment only exactly at RCV.NXT.
        "with a zero receive window only an empty segment exactly at RCV.NXT is acceptable",
    ),
    Lemma(
        "acceptable_text_touches_the_window",
        "seg.len <= 65535 and seg_space != 0 and acceptable -> "
        "in_window(seg.seq, rcv_nxt, rcv_wnd) or in_window(seg.seq + seg_space - 1, rcv_nxt, "
        "rcv_wnd)",
        # Table 6, last row: an acceptable segment has its first or last octet in the window,
        # which the text phase's trimming (in_order_end) relies on.
        "an acceptable segment that occupies sequence space has its first or last octet in "
        "the window",
    ),
)


def expression(spec: Spec, text: str) -> Expr:
    return parse(text, spec.macros)


def _terms(spec: Spec, e: Expr) -> dict[str, z3.ExprRef]:
    """A free Z3 term per name of ``e``: spec names keep their type, others are words."""
    types = spec.types()
    return {n: z3.Bool(n) if types.get(n) == "bool" else word(n) for n in sorted(names(e))}


def prove(spec: Spec, name: str, text: str, why: str = "", timeout_ms: int = 20_000) -> Finding:
    """Prove ``text`` for every value of its names: PROVEN, or COUNTEREXAMPLE with values."""
    e = expression(spec, text)
    env = _terms(spec, e)
    # State and errno names are constants, as everywhere in the spec.
    consts = {c: z3.BitVecVal(v, 32) for c, v in spec.constants().items()}
    solver = z3.SolverFor("QF_BV")
    solver.set("timeout", timeout_ms)
    solver.add(z3.Not(to_z3(e, {**consts, **env})))
    res = solver.check()
    data: dict[str, object] = {"lemma": text}
    if res == z3.unsat:
        return Finding("lemmas", name, PROVEN, why or text, data=data)
    if res == z3.sat:
        model = solver.model()
        example = {n: model_value(model, t) for n, t in env.items() if n not in consts}
        data["counterexample"] = example
        shown = ", ".join(f"{k}={v}" for k, v in example.items())
        return Finding("lemmas", name, COUNTEREXAMPLE, f"{text} fails for {shown}", data=data)
    return Finding("lemmas", name, FAILED, f"undecided: {solver.reason_unknown()}", data=data)


def check(
    spec: Spec,
    depth: int | None = None,
    timeout_s: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[Finding]:
    del depth  # statements about all values: no depth
    ms = int((timeout_s or 20) * 1000)
    findings = []
    for lemma in LEMMAS:
        if progress:
            progress(f"lemmas: {lemma.name}")
        findings.append(prove(spec, lemma.name, lemma.text, lemma.why, ms))
    return findings
