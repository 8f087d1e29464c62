"""Elementwise maths of one tensor: exp, log, sqrt, abs, clip; dtype and device moves."""

from __future__ import annotations

import numpy

from .. import backend
from ..autograd.engine import Function
from ..creation import as_tensor, unwrap
from ..tensor import Tensor


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


def exp(x):
    return Exp()(as_tensor(x))


def log(x):
    return Log()(as_tensor(x))


def sqrt(x):
    return Sqrt()(as_tensor(x))


def abs(x):
    return Abs()(as_tensor(x))


def clip(x, min=None, max=None):
    if min is None and max is None:
        raise ValueError("clip needs at least one of min and max")
    return Clip(min, max)(as_tensor(x))


def astype(x: Tensor, dtype) -> Tensor:
    dtype = numpy.dtype(dtype)
    if x.dtype == dtype:
        return x
    if x.requires_grad and dtype.kind != "f":
        # Casting to an integer type leaves the graph (as in PyTorch).
        return Tensor.wrap(x.data.astype(dtype))
    return AsType(dtype)(x)


def to_device(x: Tensor, dev) -> Tensor:
    if x.device == dev:
        return x
    return ToDevice(dev)(x)
