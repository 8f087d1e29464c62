"""The smooth activations of ``torch.nn.functional`` that the registry (``ops/activation``)
lacks: ``selu``, ``celu``, ``mish``, ``softsign``, ``logsigmoid``, and ``softplus`` with
torch's ``beta=`` and ``threshold=``.  Each is a composite of recorded ops, so it is
differentiable to any order, replayed by ``gg.compile`` and runs on CUDA as they do.

Written in torch's arithmetic, with its values and gradients at 0, NaN and ±inf:

  selu        scale · elu(x, alpha) (torch's constants); the gradient at 0 is scale·alpha
              and at NaN scale·gy, as F.elu's (torch's scalar and CUDA code)
  celu(a)     elu(x · (1/a), a) where x <= 0, else x (NaN too: gradient gy); a == 1 is elu
              itself; gradient 1 at 0
  mish        x · tanh(log1p(exp(x))); above 20 (finite) exp's input is held at 20, where
              tanh already rounds to 1 in float32 and float64, so exp never overflows into
              an inf · 0 gradient; NaN at -inf and gradient NaN at ±inf, as torch's
  softsign    x / (1 + |x|), torch's own composite (NaN at ±inf)
  logsigmoid  min(x, 0) - log1p(exp(-|x|)), the -|x| written as where(x < 0, x, -x) so that
              the gradient at 0 is torch's 1/2 and is accurate for large |x|
  softplus    beta = 1, threshold = 20 (the defaults): the fused registry kernel; otherwise
              x where x·beta > threshold, else log1p(exp(x·beta)) / beta (exp's input held
              at 0 above the threshold, so the unused branch gives no inf · 0)

``inplace=True`` (selu, celu, mish) writes the input through ``ops/inplace.py`` as
``F.relu``'s does; the composite runs on a copy while a graph is recorded, since its inner
nodes keep the buffer the write overwrites.
"""

from __future__ import annotations

import math

from ..creation import as_tensor
from ..tensor import Tensor
from . import activation, inplace as inplace_ops, nondifferentiable, unary
from .activation_twins import SOFTPLUS_THRESHOLD
from .comparison import ge, gt, le, lt
from .unary import exp, log1p
from .where import masked_fill, where

__all__ = ["celu", "logsigmoid", "mish", "selu", "softplus", "softsign"]

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946
MISH_HOLD = 20.0  # tanh(log1p(exp(20))) rounds to 1 in float32 and float64


def _floating(x, what: str) -> Tensor:
    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{what} needs a floating-point tensor, got {x.dtype}")
    return x


def _apply(x, fn, inplace: bool, what: str) -> Tensor:
    x = _floating(x, what)
    if not inplace:
        return fn(x)
    return inplace_ops.apply(x, lambda t, _: fn(t.clone() if t.requires_grad else t), None)


def selu(x, inplace: bool = False) -> Tensor:
    """scale · (x if x > 0 else alpha·(exp(x) - 1)), torch's alpha and scale."""
    return _apply(x, lambda t: activation.elu(t, SELU_ALPHA) * SELU_SCALE, inplace, "selu")


def celu(x, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x if x > 0 else alpha·(exp(x/alpha) - 1); alpha > 0."""
    alpha = float(alpha)
    if alpha == 0:
        raise ValueError("alpha cannot be 0 for CELU")
    if alpha < 0:
        raise ValueError(f"celu needs alpha > 0 (it is built on elu), got {alpha}")
    if alpha == 1:
        return _apply(x, lambda t: activation.elu(t, 1.0), inplace, "celu")

    def fn(t):
        return where(le(t, 0), activation.elu(t * (1 / alpha), alpha), t)

    return _apply(x, fn, inplace, "celu")


def _finite_above(a, bound):
    return (a > bound) & (a < math.inf)


def mish(x, inplace: bool = False) -> Tensor:
    """x · tanh(softplus(x)), softplus as torch's mish has it: log1p(exp(x))."""

    def fn(t):
        held = nondifferentiable.apply("gt_finite", _finite_above, (t,), MISH_HOLD)
        return t * activation.tanh(log1p(exp(masked_fill(t, held, MISH_HOLD))))

    return _apply(x, fn, inplace, "mish")


def softsign(x) -> Tensor:
    """x / (1 + |x|)."""
    x = _floating(x, "softsign")
    return x / (unary.abs(x) + 1)


def logsigmoid(x) -> Tensor:
    """log(sigmoid(x)) = min(x, 0) - log1p(exp(-|x|)), never overflowing."""
    x = _floating(x, "logsigmoid")
    minus_abs = where(lt(x, 0), x, -x)
    return masked_fill(x, ge(x, 0), 0.0) - log1p(exp(minus_abs))


def is_registry_softplus(beta, threshold) -> bool:
    """Whether ``softplus(x, beta, threshold)`` is the registry's (``ops/activation``, a
    fused kernel on CUDA): torch's defaults, beta 1 and threshold 20."""
    return beta == 1 and threshold == SOFTPLUS_THRESHOLD


def softplus(x, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """log(1 + exp(beta·x)) / beta, and x itself where beta·x > threshold."""
    if is_registry_softplus(beta, threshold):
        return activation.softplus(x)
    x = _floating(x, "softplus")
    scaled = x * float(beta)
    above = gt(scaled, float(threshold))
    return where(above, x, log1p(exp(masked_fill(scaled, above, 0.0))) / float(beta))
