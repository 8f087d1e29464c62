"""Dtype names, the default floating dtype and PyTorch's type promotion.

``gg.float32`` and friends ARE NumPy dtypes (CuPy uses the same ones), so
``x.dtype == gg.float32`` and ``numpy.dtype(gg.float32)`` work; PyTorch's aliases
(``gg.float``, ``gg.double``, ``gg.half``, ``gg.int``, ``gg.long``) name the same objects.
Python floats and float factories without a ``dtype`` take :func:`get_default_dtype`,
float32 as in PyTorch.
"""

from __future__ import annotations

import numpy

__all__ = [
    "bool_",
    "default_float",
    "float16",
    "float32",
    "float64",
    "get_default_dtype",
    "int32",
    "int64",
    "promote",
    "set_default_dtype",
    "to_dtype",
]

float16 = half = numpy.dtype(numpy.float16)
float32 = numpy.dtype(numpy.float32)
float64 = double = numpy.dtype(numpy.float64)
int32 = numpy.dtype(numpy.int32)
int64 = long = numpy.dtype(numpy.int64)
uint8 = numpy.dtype(numpy.uint8)
int8 = numpy.dtype(numpy.int8)
int16 = numpy.dtype(numpy.int16)
bool_ = numpy.dtype(numpy.bool_)
# PyTorch's names that shadow Python builtins are published by gpugrad/__init__.py:
# gg.float (float32), gg.int (int32), gg.bool.

default_float = float32  # read through get_default_dtype(): set_default_dtype changes it


def to_dtype(dtype) -> numpy.dtype:
    """``dtype`` as a NumPy dtype; None and Python's ``float`` mean the default float,
    ``int`` int64 (as PyTorch)."""
    if dtype is None or dtype is float:
        return default_float
    if dtype is int:
        return int64
    return numpy.dtype(dtype)


def get_default_dtype() -> numpy.dtype:
    """The dtype of Python floats and of float factories without ``dtype`` (float32)."""
    return default_float


def set_default_dtype(dtype) -> None:
    """Set the default floating dtype (float16, float32 or float64), as PyTorch's."""
    global default_float
    dt = numpy.dtype(dtype)
    if dt.kind != "f":
        raise TypeError(f"only floating-point types are supported as the default type, not {dt}")
    default_float = dt


def _category(dt) -> int:
    return 0 if dt.kind == "b" else 2 if dt.kind in "fc" else 1


def promote(a, b) -> numpy.dtype:
    """The dtype of an op of two arrays ``a`` and ``b``, by PyTorch's rules: a higher
    category (bool < integer < float) wins; within one, a tensor with dimensions wins over
    a 0-d one, and two of the same rank promote (float32 with float64 gives float64)."""
    da, db = a.dtype, b.dtype
    ca, cb = _category(da), _category(db)
    if ca != cb:
        return da if ca > cb else db
    if (a.ndim == 0) != (b.ndim == 0):
        return db if a.ndim == 0 else da
    return numpy.promote_types(da, db)
