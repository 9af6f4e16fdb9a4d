"""Sequence arithmetic: the spec's definitions proven (Z3), and the core's SeqNum agreeing
with them on random and edge values (Hypothesis)."""

from __future__ import annotations

from ferrotcp import _core
from ferrotcp.models import load
from ferrotcp.models.check_seq import check, prove
from ferrotcp.models.expr import evaluate, parse
from hypothesis import given
from hypothesis import strategies as st

SPEC = load()
EDGES = [0, 1, 2**31 - 2, 2**31 - 1, 2**31, 2**31 + 1, 2**32 - 2, 2**32 - 1]
WORD = st.sampled_from(EDGES) | st.integers(0, 2**32 - 1)


def spec_says(text: str, **values: int) -> bool:
    return bool(evaluate(parse(text, SPEC.macros), values))


def test_every_lemma_is_proven() -> None:
    findings = check(SPEC)
    bad = [f"{f.name}: {f.detail}" for f in findings if not f.ok]
    assert not bad, "\n".join(bad)
    assert len(findings) >= 12


def test_a_false_lemma_is_refuted_with_values() -> None:
    # Transitivity without the span condition fails around the antipode.
    f = prove(SPEC, "unbounded transitivity", "lt(a, b) and lt(b, c) -> lt(a, c)")
    assert f.status == "counterexample"
    assert "a=" in f.detail and "c=" in f.detail


@given(WORD, WORD, st.sampled_from([0, 1, 2]) | st.integers(-(2**31), 2**31))
def test_the_core_compares_like_the_spec(a: int, b: int, delta: int) -> None:
    for x, y in ((a, b), (a, (a + delta) % 2**32)):
        assert _core.seq_lt(x, y) == spec_says("lt(a, b)", a=x, b=y)
        assert _core.seq_le(x, y) == spec_says("le(a, b)", a=x, b=y)
        assert _core.seq_gt(x, y) == spec_says("gt(a, b)", a=x, b=y)
        assert _core.seq_ge(x, y) == spec_says("ge(a, b)", a=x, b=y)


@given(WORD, WORD, WORD)
def test_the_core_windows_like_the_spec(x: int, s: int, n: int) -> None:
    assert _core.seq_in_window(x, s, n) == spec_says("in_window(x, s, n)", x=x, s=s, n=n)
    assert _core.seq_between(x, s, n) == spec_says("between(x, a, b)", x=x, a=s, b=n)


def test_out_of_range_numbers_are_a_value_error() -> None:
    import pytest

    for bad in (-1, 2**32):
        with pytest.raises(ValueError, match="32-bit"):
            _core.seq_lt(bad, 0)
