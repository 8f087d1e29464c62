"""Loss modules: ``nn.CrossEntropyLoss``, ``nn.MSELoss``, ``nn.L1Loss``,
``nn.MultiMarginLoss``; each applies its function in ``gpugrad.functional``."""

from __future__ import annotations

from .. import functional as F
from .module import Module

__all__ = ["CrossEntropyLoss", "L1Loss", "MSELoss", "MultiMarginLoss"]


class _Loss(Module):
    """``forward(input, target)`` is ``loss(input, target, reduction)``, where ``loss`` is the
    subclass's function and ``reduction`` is "mean", "sum" or "none"."""

    loss = None  # the function in gpugrad.functional

    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction

    def forward(self, input, target):
        return self.loss(input, target, self.reduction)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of (N, C) logits against (N,) integer labels."""

    loss = staticmethod(F.cross_entropy)


class MSELoss(_Loss):
    """Mean (or sum) of the squared differences."""

    loss = staticmethod(F.mse_loss)


class L1Loss(_Loss):
    """Mean (or sum) of the absolute differences."""

    loss = staticmethod(F.l1_loss)


class MultiMarginLoss(_Loss):
    """Multiclass SVM (hinge) loss, margin 1, of (N, C) scores against (N,) integer labels."""

    loss = staticmethod(F.multi_margin_loss)
