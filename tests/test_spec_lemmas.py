"""Check 3: sequence-space lemmas (Z3), and the Rust core's SeqNum against the spec's macros."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType

import pytest
from ferrotcp.models import check_lemmas, load
from ferrotcp.models.expr import evaluate, parse
from ferrotcp.models.report import COUNTEREXAMPLE, PROVEN
from hypothesis import example, given
from hypothesis import strategies as st

SPEC = load()
TOP = 2**32 - 1
HALF = 2**31
# The values where modular comparison goes wrong if it goes wrong anywhere.
EDGES = [0, 1, 2, HALF - 2, HALF - 1, HALF, HALF + 1, HALF + 2, TOP - 1, TOP, 65535, 65536]


def test_every_lemma_is_proven() -> None:
    found = check_lemmas.check(SPEC)
    assert len(found) == len(check_lemmas.LEMMAS) >= 15
    bad = [f"{f.name}: {f.detail}" for f in found if f.status != PROVEN]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize(
    ("text", "breaks"),
    [
        # Transitivity without the span condition: three values spread round the circle.
        ("lt(a, b) and lt(b, c) -> lt(a, c)", "lt(a, c)"),
        # Asymmetry without excluding the antipode.
        ("lt(a, b) -> not lt(b, a)", "not lt(b, a)"),
        # A zero window accepting data "at RCV.NXT" (table 6 says no).
        ("rcv_wnd == 0 and seg.seq == rcv_nxt and seg.len == 1 -> acceptable", "acceptable"),
    ],
)
def test_a_wrong_lemma_is_refuted_with_values_that_break_it(text: str, breaks: str) -> None:
    f = check_lemmas.prove(SPEC, "wrong", text)
    assert f.status == COUNTEREXAMPLE, f.detail
    example_values = f.data["counterexample"]
    env = {**SPEC.constants(), **example_values}
    # The values Z3 gives are a real counterexample: the concrete interpreter agrees.
    assert evaluate(parse(text, SPEC.macros), env) is False
    assert evaluate(parse(breaks, SPEC.macros), env) is False


# --- the Rust core's SeqNum against the macros ------------------------------------------


def _core() -> ModuleType:
    from ferrotcp import _core as core

    return core


def _macro(call: str) -> Callable[..., bool]:
    """The spec's macro as a Python function of its parameters, evaluated concretely."""
    e = parse(call, SPEC.macros)
    params = call[call.index("(") + 1 : -1].split(", ")
    return lambda *args: bool(evaluate(e, dict(zip(params, args, strict=True))))


seq = st.one_of(st.sampled_from(EDGES), st.integers(0, TOP))
# A value near another one: the distance is where the interesting cases are.
offset = st.one_of(st.sampled_from(EDGES), st.integers(0, TOP))


def _near(base: int, delta: int) -> int:
    return (base + delta) & TOP


def _agree(core: ModuleType, call: str, *args: int) -> None:
    """``seq_<name>`` of the core gives what the spec's macro gives for ``args``."""
    name = call[: call.index("(")]
    got = getattr(core, f"seq_{name}")(*args)
    want = _macro(call)(*args)
    assert got == want, f"{name}{args}: core says {got}, the spec's macro {want}"


PAIRS = [(0, HALF), (HALF, 0), (TOP, 0), (0, TOP), (1, HALF + 1), (HALF - 1, TOP)]


@pytest.mark.parametrize("name", ["lt", "le", "gt", "ge"])
@given(a=seq, d=offset)
@example(a=0, d=0).via("the same value")
@example(a=0, d=HALF).via("the antipode")
@example(a=TOP, d=1).via("the wrap")
def test_core_comparisons_agree_with_the_spec(name: str, a: int, d: int) -> None:
    core = _core()
    _agree(core, f"{name}(a, b)", a, _near(a, d))


@pytest.mark.parametrize("name", ["lt", "le", "gt", "ge"])
@pytest.mark.parametrize(("a", "b"), PAIRS)
def test_core_comparisons_agree_on_edge_pairs(name: str, a: int, b: int) -> None:
    core = _core()
    _agree(core, f"{name}(a, b)", a, b)


@given(x=seq, start=seq, d=offset, n=st.one_of(st.sampled_from(EDGES), st.integers(0, TOP)))
@example(x=5, start=5, d=0, n=0).via("an empty window")
@example(x=TOP, start=TOP - 1, d=0, n=2).via("a window across the wrap")
def test_core_in_window_agrees_with_the_spec(x: int, start: int, d: int, n: int) -> None:
    core = _core()
    # Half the time x is placed relative to start, so both answers are exercised.
    x = _near(start, d) if d % 2 else x
    _agree(core, "in_window(x, start, n)", x, start, n)


@given(x=seq, lo=seq, d1=offset, d2=offset)
@example(x=HALF, lo=0, d1=0, d2=0).via("the antipode of an empty range")
@example(x=0, lo=TOP, d1=2, d2=1).via("a range across the wrap")
def test_core_between_agrees_with_the_spec(x: int, lo: int, d1: int, d2: int) -> None:
    core = _core()
    hi = _near(lo, d1)
    x = _near(lo, d2) if d2 % 3 else x
    _agree(core, "between(x, lo, hi)", x, lo, hi)


def test_core_rejects_values_outside_32_bits() -> None:
    core = _core()
    for bad in (-1, 2**32):
        with pytest.raises(ValueError):
            core.seq_lt(bad, 0)
