"""Inverted dropout: zero each element with probability p and scale the rest by 1/(1-p), so
that eval mode is the identity.  The mask is drawn from gpugrad's generator of x's device."""

from __future__ import annotations

import numpy

from .. import random
from ..creation import as_tensor
from ..tensor import Tensor

__all__ = ["dropout"]


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
    # float64 draws on the CPU, float32 on a GPU (where float64 is slow): the streams
    # that a seed has always given
    sample_dtype = numpy.float64 if x.device.kind == "cpu" else numpy.float32
    keep = random.sample_uniform(x.device, x.shape, sample_dtype)
    mask = ((keep >= p) / (1 - p)).astype(x.dtype)
    return x * Tensor.wrap(mask)
