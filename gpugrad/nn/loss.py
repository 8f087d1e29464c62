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

import inspect

from .. import functional as F
from ..ops.loss import arguments
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
    ``loss`` is the subclass's function.  A subclass's constructor is made from the
    function's PyTorch signature, less ``(input, target)`` and the parameters named in
    ``without``: it takes ``reduction`` "mean", "sum" or "none" (or PyTorch's deprecated
    ``size_average`` and ``reduce`` flags, mapped onto it) and keeps every other argument
    as an attribute of its name (``weight`` and ``pos_weight`` as buffers), passed on to
    ``loss`` by ``forward``."""

    loss = None  # the function in gpugrad.functional
    without = ()  # the function's parameters the module does not take
    BUFFERS = ("weight", "pos_weight")

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            return
        parameters = [
            parameter
            for name, parameter in inspect.signature(cls.loss).parameters.items()
            if name not in ("input", "target", *cls.without)
        ]
        signature = inspect.Signature(parameters)

        def __init__(self, *args, **kwargs):
            Module.__init__(self)
            for name, value in arguments(cls.__qualname__, signature, args, kwargs).items():
                if name in _Loss.BUFFERS:
                    self._buffer(name, value)
                else:
                    setattr(self, name, value)

        receiver = inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)
        __init__.__signature__ = signature.replace(parameters=[receiver, *parameters])
        __init__.__qualname__ = f"{cls.__qualname__}.__init__"
        cls.__init__ = __init__
        cls._options = tuple(
            name for name in signature.parameters if name not in ("size_average", "reduce")
        )

    def _buffer(self, name: str, value) -> None:
        """``value`` as the buffer ``name`` (None: a plain attribute, since moving a module
        skips nothing it registered)."""
        if value is None:
            object.__setattr__(self, name, None)
        else:
            self.register_buffer(name, value)

    def forward(self, input, target):
        options = {name: getattr(self, name) for name in self._options}
        return self.loss(input, target, **options)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits (C,), (N, C) or (N, C, d1, ...) against class indices
    or class probabilities: ``F.cross_entropy``."""

    loss = staticmethod(F.cross_entropy)


class NLLLoss(_Loss):
    """Negative log-likelihood of log-probabilities against class indices: ``F.nll_loss``."""

    loss = staticmethod(F.nll_loss)


class BCELoss(_Loss):
    """Binary cross-entropy of probabilities: ``F.binary_cross_entropy``."""

    loss = staticmethod(F.binary_cross_entropy)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy of logits, computed stably, with an optional per-class
    ``pos_weight``: ``F.binary_cross_entropy_with_logits``."""

    loss = staticmethod(F.binary_cross_entropy_with_logits)


class MSELoss(_Loss):
    """Mean (or sum) of the squared differences."""

    loss = staticmethod(F.mse_loss)
    without = ("weight",)


class L1Loss(_Loss):
    """Mean (or sum) of the absolute differences."""

    loss = staticmethod(F.l1_loss)
    without = ("weight",)


class SmoothL1Loss(_Loss):
    """Quadratic below ``beta``, linear above: ``F.smooth_l1_loss``."""

    loss = staticmethod(F.smooth_l1_loss)


class HuberLoss(_Loss):
    """Quadratic below ``delta``, ``delta``-sloped linear above: ``F.huber_loss``."""

    loss = staticmethod(F.huber_loss)
    without = ("weight",)


class MultiMarginLoss(_Loss):
    """Multiclass SVM (hinge) loss of (N, C) scores against (N,) labels, divided by C as
    PyTorch's (the course notes' SVM loss is not): ``F.multi_margin_loss``."""

    loss = staticmethod(F.multi_margin_loss)
