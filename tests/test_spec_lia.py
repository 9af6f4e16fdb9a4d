"""The integer translation of the checks' bit-vector terms (models/lia.py) is exact: a term
and its translation take the same value under every assignment, so an `unsat` (a proof)
over the integers is one over the bit-vectors."""

from __future__ import annotations

import z3
from ferrotcp.models import check_bmc as bmc
from ferrotcp.models import load
from ferrotcp.models.lia import Lia, Solver, Unsupported
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

WIDTH = 32
NAMES = ("a", "b", "c")
# Values where wrapping and the sign of a difference change: the edges of the space.
EDGES = (0, 1, 2, 2**31 - 1, 2**31, 2**31 + 1, 2**32 - 2, 2**32 - 1, 65535, 65536)
values = st.one_of(st.sampled_from(EDGES), st.integers(0, 2**WIDTH - 1))


def words() -> st.SearchStrategy[z3.BitVecRef]:
    leaves = st.one_of(
        st.sampled_from(NAMES).map(lambda n: z3.BitVec(n, WIDTH)),
        values.map(lambda v: z3.BitVecVal(v, WIDTH)),
    )

    def grow(inner: st.SearchStrategy[z3.BitVecRef]) -> st.SearchStrategy[z3.BitVecRef]:
        return st.one_of(
            st.tuples(inner, inner).map(lambda p: p[0] + p[1]),
            st.tuples(inner, inner).map(lambda p: p[0] - p[1]),
            st.tuples(conditions_of(inner), inner, inner).map(lambda p: z3.If(*p)),
        )

    return st.recursive(leaves, grow, max_leaves=8)


def conditions_of(w: st.SearchStrategy[z3.BitVecRef]) -> st.SearchStrategy[z3.BoolRef]:
    compare = st.sampled_from([z3.ULE, z3.ULT, z3.UGE, z3.UGT,
                               lambda x, y: x == y, lambda x, y: x != y])
    return st.tuples(compare, w, w).map(lambda p: p[0](p[1], p[2]))


def value_of(e: z3.ExprRef, pairs: list[tuple[z3.ExprRef, z3.ExprRef]]) -> object:
    v = z3.simplify(z3.substitute(e, *pairs)) if pairs else z3.simplify(e)
    if z3.is_true(v) or z3.is_false(v):
        return z3.is_true(v)
    return v.as_long()  # type: ignore[attr-defined]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(term=st.one_of(words(), conditions_of(words())),
       assignment=st.tuples(values, values, values))
def test_a_term_and_its_translation_agree(term: z3.ExprRef,
                                          assignment: tuple[int, int, int]) -> None:
    lia = Lia()
    translated = lia(term)
    bits = [(z3.BitVec(n, WIDTH), z3.BitVecVal(v, WIDTH))
            for n, v in zip(NAMES, assignment, strict=True)]
    ints = [(z3.Int(n), z3.IntVal(v)) for n, v in zip(NAMES, assignment, strict=True)]
    used_ints = [(x, v) for x, v in ints if x.decl().name() in lia.variables]
    assert value_of(translated, used_ints) == value_of(term, bits), (term, assignment)


def test_wrapping_is_modular() -> None:
    a, b = z3.BitVec("a", WIDTH), z3.BitVec("b", WIDTH)
    s = Solver()
    # 2^32 - 1 + 2 wraps to 1, 1 - 2 wraps to 2^32 - 1: both found, and nothing else.
    s.add(a == 2**32 - 1, a + 2 == b, b - 2 == a, z3.ULT(b, a))
    assert s.check() == z3.sat
    assert s.model().eval(b).as_long() == 1  # type: ignore[attr-defined]
    s2 = Solver()
    s2.add(z3.ULT(a, 10), z3.UGT(a - 11, a))  # a - 11 wraps for every a < 10
    s2.add(z3.Not(z3.UGT(a - 11, 2**32 - 12)))
    assert s2.check() == z3.unsat


def test_anything_else_is_refused() -> None:
    a = z3.BitVec("a", WIDTH)
    try:
        Lia()(a * 3 == a)
    except Unsupported:
        return
    raise AssertionError("multiplication translated")


def test_the_two_peer_terms_translate_exactly_at_random_states() -> None:
    """The step relation and every property and auxiliary invariant of the induction proof,
    each on its own: the same truth value as bit-vectors and as integers at states near the
    edges of the sequence space (seeded), and both values occur."""
    import random

    seed = 20261124
    rng = random.Random(seed)
    spec = load()
    model = bmc.TwoPeers(spec)
    pre, post = model.world("pre."), model.world("post.")
    step, _ = model.transition(pre, post, "t.")
    terms = {"step": step, **model.properties(pre),
             **bmc.lemmas(model, bmc.load_invariants(spec), pre)}
    lia = Lia()
    translated = {name: lia(t) for name, t in terms.items()}
    booleans = _bool_vars(z3.And(*terms.values()))
    seen: dict[str, set[bool]] = {name: set() for name in terms}
    for trial in range(20):
        bits, ints = [], []
        for iv, bv in lia.variables.values():
            width = bv.size()
            v = rng.choice([rng.randrange(2**width), rng.choice(EDGES) % 2**width,
                            rng.randrange(min(16, 2**width))])
            bits.append((bv, z3.BitVecVal(v, width)))
            ints.append((iv, z3.IntVal(v)))
        flags = [(z3.Bool(d.name()), z3.BoolVal(rng.random() < 0.5)) for d in booleans]
        for name, t in terms.items():
            want = value_of(t, bits + flags)
            assert value_of(translated[name], ints + flags) == want, (name, seed, trial)
            seen[name].add(bool(want))
    both = [name for name, vals in seen.items() if vals == {True, False}]
    print(f"{len(both)} of {len(terms)} terms took both values")
    assert len(both) >= len(terms) // 4, f"too few terms took both values: {both}"


def _bool_vars(e: z3.ExprRef) -> list[z3.FuncDeclRef]:
    seen: set[int] = set()
    found: dict[str, z3.FuncDeclRef] = {}
    todo = [e]
    while todo:
        x = todo.pop()
        if x.get_id() in seen:
            continue
        seen.add(x.get_id())
        if z3.is_const(x) and z3.is_bool(x) and x.decl().kind() == z3.Z3_OP_UNINTERPRETED:
            found[x.decl().name()] = x.decl()
        todo.extend(x.children())
    return list(found.values())
