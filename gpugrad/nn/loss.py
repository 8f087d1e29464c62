"""Loss modules with PyTorch's constructor signatures: ``nn.CrossEntropyLoss``,
``NLLLoss``, ``BCELoss``, ``BCEWithLogitsLoss``, ``MSELoss``, ``L1Loss``, ``SmoothL1Loss``,
``HuberLoss``, ``MultiMarginLoss``.  Each ``forward(input, target)`` applies its function
in ``gpugrad.functional``; ``weight`` and ``pos_weight`` are buffers (they follow
``.to(device)`` and are saved in the state dict), as in PyTorch.

>>> import gpugrad as gg
>>> gg.nn.CrossEntropyLoss(label_smoothing=0.1)(gg.zeros(2, 3), gg.tensor([0, 2]))
tensor(1.0986123)
"""

from __future__ import annotations

from .. import functional as F
from ..ops.loss import legacy_reduction
from .module import Module

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "HuberLoss",
    "L1Loss",
    "MSELoss",
    "MultiMarginLoss",
    "NLLLoss",
    "SmoothL1Loss",
]


class _Loss(Module):
    """``forward(input, target)`` is ``loss(input, target, reduction=..., **options)``, where
    ``loss`` is the subclass's function, ``options()`` its extra keyword arguments and
    ``reduction`` "mean", "sum" or "none" (or PyTorch's deprecated ``size_average`` and
    ``reduce`` flags, mapped onto it)."""

    loss = None  # the function in gpugrad.functional

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__()
        self.reduction = legacy_reduction(size_average, reduce, reduction)

    def options(self) -> dict:
        return {}

    def _buffer(self, name: str, value) -> None:
        """``value`` as the buffer ``name`` (None: a plain attribute, since moving a module
        skips nothing it registered)."""
        if value is None:
            object.__setattr__(self, name, None)
        else:
            self.register_buffer(name, value)

    def forward(self, input, target):
        return self.loss(input, target, reduction=self.reduction, **self.options())


class _WeightedLoss(_Loss):
    """A loss with per-class (or per-element) weights, kept as the buffer ``weight``."""

    def __init__(self, weight=None, size_average=None, reduce=None, reduction: str = "mean"):
        super().__init__(size_average, reduce, reduction)
        self._buffer("weight", weight)

    def options(self) -> dict:
        return {"weight": self.weight}


class CrossEntropyLoss(_WeightedLoss):
    """Softmax cross-entropy of logits (C,), (N, C) or (N, C, d1, ...) against class indices
    or class probabilities: ``F.cross_entropy``."""

    loss = staticmethod(F.cross_entropy)

    def __init__(
        self,
        weight=None,
        size_average=None,
        ignore_index: int = -100,
        reduce=None,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def options(self) -> dict:
        return {
            "weight": self.weight,
            "ignore_index": self.ignore_index,
            "label_smoothing": self.label_smoothing,
        }


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities against class indices: ``F.nll_loss``."""

    loss = staticmethod(F.nll_loss)

    def __init__(
        self,
        weight=None,
        size_average=None,
        ignore_index: int = -100,
        reduce=None,
        reduction: str = "mean",
    ):
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def options(self) -> dict:
        return {"weight": self.weight, "ignore_index": self.ignore_index}


class BCELoss(_WeightedLoss):
    """Binary cross-entropy of probabilities: ``F.binary_cross_entropy``."""

    loss = staticmethod(F.binary_cross_entropy)


class BCEWithLogitsLoss(_WeightedLoss):
    """Binary cross-entropy of logits, computed stably, with an optional per-class
    ``pos_weight``: ``F.binary_cross_entropy_with_logits``."""

    loss = staticmethod(F.binary_cross_entropy_with_logits)

    def __init__(
        self, weight=None, size_average=None, reduce=None, reduction: str = "mean", pos_weight=None
    ):
        super().__init__(weight, size_average, reduce, reduction)
        self._buffer("pos_weight", pos_weight)

    def options(self) -> dict:
        return {"weight": self.weight, "pos_weight": self.pos_weight}


class MSELoss(_Loss):
    """Mean (or sum) of the squared differences."""

    loss = staticmethod(F.mse_loss)


class L1Loss(_Loss):
    """Mean (or sum) of the absolute differences."""

    loss = staticmethod(F.l1_loss)


class SmoothL1Loss(_Loss):
    """Quadratic below ``beta``, linear above: ``F.smooth_l1_loss``."""

    loss = staticmethod(F.smooth_l1_loss)

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean", beta: float = 1.0):
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def options(self) -> dict:
        return {"beta": self.beta}


class HuberLoss(_Loss):
    """Quadratic below ``delta``, ``delta``-sloped linear above: ``F.huber_loss``."""

    loss = staticmethod(F.huber_loss)

    def __init__(self, reduction: str = "mean", delta: float = 1.0):
        super().__init__(reduction=reduction)
        self.delta = delta

    def options(self) -> dict:
        return {"delta": self.delta}


class MultiMarginLoss(_WeightedLoss):
    """Multiclass SVM (hinge) loss of (N, C) scores against (N,) labels, divided by C as
    PyTorch's (the course notes' SVM loss is not): ``F.multi_margin_loss``."""

    loss = staticmethod(F.multi_margin_loss)

    def __init__(
        self,
        p: int = 1,
        margin: float = 1.0,
        weight=None,
        size_average=None,
        reduce=None,
        reduction: str = "mean",
    ):
        super().__init__(weight, size_average, reduce, reduction)
        self.p = p
        self.margin = margin

    def options(self) -> dict:
        return {"p": self.p, "margin": self.margin, "weight": self.weight}
