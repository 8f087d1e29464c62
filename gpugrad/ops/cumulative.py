"""Cumulative sums along a dim; the gradient is the reversed cumulative sum of the
upstream gradient."""

from __future__ import annotations

from .. import backend
from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor
from .tile import Flip


class CumSum(Function):
    def __init__(self, dim):
        self.dim = dim

    def forward(self, x):
        if x.ndim == 0:
            return x.copy()
        return backend.get_array_module(x).cumsum(x, axis=self.dim, dtype=x.dtype)

    def backward(self, ns, gy):
        if gy.ndim == 0:
            return gy
        flip = Flip((self.dim % gy.ndim,))
        return ns.apply(flip, ns.apply(CumSum(self.dim), ns.apply(flip, gy)))


def cumsum(x, dim: int, *, axis=None) -> Tensor:
    """Running sums along ``dim``: y[i] = x[0] + ... + x[i]."""
    x = as_tensor(x)
    dim = dim if axis is None else axis
    if x.ndim and not -x.ndim <= dim < x.ndim:
        raise ValueError(f"dim {dim} is out of range for a {x.ndim}-d tensor")
    return CumSum(dim)(x)
