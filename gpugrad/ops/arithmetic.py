"""The arithmetic gates: add distributes, mul swaps, and their relatives.

Tensor-with-Tensor ops promote dtypes as PyTorch (``dtypes.promote``: float32 + float64
gives float64, an integer tensor meets a float one in the float's dtype) and refuse a
device mismatch; a Python number becomes a parameter of a ``*Const`` op (no array is made
for it, so no host-to-device copy happens on a GPU).
"""

from __future__ import annotations

import math
import numbers

import numpy

from .. import backend, dtypes
from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor
from .promotion import cast, check_device, operands


def check_same(a: Tensor, b: Tensor, op: str) -> None:
    """Raise if ``a`` and ``b`` differ in dtype or device, naming both sides."""
    if a.array.dtype != b.array.dtype:
        raise TypeError(
            f"{op}: dtype mismatch: left operand is {a.array.dtype}, right operand is "
            f"{b.array.dtype}; convert one with .to()"
        )
    check_device(a, b, op)


_SCALAR_TYPES = (float, int)


def _raw(v):
    """The array of a Tensor (masks are constants in a backward), an array as it is."""
    return v.array if isinstance(v, Tensor) else v


def is_scalar(v) -> bool:
    # The exact-type test is the hot path; the ABC check covers NumPy scalars and bools.
    return type(v) in _SCALAR_TYPES or (not isinstance(v, Tensor) and isinstance(v, numbers.Number))


class Add(Function):
    symbol = "+"
    gate = "add gate: distributes"

    def forward(self, a, b):
        return a + b

    def backward(self, ns, gy):
        return gy, gy


class Sub(Function):
    symbol = "-"
    gate = "add gate: distributes (with a sign)"

    def forward(self, a, b):
        return a - b

    def backward(self, ns, gy):
        return gy, -gy


class Mul(Function):
    symbol = "*"
    gate = "mul gate: swaps"

    save_inputs = (0, 1)

    def forward(self, a, b):
        return a * b

    def backward(self, ns, gy, a, b):
        need_a, need_b = self.needs_grad
        return (gy * b if need_a else None), (gy * a if need_b else None)


class Div(Function):
    symbol = "/"

    save_inputs = (0, 1)

    def forward(self, a, b):
        return a / b

    def backward(self, ns, gy, a, b):
        need_a, need_b = self.needs_grad
        ga = gy / b if need_a else None
        gb = -gy * a / (b * b) if need_b else None
        return ga, gb


class Pow(Function):
    symbol = "**"

    save_inputs = (0, 1)
    save_output = True

    def forward(self, a, b):
        return a**b

    def backward(self, ns, gy, a, b, y):
        # PyTorch's masks: no gradient to a where b == 0 (a**0 is constant, even at a = 0),
        # none to b where a == 0 and b >= 0 (0**b is 0 or 1 there, log(0) would say -inf)
        need_a, need_b = self.needs_grad
        ga = gb = None
        with numpy.errstate(divide="ignore", invalid="ignore"):  # the masked values
            if need_a:
                ga = ns.where(_raw(b) == 0, 0, gy * b * a ** (b - 1))
            if need_b:
                ra, rb = _raw(a), _raw(b)
                gb = gy * ns.where((ra == 0) & (rb >= 0), 0, y * ns.log(a))
        return ga, gb


class Neg(Function):
    symbol = "neg"

    def forward(self, x):
        return -x

    def backward(self, ns, gy):
        return -gy


class ConstOp(Function):
    """An op of a Tensor x and a Python number c; ``template`` shows it in ``explain``."""

    template = "{c:g}"
    __slots__ = ("c",)  # no __dict__ per node: one object fewer for the GC on long chains

    def __init__(self, c):
        self.c = c

    def label(self) -> str:
        return self.template.format(c=self.c)


class AddConst(ConstOp):
    """x + c."""

    template = "+ {c:g}"

    def forward(self, x):
        return x + self.c

    def backward(self, ns, gy):
        return gy


class MulConst(ConstOp):
    """x * c."""

    template = "* {c:g}"

    def forward(self, x):
        return x * self.c

    def backward(self, ns, gy):
        return gy * self.c


class DivConst(ConstOp):
    """x / c."""

    template = "/ {c:g}"

    def forward(self, x):
        return x / self.c

    def backward(self, ns, gy):
        return gy / self.c


class RSubConst(ConstOp):
    """c - x."""

    template = "{c:g} -"

    def forward(self, x):
        return self.c - x

    def backward(self, ns, gy):
        return -gy


class RDivConst(ConstOp):
    """c / x."""

    template = "{c:g} /"
    save_inputs = (0,)

    def forward(self, x):
        return self.c / x

    def backward(self, ns, gy, x):
        return -gy * self.c / (x * x)


class PowConst(ConstOp):
    """x ** c."""

    template = "** {c:g}"
    save_inputs = (0,)

    def forward(self, x):
        return x**self.c

    def backward(self, ns, gy, x):
        if self.c == 0:  # x**0 is constant: zero gradient, even at x = 0 (as PyTorch)
            return ns.zeros_like(x)
        if self.c == 2:
            return gy * 2 * x
        with numpy.errstate(divide="ignore", invalid="ignore"):  # 0 ** negative: inf, as torch
            return gy * self.c * x ** (self.c - 1)


class RPowConst(ConstOp):
    """c ** x; the gradient y·log(c) is NaN for c < 0 and, for c = 0, 0 where x >= 0 (as
    PyTorch)."""

    template = "{c:g} **"
    save_inputs = (0,)
    save_output = True

    def forward(self, x):
        if self.c == 0:  # 0 ** negative is inf, as PyTorch, without NumPy's warning
            with numpy.errstate(divide="ignore"):
                return self.c**x
        return self.c**x

    def backward(self, ns, gy, x, y):
        if self.c > 0:
            return gy * y * math.log(self.c)
        if self.c < 0:
            return gy * y * math.nan
        with numpy.errstate(invalid="ignore", divide="ignore"):
            return gy * ns.where(_raw(x) >= 0, 0, y * -math.inf)


# -- the lowercase functions behind the operators ------------------------------------
def _with_scalar(a: Tensor, c, name: str):
    """(a, c) as PyTorch combines a tensor with a Python or NumPy number: the number never
    widens a's dtype (a NumPy float64 times a float32 tensor stays float32), and an integer
    tensor meets a float, or is divided, in the default float dtype."""
    if isinstance(c, numpy.generic):
        c = c.item()  # NumPy scalars carry a dtype that NumPy would promote to
    if a.array.dtype.kind in "biu" and (isinstance(c, float) or name == "div"):
        a = cast(a, dtypes.get_default_dtype())  # recorded: a compiled step replays it
    return a, c


def _binary(a, b, name: str, tensor_op, const_op):
    """``tensor_op()(a, b)``, or ``const_op(b)(a)`` when b is a Python number (no array made
    for it, and the backward needs no gradient for it)."""
    if type(b) is float and a.array.dtype.kind == "f":  # the common case, first
        return const_op(b)(a)
    if is_scalar(b):
        a, b = _with_scalar(a, b, name)
        return const_op(b)(a)
    return tensor_op()(*operands(a, b, name))


def _reflected(a, b, name: str, tensor_op, const_op):
    """b (op) a, for the reflected operators (``2 - x``, ``[1, 2] / x``)."""
    if is_scalar(b):
        a, b = _with_scalar(a, b, name)
        return const_op(b)(a)
    a, b = operands(a, b, name)
    return tensor_op()(b, a)


def add(a, b):
    return _binary(a, b, "add", Add, AddConst)


def sub(a, b):
    return _binary(a, b, "sub", Sub, lambda c: AddConst(-c))


def rsub(a, b):
    """b - a."""
    return _reflected(a, b, "sub", Sub, RSubConst)


def mul(a, b):
    return _binary(a, b, "mul", Mul, MulConst)


def div(a, b):
    if a.array.dtype.kind in "biu" and isinstance(b, Tensor) and b.array.dtype.kind in "biu":
        a = cast(a, dtypes.get_default_dtype())  # true division of integers gives floats
    return _binary(a, b, "div", Div, DivConst)


def rdiv(a, b):
    """b / a."""
    return _reflected(a, b, "div", Div, RDivConst)


def pow(a, b):
    return _binary(a, b, "pow", Pow, PowConst)


def rpow(a, b):
    """b ** a."""
    return _reflected(a, b, "pow", Pow, RPowConst)


def neg(a):
    return Neg()(a)


class Maximum(Function):
    """The max gate, elementwise: the gradient goes to ``a`` where a >= b (ties go to the
    first argument; PyTorch splits ties in half), to ``b`` elsewhere."""

    symbol = "max"
    gate = "max gate: routes"

    def forward(self, a, b):
        self.a_wins = a >= b
        return backend.get_array_module(a).maximum(a, b)

    def backward(self, ns, gy):
        need_a, need_b = self.needs_grad
        return (
            ns.where(self.a_wins, gy, 0) if need_a else None,
            ns.where(self.a_wins, 0, gy) if need_b else None,
        )


class Minimum(Maximum):
    """Elementwise min; the gradient goes to ``a`` where a <= b (ties to the first)."""

    symbol = "min"
    gate = "min gate: routes"

    def forward(self, a, b):
        self.a_wins = a <= b
        return backend.get_array_module(a).minimum(a, b)


def maximum(a, b):
    a = as_tensor(a) if not isinstance(a, Tensor) else a
    return Maximum()(*operands(a, b, "maximum"))


def minimum(a, b):
    a = as_tensor(a) if not isinstance(a, Tensor) else a
    return Minimum()(*operands(a, b, "minimum"))
