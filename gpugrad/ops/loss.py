"""Losses with PyTorch's definitions and signatures: ``nll_loss`` and ``multi_margin_loss``
(class-index targets), ``mse_loss``, ``l1_loss``, ``smooth_l1_loss``, ``huber_loss``; and
what every loss shares: the ``reduction`` ("mean" (default), "sum" or "none", with
PyTorch's deprecated ``size_average``/``reduce`` mapped onto it), the check of class-index
targets, the (N, C, d1, ...) layout and per-class weights.  Softmax cross-entropy and the
class-target helpers (``class_targets``) have their own modules; the binary
cross-entropies (``binary_cross_entropy`` of probabilities, ``..._with_logits``) are here.
"""

from __future__ import annotations

import functools
import inspect

import numpy

from .. import backend
from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor
from . import arithmetic, reduce as reduce_ops, shape
from .activation import softplus
from .class_targets import (
    class_indices,
    class_rows,
    class_weights,
    constant,
    divide,
    flag_device_labels,
    num_classes,
    reduce_rows,
    row_weights,
)
from .where import where

__all__ = [
    "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
    "huber_loss",
    "l1_loss",
    "mse_loss",
    "multi_margin_loss",
    "nll_loss",
    "smooth_l1_loss",
]

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")


def legacy_reduction(size_average, reduce, reduction: str) -> str:
    """PyTorch's deprecated ``size_average``/``reduce`` flags as a ``reduction`` (checked)."""
    if size_average is not None or reduce is not None:
        if reduce is False:
            reduction = "none"
        else:
            reduction = "sum" if size_average is False else "mean"
    check_reduction(reduction)
    return reduction


# PyTorch's loss parameters after (input, target): each one's default and annotation
DEFAULTS = {
    "weight": None,
    "size_average": None,
    "ignore_index": -100,
    "reduce": None,
    "reduction": "mean",
    "label_smoothing": 0.0,
    "pos_weight": None,
    "p": 1,
    "margin": 1.0,
    "beta": 1.0,
    "delta": 1.0,
}
ANNOTATIONS = {
    "ignore_index": "int",
    "reduction": "str",
    "label_smoothing": "float",
    "p": "int",
    "margin": "float",
    "beta": "float",
    "delta": "float",
}


def torch_loss(*names: str):
    """Decorates a loss ``function(input, target, **options)`` with PyTorch's signature
    ``(input, target, *names)`` (PyTorch's order, defaults and annotations).  A call binds
    its arguments to that signature and passes them all by keyword, the deprecated
    ``size_average``/``reduce`` among them folded into ``reduction`` (``arguments``)."""
    keyword = inspect.Parameter.POSITIONAL_OR_KEYWORD
    signature = inspect.Signature(
        [inspect.Parameter("input", keyword), inspect.Parameter("target", keyword)]
        + [
            inspect.Parameter(
                name,
                keyword,
                default=DEFAULTS[name],
                annotation=ANNOTATIONS.get(name, inspect.Parameter.empty),
            )
            for name in names
        ],
        return_annotation="Tensor",
    )

    def decorate(function):
        @functools.wraps(function)
        def loss(*args, **kwargs) -> Tensor:
            return function(**arguments(function.__name__, signature, args, kwargs))

        loss.__signature__ = signature
        return loss

    return decorate


def arguments(name: str, signature: inspect.Signature, args, kwargs) -> dict:
    """The arguments of a call of ``name`` bound to its ``signature``, by name with the
    defaults filled in, ``size_average`` and ``reduce`` replaced by the ``reduction`` they
    mean.  A call that does not fit raises Python's TypeError."""
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as error:
        raise TypeError(f"{name}() {error}") from None
    bound.apply_defaults()
    options = bound.arguments
    options["reduction"] = legacy_reduction(
        options.pop("size_average", None), options.pop("reduce", None), options["reduction"]
    )
    return options


def apply_reduction(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        with numpy.errstate(invalid="ignore"):  # an empty mean is NaN, as in PyTorch
            return reduce_ops.mean(loss)
    if reduction == "sum":
        return reduce_ops.sum(loss)
    return loss


@torch_loss("weight", "size_average", "ignore_index", "reduce", "reduction")
def nll_loss(input, target, weight, ignore_index, reduction) -> Tensor:
    """Negative log-likelihood of log-probabilities ``input`` (C,), (N, C) or (N, C, d1, ...)
    against class indices ``target`` (), (N,) or (N, d1, ...): per element
    ``-weight[y] * input[y]``, 0 where ``y == ignore_index``; "mean" divides by the sum of
    the weights of the targets not ignored.

    >>> import gpugrad as gg
    >>> nll_loss(gg.tensor([[-0.5, -1.0]]), gg.tensor([1]))
    tensor(1.)
    """
    x = as_tensor(input)
    c = num_classes(x, "nll_loss")
    labels = class_indices(x, target, "nll_loss", ignore_index)
    flag_device_labels(labels, c, "nll_loss", ignore_index)
    weights = class_weights(weight, x, c, "nll_loss")
    rows = class_rows(x, c)
    xp = backend.get_array_module(labels)
    safe, _, w = row_weights(labels.reshape(-1), weights, ignore_index, x.dtype)
    picked = rows[xp.arange(rows.shape[0]), safe]
    return reduce_rows(-picked * w, reduction, labels.shape, w.sum)


@torch_loss("p", "margin", "weight", "size_average", "reduce", "reduction")
def multi_margin_loss(input, target, p, margin, weight, reduction) -> Tensor:
    """The multiclass SVM hinge loss of (N, C) scores against (N,) labels, PyTorch's
    definition: ``L_i = sum_{j != y_i} w[y_i] max(0, margin - s_{y_i} + s_j)^p / C``.

    The course notes' SVM loss is the same sum WITHOUT the division by the number of
    classes C; PyTorch divides by C, and so do we (multiply by C for the notes' number).
    """
    if p not in (1, 2):
        raise ValueError(f"multi_margin_loss: p must be 1 or 2, got {p!r}")
    scores = as_tensor(input)
    if scores.ndim != 2:
        raise ValueError(f"multi_margin_loss: scores must be (N, C), got shape {scores.shape}")
    raw = class_indices(scores, target, "multi_margin_loss")
    xp = backend.get_array_module(raw)
    n, c = scores.shape
    flag_device_labels(raw, c, "multi_margin_loss")
    correct = shape.reshape(scores[xp.arange(n), raw], (n, 1))
    # max(0, h) with 0 as the first argument: at the kink h = 0 the max gate routes the
    # gradient to the constant, so the hinge has gradient 0 there (as in PyTorch).
    margins = arithmetic.maximum(as_tensor(0.0, like=scores), scores - correct + margin)
    if p == 2:
        margins = margins * margins
    not_label = xp.ones((n, c), dtype=scores.dtype)
    not_label[xp.arange(n), raw] = 0
    weights = class_weights(weight, scores, c, "multi_margin_loss")
    if weights is not None:
        not_label *= weights[raw][:, None]
    per_row = reduce_ops.sum(margins * not_label, axis=1) / c
    return apply_reduction(per_row, reduction)


# -- elementwise losses of input and target ------------------------------------------
def pair(a, b, name):
    """Input and target as Tensors of one shape (PyTorch would broadcast with a warning; we
    refuse, since a (N,) target against (N, 1) predictions is almost always a bug)."""
    a = as_tensor(a)
    b = as_tensor(b, like=a) if not isinstance(b, Tensor) else b
    if a.shape != b.shape:
        raise ValueError(f"{name}: input of shape {a.shape} and target of shape {b.shape} differ")
    return a, b


def _elementwise(loss: Tensor, weight, reduction: str, name: str, mean_of="weights") -> Tensor:
    """``weight * loss`` reduced, with PyTorch's rules, which differ per loss: mse and l1
    (``mean_of="weights"``) take a weight of the loss's shape and divide their mean by the
    sum of the weights; huber (``"elements"``) takes one of the same shape and divides by
    the number of elements; the binary cross-entropies (``"broadcast"``) broadcast it."""
    if weight is None:
        return apply_reduction(loss, reduction)
    weight = constant(weight, loss, name, "weight")
    if mean_of != "broadcast" and weight.shape != loss.shape:
        raise ValueError(
            f"{name}: weight of shape {weight.shape} for input of shape {loss.shape}; "
            "they must be the same"
        )
    if mean_of != "weights" or reduction != "mean":
        return apply_reduction(loss * weight, reduction)
    return divide(reduce_ops.sum(loss * weight), reduce_ops.sum(weight))


@torch_loss("size_average", "reduce", "reduction", "weight")
def mse_loss(input, target, reduction, weight) -> Tensor:
    """Squared differences ``weight * (input - target)^2``, reduced."""
    a, b = pair(input, target, "mse_loss")
    d = a - b
    return _elementwise(d * d, weight, reduction, "mse_loss")


@torch_loss("size_average", "reduce", "reduction", "weight")
def l1_loss(input, target, reduction, weight) -> Tensor:
    """Absolute differences ``weight * |input - target|``, reduced."""
    a, b = pair(input, target, "l1_loss")
    return _elementwise((a - b).abs(), weight, reduction, "l1_loss")


def _quadratic_then_linear(input, target, beta: float, slope: float, name: str) -> Tensor:
    """``0.5 d^2 * (slope / beta)`` where ``|d| < beta``, else ``slope * (|d| - beta / 2)``."""
    a, b = pair(input, target, name)
    d = a - b
    ad = d.abs()
    return where(ad.array < beta, d * d * (0.5 * slope / beta), (ad - 0.5 * beta) * slope)


@torch_loss("size_average", "reduce", "reduction", "beta")
def smooth_l1_loss(input, target, reduction, beta) -> Tensor:
    """``0.5 d^2 / beta`` where ``|d| < beta``, else ``|d| - beta / 2`` (d = input -
    target); ``beta = 0`` is the L1 loss.

    >>> import gpugrad as gg
    >>> smooth_l1_loss(gg.tensor([0.5, 3.0]), gg.tensor([0.0, 0.0]))
    tensor(1.3125)
    """
    if beta < 0:
        raise ValueError(f"smooth_l1_loss: beta must be >= 0, got {beta}")
    if beta == 0:
        return l1_loss(input, target, reduction=reduction)
    return apply_reduction(
        _quadratic_then_linear(input, target, beta, 1.0, "smooth_l1_loss"), reduction
    )


@torch_loss("reduction", "delta", "weight")
def huber_loss(input, target, reduction, delta, weight) -> Tensor:
    """``0.5 d^2`` where ``|d| < delta``, else ``delta (|d| - delta / 2)`` (d = input -
    target): ``delta * smooth_l1_loss(beta=delta)``."""
    if delta <= 0:
        raise ValueError(f"huber_loss: delta must be > 0, got {delta}")
    loss = _quadratic_then_linear(input, target, delta, delta, "huber_loss")
    return _elementwise(loss, weight, reduction, "huber_loss", mean_of="elements")


# -- binary cross-entropies ------------------------------------------------------------
class BinaryCrossEntropy(Function):
    """-w (t log x + (1 - t) log(1 - x)) with each log clamped at -100, as PyTorch; its
    gradients are PyTorch's: w (x - t) / max(x (1 - x), 1e-12) for x, w log((1 - x) / x)
    for t."""

    save_inputs = (0, 1)
    EPSILON = 1e-12

    def __init__(self, weight):
        self.weight = weight  # a raw array of the input's shape and dtype, or None

    def forward(self, x, t):
        xp = backend.get_array_module(x)
        # checked on the CPU, where it is free (on a GPU it would sync); here in the op, so
        # that a compiled step checks every batch
        if not backend.is_cuda_array(x) and not bool(((x >= 0) & (x <= 1)).all()):
            raise ValueError("binary_cross_entropy: all elements of input must be in [0, 1]")
        with numpy.errstate(divide="ignore"):  # log(0) = -inf, clamped
            log_x = xp.maximum(xp.log(x), -100.0)
            log_rest = xp.maximum(xp.log(1 - x), -100.0)
        loss = -(t * log_x + (1 - t) * log_rest)
        return loss if self.weight is None else loss * self.weight

    def backward(self, ns, gy, x, t):
        g = gy if self.weight is None else gy * self.weight
        need_x, need_t = self.needs_grad
        with numpy.errstate(divide="ignore"):
            return (
                g * (x - t) / ns.maximum((1 - x) * x, self.EPSILON) if need_x else None,
                g * (ns.log(1 - x) - ns.log(x)) if need_t else None,
            )


@torch_loss("weight", "size_average", "reduce", "reduction")
def binary_cross_entropy(input, target, weight, reduction) -> Tensor:
    """Binary cross-entropy of probabilities ``input`` in [0, 1] against ``target`` of the
    same shape: ``-weight (t log x + (1 - t) log(1 - x))``, each log clamped at -100 (as
    PyTorch), ``weight`` broadcast to the input's shape."""
    x, t = pair(input, target, "binary_cross_entropy")
    w = None
    if weight is not None:
        w = constant(weight, x, "binary_cross_entropy", "weight").array
        xp = backend.get_array_module(w)
        w = xp.broadcast_to(w, numpy.broadcast_shapes(w.shape, x.shape))
    return apply_reduction(BinaryCrossEntropy(w)(x, t), reduction)


@torch_loss("weight", "size_average", "reduce", "reduction", "pos_weight")
def binary_cross_entropy_with_logits(input, target, weight, reduction, pos_weight) -> Tensor:
    """Binary cross-entropy of ``sigmoid(input)`` against ``target``, computed stably:
    ``weight ((1 - t) x + (1 + (pos_weight - 1) t) softplus(-x))``; ``pos_weight`` (one per
    class, broadcast along the last axis) weighs the positive term.

    >>> import gpugrad as gg
    >>> binary_cross_entropy_with_logits(gg.tensor([0.0]), gg.tensor([1.0]))
    tensor(0.6931472)
    """
    name = "binary_cross_entropy_with_logits"
    x, t = pair(input, target, name)
    log_weight = 1.0
    if pos_weight is not None:
        log_weight = (constant(pos_weight, x, name, "pos_weight") - 1.0) * t + 1.0
    loss = (1.0 - t) * x + log_weight * softplus(-x)
    return _elementwise(loss, weight, reduction, name, mean_of="broadcast")
