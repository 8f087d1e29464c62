"""Weight initialisation, in place (``*_``), with PyTorch's formulas.

fan_in = in_features (× kernel area for convolutions), fan_out = out_features (× kernel
area); gains: 1 for linear/conv/sigmoid, 5/3 for tanh, sqrt(2) for ReLU, sqrt(2 / (1 + a²))
for leaky ReLU with slope a, 3/4 for SELU.
"""

from __future__ import annotations

import math

from ..autograd import increment_version, no_grad
from ..random import sample_normal, sample_uniform
from ..tensor import Tensor


def _fan(t: Tensor, mode: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode {mode!r} not supported, please use one of fan_in, fan_out")
    return _fans(t)[mode == "fan_out"]


def _fans(t: Tensor):
    if t.ndim < 2:
        raise ValueError(
            f"fan in/out needs a tensor with at least 2 dimensions, got shape {t.shape}"
        )
    receptive = 1
    for n in t.shape[2:]:
        receptive *= n
    return t.shape[1] * receptive, t.shape[0] * receptive


LINEAR_FNS = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
              "conv_transpose3d", "sigmoid")  # fmt: skip


def calculate_gain(nonlinearity: str, param=None) -> float:
    """The recommended gain for ``nonlinearity``, as ``torch.nn.init.calculate_gain``."""
    if nonlinearity in LINEAR_FNS:
        return 1.0
    if nonlinearity == "selu":
        return 3.0 / 4
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        a = 0.01 if param is None else param
        return math.sqrt(2.0 / (1 + a * a))
    raise ValueError(f"unknown nonlinearity {nonlinearity!r}")


def _write(t: Tensor, array) -> Tensor:
    """``t``'s values replaced in place by ``array`` (outside the graph)."""
    with no_grad():
        t.array[...] = array
        increment_version(t)
    return t


def uniform_(t: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """U(a, b)."""
    sample = sample_uniform(t.device, t.shape)  # float64 draws, then t's dtype
    return _write(t, (sample * (b - a) + a).astype(t.dtype))


def normal_(t: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """N(mean, std²)."""
    return _write(t, (sample_normal(t.device, t.shape) * std + mean).astype(t.dtype))


def trunc_normal_(
    t: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0
) -> Tensor:
    """N(mean, std²) conditioned on [a, b] (the bounds in the values' units, as PyTorch's),
    drawn by redrawing what falls outside."""
    values = sample_normal(t.device, t.shape) * std + mean
    outside = (values < a) | (values > b)
    while bool(outside.any()):
        values[outside] = sample_normal(t.device, t.shape)[outside] * std + mean
        outside = (values < a) | (values > b)
    return _write(t, values.astype(t.dtype))


def constant_(t: Tensor, val: float) -> Tensor:
    return _write(t, val)


def zeros_(t: Tensor) -> Tensor:
    return _write(t, 0)


def ones_(t: Tensor) -> Tensor:
    return _write(t, 1)


def eye_(t: Tensor) -> Tensor:
    """The identity matrix (a 2-d tensor only)."""
    if t.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported")
    return _write(t, t.device.xp.eye(*t.shape, dtype=t.dtype))


def kaiming_uniform_(
    t: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Tensor:
    """U(-bound, bound), bound = gain · sqrt(3 / fan) (He et al.)."""
    bound = calculate_gain(nonlinearity, a) * math.sqrt(3.0 / _fan(t, mode))
    return uniform_(t, -bound, bound)


def kaiming_normal_(
    t: Tensor, a: float = 0.0, mode: str = "fan_in", nonlinearity: str = "leaky_relu"
) -> Tensor:
    """N(0, std²), std = gain / sqrt(fan) (He et al.)."""
    return normal_(t, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(_fan(t, mode)))


def xavier_uniform_(t: Tensor, gain: float = 1.0) -> Tensor:
    """U(-bound, bound), bound = gain · sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio)."""
    fan_in, fan_out = _fans(t)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(t, -bound, bound)


def xavier_normal_(t: Tensor, gain: float = 1.0) -> Tensor:
    """N(0, std²), std = gain · sqrt(2 / (fan_in + fan_out)) (Glorot & Bengio)."""
    fan_in, fan_out = _fans(t)
    return normal_(t, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def orthogonal_(t: Tensor, gain: float = 1.0) -> Tensor:
    """A (semi-)orthogonal matrix (the dims after the first flattened), scaled by ``gain``:
    the Q of a normal matrix's QR with the signs of R's diagonal, as PyTorch's."""
    if t.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported")
    rows, cols = t.shape[0], math.prod(t.shape[1:])
    xp = t.device.xp
    flat = sample_normal(t.device, (rows, cols))
    if rows < cols:
        flat = flat.T
    q, r = xp.linalg.qr(flat)
    q = q * xp.sign(xp.diag(r))
    if rows < cols:
        q = q.T
    return _write(t, (gain * q).reshape(t.shape).astype(t.dtype))
