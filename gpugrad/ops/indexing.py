"""Indexing: ``x[index]`` (basic and advanced), its scatter-add backward, and the
out-of-place ``x[index] = v`` behind item assignment.

Basic indexing (ints, slices, None, Ellipsis) gives a view sharing the version counter of
the tensor it views; advanced indexing (integer arrays, masks) copies.
"""

from __future__ import annotations

import numbers

import numpy

from .. import backend
from ..autograd import Function
from ..tensor import Tensor
from .shape import view_of


def _is_basic(index) -> bool:
    """True for indices made only of ints, slices, None and Ellipsis (views; no duplicates)."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(
        isinstance(p, (numbers.Integral, slice)) or p is None or p is Ellipsis for p in parts
    )


def _selects_each_once(index) -> bool:
    """True when no element can be selected twice: basic parts and boolean masks only."""
    parts = index if isinstance(index, tuple) else (index,)
    return all(
        isinstance(p, (numbers.Integral, slice))
        or p is None
        or p is Ellipsis
        or getattr(getattr(p, "dtype", None), "kind", None) == "b"  # a boolean mask
        for p in parts
    )


class GetItem(Function):
    def __init__(self, index):
        self.index = index

    def forward(self, x):
        self.in_shape = x.shape
        return x[self.index]

    def backward(self, ns, gy):
        return ns.apply(IndexAdd(self.in_shape, self.index), gy)


class IndexAdd(Function):
    """zeros(shape) with ``values`` added at ``index`` (repeated indices accumulate):
    the backward of indexing, itself differentiable (its backward is indexing)."""

    def __init__(self, shape, index):
        self.shape = shape
        self.index = index

    def forward(self, values):
        xp = backend.get_array_module(values)
        out = xp.zeros(self.shape, dtype=values.dtype)
        if _selects_each_once(self.index):
            out[self.index] = values  # plain assignment: nothing to accumulate
        elif xp is numpy:
            numpy.add.at(out, self.index, values)
        else:
            import cupyx

            cupyx.scatter_add(out, self.index, values)
        return out

    def backward(self, ns, gy):
        return ns.getitem(gy, self.index)


class SetItem(Function):
    """``x[index] = v`` out of place: the result's gradient flows to x outside ``index``
    and to v inside it."""

    def __init__(self, index):
        self.index = index

    def forward(self, x, v):
        xp = backend.get_array_module(x)
        y = x.copy()
        y[self.index] = v
        self.mask = xp.zeros(x.shape, dtype=bool)
        self.mask[self.index] = True
        return y

    def backward(self, ns, gy):
        need_x, need_v = self.needs_grad
        gx = ns.where(self.mask, 0, gy) if need_x else None
        gv = ns.getitem(gy, self.index) if need_v else None
        return gx, gv


def raw_index(index, like: Tensor):
    """Tensors and lists inside an index become arrays on the tensor's device."""

    def conv(p):
        if isinstance(p, Tensor):
            return p.data if p.device == like.device else backend.to_device(p.data, like.device)
        if isinstance(p, list):
            return backend.to_device(numpy.asarray(p), like.device)
        if isinstance(p, numpy.ndarray) and like.device.kind != "cpu":
            return backend.to_device(p, like.device)
        return p

    if isinstance(index, tuple):
        return tuple(conv(p) for p in index)
    return conv(index)


def getitem(x: Tensor, index) -> Tensor:
    index = raw_index(index, x)
    try:
        out = GetItem(index)(x)
    except IndexError as e:
        raise IndexError(
            f"index {index!r} is invalid for a tensor of shape {x.shape}: {e}"
        ) from None
    return view_of(out, x) if _is_basic(index) else out
