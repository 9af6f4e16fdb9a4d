"""The same formula over the integers: an exact translation of the bit-vector terms the spec's
checks build into linear integer arithmetic (QF_LIA).

Why: the two-peer induction queries (:mod:`models.check_induction`) are chains of orderings
between sequence numbers that differ by lengths. Bit-blasted, Z3 must rediscover carry
propagation through 32-bit adders for every chain, and the hardest query (prefix delivery
after in-order text) stays undecided after minutes. As integer arithmetic the same query is a
few simplex steps: UNSAT in about a second.

The translation is exact, not an approximation: a bit-vector ``x`` of width ``w`` becomes an
integer constrained to ``[0, 2^w)``; ``a + b`` becomes ``a + b`` minus ``2^w`` when it reaches
``2^w``; ``a - b`` becomes ``a - b`` plus ``2^w`` when it is negative; the unsigned comparisons
become integer comparisons. Every model of one is a model of the other (same values), so
``unsat`` in one is ``unsat`` in the other. The terms the spec's expression language produces
use nothing else (:mod:`models.expr` has ``+``, ``-``, comparisons, ``ite``/``umin``, constants);
anything else is refused (:class:`Unsupported`), never guessed.
"""

from __future__ import annotations

import z3

from .symbolic import Term


class Unsupported(ValueError):
    """A term outside the fragment that translates exactly."""


_COMPARE = {
    z3.Z3_OP_ULEQ: lambda a, b: a <= b,
    z3.Z3_OP_ULT: lambda a, b: a < b,
    z3.Z3_OP_UGEQ: lambda a, b: a >= b,
    z3.Z3_OP_UGT: lambda a, b: a > b,
    z3.Z3_OP_EQ: lambda a, b: a == b,
}
_CONNECTIVE = {
    z3.Z3_OP_AND: lambda xs: z3.And(*xs),
    z3.Z3_OP_OR: lambda xs: z3.Or(*xs),
    z3.Z3_OP_NOT: lambda xs: z3.Not(xs[0]),
    z3.Z3_OP_IMPLIES: lambda xs: z3.Implies(xs[0], xs[1]),
    z3.Z3_OP_XOR: lambda xs: z3.Xor(xs[0], xs[1]),
    z3.Z3_OP_DISTINCT: lambda xs: z3.Distinct(*xs),
    z3.Z3_OP_ITE: lambda xs: z3.If(xs[0], xs[1], xs[2]),
}


class Lia:
    """One translation context: terms translated through it share their sub-terms (the
    formula is a DAG; translating it as a tree would blow it up) and their variables."""

    def __init__(self) -> None:
        # Keyed by Z3's AST id, which is only unique while the AST lives: the memo keeps the
        # source term alive with its translation (an id reused by a new term after the old
        # one was freed would otherwise fetch the old term's translation).
        self._memo: dict[int, tuple[z3.ExprRef, z3.ExprRef]] = {}
        self.ranges: list[Term] = []  # 0 <= x < 2^w for every bit-vector variable met
        self.variables: dict[str, tuple[z3.ArithRef, z3.BitVecRef]] = {}

    def __call__(self, term: Term) -> z3.ExprRef:
        # Iterative post-order: the spec's formulas are deep enough to exhaust Python's stack.
        todo: list[tuple[z3.ExprRef, bool]] = [(term, False)]
        while todo:
            e, ready = todo.pop()
            key = e.get_id()
            if key in self._memo:
                continue
            kids = e.children() if z3.is_app(e) and not z3.is_const(e) else []
            if ready or not kids:
                self._memo[key] = (e, self._node(e, [self._memo[k.get_id()][1] for k in kids]))
            else:
                todo.append((e, True))
                todo.extend((k, False) for k in kids if k.get_id() not in self._memo)
        return self._memo[term.get_id()][1]

    def _node(self, e: z3.ExprRef, args: list[z3.ExprRef]) -> z3.ExprRef:
        if z3.is_bv_value(e):
            return z3.IntVal(e.as_long())
        if z3.is_true(e) or z3.is_false(e):
            return e
        decl = e.decl()
        kind = decl.kind()
        if z3.is_const(e) and kind == z3.Z3_OP_UNINTERPRETED:
            if z3.is_bv(e):
                v = z3.Int(decl.name())
                self.ranges.append(z3.And(v >= 0, v < 2 ** e.size()))
                self.variables[decl.name()] = (v, e)
                return v
            if z3.is_bool(e):
                return e
            raise Unsupported(f"a variable of sort {e.sort()}")
        if z3.is_bv(e):
            modulus = 2 ** e.size()
            if kind == z3.Z3_OP_BADD:
                total = args[0]
                for x in args[1:]:
                    s = total + x
                    total = z3.If(s >= modulus, s - modulus, s)
                return total
            if kind == z3.Z3_OP_BSUB and len(args) == 2:
                d = args[0] - args[1]
                return z3.If(d < 0, d + modulus, d)
            if kind == z3.Z3_OP_ITE:
                return z3.If(args[0], args[1], args[2])
            raise Unsupported(f"bit-vector operation {decl.name()}")
        if kind in _COMPARE and len(args) == 2:
            return _COMPARE[kind](args[0], args[1])
        if kind in _CONNECTIVE:
            return _CONNECTIVE[kind](args)
        raise Unsupported(f"operation {decl.name()}")

    def pinned(self, m: z3.ModelRef) -> list[Term]:
        """The bit-vector variables at the values an integer model gives them: added to the
        bit-vector formula, they make Z3 rebuild the same model there (for printing it with
        the checks' usual code)."""
        out = []
        for v, bv in self.variables.values():
            val = m.eval(v, model_completion=True)
            out.append(bv == z3.BitVecVal(val.as_long(), bv.size()))
        return out


class Solver:
    """A solver with the interface of ``z3.Solver`` (``add``, ``push``, ``pop``, ``check``,
    ``model``, ``set``, ``reason_unknown``) that takes bit-vector terms and solves their
    integer translation. Its models are bit-vector models of what was added."""

    def __init__(self) -> None:
        self.lia = Lia()
        self._int = z3.SolverFor("QF_LIA")
        self._bits: list[Term] = []  # what was added, as given
        self._scopes: list[tuple[int, int]] = []  # (len(_bits), ranges asserted) per push
        self._ranged = 0  # how many of lia.ranges the integer solver holds now
        self._model: z3.ModelRef | None = None

    def set(self, key: str, value: object) -> None:
        self._int.set(key, value)

    def add(self, *terms: Term) -> None:
        for t in terms:
            self._bits.append(t)
            self._int.add(self.lia(t))
        self._range()

    def _range(self) -> None:
        # A variable's range is a fact at every scope; one first met inside a scope that was
        # popped since is asserted again where the solver now stands.
        new = self.lia.ranges[self._ranged:]
        if new:
            self._int.add(*new)
            self._ranged = len(self.lia.ranges)

    def push(self) -> None:
        self._scopes.append((len(self._bits), self._ranged))
        self._int.push()

    def pop(self) -> None:
        n, ranged = self._scopes.pop()
        del self._bits[n:]
        self._ranged = ranged
        self._int.pop()
        self._range()

    def check(self) -> z3.CheckSatResult:
        self._model = None
        return self._int.check()

    def reason_unknown(self) -> str:
        return str(self._int.reason_unknown())

    def model(self) -> z3.ModelRef:
        """The bit-vector model with the integer model's values (found once per check)."""
        if self._model is None:
            bits = z3.SolverFor("QF_BV")
            bits.add(*self._bits, *self.lia.pinned(self._int.model()))
            if bits.check() != z3.sat:  # the translation is exact: this would be a bug
                raise AssertionError("an integer model that is not a bit-vector model")
            self._model = bits.model()
        return self._model
