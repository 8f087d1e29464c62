"""The NumPy twins of the activations in ``gpugrad.ops.activation``'s registry: the CPU's
forward ``f(x, p, out)`` and backward ``f(y, gy, p)`` of each, the same maths as the CUDA
structs of ``kernels/activation.cu``.

Where a function has a kink, the side a point falls on is PyTorch's (``threshold_backward``,
``elu_backward``, ``leaky_relu_backward`` and ``softplus`` of ``aten``), one rule per
activation that the kernels share:

  relu        gx = 0 where y <= 0, else gy: a NaN y passes gy (NOT y <= 0), as torch's;
  leaky_relu  gx = gy where y > 0, else gy·slope: a NaN y takes the slope, as torch's;
  elu         gx = gy·(y + α) where y <= 0, else gy: a NaN y passes gy, as torch's scalar
              and CUDA code (its CPU vector loop tests y > 0 instead and gives NaN);
  softplus    y = x where x > 20 (torch's default threshold), else log(1 + eˣ); gx = gy
              where y > softplus(20), else gy·(1 - e⁻ʸ).

The backwards SELECT rather than multiply by a 0/1 mask, so that an infinite or NaN gy where
a unit is off gives 0, not inf·0 = NaN.  Every pass is branch-free: NumPy's masked
``where=`` ufuncs branch per element and run several times slower on the random signs of a
layer's pre-activations.
"""

from __future__ import annotations

import math

import numpy

from .. import host_memory
from .select import select

__all__ = [
    "SOFTPLUS_AT_THRESHOLD",
    "SOFTPLUS_THRESHOLD",
    "elu",
    "elu_backward",
    "leaky_relu",
    "leaky_relu_backward",
    "relu_backward",
    "sigmoid",
    "sigmoid_backward",
    "softplus",
    "softplus_backward",
    "tanh_backward",
]

SOFTPLUS_THRESHOLD = 20.0  # torch's default: softplus(x) = x above it, and its gradient 1
# softplus(20) = 20 + log1p(e⁻²⁰): a y above it came from an x above the threshold (in
# float32 and float16 it rounds to 20).  kernels/activation.cu holds the same two numbers.
SOFTPLUS_AT_THRESHOLD = SOFTPLUS_THRESHOLD + math.log1p(math.exp(-SOFTPLUS_THRESHOLD))


def sigmoid(x, p, out):
    negative = numpy.less(x, 0)
    e = numpy.abs(x, out=out)
    numpy.negative(e, out=e)
    numpy.exp(e, out=e)  # e = exp(-|x|) in [0, 1]: never overflows
    y = numpy.add(e, 1)
    numpy.reciprocal(y, out=y)  # 1 / (1 + e) = sigmoid(|x|); NaN stays NaN
    e *= y  # e / (1 + e) = sigmoid(-|x|)
    return select(negative, e, y)  # into y


def sigmoid_backward(y, gy, p):
    gx = numpy.subtract(1, y)
    gx *= y
    gx *= gy
    return gx


def tanh_backward(y, gy, p):
    gx = numpy.multiply(y, y)
    numpy.subtract(1, gx, out=gx)
    gx *= gy
    return gx


def relu_backward(y, gy, p):
    """gy where NOT y <= 0 (torch's threshold_backward: a NaN y passes gy), else 0, as
    gy & mask with an integer mask of -1 (all bits) or 0: made as [y <= 0] - 1 in the
    output's own buffer, the same three passes as [y > 0] negated."""
    if y.nbytes < host_memory.POOL_MIN_BYTES:
        return numpy.where(numpy.less_equal(y, 0), y.dtype.type(0), gy)
    gx = host_memory.empty_like(y)
    bits = numpy.less_equal(y, 0, out=gx.view(f"i{y.itemsize}"))  # 1 where off, else 0
    numpy.subtract(bits, 1, out=bits)  # 0 where off, -1 where on
    numpy.bitwise_and(gy.view(bits.dtype), bits, out=bits)
    return gx


def leaky_relu(x, slope, out):
    # With 0 <= slope <= 1, slope·x <= x exactly where x >= 0, so the function is
    # max(x, slope·x); with slope > 1 it is the min.  NaN passes through both.
    scaled = numpy.multiply(x, slope)
    pick = numpy.maximum if slope <= 1 else numpy.minimum
    return pick(x, scaled, out=scaled if out is None else out)


def leaky_relu_backward(y, gy, slope):
    return select(y > 0, gy, numpy.multiply(gy, slope))


def elu(x, alpha, out):
    # max(x, 0) + α·expm1(min(x, 0)): x where x > 0 (expm1(0) = 0 adds nothing), α(eˣ - 1)
    # elsewhere; expm1 never sees a positive number, so it never overflows.
    negative_part = numpy.minimum(x, 0)
    numpy.expm1(negative_part, out=negative_part)
    negative_part *= alpha
    y = numpy.maximum(x, 0, out=out)
    y += negative_part
    return y


def elu_backward(y, gy, alpha):
    off = numpy.add(y, alpha)  # α·eˣ = y + α where x <= 0
    with numpy.errstate(over="ignore", invalid="ignore"):  # only where select drops it
        off *= gy
    on = numpy.less_equal(y, 0)
    return select(numpy.logical_not(on, out=on), gy, off)  # NOT y <= 0: NaN passes gy


def softplus(x, p, out):
    positive_part = numpy.maximum(x, 0)  # NaN passes through
    above = numpy.greater(x, SOFTPLUS_THRESHOLD)  # before out (maybe x) is written
    a = numpy.abs(x, out=out)
    numpy.negative(a, out=a)  # a = -|x|
    numpy.exp(a, out=a)  # exp of a non-positive number: never overflows
    numpy.log1p(a, out=a)  # log1p(exp(-|x|))
    a += positive_part
    return select(above, positive_part, a)  # x itself above the threshold, as torch


def softplus_backward(y, gy, p):
    gx = numpy.negative(y)
    numpy.expm1(gx, out=gx)
    numpy.negative(gx, out=gx)  # 1 - exp(-y) = sigmoid(x)
    gx *= gy
    return select(numpy.greater(y, y.dtype.type(SOFTPLUS_AT_THRESHOLD)), gy, gx)
