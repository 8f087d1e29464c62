"""Launchers of ``kernels/softmax_cross_entropy.cu``: the fused softmax cross-entropy of
(N, C) logits against int64 labels (N,), forward (one warp per row, online log-sum-exp)
and backward (one elementwise pass from the saved log-sum-exp).

CuPy arrays in and out, the logits' dtype (float16 computed in float32); nothing
synchronizes: a label outside [0, C) sets a device flag instead, which :func:`forward`'s
caller checks when it chooses (``defer_label_check``: at the next ``.item()``).
"""

from __future__ import annotations

import numpy

from . import _build
from ._build import THREADS, Kernel, as_contiguous, check_float, contiguous, on_arrays_device

FILE = "softmax_cross_entropy.cu"
_forward = Kernel(FILE, "softmax_cross_entropy_forward")
_backward = Kernel(FILE, "softmax_cross_entropy_backward")
_reduce_forward = Kernel(FILE, "softmax_cross_entropy_reduce_forward")
_reduce_backward = Kernel(FILE, "softmax_cross_entropy_reduce_backward")
REDUCE_WARPS = 32  # the one block of the reduce kernels: 1024 threads
ONE_BLOCK_ELEMENTS = 1 << 18  # logits up to this size are reduced by one block


def _checked(logits, labels):
    """Contiguous (N, C) logits and contiguous int64 (N,) labels, checked."""
    check_float(logits, "logits")
    if logits.ndim != 2:
        raise ValueError(f"logits must be (N, C), got shape {logits.shape}")
    if not isinstance(labels, _build.cupy_module().ndarray) or labels.dtype.kind not in "iu":
        raise TypeError(
            f"labels must be a cupy integer array, got "
            f"{getattr(labels, 'dtype', type(labels).__name__)}"
        )
    if labels.shape != (logits.shape[0],):
        raise ValueError(
            f"labels of shape {labels.shape} do not match {logits.shape[0]} rows of logits"
        )
    return contiguous(logits), contiguous(labels.astype(numpy.int64, copy=False))


@on_arrays_device
def forward(logits, labels, ignore_index=None, flag=None):
    """(loss_rows, lse, flag) for logits (N, C) and integer labels (N,):
    loss_rows (N,) in the logits' dtype (0 where a label equals ``ignore_index``), lse (N,)
    the per-row log-sum-exp as float64 for every dtype (a float32 lse of logits ~1000 would
    be off by ~1e-4 in each probability), flag an int32 device array (1,) set to 1 when any
    other label lies outside [0, C) (that row's loss is NaN): ``flag`` when given (a
    standing flag: nothing allocated), else a new one."""
    cupy = _build.cupy_module()
    logits, labels = _checked(logits, labels)
    rows, cols = logits.shape
    loss = cupy.empty(rows, dtype=logits.dtype)
    lse = cupy.empty(rows, dtype=numpy.float64)
    if flag is None:
        flag = cupy.zeros(1, dtype=numpy.int32)
    if rows:
        warps = THREADS // 32  # one warp per row
        blocks = int(min(-(-rows // warps), _build.blocks_cap()))
        ignore = _ignore_arguments(ignore_index)
        _forward(logits.dtype)(
            (blocks,),
            (THREADS,),
            (logits, labels, loss, lse, flag, numpy.int64(rows), numpy.int64(cols), *ignore),
        )
    return loss, lse, flag


@on_arrays_device
def backward(logits, lse, labels, gy_rows):
    """gx (N, C) = (softmax(logits) - onehot(labels)) · gy_rows[:, None], one pass.
    gy_rows is the per-row upstream gradient (N,) (or a scalar): 1/N for a mean, 1 for a
    sum, the upstream of each row for no reduction."""
    cupy = _build.cupy_module()
    logits, labels = _checked(logits, labels)
    rows, cols = logits.shape
    lse = as_contiguous(lse, numpy.float64, "log-sum-exp", (rows,))
    if numpy.isscalar(gy_rows):
        gy_rows = cupy.asarray(gy_rows)
    gy = as_contiguous(gy_rows, logits.dtype, "upstream gradient", (rows,))
    gx = cupy.empty_like(logits)
    if logits.size:
        _backward(logits.dtype)(
            _build.grid(logits.size),
            (THREADS,),
            (logits, lse, labels, gy, gx, numpy.int64(rows), numpy.int64(cols)),
        )
    return gx


def _ignore_arguments(ignore_index) -> tuple:
    if ignore_index is None:
        return numpy.int64(0), numpy.int32(0)
    return numpy.int64(ignore_index), numpy.int32(1)


def reduces_in_one_block(logits) -> bool:
    """Whether :func:`reduce_forward` takes ``logits``: one block reads them all, which
    beats the launches it saves only for small batches."""
    return logits.size <= ONE_BLOCK_ELEMENTS


@on_arrays_device
def reduce_forward(logits, labels, ignore_index, mean: bool, flag):
    """``(out, saved)``: cross_entropy's "mean" (``mean``) or "sum" over the rows of logits
    (N, C), rows whose label is ``ignore_index`` left out, as a 0-d array of the logits'
    dtype, in one launch (see :func:`reduces_in_one_block`); ``saved`` (N + 1,) float64
    holds each row's log-sum-exp and, last, what :func:`reduce_backward` divides by (the
    number of rows kept for a mean, 1 for a sum).  A label outside [0, C) sets ``flag``."""
    cupy = _build.cupy_module()
    logits, labels = _checked(logits, labels)
    rows, cols = logits.shape
    out = cupy.empty((), dtype=logits.dtype)
    saved = cupy.empty(rows + 1, dtype=numpy.float64)
    warps = int(min(max(rows, 1), REDUCE_WARPS))
    _reduce_forward(logits.dtype)(
        (1,),
        (32 * warps,),
        (
            logits, labels, out, saved, saved[rows:], flag, numpy.int64(rows), numpy.int64(cols),
            *_ignore_arguments(ignore_index), numpy.int32(mean),
        ),
    )  # fmt: skip
    return out, saved


@on_arrays_device
def reduce_backward(logits, saved, labels, gy, ignore_index):
    """gx (N, C) of :func:`reduce_forward` for its upstream gradient ``gy`` (one value):
    (softmax(logits) - onehot(labels)) · gy / divisor in the rows kept, 0 in the others."""
    cupy = _build.cupy_module()
    logits, labels = _checked(logits, labels)
    rows, cols = logits.shape
    saved = as_contiguous(saved, numpy.float64, "saved log-sum-exp", (rows + 1,))
    gy = as_contiguous(gy, logits.dtype, "upstream gradient", ())
    gx = cupy.empty_like(logits)
    if logits.size:
        _reduce_backward(logits.dtype)(
            _build.grid(logits.size),
            (THREADS,),
            (
                logits, saved, labels, gy, saved[rows:], gx, numpy.int64(rows),
                numpy.int64(cols), *_ignore_arguments(ignore_index),
            ),
        )  # fmt: skip
    return gx


def label_message(num_classes: int) -> str:
    return (
        f"label out of range [0, {num_classes}): a label given to the softmax "
        f"cross-entropy on the GPU was < 0 or >= {num_classes} (that row's loss is NaN)"
    )


def check_label_flag(flag, num_classes: int) -> None:
    """Raise ValueError "label out of range [0, C)" if the flag of :func:`forward` is set.
    Reads one int: this synchronizes."""
    _build.check_flag(flag, label_message(num_classes))


def defer_label_check(flag, num_classes: int) -> None:
    """Check the flag of :func:`forward` at the next host read (``Tensor.item()``)."""
    _build.defer_flag(flag, label_message(num_classes), num_classes)


@on_arrays_device
def label_flag(logits):
    """The standing flag (``_build.standing_flag``) the cross-entropy of ``logits`` (N, C)
    passes to :func:`forward`, on the logits' device: checked at the next host read,
    allocated once."""
    num_classes = logits.shape[1]
    return _build.standing_flag(label_message(num_classes), num_classes)
