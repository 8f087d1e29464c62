"""Reductions: sum, mean, prod, norm, max, min (the max gate routes), var and std over any
dims, and the index reductions (argmax, argmin, any, all) outside the graph.

``dim`` is None (all dims), an int or a tuple of ints; ``keepdim`` keeps the reduced
dims with length 1 (NumPy's ``axis``/``keepdims`` are aliases).  ``max``/``min`` with an
int ``dim`` return ``(values, indices)`` as PyTorch; with NumPy's ``axis`` the values.
Every backward first gives the upstream gradient the kept-dims
shape, then broadcasts it back over the input.
"""

from __future__ import annotations

import builtins
from collections import namedtuple

import numpy

from .. import backend
from ..autograd import recording, sum_array
from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor
from .nondifferentiable import note
from .select import select

ValuesIndices = namedtuple("ValuesIndices", ["values", "indices"])
"""What ``max``/``min`` with a dim, ``sort`` and ``topk`` return, as PyTorch's return types."""


def dims(dim, keepdim, axis, keepdims):
    """(dim, keepdim) from PyTorch's names or NumPy's aliases ``axis``/``keepdims``."""
    return (dim if axis is None else axis), (keepdim if keepdims is None else keepdims)


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
    """Variance with ``correction`` (1 by default: Bessel's, as PyTorch; 0: population)."""

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


class Prod(Reduction):
    """Product over the axes; the gradient is the product of the other elements: y / x
    (recorded, so twice differentiable) or, when a zero is reduced, exclusive products."""

    save_inputs = (0,)
    save_output = True

    def forward(self, x):
        return x.prod(axis=self._setup(x), keepdims=self.keepdims)

    def backward(self, ns, gy, x, y):
        g = self._expand(ns, gy)
        raw = x.array if ns.graph else x
        if not (raw == 0).any():
            return g * self._expand(ns, y) / x
        others = self._others(raw)
        return g * (Tensor.wrap(others) if ns.graph else others)

    def _others(self, x):
        """For each element the product of the others in its reduced slice."""
        xp = backend.get_array_module(x)
        order = [i for i in range(x.ndim) if i not in self.axes] + list(self.axes)
        moved = xp.transpose(x, order)
        flat = moved.reshape(moved.shape[: x.ndim - len(self.axes)] + (-1,))
        ones = xp.ones(flat.shape[:-1] + (1,), x.dtype)
        left = xp.cumprod(xp.concatenate([ones, flat[..., :-1]], -1), -1)
        right = xp.cumprod(xp.concatenate([ones, flat[..., :0:-1]], -1), -1)[..., ::-1]
        inverse = tuple(int(i) for i in numpy.argsort(order))
        return xp.transpose((left * right).reshape(moved.shape), inverse)


def sum(x, dim=None, keepdim=False, *, axis=None, keepdims=None) -> Tensor:
    """Sum over ``dim`` (all dims when None)."""
    return Sum(*dims(dim, keepdim, axis, keepdims))(as_tensor(x))


def mean(x, dim=None, keepdim=False, *, axis=None, keepdims=None) -> Tensor:
    """Mean over ``dim`` (all dims when None)."""
    return Mean(*dims(dim, keepdim, axis, keepdims))(as_tensor(x))


def prod(x, dim=None, keepdim=False, *, dtype=None) -> Tensor:
    """Product over ``dim`` (all elements when None); ``dtype`` casts the input first."""
    x = as_tensor(x)
    return Prod(dim, keepdim)(x if dtype is None else x.to(dtype))


def norm(x, p="fro", dim=None, keepdim=False, dtype=None) -> Tensor:
    """The vector p-norm over ``dim`` (all elements when None), as ``torch.norm``: ``p`` is
    ``'fro'``/2 (Euclidean), 1, ``inf``, ``-inf``, 0 (count of non-zeros) or any number."""
    from .unary import abs, sqrt

    x = as_tensor(x)
    x = x if dtype is None else x.to(dtype)
    if p in ("fro", 2):
        return sqrt(sum(x * x, dim, keepdim))
    if isinstance(p, str):
        raise ValueError(f"norm: p={p!r} is not supported (a number, inf or 'fro')")
    if p == numpy.inf or p == -numpy.inf:
        return (Max if p > 0 else Min)(dim, keepdim)(abs(x))
    if p == 0:
        return sum((x != 0).to(x.dtype), dim, keepdim)
    return sum(abs(x) ** p, dim, keepdim) ** (1.0 / p)


def _extreme(op, arg, x, dim, keepdim, axis, keepdims):
    if isinstance(dim, Tensor):  # gg.max(a, b): elementwise, as PyTorch
        from .arithmetic import maximum, minimum

        return (maximum if op is Max else minimum)(x, dim)
    x = as_tensor(x)
    d, k = dims(dim, keepdim, axis, keepdims)
    values = op(d, k)(x)
    if axis is not None or d is None or not isinstance(d, (int, numpy.integer)):
        return values
    return ValuesIndices(values, arg(x, d, k))


def max(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """The maximum: over all elements (a 0-d tensor), or along an int ``dim`` as the named
    tuple ``(values, indices)``; with NumPy's ``axis`` (int or tuple) the values only.
    ``gg.max(a, b)`` is elementwise.  On ties the gradient goes to the first maximum."""
    return _extreme(Max, argmax, x, dim, keepdim, axis, keepdims)


def min(x, dim=None, keepdim=False, *, axis=None, keepdims=None):
    """The minimum, as :func:`max`."""
    return _extreme(Min, argmin, x, dim, keepdim, axis, keepdims)


def amax(x, dim=(), keepdim=False) -> Tensor:
    """The maximum over ``dim`` (int or tuple; all dims when empty), values only."""
    return Max(dim if dim != () else None, keepdim)(as_tensor(x))


def amin(x, dim=(), keepdim=False) -> Tensor:
    """The minimum over ``dim`` (int or tuple; all dims when empty), values only."""
    return Min(dim if dim != () else None, keepdim)(as_tensor(x))


def var(
    x, dim=None, *, correction=1, keepdim=False, unbiased=None, axis=None, keepdims=None, ddof=None
):
    """Variance over ``dim`` with ``correction`` (1 by default, as PyTorch; NumPy's ``ddof``
    and PyTorch's older ``unbiased`` are aliases)."""
    if ddof is not None:
        correction = ddof
    elif unbiased is not None:
        correction = int(unbiased)
    return Var(*dims(dim, keepdim, axis, keepdims), correction)(as_tensor(x))


def std(
    x, dim=None, *, correction=1, keepdim=False, unbiased=None, axis=None, keepdims=None, ddof=None
):
    """Standard deviation: ``sqrt(var(...))`` with the same arguments."""
    from .unary import sqrt

    v = var(
        x,
        dim,
        correction=correction,
        keepdim=keepdim,
        unbiased=unbiased,
        axis=axis,
        keepdims=keepdims,
        ddof=ddof,
    )
    return sqrt(v)


def _flat_index(a, method: str, keepdims: bool):
    """``a.argmax()`` (or argmin) of all elements, int64, keepdims as PyTorch's."""
    out = getattr(a.reshape(-1), method)()
    out = out.reshape((1,) * a.ndim) if keepdims else out
    return backend.get_array_module(a).asarray(out, dtype=numpy.int64)


def _index(a, method: str, axis, keepdims: bool):
    """``a.argmax(axis)`` (or argmin), int64."""
    out = getattr(a, method)(axis=axis, keepdims=keepdims)
    return backend.get_array_module(a).asarray(out, dtype=numpy.int64)


def _any_all(a, method: str, axes, keepdims: bool):
    """``a.any(axes)`` (or all)."""
    return getattr(a, method)(axis=axes, keepdims=keepdims)


def _index_reduction(method):
    def fn(x, dim=None, keepdim=False, *, axis=None, keepdims=None) -> Tensor:
        x = as_tensor(x)
        d, k = dims(dim, keepdim, axis, keepdims)
        a = x.array
        if method not in ("argmax", "argmin"):
            axes = normalize_axis(d, a.ndim) if a.ndim else None
            out = Tensor.wrap(_any_all(a, method, axes, k))
            compute, constants = _any_all, (method, axes, k)
        elif d is None:
            out = Tensor.wrap(_flat_index(a, method, k))
            compute, constants = _flat_index, (method, k)
        else:
            if a.size == 0:
                raise ValueError(f"{method} of an empty tensor is undefined")
            axis = normalize_axis(d, a.ndim)
            axis = axis[0] if axis else None
            out = Tensor.wrap(_index(a, method, axis, k))
            compute, constants = _index, (method, axis, k)
        if recording.active is not None:
            note(method, compute, (x,), out, *constants)
        return out

    fn.__name__ = method
    fn.__doc__ = f"``{method}`` over ``dim`` (all when None), outside the graph."
    return fn


argmax = _index_reduction("argmax")
argmin = _index_reduction("argmin")
any = _index_reduction("any")
all = _index_reduction("all")
