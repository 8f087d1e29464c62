"""The namespace a backward formula receives under ``create_graph=True``.

It offers the same names as ``autograd.raw_namespace.RawNamespace`` but works on Tensors and records
what it does, so that a backward is itself differentiable (``grad(grad(f))``).
"""

from __future__ import annotations

from .. import backend
from ..autograd import broadcast_axes
from ..creation import as_tensor
from ..tensor import Tensor
from . import arithmetic, reduce, shape, unary
from .activation import tanh
from .indexing import getitem
from .matmul import matmul
from .where import where

graph = True  # backward formulas test ns.graph to choose a path
# What a backward formula may call as ns.<name> (the same names as RawNamespace's).
__all__ = [
    "abs",
    "apply",
    "broadcast_to",
    "exp",
    "expand_dims",
    "getitem",
    "log",
    "matmul",
    "maximum",
    "minimum",
    "reshape",
    "sign",
    "sqrt",
    "sum",
    "sum_to",
    "swapaxes",
    "tanh",
    "transpose",
    "where",
    "zeros_like",
]

exp = unary.exp
log = unary.log
sqrt = unary.sqrt
abs = unary.abs
maximum = arithmetic.maximum
minimum = arithmetic.minimum
broadcast_to = shape.broadcast_to
reshape = shape.reshape
swapaxes = shape.swapaxes
expand_dims = shape.expand_dims


def sign(x: Tensor) -> Tensor:
    """sign(x) as a constant (its derivative is zero almost everywhere)."""
    return Tensor.wrap(backend.get_array_module(x.array).sign(x.array))


def transpose(x, axes=None) -> Tensor:
    return shape.transpose(x, axes)


def sum(x, axis=None, keepdims=False) -> Tensor:
    return reduce.sum(x, axis, keepdims)


def sum_to(x: Tensor, target_shape) -> Tensor:
    """Sum ``x`` down to ``target_shape`` (undoing a broadcast), recorded."""
    target_shape = tuple(target_shape)
    if x.shape == target_shape:
        return x
    axes = broadcast_axes(x.shape, target_shape)
    y = reduce.sum(x, axes, keepdims=True) if axes else x
    return shape.reshape(y, target_shape) if y.ndim != len(target_shape) else y


def zeros_like(x: Tensor) -> Tensor:
    return Tensor.wrap(backend.get_array_module(x.array).zeros_like(x.array))


def apply(fn, *args) -> Tensor:
    """Run Function ``fn`` on Tensors (arrays and numbers become constants)."""
    like = next(a for a in args if isinstance(a, Tensor))
    return fn(*[a if isinstance(a, Tensor) else as_tensor(a, like=like) for a in args])
