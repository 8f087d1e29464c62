"""Losses: multiclass SVM hinge (``multi_margin_loss``), squared and absolute error, and
what every loss shares: the ``reduction`` ("mean" (default), "sum" or "none") and the
check of class-index labels.  Softmax cross-entropy has its own module.
"""

from __future__ import annotations

import numpy

from .. import backend
from ..creation import as_tensor
from ..tensor import Tensor
from . import arithmetic, reduce, shape

__all__ = ["l1_loss", "mse_loss", "multi_margin_loss"]

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def apply_reduction(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return reduce.mean(loss)
    if reduction == "sum":
        return reduce.sum(loss)
    return loss


def class_indices(scores: Tensor, labels, name: str):
    """Validated class indices as a raw int64 array on the scores' device."""
    if isinstance(labels, Tensor):
        if labels.device != scores.device:
            raise RuntimeError(f"{name}: scores are on {scores.device}, labels on {labels.device}")
        raw = labels.data
    else:
        raw = backend.to_device(numpy.asarray(labels), scores.device)
    if scores.ndim != 2:
        raise ValueError(f"{name}: scores must be (N, C), got shape {scores.shape}")
    if raw.dtype.kind not in "iu":
        raise TypeError(f"{name}: labels must be integer class indices, got {raw.dtype}")
    if raw.shape != (scores.shape[0],):
        raise ValueError(
            f"{name}: labels of shape {raw.shape} for scores of shape "
            f"{scores.shape}; expected ({scores.shape[0]},)"
        )
    if not backend.is_cuda_array(raw) and raw.size:
        # On the CPU the check is free; on a GPU it would synchronize (the fused kernel
        # flags bad labels on the device instead).
        low, high = int(raw.min()), int(raw.max())
        if low < 0 or high >= scores.shape[1]:
            bad = low if low < 0 else high
            raise ValueError(f"{name}: label {bad} is out of range [0, {scores.shape[1]})")
    return raw.astype(numpy.int64, copy=False) if raw.dtype != numpy.int64 else raw


def multi_margin_loss(scores, labels, reduction: str = "mean") -> Tensor:
    """Multiclass SVM hinge loss with margin 1, as in the notes and PyTorch:
    L_i = sum_{j != y_i} max(0, 1 - s_{y_i} + s_j) / C."""
    check_reduction(reduction)
    scores = as_tensor(scores)
    raw = class_indices(scores, labels, "multi_margin_loss")
    xp = backend.get_array_module(raw)
    n, c = scores.shape
    correct = shape.reshape(scores[xp.arange(n), raw], (n, 1))
    # max(0, h) with 0 as the first argument: at the kink h = 0 the max gate routes the
    # gradient to the constant, so the hinge has gradient 0 there (as in PyTorch).
    margins = arithmetic.maximum(as_tensor(0.0, like=scores), scores - correct + 1.0)
    not_label = xp.ones((n, c), dtype=scores.dtype)
    not_label[xp.arange(n), raw] = 0
    per_row = reduce.sum(margins * not_label, axis=1) / c
    return apply_reduction(per_row, reduction)


def _pair(a, b, name):
    a = as_tensor(a)
    b = as_tensor(b, like=a)
    if a.shape != b.shape:
        raise ValueError(f"{name}: input of shape {a.shape} and target of shape {b.shape} differ")
    return a, b


def mse_loss(input, target, reduction: str = "mean") -> Tensor:
    check_reduction(reduction)
    a, b = _pair(input, target, "mse_loss")
    d = a - b
    return apply_reduction(d * d, reduction)


def l1_loss(input, target, reduction: str = "mean") -> Tensor:
    check_reduction(reduction)
    a, b = _pair(input, target, "l1_loss")
    return apply_reduction((a - b).abs(), reduction)
