"""Softmax cross-entropy: ``cross_entropy(input, target, ...)``, PyTorch's function with
its ``weight``, ``ignore_index``, ``reduction`` and ``label_smoothing``, over (C,), (N, C)
or (N, C, d1, ...) logits and class indices or class probabilities as targets.

The heart is one Function, ``SoftmaxCrossEntropy``: per row of (M, C) logits
loss = lse(x) - x[label], gradient (softmax(x) - onehot(label)) · gy.  On CUDA each
direction is one fused kernel (``gpugrad.kernels.softmax_cross_entropy``); a label out of
range is flagged on the device and raised at the next ``.item()``.  On the CPU the same
maths in NumPy, with labels checked up front (free there).  Ignored targets, class weights
and the mean's divisor are per-row constants computed on the device (no sync); label
smoothing and probability targets are composed from recorded ops, so every case is
differentiable to any order.
"""

from __future__ import annotations

import numpy

from .. import backend, kernels
from ..autograd.engine import Function
from ..autograd.raw_namespace import sum_array
from ..creation import as_tensor
from ..tensor import Tensor
from . import reduce as reduce_ops
from .class_targets import (
    RowWeights,
    check_label_range,
    class_indices,
    class_rows,
    class_weights,
    nonzero_divisor,
    num_classes,
    reduce_rows,
    safe_labels,
    shape_without_classes,
    target_tensor,
)
from .loss import torch_loss
from .softmax import log_softmax, logsumexp

__all__ = ["cross_entropy"]


class SoftmaxCrossEntropy(Function):
    """Per-row loss lse(x_i) - x_i[y_i] of (M, C) logits and integer labels (M elements, any
    shape); backward (softmax(x) - onehot(y)) * gy_i.  A label equal to ``ignore_index``
    counts as class 0 here (its row's weight is 0: ``RowWeights``).  The labels are an
    input, not a constant, so a compiled step replays this op on each new batch.  On CUDA
    both directions are one fused kernel each (a label out of range is flagged on the
    device); on the CPU a label out of range raises ValueError here."""

    save_inputs = (0,)

    def __init__(self, ignore_index=None):
        self.ignore_index = ignore_index

    def forward(self, logits, labels):
        self.labels = labels.reshape(-1)
        loss, self.lse = _row_losses(logits, self.labels, self.ignore_index)
        return loss

    def backward(self, ns, gy, logits):
        return _row_gradients(ns, logits, self.lse, self.labels, self.ignore_index, gy), None


class ReducedSoftmaxCrossEntropy(Function):
    """cross_entropy's common case as one node: the mean (``mean``) or the sum over the rows
    of (M, C) logits of lse(x_i) - x_i[y_i], the rows whose label is ``ignore_index`` left
    out (a mean of none is NaN, as PyTorch); backward (softmax(x_i) - onehot(y_i)) · gy /
    divisor in the rows kept, 0 in the others.  On CUDA one kernel each way where one block
    can take the batch (``kernels.softmax_cross_entropy.reduce_forward``); a larger one runs
    the per-row kernel and is reduced here.  Class weights and label smoothing compose
    ``SoftmaxCrossEntropy`` with other ops instead."""

    save_inputs = (0,)

    def __init__(self, ignore_index, mean: bool):
        self.ignore_index, self.mean = ignore_index, mean

    def forward(self, logits, labels):
        labels = self.labels = labels.reshape(-1)
        launcher = kernels.softmax_cross_entropy
        self.saved = None  # the one-block kernel's buffer: each row's lse, then the divisor
        if backend.is_cuda_array(logits) and launcher.reduces_in_one_block(logits):
            flag = launcher.label_flag(logits)
            out, self.saved = launcher.reduce_forward(
                logits, labels, self.ignore_index, self.mean, flag
            )
            return out
        loss, self.lse = _row_losses(logits, labels, self.ignore_index)
        xp = backend.get_array_module(logits)
        self.keep = None
        if self.ignore_index is not None:
            self.keep = (labels != self.ignore_index).astype(logits.dtype)
            loss = loss * self.keep  # the host's rows of ignored labels hold class 0's loss
        total = sum_array(loss)  # float16 accumulated in float32, as torch
        if not self.mean:
            self.divisor = 1
            return xp.asarray(total, dtype=logits.dtype)
        self.divisor = labels.size if self.keep is None else self.keep.sum()
        with numpy.errstate(invalid="ignore", divide="ignore"):  # 0 / 0: NaN, as PyTorch
            return xp.asarray(total / self.divisor, dtype=logits.dtype)

    def backward(self, ns, gy, logits):
        if self.saved is not None and not ns.graph:
            gx = kernels.softmax_cross_entropy.reduce_backward(
                logits, self.saved, self.labels, gy, self.ignore_index
            )
            return gx, None
        n = logits.shape[0]
        if self.saved is not None:  # a second derivative of the one-block kernel's loss
            lse, divisor = self.saved[:n], self.saved[n]
        else:
            lse, divisor = self.lse, self.divisor
        scale = gy / nonzero_divisor(divisor)  # every row ignored: 0, as PyTorch's
        keep = self.keep if self.saved is None else None
        if keep is None and self.ignore_index is not None:
            keep = (self.labels != self.ignore_index).astype(logits.dtype)
        if keep is None:
            keep = backend.get_array_module(logits).ones(n, dtype=logits.dtype)
        gy_rows = scale * keep
        return _row_gradients(ns, logits, lse, self.labels, self.ignore_index, gy_rows), None


def _row_losses(logits, labels, ignore_index):
    """(loss, lse) per row of (M, C) logits and flat labels (M,): lse(x_i) - x_i[y_i] and
    the row's log-sum-exp; a row whose label is ``ignore_index`` gets class 0's loss on the
    host, 0 on CUDA (its weight is 0 either way)."""
    if backend.is_cuda_array(logits):  # the kernel skips ignored labels itself
        launcher = kernels.softmax_cross_entropy
        flag = launcher.label_flag(logits)  # standing: nothing allocated
        loss, lse, _ = launcher.forward(logits, labels, ignore_index, flag)
        return loss, lse
    labels = safe_labels(labels, ignore_index)
    check_label_range(labels, logits.shape[1], "cross_entropy")
    m = logits.max(axis=1, keepdims=True)
    shifted = logits - m
    numpy.exp(shifted, out=shifted)
    lse = numpy.log(shifted.sum(axis=1)) + m[:, 0]
    return lse - logits[numpy.arange(logits.shape[0]), labels], lse


def _row_gradients(ns, logits, lse, labels, ignore_index, gy_rows):
    """(softmax(logits) - onehot(labels)) · gy_rows[:, None]: the gradient of the per-row
    losses of :func:`_row_losses` for their upstream gradients ``gy_rows`` (M,)."""
    if not ns.graph and backend.is_cuda_array(logits):
        return kernels.softmax_cross_entropy.backward(logits, lse, labels, gy_rows)
    xp = backend.get_array_module(logits)
    n, c = logits.shape
    onehot = xp.zeros((n, c), dtype=logits.dtype)
    onehot[xp.arange(n), safe_labels(labels, ignore_index)] = 1  # ignored rows weigh 0
    if ns.graph:  # keep lse as a function of the logits: second derivatives
        lse = logsumexp(logits, axis=1, keepdims=True)
    else:
        lse = lse[:, None]
    probs = ns.exp(logits - lse)
    return (probs - onehot) * ns.reshape(gy_rows, (n, 1))


@torch_loss("weight", "size_average", "ignore_index", "reduce", "reduction", "label_smoothing")
def cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing) -> Tensor:
    """Softmax cross-entropy of logits ``input`` (C,), (N, C) or (N, C, d1, ...) against
    ``target``: class indices (), (N,) or (N, d1, ...), or class probabilities of the
    input's shape (a float target of the same shape), as PyTorch defines it.

    With class indices, element i costs ``w[y_i] (lse(x_i) - x_i[y_i])`` (0 where
    ``y_i == ignore_index``) and "mean" divides by the sum of ``w[y_i]`` over the targets not
    ignored (NaN when all are).  ``label_smoothing`` e mixes in the uniform distribution:
    ``(1 - e) * that + (e / C) * sum_c w[c] (lse(x_i) - x_i[c])``, same divisor.  With
    probabilities p, element i costs ``-sum_c w[c] p_ic log_softmax(x_i)_c`` (p smoothed to
    ``(1 - e) p + e / C``) and "mean" divides by the number of elements N * d1 * ....

    >>> import gpugrad as gg
    >>> cross_entropy(gg.tensor([[0.0, 0.0]]), gg.tensor([1]))
    tensor(0.6931472)
    """
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1], got {label_smoothing}")
    logits = as_tensor(input)
    c = num_classes(logits, "cross_entropy")
    weights = class_weights(weight, logits, c, "cross_entropy")
    given = target  # host labels are range-checked before any upload (class_indices)
    target = target_tensor(target, logits, "cross_entropy")
    rows = class_rows(logits, c)
    if target.shape == logits.shape and target.dtype.kind == "f":
        if ignore_index >= 0:
            raise ValueError("cross_entropy: ignore_index is not supported for probability targets")
        probs = class_rows(
            target if target.dtype == logits.dtype else target.astype(logits.dtype), c
        )
        loss = _with_probabilities(rows, probs, weights, label_smoothing)
        return reduce_rows(loss, reduction, shape_without_classes(logits), rows.shape[0])
    host = not isinstance(given, Tensor) and not backend.is_cuda_array(given)
    # checked here (dtype, shape; host labels' range before any upload); the labels then
    # enter the ops below as an input, so a compiled step replays them on every batch
    labels = class_indices(logits, given if host else target, "cross_entropy", ignore_index)
    if host:  # uploaded: the checked array is the input (the ops cast other int dtypes)
        target = Tensor.wrap(labels)
    if weights is None and not label_smoothing and reduction != "none":
        return ReducedSoftmaxCrossEntropy(ignore_index, reduction == "mean")(rows, target)
    keep = RowWeights(ignore_index, logits.dtype)(target)
    w = (
        keep
        if weights is None
        else RowWeights(ignore_index, logits.dtype)(target, Tensor.wrap(weights))
    )
    loss = SoftmaxCrossEntropy(ignore_index)(rows, target) * w
    if label_smoothing:
        total = float(c) if weights is None else weights.sum()
        uniform = logsumexp(rows, axis=1) * total - reduce_ops.sum(
            rows if weights is None else rows * weights, axis=1
        )
        loss = loss * (1.0 - label_smoothing) + uniform * (keep * (label_smoothing / c))
    return reduce_rows(loss, reduction, labels.shape, lambda: reduce_ops.sum(w))


def _with_probabilities(rows, probs, weights, label_smoothing) -> Tensor:
    """-sum_c w[c] p_c log_softmax(x)_c for each row of (M, C) logits."""
    if label_smoothing:
        probs = probs * (1.0 - label_smoothing) + label_smoothing / rows.shape[1]
    terms = log_softmax(rows, axis=1) * probs
    if weights is not None:
        terms = terms * weights
    return -reduce_ops.sum(terms, axis=1)
