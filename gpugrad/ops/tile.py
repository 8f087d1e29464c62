"""Copies that rearrange: ``repeat`` (tiles, as PyTorch's ``repeat``; NumPy's ``tile``)
and ``flip``; the backward sums the tiles back / flips the gradient back."""

from __future__ import annotations

from .. import backend
from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor
from .reduce import normalize_axis


class Repeat(Function):
    """x tiled ``reps`` times along each dim (x's shape padded with leading ones)."""

    def __init__(self, reps, in_shape):
        self.reps, self.in_shape = reps, in_shape

    def forward(self, x):
        return backend.get_array_module(x).tile(x, self.reps)

    def backward(self, ns, gy):
        shape = (1,) * (len(self.reps) - len(self.in_shape)) + self.in_shape
        split = []
        for r, n in zip(self.reps, shape):
            split += [r, n]
        g = ns.sum(ns.reshape(gy, tuple(split)), axis=tuple(range(0, len(split), 2)))
        return ns.reshape(g, self.in_shape)


class Flip(Function):
    def __init__(self, dims):
        self.dims = dims

    def forward(self, x):
        return backend.get_array_module(x).flip(x, self.dims) if self.dims else x.copy()

    def backward(self, ns, gy):
        return ns.apply(Flip(self.dims), gy)


def repeat(x, *sizes) -> Tensor:
    """``x`` repeated ``sizes[i]`` times along dim i (at least x.ndim sizes)."""
    x = as_tensor(x)
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if len(sizes) < x.ndim:
        raise ValueError(
            f"repeat: {len(sizes)} repeats given for a {x.ndim}-d tensor (need at least {x.ndim})"
        )
    return Repeat(tuple(int(s) for s in sizes), x.shape)(x)


def flip(x, dims) -> Tensor:
    """``x`` with the order of elements reversed along ``dims`` (int or tuple); a copy."""
    x = as_tensor(x)
    return Flip(normalize_axis(dims, x.ndim))(x)
