"""Layer normalization over the last ``len(normalized_shape)`` dims, as
``torch.nn.functional.layer_norm``: composed of recorded ops (mean, subtract, divide by
sqrt(biased var + eps), then the elementwise affine), so it is differentiable to any order."""

from __future__ import annotations

from ..creation import as_tensor
from ..tensor import Tensor
from . import reduce

__all__ = ["layer_norm"]


def layer_norm(x, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """(x - mean) / sqrt(var + eps) · weight + bias over the trailing ``normalized_shape``."""
    x = as_tensor(x)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    if not shape or x.shape[x.ndim - len(shape) :] != shape:
        raise ValueError(
            f"layer_norm: normalized_shape {shape} does not match the trailing dims of "
            f"an input of shape {x.shape}"
        )
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    centered = x - reduce.mean(x, axis=axes, keepdims=True)
    var = reduce.mean(centered * centered, axis=axes, keepdims=True)
    y = centered / (var + eps).sqrt()
    if weight is not None:
        y = y * weight
    if bias is not None:
        y = y + bias
    return y
