"""Rounding and integer division: floor, ceil, round, sign (zero gradient, as PyTorch),
``//`` (floor division, not differentiable) and ``%`` (PyTorch's remainder: the sign of
the divisor; gradient 1 for the dividend, -floor(a / b) for the divisor)."""

from __future__ import annotations

from .. import backend, dtypes
from ..autograd import recording
from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor
from .arithmetic import is_scalar
from .nondifferentiable import note
from .promotion import cast, operands


class Rounding(Function):
    """An elementwise step function: its gradient is zero almost everywhere."""

    def __init__(self, name, decimals=0):
        self.fn, self.decimals = name, decimals

    def forward(self, x):
        xp = backend.get_array_module(x)
        if self.fn == "round":
            return xp.round(x, self.decimals)
        return getattr(xp, self.fn)(x)

    def backward(self, ns, gy):
        return gy * 0


def floor(x) -> Tensor:
    return Rounding("floor")(as_tensor(x))


def ceil(x) -> Tensor:
    return Rounding("ceil")(as_tensor(x))


def round(x, decimals: int = 0) -> Tensor:
    """Round half to even, as PyTorch."""
    return Rounding("round", decimals)(as_tensor(x))


def sign(x) -> Tensor:
    return Rounding("sign")(as_tensor(x))


class Remainder(Function):
    save_inputs = (0, 1)

    def forward(self, a, b):
        return backend.get_array_module(a).remainder(a, b)

    def backward(self, ns, gy, a, b):
        need_a, need_b = self.needs_grad
        gb = -gy * ns.apply(Rounding("floor"), a / b) if need_b else None
        return (gy if need_a else None), gb


def _pair(a, b):
    """Both operands as Tensors of one dtype; a number never widens a's dtype, but an
    integer tensor meets a float in the default float dtype (as PyTorch).  A number
    becomes a constant (the same in every replay of a compiled step)."""
    a = as_tensor(a)
    if not is_scalar(b):
        return operands(a, b, "remainder")
    if a.dtype.kind in "biu" and isinstance(b, float):
        a = cast(a, dtypes.get_default_dtype())
    b = Tensor.wrap(backend.get_array_module(a.array).asarray(b, dtype=a.dtype))
    if recording.active is not None:
        recording.constant(b)
    return a, b


def floor_divide(a, b) -> Tensor:
    """a // b rounded toward minus infinity (PyTorch's ``//``); outside the graph."""
    a, b = _pair(a, b)
    fn = backend.get_array_module(a.array).floor_divide
    out = Tensor.wrap(fn(a.array, b.array))
    if recording.active is not None:
        note("floor_divide", fn, (a, b), out)
    return out


def remainder(a, b) -> Tensor:
    """a - floor(a / b) * b: the remainder with the sign of ``b`` (PyTorch's ``%``)."""
    return Remainder()(*_pair(a, b))
