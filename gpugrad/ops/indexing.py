"""Indexing: ``x[index]`` (basic and advanced) and its scatter-add backward.  Item
assignment (``x[index] = v``) is an in-place write: ``inplace.setitem``.

Basic indexing (ints, slices, None, Ellipsis) gives a view sharing the version counter of
the tensor it views; advanced indexing (integer arrays, masks) copies.
"""

from __future__ import annotations

import numbers

import numpy

from .. import backend
from ..autograd.engine import Function
from ..tensor import Tensor
from .view import IndexStep, make_view


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


def raw_index(index, like: Tensor):
    """Tensors and lists inside an index become arrays on the tensor's device."""

    def conv(p):
        if isinstance(p, Tensor):
            return p.array if p.device == like.device else backend.to_device(p.array, like.device)
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
    basic = _is_basic(index)
    if basic and not any(p is Ellipsis for p in (index if isinstance(index, tuple) else (index,))):
        # x[0] of a 1-d NumPy array is a scalar copy; x[0, ...] is the 0-d view PyTorch gives
        index = (*index, Ellipsis) if isinstance(index, tuple) else (index, Ellipsis)
    try:
        out = GetItem(index)(x)
    except IndexError as e:
        raise IndexError(
            f"index {index!r} is invalid for a tensor of shape {x.shape}: {e}"
        ) from None
    if not basic:
        return out  # advanced indexing copies
    return make_view(out, x, IndexStep(lambda t: getitem(t, index), index))
