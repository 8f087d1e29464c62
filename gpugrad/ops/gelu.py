"""GELU, as ``torch.nn.functional.gelu``: x·Φ(x) = x/2 · (1 + erf(x/√2)) exactly
(``approximate='none'``), or x/2 · (1 + tanh(√(2/π)(x + 0.044715x³))) (``'tanh'``).
A composite of recorded ops (erf, tanh, products), so differentiable to any order."""

from __future__ import annotations

import math

from ..creation import as_tensor
from ..tensor import Tensor
from .activation import tanh
from .erf import erf

__all__ = ["gelu"]


def gelu(x, approximate: str = "none") -> Tensor:
    """x·Φ(x), Φ the standard normal CDF (or its tanh approximation)."""
    x = as_tensor(x)
    if approximate == "none":
        return x * 0.5 * (1.0 + erf(x * (1 / math.sqrt(2.0))))
    if approximate == "tanh":
        inner = (x + 0.044715 * (x * x * x)) * math.sqrt(2 / math.pi)
        return x * 0.5 * (1.0 + tanh(inner))
    raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
