"""Maxout: the max over groups of features (the max gate routes the gradient)."""

from __future__ import annotations

from ..creation import as_tensor
from ..tensor import Tensor
from . import reduce, shape

__all__ = ["maxout"]


def maxout(x, pieces: int) -> Tensor:
    """Maxout: (..., C·pieces) -> (..., C), the max over each group of ``pieces``
    consecutive features (the max gate routes the gradient to one of them)."""
    x = as_tensor(x)
    if pieces < 1 or x.shape[-1] % pieces:
        raise ValueError(f"maxout: last axis {x.shape[-1]} is not divisible by pieces={pieces}")
    grouped = shape.reshape(x, x.shape[:-1] + (x.shape[-1] // pieces, pieces))
    return reduce.max(grouped, axis=-1)
