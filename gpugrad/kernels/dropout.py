"""Launcher of ``kernels/dropout.cu``: inverted dropout on Philox4x32-10, forward and backward
in one kernel (``out = in · mask``; the backward passes the forward's draw and so gets the
same mask, recomputed rather than stored: the reasons are in the .cu file).

A draw is a :class:`gpugrad.random.PhiloxDraw`: the (seed, offset) of an eager launch, or the
device base buffer and offset inside the graph of a launch captured in a CUDA graph.
"""

from __future__ import annotations

import math

import numpy

from . import _build
from ._build import (
    THREADS,
    Kernel,
    address,
    as_contiguous,
    check_float,
    contiguous,
    grid,
    on_arrays_device,
)

FILE = "dropout.cu"
_dropout = Kernel(FILE, "dropout")


def threshold(p: float) -> int:
    """The kernel's keep test for probability ``p``: a 32-bit number r keeps its element when
    r >= ceil(p · 2^32), i.e. exactly when the uniform r / 2^32 is >= p (p · 2^32 is exact in
    double precision)."""
    return math.ceil(float(p) * 2.0**32)


def scale(p: float, dtype) -> float:
    """What a kept element is multiplied by: 1/(1-p) computed in float64 and rounded to
    ``dtype``, as the CPU's mask is (``ops/dropout.py``), so kept values match it exactly."""
    return float(numpy.dtype(dtype).type(1.0 / (1.0 - float(p))))


def _int64(value: int) -> numpy.int64:
    """A 64-bit unsigned value as the int64 of the same bits (the kernel reads it back as
    unsigned)."""
    return numpy.uint64(value).view(numpy.int64)


@on_arrays_device
def apply(x, p: float, draw, shape=None):
    """``x · mask``: each element kept (times 1/(1-p), rounded to x's dtype) when its number
    of ``draw`` is >= p as a uniform in [0, 1), else 0, for 0 < p < 1.  ``x``: a CuPy float
    array, cast to ``shape``'s broadcast if given (the backward's upstream gradient, as its
    forward's shape); element i of the C-order result takes number i of the draw.  Returns a
    new C-contiguous array.  An empty array launches nothing."""
    if not 0 < p < 1:
        raise ValueError(
            f"the dropout kernel takes 0 < p < 1 (ops/dropout.py handles 0 and 1), got {p}"
        )
    check_float(x)
    x = contiguous(x) if shape is None else as_contiguous(x, x.dtype, "upstream gradient", shape)
    out = _build.cupy_module().empty_like(x)
    if x.size:
        base = 0 if draw.base is None else address(draw.base)
        _dropout(x.dtype)(
            grid(-(-x.size // 4)),  # a thread per four elements (one Philox counter)
            (THREADS,),
            (
                x,
                out,
                numpy.int64(x.size),
                _int64(draw.seed),
                _int64(draw.offset),
                numpy.int64(base),
                numpy.int64(threshold(p)),
                numpy.float64(scale(p, x.dtype)),
            ),
        )
    return out
