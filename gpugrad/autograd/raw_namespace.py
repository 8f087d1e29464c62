"""The namespace a backward formula receives in an ordinary backward: NumPy's or CuPy's
functions on raw arrays (no Tensor is built), and ``sum_to``, the one place where
broadcasting is undone.  Under ``create_graph=True`` the formula gets
``gpugrad.ops.namespace`` instead, with the same names on recorded Tensors."""

from __future__ import annotations

import numpy


def sum_array(x, axis=None, keepdims=False):
    """``x.sum(axis, keepdims)``, accumulated in float32 for float16 (as PyTorch and CuPy
    do): a float16 running sum over a few thousand rows would lose whole units."""
    if x.dtype == numpy.float16:
        return x.sum(axis=axis, keepdims=keepdims, dtype=numpy.float32).astype(numpy.float16)
    return x.sum(axis=axis, keepdims=keepdims)


def broadcast_axes(from_shape, to_shape) -> tuple:
    """The axes a sum must reduce to undo broadcasting ``to_shape`` up to ``from_shape``:
    the leading ones broadcasting added and those it stretched from length 1."""
    lead = len(from_shape) - len(to_shape)
    return tuple(range(lead)) + tuple(
        i + lead for i, n in enumerate(to_shape) if n == 1 and from_shape[i + lead] != 1
    )


def sum_to_array(x, shape):
    """Sum ``x`` down to ``shape`` (the raw-array form; namespace.sum_to is the recorded one)."""
    shape = tuple(shape)
    if x.shape == shape:
        return x
    axes = broadcast_axes(x.shape, shape)
    y = sum_array(x, axes, keepdims=True) if axes else x
    return y.reshape(shape) if y.ndim != len(shape) else y


_raw_namespaces: dict = {}


def raw_namespace(xp) -> RawNamespace:
    ns = _raw_namespaces.get(xp)
    if ns is None:
        ns = _raw_namespaces[xp] = RawNamespace(xp)
    return ns


class RawNamespace:
    """Array functions for backward formulas on raw numpy/cupy arrays."""

    graph = False

    def __init__(self, xp):
        self.xp = xp
        for fn in (
            "exp",
            "log",
            "sqrt",
            "tanh",
            "abs",
            "sign",
            "where",
            "maximum",
            "minimum",
            "reshape",
            "transpose",
            "swapaxes",
            "expand_dims",
            "matmul",
            "zeros_like",
        ):
            setattr(self, fn, getattr(xp, fn))

    def broadcast_to(self, x, shape):
        """``xp.broadcast_to``: a read-only view.  One value (the upstream gradient of a
        sum or a mean over everything) spread over ``shape`` is made directly, as NumPy
        would make it: numpy.broadcast_to takes some microseconds, as long as the rest of
        a small backward step."""
        if self.xp is numpy and x.size == 1 and x.ndim <= len(shape) and type(x) is numpy.ndarray:
            view = numpy.ndarray(shape, x.dtype, x, 0, (0,) * len(shape))
            view.flags.writeable = False
            return view
        return self.xp.broadcast_to(x, shape)

    def sum(self, x, axis=None, keepdims=False):
        return sum_array(x, axis, keepdims)

    def sum_to(self, x, shape):
        """Sum ``x`` over the axes broadcasting added or stretched, down to ``shape``."""
        return sum_to_array(x, shape)

    def getitem(self, x, index):
        return x[index]

    @staticmethod
    def apply(fn, *args):
        fn.needs_grad = (False,) * len(args)
        return fn.forward(*args)
