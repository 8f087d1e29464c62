"""Joining tensors: ``concatenate`` along an existing axis and ``stack`` along a new one;
the backward slices the gradient back into the pieces."""

from __future__ import annotations

import numpy

from .. import backend
from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor
from .arithmetic import check_same_all


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


def concatenate(tensors, axis: int = 0) -> Tensor:
    ts = [as_tensor(t) for t in tensors]
    if not ts:
        raise ValueError("concatenate needs at least one tensor")
    check_same_all(ts, "concatenate")
    return Concatenate(axis)(*ts)


def stack(tensors, axis: int = 0) -> Tensor:
    ts = [as_tensor(t) for t in tensors]
    if not ts:
        raise ValueError("stack needs at least one tensor")
    check_same_all(ts, "stack")
    shapes = {t.shape for t in ts}
    if len(shapes) != 1:
        raise ValueError(f"stack needs tensors of one shape, got {sorted(shapes)}")
    return Stack(axis)(*ts)
