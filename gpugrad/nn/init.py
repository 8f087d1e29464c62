"""Weight initialisation, in place (``*_``), with PyTorch's formulas.

fan_in = in_features (× kernel area for convolutions); gains: 1 for linear/sigmoid,
sqrt(2) for ReLU, sqrt(2 / (1 + a²)) for leaky ReLU with slope a.
"""

from __future__ import annotations

import math

from ..autograd import increment_version, no_grad
from ..random import sample_normal, sample_uniform
from ..tensor import Tensor


def _fans(t: Tensor):
    if t.ndim < 2:
        raise ValueError(
            f"fan in/out needs a tensor with at least 2 dimensions, got shape {t.shape}"
        )
    receptive = 1
    for n in t.shape[2:]:
        receptive *= n
    return t.shape[1] * receptive, t.shape[0] * receptive


def calculate_gain(nonlinearity: str, param=None) -> float:
    if nonlinearity in ("linear", "sigmoid", "conv2d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        a = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + a * a))
    raise ValueError(f"unknown nonlinearity {nonlinearity!r}")


def uniform_(t: Tensor, low: float, high: float) -> Tensor:
    sample = sample_uniform(t.device, t.shape)  # float64 draws, then t's dtype
    with no_grad():
        t.data[...] = (sample * (high - low) + low).astype(t.dtype)
        increment_version(t)
    return t


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    sample = sample_normal(t.device, t.shape)
    with no_grad():
        t.data[...] = (sample * std + mean).astype(t.dtype)
        increment_version(t)
    return t


def zeros_(t: Tensor) -> Tensor:
    with no_grad():
        t.data[...] = 0
        increment_version(t)
    return t


def kaiming_uniform_(t: Tensor, a: float = 0.0, nonlinearity: str = "leaky_relu") -> Tensor:
    fan_in, _ = _fans(t)
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / fan_in)
    return uniform_(t, -bound, bound)


def kaiming_normal_(t: Tensor, a: float = 0.0, nonlinearity: str = "leaky_relu") -> Tensor:
    fan_in, _ = _fans(t)
    return normal_(t, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan_in))


def xavier_uniform_(t: Tensor, gain: float = 1.0) -> Tensor:
    fan_in, fan_out = _fans(t)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound)


def xavier_normal_(t: Tensor, gain: float = 1.0) -> Tensor:
    fan_in, fan_out = _fans(t)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))
