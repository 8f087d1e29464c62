"""Inverted dropout: zero each element with probability p and scale the rest by 1/(1-p), so
that eval mode is the identity.

On the CPU the mask is drawn from gpugrad's NumPy generator (float64 uniforms, the stream a
seed has always given).  On a GPU one kernel (``kernels/dropout.cu``) draws the mask from
the device's counter-based Philox generator (``gpugrad.random.PhiloxGenerator``) and applies
it; the backward recomputes the same mask from the same draw instead of storing it.  Inside
a compiled step captured as a CUDA graph the kernel reads the generator's offset from device
memory, which the host advances before each replay: every replay draws a fresh mask."""

from __future__ import annotations

import numpy

from .. import backend, kernels, random
from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor

__all__ = ["dropout"]


class InvertedDropout(Function):
    """x · mask, the mask (0 with probability p, else 1/(1-p)) drawn in the forward: an op
    of its own, so that a compiled step draws a fresh mask at every replay."""

    symbol = "dropout"

    draw = None  # on a GPU, the forward's Philox draw (the CPU's forward sets mask instead)

    def __init__(self, p: float):
        self.p = p  # nothing else: gg.compile takes what __init__ sets as fixed

    def forward(self, x):
        device = backend.device_of(x)
        if device.kind == "cuda":
            if x.dtype.kind != "f":  # checked before the draw: a refused call draws nothing
                raise TypeError(f"dropout on {device} needs a floating-point tensor, got {x.dtype}")
            self.draw, self.shape = random.philox_draw(device, x.size), x.shape
            return kernels.dropout.apply(x, self.p, self.draw)
        # float64 draws on the CPU: the stream that a seed has always given
        keep = random.sample_uniform(device, x.shape, numpy.float64)
        self.mask = ((keep >= self.p) / (1 - self.p)).astype(x.dtype)
        return x * self.mask

    def backward(self, ns, gy):
        if self.draw is not None:
            return ns.apply(DropoutMask(self.p, self.draw, self.shape), gy)
        return gy * self.mask


class DropoutMask(Function):
    """gy · mask for the mask of an :class:`InvertedDropout` on a GPU, recomputed by the
    dropout kernel from the forward's draw; linear in gy, so its own backward is itself."""

    symbol = "dropout_mask"

    def __init__(self, p: float, draw, shape: tuple):
        self.p, self.draw, self.shape = p, draw, shape

    def forward(self, gy):
        return kernels.dropout.apply(gy, self.p, self.draw, self.shape)

    def backward(self, ns, ggx):
        return ns.apply(DropoutMask(self.p, self.draw, self.shape), ggx)


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
