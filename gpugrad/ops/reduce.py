"""Reductions: sum, mean, max, min (the max gate routes) and var over any axes.

``axis`` is None (all axes), an int or a tuple of ints; ``keepdims`` keeps the reduced
axes with length 1.  Every backward first gives the upstream gradient the kept-dims
shape, then broadcasts it back over the input.
"""

from __future__ import annotations

import builtins

import numpy

from .. import backend
from ..autograd import sum_array
from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor
from .select import select


def normalize_axis(axis, ndim: int):
    """``axis`` as a sorted tuple of non-negative ints (None -> all axes)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, numpy.integer)) else tuple(axis)
    out = []
    for a in axes:
        a = int(a)
        if not builtins.min(-ndim, -1) <= a < builtins.max(ndim, 1):
            raise ValueError(f"axis {a} is out of range for a tensor with {ndim} dimension(s)")
        if ndim:  # a 0-d tensor takes axis 0 or -1, as PyTorch, and reduces over nothing
            out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"repeated axis in {axis}")
    return tuple(sorted(out))


class Reduction(Function):
    """Shared bookkeeping: the reduced axes and the kept-dims shape of the output."""

    def __init__(self, axis, keepdims):
        self.axis = axis
        self.keepdims = keepdims

    def _setup(self, x):
        self.axes = normalize_axis(self.axis, x.ndim)
        self.in_shape = x.shape
        self.kept_shape = tuple(1 if i in self.axes else n for i, n in enumerate(x.shape))
        self.count = 1
        for i in self.axes:
            self.count *= x.shape[i]
        return self.axes if x.ndim else None

    def _expand(self, ns, gy):
        """gy (output shape) -> the input's shape, by reshape then broadcast."""
        return ns.broadcast_to(ns.reshape(gy, self.kept_shape), self.in_shape)


class Sum(Reduction):
    """Sum over the axes; float16 accumulates in float32, as in PyTorch."""

    def forward(self, x):
        return sum_array(x, self._setup(x), self.keepdims)

    def backward(self, ns, gy):
        return self._expand(ns, gy)


class Mean(Reduction):
    def forward(self, x):
        return x.mean(axis=self._setup(x), keepdims=self.keepdims)

    def backward(self, ns, gy):
        return self._expand(ns, gy / self.count)


_SCAN_LIMIT = 16  # up to this many candidates, scanning beats argmax on a strided axis


def first_extreme_mask(x, axes, use_max: bool, extreme=None):
    """A boolean mask with exactly one True per reduced slice: the first maximum (or
    minimum) in C order over ``axes``.  This is the max gate: it routes the whole
    gradient to one element, the first, when several tie.  A NaN counts as the extreme
    (as in max/min, which propagate it).  ``extreme``: the reduced values with kept
    dimensions, if already computed."""
    xp = backend.get_array_module(x)
    if len(axes) == 1 and x.shape[axes[0]] <= _SCAN_LIMIT:
        # A short axis (pooling windows, maxout groups): walk its slabs in order, each a
        # full-width vectorised comparison, instead of an argmax that NumPy runs on a
        # transposed copy when the axis is not the last.
        axis = axes[0]
        if extreme is None:
            extreme = (
                x.max(axis=axis, keepdims=True) if use_max else x.min(axis=axis, keepdims=True)
            )
        extreme = xp.squeeze(extreme, axis)
        mask = xp.empty(x.shape, dtype=bool)
        taken = xp.zeros(extreme.shape, dtype=bool)
        for k in range(x.shape[axis]):
            at_k = (slice(None),) * axis + (k,)
            slab = x[at_k]
            hit = (slab == extreme) | (slab != slab)  # slab != slab: NaN
            hit &= ~taken
            mask[at_k] = hit
            taken |= hit
        return mask
    keep = [i for i in range(x.ndim) if i not in axes]
    moved = xp.transpose(x, keep + list(axes))
    lead = moved.shape[: len(keep)]
    flat = moved.reshape(lead + (-1,))
    index = flat.argmax(axis=-1) if use_max else flat.argmin(axis=-1)
    mask = (xp.arange(flat.shape[-1]) == index[..., None]).reshape(moved.shape)
    inverse = tuple(int(i) for i in numpy.argsort(keep + list(axes)))
    return xp.transpose(mask, inverse)


class _Extreme(Reduction):
    use_max = True

    def forward(self, x):
        axes = self._setup(x)
        if self.count == 0:
            raise ValueError(f"{'max' if self.use_max else 'min'} of an empty tensor is undefined")
        y = (
            x.max(axis=axes, keepdims=self.keepdims)
            if self.use_max
            else x.min(axis=axes, keepdims=self.keepdims)
        )
        if True in self.needs_grad:
            kept = y if self.keepdims else y.reshape(self.kept_shape)
            self.mask = first_extreme_mask(x, self.axes, self.use_max, extreme=kept)
        return y

    def backward(self, ns, gy):
        if ns.graph:  # differentiable: where() records a node
            return ns.where(self.mask, ns.reshape(gy, self.kept_shape), 0)
        return select(self.mask, gy.reshape(self.kept_shape))


class Max(_Extreme):
    use_max = True
    gate = "max gate: routes"


class Min(_Extreme):
    use_max = False
    gate = "min gate: routes"


class Var(Reduction):
    """Variance with ``ddof`` (0: population, NumPy's default; 1: PyTorch's default)."""

    save_inputs = (0,)

    def __init__(self, axis, keepdims, ddof):
        super().__init__(axis, keepdims)
        self.ddof = ddof

    def forward(self, x):
        axes = self._setup(x)
        if self.count <= self.ddof:  # no degrees of freedom left: NaN, as PyTorch
            shape = self.kept_shape if self.keepdims else x.sum(axis=axes).shape
            return backend.get_array_module(x).full(shape, numpy.nan, x.dtype)
        return x.var(axis=axes, keepdims=self.keepdims, ddof=self.ddof)

    def backward(self, ns, gy, x):
        mean = ns.sum(x, axis=self.axes, keepdims=True) / self.count
        dof = self.count - self.ddof
        scale = 2.0 / dof if dof > 0 else numpy.nan
        return ns.reshape(gy, self.kept_shape) * (x - mean) * scale


def sum(x, axis=None, keepdims=False) -> Tensor:
    return Sum(axis, keepdims)(as_tensor(x))


def mean(x, axis=None, keepdims=False) -> Tensor:
    return Mean(axis, keepdims)(as_tensor(x))


def max(x, axis=None, keepdims=False) -> Tensor:
    """Maximum over ``axis``; on ties the gradient goes to the first maximal element."""
    return Max(axis, keepdims)(as_tensor(x))


def min(x, axis=None, keepdims=False) -> Tensor:
    """Minimum over ``axis``; on ties the gradient goes to the first minimal element."""
    return Min(axis, keepdims)(as_tensor(x))


def var(x, axis=None, keepdims=False, ddof=0) -> Tensor:
    return Var(axis, keepdims, ddof)(as_tensor(x))
