"""Layer functions: linear, softmax, log_softmax, dropout, batch_norm, maxout."""

from __future__ import annotations

from .. import autograd, backend
from ..autograd import Function
from ..tensor import Tensor, as_tensor, generator
from . import reduce, shape

__all__ = ["batch_norm", "dropout", "linear", "log_softmax", "maxout", "softmax"]


class Linear(Function):
    """y = x @ W.T + b.  x: (..., in), W: (out, in), b: (out,) -> (..., out).
    One node instead of three (transpose, matmul, add): the hot path of every MLP."""

    save_inputs = (0, 1)

    def forward(self, x, W, b=None):
        y = x @ W.T
        if b is not None:
            y += b  # in place: y is ours
        return y

    def backward(self, ns, gy, x, W):
        needs = self.needs_grad
        gx = ns.matmul(gy, W) if needs[0] else None
        g2 = ns.reshape(gy, (-1, gy.shape[-1])) if gy.ndim != 2 else gy
        gW = (
            ns.matmul(ns.transpose(g2), ns.reshape(x, (-1, x.shape[-1])) if x.ndim != 2 else x)
            if needs[1]
            else None
        )
        if len(needs) == 2:
            return gx, gW
        return gx, gW, (ns.sum(g2, axis=0) if needs[2] else None)


def linear(x, W, b=None) -> Tensor:
    from .arithmetic import check_same

    x = as_tensor(x)
    W = as_tensor(W, like=x)
    check_same(x, W, "linear")
    if W.ndim != 2 or x.ndim < 1 or x.shape[-1] != W.shape[1]:
        raise ValueError(
            f"linear: input of shape {x.shape} does not match weight of shape "
            f"{W.shape} (out_features, in_features)"
        )
    if b is None:
        return Linear()(x, W)
    b = as_tensor(b, like=x)
    check_same(x, b, "linear")
    if b.shape != (W.shape[0],):
        raise ValueError(f"linear: bias of shape {b.shape}, expected ({W.shape[0]},)")
    return Linear()(x, W, b)


class Softmax(Function):
    save_output = True

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = backend.get_array_module(x)
        y = x - x.max(axis=self.axis, keepdims=True)
        xp.exp(y, out=y)
        y /= y.sum(axis=self.axis, keepdims=True)
        return y

    def backward(self, ns, gy, y):
        return y * (gy - ns.sum(gy * y, axis=self.axis, keepdims=True))


class LogSoftmax(Function):
    save_output = True

    def __init__(self, axis):
        self.axis = axis

    def forward(self, x):
        xp = backend.get_array_module(x)
        m = x.max(axis=self.axis, keepdims=True)
        y = x - m
        y -= xp.log(xp.exp(y).sum(axis=self.axis, keepdims=True))
        return y

    def backward(self, ns, gy, y):
        return gy - ns.exp(y) * ns.sum(gy, axis=self.axis, keepdims=True)


def softmax(x, axis: int = -1) -> Tensor:
    return Softmax(axis)(as_tensor(x))


def log_softmax(x, axis: int = -1) -> Tensor:
    return LogSoftmax(axis)(as_tensor(x))


def dropout(x, p: float = 0.5, training: bool = True) -> Tensor:
    """Inverted dropout: zero each element with probability p and scale the rest by
    1/(1-p), so eval mode is the identity."""
    x = as_tensor(x)
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    dev = x.device
    keep = (
        generator(dev).random(x.shape)
        if dev.kind == "cpu"
        else generator(dev).random_sample(size=x.shape, dtype="float32")
    )
    mask = ((keep >= p) / (1 - p)).astype(x.dtype)
    return x * Tensor._from_op(mask)


def batch_norm(
    x,
    running_mean=None,
    running_var=None,
    weight=None,
    bias=None,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalization over N (and H, W for NCHW), per channel C.

    In training, normalizes with the batch statistics and updates ``running_mean`` /
    ``running_var`` (Tensors, in place) with the unbiased batch variance, as PyTorch
    does; in eval, normalizes with the running statistics.
    """
    x = as_tensor(x)
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"batch_norm expects (N, C), (N, C, L) or (N, C, H, W), got {x.shape}")
    axes = (0,) + tuple(range(2, x.ndim))
    stat_shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if training:
        count = x.size // x.shape[1]
        if count < 2:
            raise ValueError(
                f"batch_norm in training needs more than one value per channel, "
                f"got input of shape {x.shape}"
            )
        mean = reduce.mean(x, axis=axes, keepdims=True)
        centered = x - mean
        var = reduce.mean(centered * centered, axis=axes, keepdims=True)
        if running_mean is not None:
            with autograd.no_grad():
                m = momentum
                running_mean.data *= 1 - m
                running_mean.data += m * mean.data.reshape(-1)
                running_var.data *= 1 - m
                running_var.data += m * var.data.reshape(-1) * (count / (count - 1))
                running_mean._version[0] += 1
                running_var._version[0] += 1
        y = centered / (var + eps).sqrt()
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm in eval mode needs running_mean and running_var")
        mean = shape.reshape(running_mean, stat_shape)
        var = shape.reshape(running_var, stat_shape)
        y = (x - mean) / (var + eps).sqrt()
    if weight is not None:
        y = y * shape.reshape(weight, stat_shape)
    if bias is not None:
        y = y + shape.reshape(bias, stat_shape)
    return y


def maxout(x, pieces: int) -> Tensor:
    """Maxout: (..., C·pieces) -> (..., C), the max over each group of ``pieces``
    consecutive features (the max gate routes the gradient to one of them)."""
    x = as_tensor(x)
    if pieces < 1 or x.shape[-1] % pieces:
        raise ValueError(f"maxout: last axis {x.shape[-1]} is not divisible by pieces={pieces}")
    grouped = shape.reshape(x, x.shape[:-1] + (x.shape[-1] // pieces, pieces))
    return reduce.max(grouped, axis=-1)
