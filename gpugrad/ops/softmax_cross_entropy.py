"""Softmax cross-entropy: ``cross_entropy(logits, labels)`` (PyTorch's name) of (N, C)
logits against (N,) class indices, as one Function, ``SoftmaxCrossEntropy``.

Per row: loss = lse(x) - x[label], gradient (softmax(x) - onehot(label)) · gy.  On CUDA
each direction is one fused kernel (``gpugrad.kernels.softmax_cross_entropy``); a label out
of range is flagged on the device and raised at the next ``.item()``.  On the CPU the same
maths in NumPy, with labels checked up front (free there).
"""

from __future__ import annotations

import numpy

from .. import backend, kernels
from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor
from .loss import apply_reduction, check_reduction, class_indices
from .softmax import logsumexp

__all__ = ["cross_entropy"]


class SoftmaxCrossEntropy(Function):
    """Per-row loss lse(x_i) - x_i[y_i]; backward (softmax(x) - onehot(y)) * gy_i.
    On CUDA both directions are one fused kernel each."""

    save_inputs = (0,)

    def __init__(self, labels):
        self.labels = labels

    def forward(self, logits):
        if backend.is_cuda_array(logits):
            launcher = kernels.softmax_cross_entropy
            loss, self.lse, flag = launcher.forward(logits, self.labels)
            launcher.defer_label_check(flag, logits.shape[1])
            return loss
        m = logits.max(axis=1, keepdims=True)
        shifted = logits - m
        numpy.exp(shifted, out=shifted)
        lse = numpy.log(shifted.sum(axis=1)) + m[:, 0]
        self.lse = lse
        return lse - logits[numpy.arange(logits.shape[0]), self.labels]

    def backward(self, ns, gy, logits):
        if not ns.graph and backend.is_cuda_array(logits):
            return kernels.softmax_cross_entropy.backward(logits, self.lse, self.labels, gy)
        xp = backend.get_array_module(gy)
        n, c = logits.shape
        onehot = xp.zeros((n, c), dtype=logits.dtype)
        onehot[xp.arange(n), self.labels] = 1
        if ns.graph:  # keep lse as a function of the logits: second derivatives
            lse = logsumexp(logits, axis=1, keepdims=True)
        else:
            lse = self.lse[:, None]
        probs = ns.exp(logits - lse)
        return (probs - onehot) * ns.reshape(gy, (n, 1))


def cross_entropy(logits, labels, reduction: str = "mean") -> Tensor:
    """Softmax cross-entropy of (N, C) logits against (N,) integer labels."""
    check_reduction(reduction)
    logits = as_tensor(logits)
    raw = class_indices(logits, labels, "cross_entropy")
    return apply_reduction(SoftmaxCrossEntropy(raw)(logits), reduction)
