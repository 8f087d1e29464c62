"""The normalizing family: ``softmax``, ``log_softmax`` and ``logsumexp``, each computed
stably (the maximum is taken out before exp) with its backward from the saved output."""

from __future__ import annotations

from .. import backend
from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor
from .reduce import Reduction, dims

__all__ = ["log_softmax", "logsumexp", "softmax"]


class AlongAxis(Function):
    """A normalization along ``axis`` whose backward needs only its output."""

    save_output = True

    def __init__(self, axis):
        self.axis = axis


class SoftmaxFunction(AlongAxis):
    """exp(x - max) / sum(exp(x - max)); gradient y · (gy - sum(gy · y))."""

    name, symbol = "Softmax", "softmax"  # as errors and explain show it

    def forward(self, x):
        xp = backend.get_array_module(x)
        y = x - x.max(axis=self.axis, keepdims=True)
        xp.exp(y, out=y)
        y /= y.sum(axis=self.axis, keepdims=True)
        return y

    def backward(self, ns, gy, y):
        return y * (gy - ns.sum(gy * y, axis=self.axis, keepdims=True))


class LogSoftmaxFunction(AlongAxis):
    """x - logsumexp(x); gradient gy - exp(y) · sum(gy)."""

    name, symbol = "LogSoftmax", "logsoftmax"

    def forward(self, x):
        xp = backend.get_array_module(x)
        m = x.max(axis=self.axis, keepdims=True)
        y = x - m
        y -= xp.log(xp.exp(y).sum(axis=self.axis, keepdims=True))
        return y

    def backward(self, ns, gy, y):
        return gy - ns.exp(y) * ns.sum(gy, axis=self.axis, keepdims=True)


def _along(fn, x, dim, dtype, axis):
    x = as_tensor(x)
    if dtype is not None:  # PyTorch casts the input first
        x = x.to(dtype)
    return fn(dim if axis is None else axis)(x)


def softmax(x, dim: int = -1, dtype=None, *, axis=None) -> Tensor:
    """Softmax along ``dim`` (NumPy's ``axis`` is an alias); ``dtype`` casts the input."""
    return _along(SoftmaxFunction, x, dim, dtype, axis)


def log_softmax(x, dim: int = -1, dtype=None, *, axis=None) -> Tensor:
    """log(softmax(x)) along ``dim``, computed stably."""
    return _along(LogSoftmaxFunction, x, dim, dtype, axis)


class LogSumExp(Reduction):
    """log(sum(exp(x))) computed stably: the maximum is taken out before exp."""

    save_inputs = (0,)
    save_output = True

    def forward(self, x):
        xp = backend.get_array_module(x)
        axes = self._setup(x)
        m = x.max(axis=axes, keepdims=True) if x.size else xp.zeros(self.kept_shape, x.dtype)
        m = xp.where(xp.isfinite(m), m, 0)  # rows of -inf stay -inf, not NaN
        s = xp.exp(x - m).sum(axis=axes, keepdims=True)
        y = xp.log(s) + m
        return (
            y
            if self.keepdims
            else y.reshape(tuple(n for i, n in enumerate(x.shape) if i not in self.axes))
        )

    def backward(self, ns, gy, x, y):
        yk = ns.reshape(y, self.kept_shape)
        return ns.reshape(gy, self.kept_shape) * ns.exp(x - yk)


def logsumexp(x, dim=None, keepdim=False, *, axis=None, keepdims=None) -> Tensor:
    """log(sum(exp(x))) over ``dim`` (int or tuple; all dims when None), stably."""
    return LogSumExp(*dims(dim, keepdim, axis, keepdims))(as_tensor(x))
