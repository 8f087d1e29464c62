"""The expression language of ``python -m gpugrad explain``: a tokenizer and a
recursive-descent parser (never Python's eval), and the evaluation of a parsed tree with
float64 gpugrad tensors.

    >>> tree = parse("(x+y)*z")
    >>> out, leaves = evaluate(tree, {"x": -2, "y": 5, "z": -4})
    >>> out.item()
    -12.0
"""

from __future__ import annotations

import operator

from .. import functional as F
from ..creation import tensor
from ..ops.arithmetic import maximum, minimum
from ..tensor import Tensor


class ExprError(ValueError):
    """A problem with the expression or the variables: one line for the user."""


FUNCTIONS = {"exp": 1, "log": 1, "sigmoid": 1, "tanh": 1, "relu": 1, "max": 2, "min": 2}
BINARY = {
    "+": operator.add,
    "-": operator.sub,
    "*": operator.mul,
    "/": operator.truediv,
    "**": operator.pow,
}


def _number_end(text: str, i: int) -> int:
    """Where the number starting at ``i`` ends: digits and dots, then an optional exponent
    (taken only when digits follow, so "2e" is the number 2 and the name e)."""
    n = len(text)
    j = i
    while j < n and (text[j].isdigit() or text[j] == "."):
        j += 1
    if j < n and text[j] in "eE":
        k = j + 1
        if k < n and text[k] in "+-":
            k += 1
        if k < n and text[k].isdigit():
            j = k
            while j < n and text[j].isdigit():
                j += 1
    return j


def _tokens(text: str):
    """(kind, value, column) for each token, then ("end", None, len(text))."""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if text.startswith("**", i):
            yield ("op", "**", i)
            i += 2
            continue
        if c in "+-*/(),":
            yield ("op", c, i)
            i += 1
            continue
        if c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            j = _number_end(text, i)
            try:
                yield ("num", float(text[i:j]), i)
            except ValueError:
                raise ExprError(f"bad number {text[i:j]!r} at column {i + 1}") from None
            i = j
            continue
        if c.isalpha() or c == "_":
            j = i
            while j < n and (text[j].isalnum() or text[j] == "_"):
                j += 1
            yield ("name", text[i:j], i)
            i = j
            continue
        raise ExprError(f"unexpected character {c!r} at column {i + 1}")
    yield ("end", None, n)


class _Parser:
    """Recursive descent over the tokens; one method per precedence level."""

    def __init__(self, text: str):
        self.text = text
        self.tokens = list(_tokens(text))
        self.pos = 0

    def peek(self):
        return self.tokens[self.pos]

    def at_op(self, *ops) -> bool:
        kind, value, _ = self.peek()
        return kind == "op" and value in ops

    def error(self, message, at=None) -> ExprError:
        col = at if at is not None else self.peek()[2]
        return ExprError(f"syntax error at column {col + 1} of {self.text!r}: {message}")

    def take(self, kind, value=None):
        tok = self.peek()
        if tok[0] != kind or (value is not None and tok[1] != value):
            want = value or kind
            got = "end of input" if tok[0] == "end" else repr(tok[1])
            raise self.error(f"expected {want!r}, found {got}")
        self.pos += 1
        return tok

    def whole(self):
        tree = self.expr()
        if self.peek()[0] != "end":
            raise self.error(f"unexpected {self.peek()[1]!r}")
        return tree

    def left_associative(self, ops, operand):
        """``operand (op operand)*`` for ``op`` in ``ops``, grouped from the left."""
        node = operand()
        while self.at_op(*ops):
            op = self.take("op")[1]
            node = ("bin", op, node, operand())
        return node

    def expr(self):
        return self.left_associative(("+", "-"), self.term)

    def term(self):
        return self.left_associative(("*", "/"), self.unary)

    def unary(self):
        if self.at_op("-"):
            self.take("op", "-")
            return ("neg", self.unary())
        if self.at_op("+"):
            self.take("op", "+")
            return self.unary()
        return self.power()

    def power(self):
        base = self.atom()
        if self.at_op("**"):
            self.take("op", "**")
            return ("bin", "**", base, self.unary())  # right-associative, like Python
        return base

    def atom(self):
        kind, value, col = self.peek()
        if kind == "num":
            self.take("num")
            return ("num", value)
        if kind == "name":
            self.take("name")
            if self.at_op("("):
                return self.call(value, col)
            if value in FUNCTIONS:
                raise self.error(f"function {value!r} needs parentheses", col)
            return ("var", value)
        if kind == "op" and value == "(":
            self.take("op", "(")
            node = self.expr()
            self.take("op", ")")
            return node
        got = "end of input" if kind == "end" else repr(value)
        raise self.error(f"expected a number, a variable or '(', found {got}")

    def call(self, name, col):
        if name not in FUNCTIONS:
            raise ExprError(
                f"unknown function {name!r} at column {col + 1} "
                f"(known: {', '.join(sorted(FUNCTIONS))})"
            )
        self.take("op", "(")
        args = [self.expr()]
        while self.at_op(","):
            self.take("op", ",")
            args.append(self.expr())
        self.take("op", ")")
        if len(args) != FUNCTIONS[name]:
            raise ExprError(
                f"{name}() takes {FUNCTIONS[name]} argument(s), got {len(args)} (column {col + 1})"
            )
        return ("call", name, args)


def parse(text: str):
    """Parse into a tree of tuples: ("num", v), ("var", name), ("neg", a),
    ("bin", op, a, b), ("call", name, [args]).  Errors name the column."""
    return _Parser(text).whole()


def variables_of(tree) -> list:
    """The variable names in ``tree``, each once, in order of first appearance."""
    found = []

    def walk(n):
        if n[0] == "var":
            if n[1] not in found:
                found.append(n[1])
        elif n[0] == "neg":
            walk(n[1])
        elif n[0] == "bin":
            walk(n[2])
            walk(n[3])
        elif n[0] == "call":
            for a in n[2]:
                walk(a)

    walk(tree)
    return found


def _is_tensor(v) -> bool:
    return isinstance(v, Tensor)  # numbers from the expression are floats


def evaluate(tree, values: dict, device=None):
    """Build the computation with float64 gpugrad tensors; returns (output, leaves), the
    leaves by variable name, each requiring grad and named after its variable."""
    leaves = {}
    for name in variables_of(tree):
        if name not in values:
            raise ExprError(f"missing value for variable {name!r} (give it with --vars {name}=...)")
        t = tensor(values[name], dtype="float64", device=device, requires_grad=True)
        t.name = name
        leaves[name] = t

    def ev(n):
        kind = n[0]
        if kind == "num":
            return n[1]
        if kind == "var":
            return leaves[n[1]]
        if kind == "neg":
            return -ev(n[1])
        if kind == "bin":
            a, b = ev(n[2]), ev(n[3])
            # Two numbers fold to a number; x/0 between numbers is nan, not an exception.
            if n[1] == "/" and not _is_tensor(a) and not _is_tensor(b) and not b:
                return float("nan")
            return BINARY[n[1]](a, b)
        args = [ev(a) for a in n[2]]
        if not any(_is_tensor(a) for a in args):
            args[0] = tensor(args[0], dtype="float64", device=device)
        like = next(a for a in args if _is_tensor(a))
        args = [
            a if _is_tensor(a) else tensor(a, dtype="float64", device=like.device) for a in args
        ]
        if n[1] == "max":
            return maximum(*args)
        if n[1] == "min":
            return minimum(*args)
        if n[1] in ("exp", "log"):
            return getattr(args[0], n[1])()
        return getattr(F, n[1])(args[0])

    out = ev(tree)
    if not _is_tensor(out) or out.creator is None:
        raise ExprError("the expression does not depend on any variable through an operation")
    return out, leaves


def parse_vars(text: str) -> dict:
    """``"x=-2,y=5"`` as ``{"x": -2.0, "y": 5.0}``; ExprError names a bad entry."""
    values = {}
    if not text:
        return values
    for part in text.split(","):
        name, sep, number = part.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise ExprError(f"bad --vars entry {part!r}: expected NAME=NUMBER")
        try:
            values[name] = float(number)
        except ValueError:
            raise ExprError(
                f"bad --vars entry {part!r}: {number.strip()!r} is not a number"
            ) from None
    return values
