"""Inverted dropout: zero each element with probability p and scale the rest by 1/(1-p), so
that eval mode is the identity.  The mask is drawn from gpugrad's generator of x's device."""

from __future__ import annotations

import numpy

from .. import backend, random
from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor

__all__ = ["dropout"]


class InvertedDropout(Function):
    """x · mask, the mask (0 with probability p, else 1/(1-p)) drawn in the forward: an op
    of its own, so that a compiled step draws a fresh mask at every replay."""

    symbol = "dropout"

    def __init__(self, p: float):
        self.p = p

    def forward(self, x):
        # float64 draws on the CPU, float32 on a GPU (where float64 is slow): the streams
        # that a seed has always given
        device = backend.device_of(x)
        sample_dtype = numpy.float64 if device.kind == "cpu" else numpy.float32
        keep = random.sample_uniform(device, x.shape, sample_dtype)
        self.mask = ((keep >= self.p) / (1 - self.p)).astype(x.dtype)
        return x * self.mask

    def backward(self, ns, gy):
        return gy * self.mask


def dropout(x, p: float = 0.5, training: bool = True) -> Tensor:
    """Inverted dropout: zero each element with probability p and scale the rest by
    1/(1-p), so eval mode is the identity."""
    x = as_tensor(x)
    if not 0 <= p <= 1:
        raise ValueError(f"dropout probability must be in [0, 1], got {p}")
    if not training or p == 0:
        return x
    if p == 1:
        return x * 0.0
    return InvertedDropout(p)(x)
