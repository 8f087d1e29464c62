"""Ops that move elements without changing them: reshape, transpose, broadcast, index,
concatenate, stack, where.  Their backward moves the gradient back the same way.

Views (reshape, transpose, basic indexing, squeeze) share the version counter of the
tensor they view, so an in-place change through either is seen by both.
"""

from __future__ import annotations

import numbers

import numpy

from .. import backend
from ..autograd import Function
from ..tensor import Tensor, as_tensor


def _view_of(out: Tensor, base: Tensor) -> Tensor:
    if out.data.base is not None:
        out._version = base._version
    return out


class Reshape(Function):
    def __init__(self, shape):
        self.shape = shape

    def forward(self, x):
        self.in_shape = x.shape
        return x.reshape(self.shape)

    def backward(self, ns, gy):
        return ns.reshape(gy, self.in_shape)


class Transpose(Function):
    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, ns, gy):
        if self.axes is None:
            return ns.transpose(gy)
        return ns.transpose(gy, tuple(int(i) for i in numpy.argsort(self.axes)))


class BroadcastTo(Function):
    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        return backend.get_array_module(x).broadcast_to(x, self.shape)

    def backward(self, ns, gy):
        return gy  # the engine sums it back to the input's shape


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
        or getattr(p, "dtype", None) == bool
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


class Where(Function):
    """where(cond, a, b): the gradient goes to a where cond holds, to b elsewhere."""

    def __init__(self, cond):
        self.cond = cond

    def forward(self, a, b):
        return backend.get_array_module(a).where(self.cond, a, b)

    def backward(self, ns, gy):
        need_a, need_b = self.needs_grad
        return (
            ns.where(self.cond, gy, 0) if need_a else None,
            ns.where(self.cond, 0, gy) if need_b else None,
        )


# -- lowercase functions ---------------------------------------------------------------
def _check_same_all(ts, op):
    from .arithmetic import check_same

    for t in ts[1:]:
        if t.data.dtype != ts[0].data.dtype or type(t.data) is not type(ts[0].data):
            check_same(ts[0], t, op)


def reshape(x, shape) -> Tensor:
    x = as_tensor(x)
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
    if shape == x.shape:
        return x
    try:
        out = Reshape(shape)(x)
    except ValueError:
        raise ValueError(
            f"cannot reshape a tensor of shape {x.shape} ({x.size} elements) into shape {shape}"
        ) from None
    return _view_of(out, x)


def transpose(x, axes=None) -> Tensor:
    x = as_tensor(x)
    if axes is not None:
        axes = tuple(int(a) % x.ndim for a in axes)
        if sorted(axes) != list(range(x.ndim)):
            raise ValueError(f"axes {axes} are not a permutation of the {x.ndim} axes")
    return _view_of(Transpose(axes)(x), x)


def swapaxes(x, a: int, b: int) -> Tensor:
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, axes)


def expand_dims(x, axis) -> Tensor:
    return unsqueeze(x, axis)


def flatten(x, start_axis=0, end_axis=-1) -> Tensor:
    x = as_tensor(x)
    if x.ndim == 0:
        return reshape(x, (1,))
    s, e = start_axis % x.ndim, end_axis % x.ndim
    shape = x.shape[:s] + (int(numpy.prod(x.shape[s : e + 1])),) + x.shape[e + 1 :]
    return reshape(x, shape)


def squeeze(x, axis=None) -> Tensor:
    x = as_tensor(x)
    if axis is None:
        return reshape(x, tuple(n for n in x.shape if n != 1))
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    axes = {a % x.ndim for a in axes}
    for a in axes:
        if x.shape[a] != 1:
            raise ValueError(f"cannot squeeze axis {a} of length {x.shape[a]} (shape {x.shape})")
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def unsqueeze(x, axis: int) -> Tensor:
    x = as_tensor(x)
    if not -x.ndim - 1 <= axis <= x.ndim:
        raise ValueError(f"axis {axis} is out of range for unsqueeze of a {x.ndim}-d tensor")
    axis = axis % (x.ndim + 1)
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def broadcast_to(x, shape) -> Tensor:
    x = as_tensor(x)
    shape = tuple(shape)
    if shape == x.shape:
        return x
    try:
        numpy.broadcast_shapes(x.shape, shape)
        if len(shape) < x.ndim:
            raise ValueError
    except ValueError:
        raise ValueError(f"cannot broadcast shape {x.shape} to {shape}") from None
    return BroadcastTo(shape)(x)


def _raw_index(index, like: Tensor):
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
    index = _raw_index(index, x)
    try:
        out = GetItem(index)(x)
    except IndexError as e:
        raise IndexError(
            f"index {index!r} is invalid for a tensor of shape {x.shape}: {e}"
        ) from None
    return _view_of(out, x) if _is_basic(index) else out


def concatenate(tensors, axis: int = 0) -> Tensor:
    ts = [as_tensor(t) for t in tensors]
    if not ts:
        raise ValueError("concatenate needs at least one tensor")
    _check_same_all(ts, "concatenate")
    return Concatenate(axis)(*ts)


def stack(tensors, axis: int = 0) -> Tensor:
    ts = [as_tensor(t) for t in tensors]
    if not ts:
        raise ValueError("stack needs at least one tensor")
    _check_same_all(ts, "stack")
    shapes = {t.shape for t in ts}
    if len(shapes) != 1:
        raise ValueError(f"stack needs tensors of one shape, got {sorted(shapes)}")
    return Stack(axis)(*ts)


def where(cond, a, b) -> Tensor:
    """Elements of ``a`` where ``cond`` holds, of ``b`` elsewhere (cond: bool Tensor or array)."""
    like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else None
    if like is None:
        like = as_tensor(a)
    a = as_tensor(a, like=like)
    b = as_tensor(b, like=like)
    _check_same_all([a, b], "where")
    c = cond.data if isinstance(cond, Tensor) else cond
    if not hasattr(c, "dtype"):
        c = numpy.asarray(c)
    c = backend.to_device(c, like.device)
    if c.dtype != bool:
        raise TypeError(f"where: the condition must be boolean, got {c.dtype}")
    shape = numpy.broadcast_shapes(c.shape, a.shape, b.shape)
    return Where(c)(broadcast_to(a, shape), broadcast_to(b, shape))
