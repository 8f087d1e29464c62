"""Sorting: ``sort`` and ``topk`` return ``(values, indices)``; ``argsort`` the indices.
The values are a gather of the input, so the gradient is scattered back to where each
value came from."""

from __future__ import annotations

from .. import backend
from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor
from .nondifferentiable import apply
from .reduce import ValuesIndices


class TakeAlong(Function):
    """x gathered at ``indices`` (an input without a gradient, so a compiled step replays
    the sort too) along ``dim`` (``take_along_axis``); the backward puts the gradient back
    at those indices (each taken once, so assignment is enough)."""

    def __init__(self, dim):
        self.dim = dim

    def forward(self, x, indices):
        self.indices, self.in_shape = indices, x.shape
        return backend.get_array_module(x).take_along_axis(x, indices, axis=self.dim)

    def backward(self, ns, gy):
        return ns.apply(PutAlong(self.indices, self.dim, self.in_shape), gy), None


class PutAlong(Function):
    """zeros(shape) with ``values`` put at ``indices`` along ``dim``; its backward gathers."""

    def __init__(self, indices, dim, shape):
        self.indices, self.dim, self.shape = indices, dim, shape

    def forward(self, values):
        xp = backend.get_array_module(values)
        out = xp.zeros(self.shape, dtype=values.dtype)
        xp.put_along_axis(out, self.indices, values, axis=self.dim)
        return out

    def backward(self, ns, gy):
        return ns.apply(TakeAlong(self.dim), gy, self.indices)


def _order(a, dim, descending, k=None):
    """The indices that sort the array ``a`` along ``dim`` (stable), the first ``k`` of
    them when ``k`` is given.

    Descending is torch's order for every dtype: NaN first (NaN is the largest, as
    ascending puts it last), equal elements (-0.0 and 0.0 among them) in their original
    order.  It is the ascending stable sort of ``a`` reversed along ``dim``, read backwards
    and mapped back to positions in ``a``: no key such as ``-a`` is made, which wraps for
    unsigned ints and the most negative int, and leaves NaN last."""
    xp = backend.get_array_module(a)
    if a.ndim == 0:
        return xp.zeros((), dtype=xp.int64)
    index = [slice(None)] * a.ndim
    if descending:
        index[dim] = slice(None, None, -1)
        a = a[tuple(index)]
    order = xp.argsort(a, axis=dim, kind="stable")
    if descending:
        order = order[tuple(index)]  # read backwards: a view
    if k is not None:
        index[dim] = slice(0, k)
        order = order[tuple(index)]
    if descending:
        return (a.shape[dim] - 1) - order
    return order if k is None else xp.ascontiguousarray(order)  # as torch's (``view``)


def _gather(x, idx, dim):
    if x.ndim == 0:
        return x
    return TakeAlong(dim)(x, idx)


def argsort(x, dim: int = -1, descending: bool = False, stable: bool = False) -> Tensor:
    """Indices that sort ``x`` along ``dim`` (stable)."""
    return apply("argsort", _order, (as_tensor(x),), dim, descending)


def sort(x, dim: int = -1, descending: bool = False, stable: bool = False):
    """``(values, indices)`` of ``x`` sorted along ``dim``."""
    x = as_tensor(x)
    idx = argsort(x, dim, descending)
    return ValuesIndices(_gather(x, idx, dim), idx)


def topk(x, k: int, dim: int = -1, largest: bool = True, sorted: bool = True):
    """``(values, indices)`` of the ``k`` largest (or smallest) elements along ``dim``."""
    x = as_tensor(x)
    n = x.shape[dim] if x.ndim else 1  # a 0-d tensor is one element (k 0 or 1 gives it)
    if not 0 <= k <= n:
        raise ValueError(f"topk: k={k} is out of range for a dim of length {n}")
    if x.ndim == 0:
        return sort(x)
    idx = apply("topk", _order, (x,), dim, largest, k)
    return ValuesIndices(_gather(x, idx, dim), idx)
