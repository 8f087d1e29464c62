"""Launchers of ``kernels/activation.cu``: activations forward and backward, bias +
activation (the bias per column, as after a Linear, or per row, as on a convolution's
(C, N·Ho·Wo) output), and the deterministic column and row sums behind the bias gradient.

``code`` is an activation's code in the ``GgActivation`` enum of ``activation.cu``, taken from
its record in ``gpugrad.ops.activation.ACTIVATIONS``; ``p`` is its one parameter (the slope
of leaky ReLU, alpha of ELU; ignored by the others), already checked there.  Every launcher
takes and returns CuPy arrays: the output has the input's dtype (float16 computed in
float32); an input that is not C-contiguous is copied once before the launch; an empty
array launches nothing; nothing synchronizes.
"""

from __future__ import annotations

import numpy

from . import _build
from ._build import (
    THREADS,
    Kernel,
    as_contiguous,
    blocks_cap,
    check_float,
    compute_dtype,
    contiguous,
    grid,
    on_arrays_device,
)

FILE = "activation.cu"
_forward = Kernel(FILE, "activation_forward")
_backward = Kernel(FILE, "activation_backward")
_bias_forward = Kernel(FILE, "bias_activation_forward")
_column_reduce_chunks = Kernel(FILE, "column_reduce")  # partial sums per chunk of rows
_column_reduce_direct = Kernel(FILE, "column_reduce_direct")  # one chunk: the sums
_column_finish = Kernel(FILE, "column_finish")  # the partial sums added up
_row_bias_forward = Kernel(FILE, "row_bias_activation_forward")
_row_reduce_chunks = Kernel(FILE, "row_reduce")  # partial sums per chunk of columns
_row_reduce_direct = Kernel(FILE, "row_reduce_direct")  # one chunk: the sums


@on_arrays_device
def forward(code: int, x, p: float = 0.0):
    """y = act(x), any shape, one pass.  Returns a new C-contiguous array like x."""
    check_float(x)
    x = contiguous(x)
    y = _build.cupy_module().empty_like(x)
    if x.size:
        _forward(x.dtype)(
            grid(x.size),
            (THREADS,),
            (numpy.int32(code), x, y, numpy.int64(x.size), numpy.float64(p)),
        )
    return y


@on_arrays_device
def backward(code: int, y, gy, p: float = 0.0):
    """gx = gy · act'(x), computed from the forward's output y (any shape) and the upstream
    gy (y's shape, or broadcastable to it; cast to y's dtype), one pass."""
    check_float(y)
    y = contiguous(y)
    gy = as_contiguous(gy, y.dtype, "upstream gradient", y.shape)
    gx = _build.cupy_module().empty_like(y)
    if y.size:
        _backward(y.dtype)(
            grid(y.size),
            (THREADS,),
            (numpy.int32(code), y, gy, gx, numpy.int64(y.size), numpy.float64(p)),
        )
    return gx


def _column_reduce(code: int, y, gy, gx, p: float):
    """Column sums (cols,) of the (rows, cols) view of y (code < 0), or of the activation
    backward of (y, gy), which is also written to gx (code >= 0).  All contiguous."""
    cupy = _build.cupy_module()
    cols = y.shape[-1] if y.ndim else 1
    rows = y.size // cols if cols else 0
    out = cupy.empty(cols, dtype=y.dtype)
    if cols == 0:
        return out
    if rows == 0:
        out.fill(0)
        return out
    bx = min(32, 1 << (cols - 1).bit_length())  # a warp covers 32 // bx rows of bx columns
    by = THREADS // bx
    grid_x = -(-cols // bx)
    # Split the rows into chunks only when there are many of them (>= 16 per thread) and
    # the columns alone do not fill the GPU; each chunk leaves one partial row to add up.
    chunks = int(min(-(-rows // (by * 16)), max(1, blocks_cap() // grid_x), 65535))
    args = (numpy.int32(code), y, gy, gx)
    sizes = (numpy.int64(rows), numpy.int64(cols), numpy.float64(p))
    if chunks == 1:
        _column_reduce_direct(y.dtype)((grid_x, 1), (bx, by), (*args, out, *sizes))
        return out
    partial = cupy.empty((chunks, cols), dtype=compute_dtype(y))
    _column_reduce_chunks(y.dtype)((grid_x, chunks), (bx, by), (*args, partial, *sizes))
    _column_finish(y.dtype)(
        (grid_x, 1), (bx, by), (partial, out, numpy.int64(chunks), numpy.int64(cols))
    )
    return out


@on_arrays_device
def column_sum(g):
    """Sum over every axis but the last: (..., C) -> (C,), deterministic, accumulated in
    float32 for float16 and in the dtype otherwise."""
    check_float(g)
    g = contiguous(g)
    return _column_reduce(-1, g, g, g, 0.0)


@on_arrays_device
def bias_forward(code: int, x, b, p: float = 0.0):
    """y = act(x + b): x (..., C), b (C,) broadcast over the rows (cast to x's dtype), one
    pass."""
    return _bias_forward_launch(_bias_forward, code, x, b, p, axis=-1)


@on_arrays_device
def row_bias_forward(code: int, x, b, p: float = 0.0):
    """y = act(x + b): x (C, ...), b (C,) one per row of the (C, rest) view (cast to x's
    dtype), one pass."""
    return _bias_forward_launch(_row_bias_forward, code, x, b, p, axis=0)


def _bias_forward_launch(kernel, code, x, b, p, axis):
    check_float(x)
    check_float(b, "bias")
    if x.ndim < 1 or b.ndim != 1 or b.shape[0] != x.shape[axis]:
        where = "last" if axis == -1 else "first"
        raise ValueError(
            f"bias of shape {b.shape} does not match the {where} axis of x with shape {x.shape}"
        )
    x, b = contiguous(x), as_contiguous(b, x.dtype, "bias")
    y = _build.cupy_module().empty_like(x)
    if x.size:
        cols = x.shape[-1] if axis == -1 else x.size // x.shape[0]
        args = (numpy.int32(code), x, b, y, numpy.int64(x.size), numpy.int64(cols))
        kernel(x.dtype)(grid(x.size), (THREADS,), (*args, numpy.float64(p)))
    return y


@on_arrays_device
def bias_backward(code: int, y, gy, p: float = 0.0):
    """(gx, gb) for y = act(x + b): gx = gy · act'(y) (y's shape) and gb = the column sum of
    gx (C,), in one pass over y and gy (plus a small pass over per-chunk partial sums)."""
    return _bias_backward(_column_reduce, code, y, gy, p, "bias_activation_backward", "(..., C)")


@on_arrays_device
def row_bias_backward(code: int, y, gy, p: float = 0.0):
    """(gx, gb) for y = act(x + b) with b one per row (``row_bias_forward``): gx = gy ·
    act'(y) (y's shape) and gb (C,) the sum of each row of gx's (C, rest) view, in one pass
    over y and gy (plus a small pass over per-chunk partial sums)."""
    return _bias_backward(_row_reduce, code, y, gy, p, "row_bias_backward", "(C, ...)")


def _bias_backward(reduce, code: int, y, gy, p: float, name: str, layout: str):
    check_float(y)
    if y.ndim < 1:
        raise ValueError(f"{name} needs y of shape {layout}, got a 0-d array")
    y = contiguous(y)
    gy = as_contiguous(gy, y.dtype, "upstream gradient", y.shape)
    gx = _build.cupy_module().empty_like(y)
    return gx, reduce(code, y, gy, gx, p)


def _row_reduce(code: int, y, gy, gx, p: float):
    """Row sums (rows,) of the (rows, rest) view of y (code < 0), or of the activation
    backward of (y, gy), which is also written to gx (code >= 0).  All contiguous."""
    cupy = _build.cupy_module()
    rows = y.shape[0]
    cols = y.size // rows if rows else 0
    out = cupy.empty(rows, dtype=y.dtype)
    if rows == 0:
        return out
    if cols == 0:
        out.fill(0)
        return out
    # Split each row into chunks only when it is long (>= 16 elements per thread) and the
    # rows alone do not fill the GPU; each chunk leaves one partial sum per row.
    chunks = int(min(-(-cols // (THREADS * 16)), max(1, blocks_cap() // rows), 65535))
    args = (numpy.int32(code), y, gy, gx)
    sizes = (numpy.int64(rows), numpy.int64(cols), numpy.float64(p))
    if chunks == 1:
        _row_reduce_direct(y.dtype)((rows, 1), (THREADS,), (*args, out, *sizes))
        return out
    partial = cupy.empty((chunks, rows), dtype=compute_dtype(y))
    _row_reduce_chunks(y.dtype)((rows, chunks), (THREADS,), (*args, partial, *sizes))
    bx = min(32, 1 << (rows - 1).bit_length())  # column_finish's block, as _column_reduce's
    _column_finish(y.dtype)(
        (-(-rows // bx), 1),
        (bx, THREADS // bx),
        (partial, out, numpy.int64(chunks), numpy.int64(rows)),
    )
    return out
