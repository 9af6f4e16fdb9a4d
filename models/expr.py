"""The spec's expression language: one text, two meanings.

A guard or an effect in ``tcp.toml`` is a string such as ``lt(seg.ack, snd_una) or RST``.
:func:`parse` turns it into a small tree; :func:`evaluate` computes it on concrete values
(the conformance tests' oracle) and :func:`to_z3` translates it into Z3 bit-vector terms
(the checker). Both walk the same tree, so a rule is never stated twice.

Numbers are 32-bit words: ``+`` and ``-`` wrap modulo 2^32 as sequence space does (RFC 9293
3.4), and ``<``, ``<=``, ``>``, ``>=`` compare *unsigned* (for lengths, windows and counters).
Sequence-number comparisons are not built in: the spec defines them once, as macros, from
these primitives (``lt(a, b) = "a - b >= 2147483648"``), and the same definitions are proven
against their intended meaning by Z3 and compared with the Rust core's ``SeqNum``.

Grammar (lowest precedence first)::

    expr  := or ("->" or)?                 implication
    or    := and ("or" and)*
    and   := not ("and" not)*
    not   := "not" not | cmp
    cmp   := sum (("==" | "!=" | "<" | "<=" | ">" | ">=") sum)?
    sum   := atom (("+" | "-") atom)*
    atom  := NUMBER | "true" | "false" | NAME | NAME "(" expr ("," expr)* ")" | "(" expr ")"

Names are dotted (``seg.seq``, ``in.fill``). Built-in functions: ``ite(c, a, b)``,
``umin(a, b)``, ``umax(a, b)``. Any other call must be a macro of the spec.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

MASK = 0xFFFF_FFFF
WIDTH = 32

Value = int | bool


class SpecError(ValueError):
    """An expression or a spec that cannot be read: the message says where and why."""


@dataclass(frozen=True)
class Num:
    value: int


@dataclass(frozen=True)
class Bool:
    value: bool


@dataclass(frozen=True)
class Name:
    name: str


@dataclass(frozen=True)
class Op:
    """An operator or built-in function applied to its arguments."""

    op: str
    args: tuple[Expr, ...]


Expr = Num | Bool | Name | Op

_BOOL_OPS = {"and", "or", "not", "->"}
_CMP_OPS = {"==", "!=", "<", "<=", ">", ">="}
_ARITH_OPS = {"+", "-"}
BUILTINS = {"ite": 3, "umin": 2, "umax": 2}

_TOKEN = re.compile(
    r"\s*(?:(?P<num>0x[0-9a-fA-F_]+|[0-9][0-9_]*)|(?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_]"
    r"[A-Za-z0-9_]*)*)|(?P<op>->|==|!=|<=|>=|[-+<>(),]))"
)


@dataclass(frozen=True)
class Macro:
    """A named, parameterised expression of the spec (``lt(a, b)``, ``acceptable``)."""

    name: str
    params: tuple[str, ...]
    body: Expr
    text: str


def _tokenize(text: str) -> list[tuple[str, str]]:
    tokens: list[tuple[str, str]] = []
    pos = 0
    text = text.rstrip()
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            raise SpecError(f"cannot read {text[pos:]!r} in {text!r}")
        pos = m.end()
        kind = m.lastgroup or ""
        tokens.append((kind, m.group(kind)))
    return tokens


class _Parser:
    def __init__(self, text: str, macros: Mapping[str, Macro]) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.pos = 0
        self.macros = macros

    def peek(self) -> str | None:
        return self.tokens[self.pos][1] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> tuple[str, str]:
        if self.pos >= len(self.tokens):
            raise SpecError(f"unexpected end of {self.text!r}")
        tok = self.tokens[self.pos]
        if expected is not None and tok[1] != expected:
            raise SpecError(f"expected {expected!r}, found {tok[1]!r} in {self.text!r}")
        self.pos += 1
        return tok

    def parse(self) -> Expr:
        e = self.implication()
        if self.pos != len(self.tokens):
            raise SpecError(f"unexpected {self.peek()!r} in {self.text!r}")
        return e

    def implication(self) -> Expr:
        left = self.disjunction()
        if self.peek() == "->":
            self.take()
            return Op("->", (left, self.disjunction()))
        return left

    def disjunction(self) -> Expr:
        left = self.conjunction()
        while self.peek() == "or":
            self.take()
            left = Op("or", (left, self.conjunction()))
        return left

    def conjunction(self) -> Expr:
        left = self.negation()
        while self.peek() == "and":
            self.take()
            left = Op("and", (left, self.negation()))
        return left

    def negation(self) -> Expr:
        if self.peek() == "not":
            self.take()
            return Op("not", (self.negation(),))
        return self.comparison()

    def comparison(self) -> Expr:
        left = self.sum()
        if self.peek() in _CMP_OPS:
            op = self.take()[1]
            return Op(op, (left, self.sum()))
        return left

    def sum(self) -> Expr:
        left = self.atom()
        while self.peek() in _ARITH_OPS:
            op = self.take()[1]
            left = Op(op, (left, self.atom()))
        return left

    def atom(self) -> Expr:
        kind, tok = self.take()
        if kind == "num":
            value = int(tok.replace("_", ""), 0)
            if value > MASK:
                raise SpecError(f"{tok} does not fit in 32 bits in {self.text!r}")
            return Num(value)
        if tok == "(":
            e = self.implication()
            self.take(")")
            return e
        if kind != "name" or tok in _BOOL_OPS:
            raise SpecError(f"unexpected {tok!r} in {self.text!r}")
        if tok in ("true", "false"):
            return Bool(tok == "true")
        if self.peek() == "(":
            self.take()
            args = [self.implication()]
            while self.peek() == ",":
                self.take()
                args.append(self.implication())
            self.take(")")
            return self.call(tok, tuple(args))
        if tok in self.macros:
            return self.call(tok, ())
        return Name(tok)

    def call(self, fn: str, args: tuple[Expr, ...]) -> Expr:
        if fn in BUILTINS:
            if len(args) != BUILTINS[fn]:
                raise SpecError(f"{fn} takes {BUILTINS[fn]} arguments in {self.text!r}")
            return Op(fn, args)
        macro = self.macros.get(fn)
        if macro is None:
            raise SpecError(f"unknown function {fn!r} in {self.text!r}")
        if len(args) != len(macro.params):
            raise SpecError(f"{fn} takes {len(macro.params)} arguments in {self.text!r}")
        return substitute(macro.body, dict(zip(macro.params, args, strict=True)))


def substitute(e: Expr, binding: Mapping[str, Expr]) -> Expr:
    """``e`` with each parameter name replaced by its argument (macro expansion)."""
    if isinstance(e, Name):
        return binding.get(e.name, e)
    if isinstance(e, Op):
        return Op(e.op, tuple(substitute(a, binding) for a in e.args))
    return e


def parse(text: str, macros: Mapping[str, Macro] | None = None) -> Expr:
    """Parse ``text``, expanding the spec's macros in place."""
    return _Parser(text, macros or {}).parse()


def define_macro(signature: str, body: str, macros: Mapping[str, Macro]) -> Macro:
    """A macro from ``"lt(a, b)"`` (or a bare ``"acceptable"``) and its body."""
    m = re.fullmatch(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:\((.*)\))?\s*", signature)
    if m is None:
        raise SpecError(f"bad macro signature {signature!r}")
    params = tuple(p.strip() for p in (m.group(2) or "").split(",") if p.strip())
    return Macro(m.group(1), params, parse(body, macros), body)


def names(e: Expr) -> set[str]:
    """Every free name in ``e``."""
    if isinstance(e, Name):
        return {e.name}
    if isinstance(e, Op):
        return set().union(*(names(a) for a in e.args))
    return set()


# --- types ------------------------------------------------------------------------------


def type_of(e: Expr, types: Mapping[str, str]) -> str:
    """``"bool"`` or ``"word"``; raises :class:`SpecError` on a mismatch or unknown name."""
    if isinstance(e, Num):
        return "word"
    if isinstance(e, Bool):
        return "bool"
    if isinstance(e, Name):
        t = types.get(e.name)
        if t is None:
            raise SpecError(f"unknown name {e.name!r}")
        return t
    arg_types = [type_of(a, types) for a in e.args]
    if e.op in _BOOL_OPS:
        if any(t != "bool" for t in arg_types):
            raise SpecError(f"{e.op!r} needs booleans: {show(e)}")
        return "bool"
    if e.op in ("==", "!="):
        if arg_types[0] != arg_types[1]:
            raise SpecError(f"cannot compare a word with a boolean: {show(e)}")
        return "bool"
    if e.op in _CMP_OPS or e.op in _ARITH_OPS or e.op in ("umin", "umax"):
        if any(t != "word" for t in arg_types):
            raise SpecError(f"{e.op!r} needs words: {show(e)}")
        return "bool" if e.op in _CMP_OPS else "word"
    if e.op == "ite":
        if arg_types[0] != "bool" or arg_types[1] != arg_types[2]:
            raise SpecError(f"ite(bool, x, x) expected: {show(e)}")
        return arg_types[1]
    raise SpecError(f"unknown operator {e.op!r}")


def show(e: Expr) -> str:
    """Expression text (fully parenthesised, macros expanded)."""
    if isinstance(e, Num):
        return str(e.value)
    if isinstance(e, Bool):
        return "true" if e.value else "false"
    if isinstance(e, Name):
        return e.name
    if e.op == "not":
        return f"not {show(e.args[0])}"
    if e.op in BUILTINS:
        return f"{e.op}({', '.join(show(a) for a in e.args)})"
    return f"({show(e.args[0])} {e.op} {show(e.args[1])})"


# --- concrete evaluation ----------------------------------------------------------------


def _concrete_op(op: str, a: list[Value]) -> Value:
    if op == "+":
        return (int(a[0]) + int(a[1])) & MASK
    if op == "-":
        return (int(a[0]) - int(a[1])) & MASK
    if op == "umin":
        return min(int(a[0]), int(a[1]))
    if op == "umax":
        return max(int(a[0]), int(a[1]))
    if op == "==":
        return a[0] == a[1]
    if op == "!=":
        return a[0] != a[1]
    if op == "<":
        return int(a[0]) < int(a[1])
    if op == "<=":
        return int(a[0]) <= int(a[1])
    if op == ">":
        return int(a[0]) > int(a[1])
    if op == ">=":
        return int(a[0]) >= int(a[1])
    raise SpecError(f"unknown operator {op!r}")


def evaluate(e: Expr, env: Mapping[str, Value]) -> Value:
    """The value of ``e`` where each name has the value ``env`` gives it."""
    if isinstance(e, Num):
        return e.value
    if isinstance(e, Bool):
        return e.value
    if isinstance(e, Name):
        try:
            return env[e.name]
        except KeyError:
            raise SpecError(f"no value for {e.name!r}") from None
    # The boolean connectives short-circuit so a guard may protect what follows it.
    if e.op == "and":
        return bool(evaluate(e.args[0], env)) and bool(evaluate(e.args[1], env))
    if e.op == "or":
        return bool(evaluate(e.args[0], env)) or bool(evaluate(e.args[1], env))
    if e.op == "->":
        return (not evaluate(e.args[0], env)) or bool(evaluate(e.args[1], env))
    if e.op == "not":
        return not evaluate(e.args[0], env)
    if e.op == "ite":
        return evaluate(e.args[1] if evaluate(e.args[0], env) else e.args[2], env)
    return _concrete_op(e.op, [evaluate(a, env) for a in e.args])


# --- Z3 ----------------------------------------------------------------------------------


def to_z3(e: Expr, env: Mapping[str, Any]) -> Any:
    """The Z3 term for ``e``: words become 32-bit bit-vectors, comparisons unsigned."""
    import z3

    if isinstance(e, Num):
        return z3.BitVecVal(e.value, WIDTH)
    if isinstance(e, Bool):
        return z3.BoolVal(e.value)
    if isinstance(e, Name):
        try:
            return env[e.name]
        except KeyError:
            raise SpecError(f"no Z3 term for {e.name!r}") from None
    a = [to_z3(x, env) for x in e.args]
    table: dict[str, Callable[[], Any]] = {
        "and": lambda: z3.And(a[0], a[1]),
        "or": lambda: z3.Or(a[0], a[1]),
        "->": lambda: z3.Implies(a[0], a[1]),
        "not": lambda: z3.Not(a[0]),
        "ite": lambda: z3.If(a[0], a[1], a[2]),
        "+": lambda: a[0] + a[1],
        "-": lambda: a[0] - a[1],
        "umin": lambda: z3.If(z3.ULE(a[0], a[1]), a[0], a[1]),
        "umax": lambda: z3.If(z3.UGE(a[0], a[1]), a[0], a[1]),
        "==": lambda: a[0] == a[1],
        "!=": lambda: a[0] != a[1],
        "<": lambda: z3.ULT(a[0], a[1]),
        "<=": lambda: z3.ULE(a[0], a[1]),
        ">": lambda: z3.UGT(a[0], a[1]),
        ">=": lambda: z3.UGE(a[0], a[1]),
    }
    try:
        return table[e.op]()
    except KeyError:
        raise SpecError(f"unknown operator {e.op!r}") from None
