"""The piecewise-linear activations of ``torch.nn.functional``: ``hardtanh``, ``relu6``,
``hardsigmoid``, ``hardswish``, ``threshold`` and ``prelu``.

``hardtanh``, ``relu6``, ``threshold`` and ``prelu`` are composites of recorded ops
(``masked_fill``/``where`` over a comparison), so compiled replays, CUDA and any order of
derivative come for free.  ``hardsigmoid`` and ``hardswish`` are small Functions, forward
and backward side by side, because no composite gives torch's numbers: hardsigmoid(NaN) is
NaN with gradient 0 and its slope is the float literal 1/6 below; hardswish's value
overflows as torch's (x·6/6) where its gradient is 1.  The sides, as torch's scalar and
CUDA kernels take them (its CPU vector loops differ at NaN: hardtanh and hardswish give
0 and NaN there, the ``elu`` precedent of ``ops/activation_twins``):

  hardtanh(lo, hi)  y = lo where x <= lo, hi where x >= hi, else x (NaN passes); gx = 0 at
                    and beyond both ends, else gy (NaN too)
  relu6             hardtanh(0, 6)
  hardsigmoid       y = min(max(x + 3, 0), 6) / 6; gx = gy·(1/6) where -3 < x < 3, else 0;
                    torch's 1/6 is the float literal ``1.0f / 6.0f``, in float64 too
  hardswish         y = x·min(max(x + 3, 0), 6) / 6 (NaN at -inf, as torch's); gx = 0 where
                    x <= -3, gy·(x/3 + 1/2) where x < 3, else gy (x >= 3 and NaN, as torch's
                    scalar and CUDA code; its CPU vector loop gives NaN at NaN)
  threshold(t, v)   y = v where x <= t, else x (NaN passes); gx = 0 where x <= t, else gy
  prelu(w)          y = x where x > 0, else w·x, w along dim 1; gx = gy or w·gy (NaN: w·gy);
                    gw = Σ gy·x over x <= 0 (0, not inf·0, where x > 0)

Every backward SELECTS, so an infinite upstream where a unit is off gives 0, as in torch.
``inplace=True`` writes the input through ``ops/inplace.py`` as ``F.relu``'s does.
"""

from __future__ import annotations

import numpy

from .. import backend
from ..autograd.engine import Function
from ..creation import as_tensor, unwrap
from ..tensor import Tensor
from . import inplace as inplace_ops
from .comparison import ge, gt, le
from .shape import reshape
from .where import masked_fill, where

__all__ = ["hardsigmoid", "hardswish", "hardtanh", "prelu", "relu6", "threshold"]

HARDSIGMOID_SLOPE = float(numpy.float32(1.0) / numpy.float32(6.0))  # torch's 1.0f / 6.0f


def _bound(x, value):
    """A Python bound in x's dtype (torch converts the scalar to the tensor's type)."""
    return x.dtype.type(value)


class HardSigmoidOp(Function):
    """min(max(x + 3, 0), 6) / 6; gradient gy·(1/6) strictly inside (-3, 3)."""

    name = "hardsigmoid"

    def forward(self, x):
        xp = backend.get_array_module(x)
        if self.needs_grad[0]:
            self.inside = (x > -3) & (x < 3)
        return xp.minimum(xp.maximum(x + _bound(x, 3), _bound(x, 0)), _bound(x, 6)) / _bound(x, 6)

    def backward(self, ns, gy):
        return ns.where(self.inside, gy * HARDSIGMOID_SLOPE, 0)


class HardSwishOp(Function):
    """x · min(max(x + 3, 0), 6) / 6; gradient 0 up to -3, x/3 + 1/2 below 3, else 1."""

    name = "hardswish"
    save_inputs = (0,)

    def forward(self, x):
        xp = backend.get_array_module(x)
        six = _bound(x, 6)
        return x * xp.minimum(xp.maximum(x + _bound(x, 3), _bound(x, 0)), six) / six

    def backward(self, ns, gy, x):
        xd = unwrap(x)
        off, below_3 = xd <= -3, xd < 3
        # x held at 0 outside (-3, 3): a create_graph backward through the unused branch
        # then multiplies 0 by finite numbers, not by ±inf
        held = ns.where(below_3 & ~off, x, 0)
        return ns.where(off, 0, ns.where(below_3, gy * (held / 3 + 0.5), gy))


def _activate(x, fn, inplace: bool, what: str, floating: bool = True) -> Tensor:
    x = as_tensor(x)
    if floating and x.dtype.kind != "f":
        raise TypeError(f"{what} needs a floating-point tensor, got {x.dtype}")
    # No node here keeps x's buffer but HardSwishOp, which inplace_ops.apply copies first.
    return inplace_ops.apply(x, lambda t, _: fn(t), None) if inplace else fn(x)


def _clamp(t, lo, hi):
    return masked_fill(masked_fill(t, le(t, lo), lo), ge(t, hi), hi)


def hardtanh(x, min_val: float = -1.0, max_val: float = 1.0, inplace: bool = False) -> Tensor:
    """min(max(x, min_val), max_val); the gradient is 0 at both ends, gy at NaN, as torch's."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    fn = lambda t: _clamp(t, min_val, max_val)
    return _activate(x, fn, inplace, "hardtanh", floating=False)


def relu6(x, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6); the gradient is 0 at 0 and at 6, gy at NaN, as torch's."""
    return _activate(x, lambda t: _clamp(t, 0, 6), inplace, "relu6", floating=False)


def hardsigmoid(x, inplace: bool = False) -> Tensor:
    """min(max(x + 3, 0), 6) / 6; the gradient is 1/6 strictly inside (-3, 3), else 0."""
    return _activate(x, lambda t: HardSigmoidOp()(t), inplace, "hardsigmoid")


def hardswish(x, inplace: bool = False) -> Tensor:
    """x · hardsigmoid(x), in torch's arithmetic (x · min(max(x + 3, 0), 6) / 6)."""
    return _activate(x, lambda t: HardSwishOp()(t), inplace, "hardswish")


def threshold(x, threshold: float, value: float, inplace: bool = False) -> Tensor:
    """``value`` where x <= threshold, else x (NaN passes, with its gradient)."""
    fn = lambda t: masked_fill(t, le(t, threshold), value)
    return _activate(x, fn, inplace, "threshold", floating=False)


def prelu(x, weight) -> Tensor:
    """x where x > 0, else weight·x; ``weight`` (0-d or 1-d: one element, or one per channel
    of dim 1) is learnable and broadcast over the other dims."""
    x = as_tensor(x)
    weight = as_tensor(weight, like=x)
    if weight.ndim > 1:
        raise ValueError(
            f"prelu: Expected `weight` to be a scalar or 1D tensor, but got: ndim = {weight.ndim}"
        )
    if weight.numel() != 1:
        channels = x.shape[1] if x.ndim >= 2 else 1
        if weight.numel() != channels:
            raise ValueError(
                "Mismatch of parameter numbers and input channel size. Found parameter "
                f"numbers = {weight.numel()} and channel size = {channels}."
            )
        weight = reshape(weight, (channels,) + (1,) * (x.ndim - 2))
    elif weight.ndim > x.ndim:
        weight = reshape(weight, ())
    positive = gt(x, 0)
    return where(positive, x, weight * masked_fill(x, positive, 0.0))
