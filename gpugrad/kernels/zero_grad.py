"""Launcher of ``multi_zero`` (``kernels/optimizer.cu``): ``zero_grad(set_to_none=False)`` on
CUDA zeroes every gradient of one dtype on one device in ONE launch over a pointer table
(PyTorch's ``torch._foreach_zero_``), instead of a fill per gradient.  The tables are cached
per (device, dtype, number of arrays): persistent gradients keep their addresses, so a
steady-state ``zero_grad`` builds and uploads nothing."""

from __future__ import annotations

import numpy

from .. import backend
from ._build import SUFFIX, THREADS, Kernel
from .optimizer import FILE, PointerTable

__all__ = ["multi_zero", "zeroes_in_one_launch"]

_multi_zero = Kernel(FILE, "multi_zero")
_tables: dict = {}  # (device, dtype, number of arrays) -> PointerTable
_MAX_TABLES = 32  # a few models and optimizers at once; more is a program making new sets


def zeroes_in_one_launch(a) -> bool:
    """Whether :func:`multi_zero` takes ``a``: a non-empty C-contiguous CUDA array of a
    kernel dtype (anything else is zeroed with ``fill(0)`` by the caller)."""
    return (
        backend.is_cuda_array(a)
        and a.size > 0
        and a.dtype in SUFFIX
        and a.dtype.kind == "f"
        and a.flags.c_contiguous
    )


def multi_zero(arrays) -> None:
    """Zero ``arrays`` (each one :func:`zeroes_in_one_launch` takes) in place: one launch
    per (device, dtype) among them."""
    groups: dict = {}
    for a in arrays:
        groups.setdefault((backend.device_of(a), a.dtype), []).append(a)
    for (device, dtype), group in groups.items():
        key = (device, dtype, len(group))
        table = _tables.get(key)
        if table is None:
            if len(_tables) >= _MAX_TABLES:
                _tables.clear()
            table = _tables[key] = PointerTable()
        with device:
            table.update([group])
            _multi_zero(dtype)(
                (table.blocks,),
                (THREADS,),
                (table.table, numpy.int64(table.tensors), numpy.int64(table.chunk)),
            )
