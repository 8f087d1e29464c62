"""Trigonometric functions: sin and cos, each the other's derivative."""

from __future__ import annotations

from .. import backend
from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor


class Sin(Function):
    save_inputs = (0,)

    def forward(self, x):
        return backend.get_array_module(x).sin(x)

    def backward(self, ns, gy, x):
        return gy * ns.apply(Cos(), x)


class Cos(Function):
    save_inputs = (0,)

    def forward(self, x):
        return backend.get_array_module(x).cos(x)

    def backward(self, ns, gy, x):
        return -gy * ns.apply(Sin(), x)


def sin(x) -> Tensor:
    return Sin()(as_tensor(x))


def cos(x) -> Tensor:
    return Cos()(as_tensor(x))
