"""SiLU (swish), as ``torch.nn.functional.silu``: x · sigmoid(x), a composite of recorded
ops, so differentiable to any order."""

from __future__ import annotations

from ..creation import as_tensor
from ..tensor import Tensor
from .activation import sigmoid

__all__ = ["silu"]


def silu(x) -> Tensor:
    """x · sigmoid(x)."""
    x = as_tensor(x)
    return x * sigmoid(x)
