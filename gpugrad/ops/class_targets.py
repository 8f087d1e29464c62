"""What the losses of class-index targets share: the (C,), (N, C) or (N, C, d1, ...)
layout of scores (``class_rows``: the class axis moved last, one row per target), the
check of the labels (``class_indices``), per-class weights, ``ignore_index`` as per-row
weights (``row_weights``, on the device: no sync) and the reduction of per-row losses
with PyTorch's divisors (``reduce_rows``).  Also the conversions every loss uses for its
target and constant arguments.
"""

from __future__ import annotations

import math

import numpy

from .. import backend, kernels
from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor
from . import reduce, shape


def divide(total: Tensor, count) -> Tensor:
    """``total / count`` where 0 / 0 is NaN without a warning (PyTorch's mean of nothing);
    a ``count`` that is a Tensor or an array (a sum of weights) through
    :class:`WeightedMean`, whose gradient is 0, not NaN, where the count is 0."""
    if isinstance(count, Tensor):
        return WeightedMean()(total, count)
    if hasattr(count, "shape"):  # a raw array (or NumPy scalar): a constant here
        return WeightedMean()(total, Tensor.wrap(count))
    with numpy.errstate(invalid="ignore", divide="ignore"):
        return total / count


def nonzero_divisor(count):
    """``count``, 1 where it is 0: what a mean's gradient divides by (a mean over no target
    has no gradient, as PyTorch's, not gy / 0).  A number, an array of either backend or a
    Tensor, on its device (no host read)."""
    return count + (count == 0)


class WeightedMean(Function):
    """``total / count``: a sum of weighted per-row losses over the sum of the weights.
    Every target ignored (or weighing 0) makes it 0 / 0, NaN, as PyTorch's; its gradient is
    then 0, as PyTorch's (the rows weigh 0), where gy / 0 · 0 would make every row's NaN."""

    save_inputs = (0, 1)

    def forward(self, total, count):
        with numpy.errstate(invalid="ignore", divide="ignore"):
            return total / count

    def backward(self, ns, gy, total, count):
        safe = nonzero_divisor(count)  # total is 0 where the count is
        g_total = gy / safe
        need_total, need_count = self.needs_grad
        g_count = -g_total * total / safe if need_count else None
        return (g_total if need_total else None), g_count


def constant(value, like: Tensor, name: str, what: str) -> Tensor:
    """``value`` (a Tensor, array, list or number) as a Tensor of ``like``'s dtype on its
    device; a Tensor keeps its graph (weights may be trained)."""
    if isinstance(value, Tensor):
        if value.device != like.device:
            raise RuntimeError(f"{name}: input is on {like.device}, {what} on {value.device}")
        return value if value.dtype == like.dtype else value.astype(like.dtype)
    if not backend.is_cuda_array(value):
        value = numpy.asarray(value, dtype=like.dtype)
    return as_tensor(value.astype(like.dtype, copy=False), like=like)


def target_tensor(target, like: Tensor, name: str) -> Tensor:
    """The target as a Tensor on ``like``'s device (an array or list is wrapped, not cast)."""
    if isinstance(target, Tensor):
        if target.device != like.device:
            raise RuntimeError(f"{name}: input is on {like.device}, target on {target.device}")
        return target
    if not backend.is_cuda_array(target):
        target = numpy.asarray(target)
    return as_tensor(target, like=like)


def num_classes(scores: Tensor, name: str) -> int:
    """C: the size of the class axis (1; 0 for unbatched (C,) scores)."""
    if scores.ndim == 0:
        raise ValueError(f"{name}: input must be (C,), (N, C) or (N, C, d1, ...), got 0-d")
    return scores.shape[1 if scores.ndim > 1 else 0]


def class_indices(scores: Tensor, labels, name: str, ignore_index=None):
    """Validated class indices as a raw int64 array on the scores' device, of the scores'
    shape without the class axis.  Labels held on the host (lists, NumPy arrays, CPU
    Tensors) are checked to lie in [0, C) (all but ``ignore_index``) before any upload:
    free there.  Labels already on a GPU are not read back (that would synchronize): the
    loss flags bad labels on the device and the next host read raises."""
    c = num_classes(scores, name)
    if not isinstance(labels, Tensor) and not backend.is_cuda_array(labels):
        labels = numpy.asarray(labels)
        check_labels(labels, scores, c, name, ignore_index)
        raw = target_tensor(labels, scores, name).array
    else:
        raw = target_tensor(labels, scores, name).array
        check_labels(raw, scores, c, name, ignore_index)
    return raw.astype(numpy.int64, copy=False)


def check_labels(raw, scores: Tensor, c: int, name: str, ignore_index=None) -> None:
    """The dtype and shape of the labels ``raw`` (a raw array) and, if they are on the
    host, their range [0, C) (``ignore_index`` excepted)."""
    if raw.dtype.kind not in "iu":
        raise TypeError(f"{name}: labels must be integer class indices, got {raw.dtype}")
    expected = shape_without_classes(scores)
    if raw.shape != expected:
        raise ValueError(
            f"{name}: labels of shape {raw.shape} for input of shape {scores.shape}; "
            f"expected {expected}"
        )
    if backend.is_cuda_array(raw) or not raw.size:
        return
    check_label_range(raw if ignore_index is None else raw[raw != ignore_index], c, name)


def check_label_range(labels, c: int, name: str) -> None:
    """ValueError naming the first bad label if a host array of labels leaves [0, C)."""
    if labels.size:
        low, high = int(labels.min()), int(labels.max())
        if low < 0 or high >= c:
            raise ValueError(f"{name}: label {low if low < 0 else high} is out of range [0, {c})")


def safe_labels(labels, ignore_index):
    """Flat int64 labels with those equal to ``ignore_index`` replaced by class 0 (their
    rows weigh 0), so that they index safely."""
    labels = labels.reshape(-1).astype(numpy.int64, copy=False)
    if ignore_index is None:
        return labels
    return backend.get_array_module(labels).where(labels != ignore_index, labels, 0)


class RowWeights(Function):
    """The weight of each target (labels of any shape -> (M,) in ``dtype``): 0 where the
    label is ``ignore_index``, else its class's weight (``weights``, a second input) or 1.
    Not differentiable (the weights of PyTorch's losses are constants).  An op, not array
    code around one, so that a compiled step computes it again for every batch."""

    def __init__(self, ignore_index, dtype):
        self.ignore_index, self.dtype = ignore_index, dtype

    def forward(self, labels, weights=None):
        labels = labels.reshape(-1)
        if weights is None:  # keep only: no safe labels to index with
            return (labels != self.ignore_index).astype(self.dtype)
        return row_weights(labels, weights, self.ignore_index, self.dtype)[2]


def label_flag(raw, c: int, ignore_index=None):
    """A device int32 flag (shape (1,)): 1 if any label of ``raw`` (other than
    ``ignore_index``) lies outside [0, C).  Array ops only, no sync."""
    bad = (raw < 0) | (raw >= c)
    if ignore_index is not None:
        bad &= raw != ignore_index
    return bad.any().astype(numpy.int32).reshape(1)


def flag_device_labels(raw, c: int, name: str, ignore_index=None) -> None:
    """Labels already on the GPU are not read back (that would synchronize): a bad one sets
    a device flag that the next host read (``.item()``) raises as ValueError."""
    if backend.is_cuda_array(raw):
        message = f"{name}: label out of range [0, {c}) (on the GPU)"
        kernels.defer_flag(label_flag(raw, c, ignore_index), message, (name, c))


def class_rows(x: Tensor, c: int) -> Tensor:
    """(M, C): the class axis of (C,), (N, C) or (N, C, d1, ...) moved last, the others
    flattened into rows (in the order of the labels' elements)."""
    if x.ndim == 2:
        return x
    if x.ndim > 2:
        x = shape.transpose(x, (0, *range(2, x.ndim), 1))
    return shape.reshape(x, (math.prod(x.shape) // c if c else 0, c))


def class_weights(weight, scores: Tensor, c: int, name: str):
    """The per-class weights as a raw (C,) array in the scores' dtype, or None."""
    if weight is None:
        return None
    w = constant(weight, scores, name, "weight").array
    if w.shape != (c,):
        raise ValueError(f"{name}: weight of shape {w.shape}; expected one per class, ({c},)")
    return w


def row_weights(labels, weights, ignore_index, dtype):
    """For flat labels (M,): (safe, keep, w) raw arrays: the labels with ignored ones
    replaced by class 0, 1.0 where a label counts (0.0 where ignored), and each row's
    weight (its class's weight, or 1; 0 where ignored), in ``dtype``.  All on the device,
    no sync."""
    xp = backend.get_array_module(labels)
    counts = labels != ignore_index
    safe = xp.where(counts, labels, 0)
    keep = counts.astype(dtype)
    return safe, keep, keep if weights is None else keep * weights[safe]


def shape_without_classes(x: Tensor) -> tuple:
    """The shape of one loss per target: (N, d1, ...) of (N, C, d1, ...), () of (C,)."""
    return x.shape[:1] + x.shape[2:] if x.ndim > 1 else ()


def reduce_rows(loss: Tensor, reduction: str, out_shape, count) -> Tensor:
    """Reduce the per-row losses (M,): "none" gives them the targets' shape ``out_shape``;
    "mean" divides the sum by ``count`` (a number, or a function giving it, called only
    for the mean), NaN when it is 0, as PyTorch."""
    if reduction == "none":
        return shape.reshape(loss, out_shape)
    total = reduce.sum(loss)
    if reduction == "sum":
        return total
    return divide(total, count() if callable(count) else count)
