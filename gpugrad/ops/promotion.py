"""Operands of an op of several tensors: one device (a mismatch is an error) and one
dtype, promoted as PyTorch (``dtypes.promote``): the casts are recorded, so gradients flow
back in each input's own dtype."""

from __future__ import annotations

import numpy

from .. import backend, dtypes
from ..creation import as_tensor
from ..tensor import Tensor
from .unary import astype


def check_device(a: Tensor, b: Tensor, op: str) -> None:
    """Raise if ``a`` and ``b`` live on different devices, naming both."""
    da, db = a.device, b.device
    if da != db:
        raise RuntimeError(
            f"{op}: device mismatch: left operand is on {da}, right operand is on "
            f"{db}; move one with .to()"
        )


def cast(t: Tensor, dtype) -> Tensor:
    """``t`` in ``dtype``, differentiably (as ``x.to(dtype)``)."""
    return astype(t, dtype)


def promote_all(ts, op: str) -> list:
    """The Tensors ``ts`` on one device (else an error) and in their promoted dtype."""
    for t in ts[1:]:
        check_device(ts[0], t, op)
    dt = ts[0].array
    for t in ts[1:]:
        if t.array.dtype != dt.dtype:
            dt = numpy.empty((0,) if t.ndim or dt.ndim else (), dtypes.promote(dt, t.array))
    return [t if t.array.dtype == dt.dtype else cast(t, dt.dtype) for t in ts]


def operands(a: Tensor, b, op: str):
    """Both operands as Tensors of one dtype (PyTorch's promotion) and device (b may be an
    array or list)."""
    if not isinstance(b, Tensor):
        b = as_tensor(b, like=a)
    da, db = a.array, b.array
    if (
        da.dtype != db.dtype
        or type(da) is not type(db)
        or (backend.is_cuda_array(da) and da.device != db.device)
    ):
        check_device(a, b, op)
        if da.dtype != db.dtype:
            dt = dtypes.promote(da, db)
            a = a if da.dtype == dt else cast(a, dt)
            b = b if db.dtype == dt else cast(b, dt)
    return a, b
