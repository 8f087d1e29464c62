"""PLACEHOLDER written by the core author so that Tensor.sigmoid/relu/tanh work while the
fused-kernel version is written; the kernels engineer owns and replaces this file."""
from __future__ import annotations

from .. import backend
from ..autograd import Function
from ..tensor import as_tensor, unwrap

__all__ = ["sigmoid", "relu", "tanh"]


class Sigmoid(Function):
    save_output = True

    def forward(self, x):
        xp = backend.get_array_module(x)
        return 0.5 * (xp.tanh(0.5 * x) + 1)

    def backward(self, ns, gy, y):
        return gy * y * (1 - y)


class ReLU(Function):
    save_output = True

    def forward(self, x):
        return backend.get_array_module(x).maximum(x, 0)

    def backward(self, ns, gy, y):
        return ns.where(unwrap(y) > 0, gy, 0)


class Tanh(Function):
    save_output = True

    def forward(self, x):
        return backend.get_array_module(x).tanh(x)

    def backward(self, ns, gy, y):
        return gy * (1 - y * y)


def sigmoid(x):
    return Sigmoid()(as_tensor(x))


def relu(x):
    return ReLU()(as_tensor(x))


def tanh(x):
    return Tanh()(as_tensor(x))
