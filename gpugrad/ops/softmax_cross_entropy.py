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
from ..creation import as_tensor
from ..tensor import Tensor
from . import reduce as reduce_ops
from .class_targets import (
    RowWeights,
    check_label_range,
    class_indices,
    class_rows,
    class_weights,
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
        if backend.is_cuda_array(logits):  # the kernel skips ignored labels itself
            launcher = kernels.softmax_cross_entropy
            labels = self.labels = labels.reshape(-1)
            flag = launcher.label_flag(logits)  # standing: nothing allocated
            loss, self.lse, _ = launcher.forward(logits, labels, self.ignore_index, flag)
            return loss
        labels = self.labels = safe_labels(labels, self.ignore_index)
        check_label_range(labels, logits.shape[1], "cross_entropy")
        m = logits.max(axis=1, keepdims=True)
        shifted = logits - m
        numpy.exp(shifted, out=shifted)
        lse = numpy.log(shifted.sum(axis=1)) + m[:, 0]
        self.lse = lse
        return lse - logits[numpy.arange(logits.shape[0]), labels]

    def backward(self, ns, gy, logits):
        if not ns.graph and backend.is_cuda_array(logits):
            gx = kernels.softmax_cross_entropy.backward(logits, self.lse, self.labels, gy)
            return gx, None
        xp = backend.get_array_module(gy)
        n, c = logits.shape
        onehot = xp.zeros((n, c), dtype=logits.dtype)
        labels = self.labels  # on CUDA the raw labels: ignored ones indexed as class 0 here
        if backend.is_cuda_array(labels):
            labels = safe_labels(labels, self.ignore_index)
        onehot[xp.arange(n), labels] = 1
        if ns.graph:  # keep lse as a function of the logits: second derivatives
            lse = logsumexp(logits, axis=1, keepdims=True)
        else:
            lse = self.lse[:, None]
        probs = ns.exp(logits - lse)
        return (probs - onehot) * ns.reshape(gy, (n, 1)), None


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
