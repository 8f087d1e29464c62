"""Joining tensors: ``concatenate`` along an existing axis and ``stack`` along a new one;
the backward slices the gradient back into the pieces."""

from __future__ import annotations

import numpy

from .. import backend
from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor
from .promotion import promote_all


class Concatenate(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        xp = backend.get_array_module(xs[0])
        self.bounds = numpy.cumsum([x.shape[self.axis] for x in xs])[:-1].tolist()
        return xp.concatenate(xs, axis=self.axis)

    def backward(self, ns, gy):
        parts = []
        start = 0
        ndim = gy.ndim
        axis = self.axis % ndim
        for stop in self.bounds + [gy.shape[axis]]:
            index = (slice(None),) * axis + (slice(start, stop),)
            parts.append(ns.getitem(gy, index))
            start = stop
        return tuple(parts)


class Stack(Function):
    def __init__(self, axis):
        self.axis = axis

    def forward(self, *xs):
        self.count = len(xs)
        return backend.get_array_module(xs[0]).stack(xs, axis=self.axis)

    def backward(self, ns, gy):
        axis = self.axis % gy.ndim
        return tuple(ns.getitem(gy, (slice(None),) * axis + (i,)) for i in range(self.count))


def _tensors(tensors, op: str) -> list:
    ts = [as_tensor(t) for t in tensors]
    if not ts:
        raise ValueError(f"{op} needs at least one tensor")
    return promote_all(ts, op)


def cat(tensors, dim: int = 0, *, axis=None) -> Tensor:
    """The tensors joined along ``dim`` (PyTorch's ``cat``; ``concatenate`` and NumPy's
    ``axis`` alike); dtypes promote as PyTorch's."""
    ts = _tensors(tensors, "cat")
    return Concatenate(dim if axis is None else axis)(*ts)


concatenate = cat


def stack(tensors, dim: int = 0, *, axis=None) -> Tensor:
    """The tensors (of one shape) stacked along a new dim ``dim``."""
    ts = _tensors(tensors, "stack")
    axis = dim if axis is None else axis
    shapes = {t.shape for t in ts}
    if len(shapes) != 1:
        raise ValueError(f"stack needs tensors of one shape, got {sorted(shapes)}")
    return Stack(axis)(*ts)
