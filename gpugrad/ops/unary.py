"""Elementwise maths of one tensor: exp, log, sqrt, abs, clip, log1p, expm1, rsqrt; copies
(clone, contiguous) and dtype and device moves."""

from __future__ import annotations

from .. import backend, dtypes
from ..autograd.engine import Function
from ..creation import as_tensor, unwrap
from ..tensor import Tensor
from .nondifferentiable import apply


class Exp(Function):
    save_output = True

    def forward(self, x):
        return backend.get_array_module(x).exp(x)

    def backward(self, ns, gy, y):
        return gy * y


class Log(Function):
    save_inputs = (0,)

    def forward(self, x):
        return backend.get_array_module(x).log(x)

    def backward(self, ns, gy, x):
        return gy / x


class Sqrt(Function):
    save_output = True

    def forward(self, x):
        return backend.get_array_module(x).sqrt(x)

    def backward(self, ns, gy, y):
        return gy / (2 * y)


class Log1p(Function):
    save_inputs = (0,)

    def forward(self, x):
        return backend.get_array_module(x).log1p(x)

    def backward(self, ns, gy, x):
        return gy / (x + 1)


class Expm1(Function):
    save_output = True

    def forward(self, x):
        return backend.get_array_module(x).expm1(x)

    def backward(self, ns, gy, y):
        return gy * (y + 1)


class Rsqrt(Function):
    """1 / sqrt(x); its derivative is -y³ / 2."""

    save_output = True

    def forward(self, x):
        return 1 / backend.get_array_module(x).sqrt(x)

    def backward(self, ns, gy, y):
        return gy * y * y * y * -0.5


class Clone(Function):
    """A copy in new (C-contiguous) memory; the gradient passes unchanged."""

    def forward(self, x):
        return backend.get_array_module(x).array(x, copy=True, order="C")

    def backward(self, ns, gy):
        return gy


class Abs(Function):
    """|x|; the gradient at 0 is 0 (sign(0) = 0), as in PyTorch."""

    save_inputs = (0,)

    def forward(self, x):
        return backend.get_array_module(x).abs(x)

    def backward(self, ns, gy, x):
        return gy * ns.sign(x)


class Clip(Function):
    """min(max(x, lo), hi); the gradient passes where lo <= x <= hi (ends included)."""

    save_inputs = (0,)

    def __init__(self, lo, hi):
        self.lo, self.hi = lo, hi

    def forward(self, x):
        return backend.get_array_module(x).clip(x, self.lo, self.hi)

    def backward(self, ns, gy, x):
        xd = unwrap(x)
        inside = True
        if self.lo is not None:
            inside = xd >= self.lo
        if self.hi is not None:
            inside = (xd <= self.hi) & inside
        return ns.where(inside, gy, 0) if inside is not True else gy


class AsType(Function):
    def __init__(self, dtype):
        self.dtype = dtype

    def forward(self, x):
        self.source_dtype = x.dtype
        return x.astype(self.dtype)

    def backward(self, ns, gy):
        return ns.apply(AsType(self.source_dtype), gy)


class ToDevice(Function):
    def __init__(self, dev):
        self.dev = dev

    def forward(self, x):
        self.source = backend.device_of(x)
        return backend.to_device(x, self.dev)

    def backward(self, ns, gy):
        return ns.apply(ToDevice(self.source), gy)


def _elementwise(function: type[Function]):
    """The op ``name(x)`` applying ``function`` (``Exp`` makes ``exp``) to ``x``."""

    def op(x):
        return function()(as_tensor(x))

    op.__name__ = op.__qualname__ = function.__name__.lower()
    return op


exp, log, sqrt, log1p, expm1, rsqrt, abs = map(
    _elementwise, (Exp, Log, Sqrt, Log1p, Expm1, Rsqrt, Abs)
)


def clone(x):
    """A copy of ``x`` in its own memory, in the graph (as PyTorch's ``clone``)."""
    return Clone()(as_tensor(x))


def contiguous(x):
    """``x`` itself when C-contiguous, else a contiguous copy (in the graph)."""
    x = as_tensor(x)
    return x if x.array.flags.c_contiguous else Clone()(x)


def clip(x, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clip needs at least one of min and max")
    return Clip(min, max)(as_tensor(x))


def _astype(a, dtype):
    return a.astype(dtype)


def astype(x: Tensor, dtype) -> Tensor:
    """``x`` in ``dtype`` (itself when it has it); differentiable between float dtypes."""
    dtype = dtypes.to_dtype(dtype)
    if x.dtype == dtype:
        return x
    if x.requires_grad and dtype.kind != "f":
        # Casting to an integer type leaves the graph (as in PyTorch).
        return apply("astype", _astype, (x,), dtype)
    return AsType(dtype)(x)


def to_device(x: Tensor, dev) -> Tensor:
    if x.device == dev:
        return x
    return ToDevice(dev)(x)
