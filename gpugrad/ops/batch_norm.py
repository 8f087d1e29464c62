"""Batch normalization over N (and the spatial axes), per channel C, composed of recorded
ops (mean, subtract, divide by sqrt(var + eps)); the running statistics are updated in
place, outside the graph."""

from __future__ import annotations

from ..autograd import increment_version, no_grad
from ..creation import as_tensor
from ..tensor import Tensor
from . import reduce, shape

__all__ = ["batch_norm"]


def batch_norm(
    x,
    running_mean=None,
    running_var=None,
    weight=None,
    bias=None,
    training: bool = True,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalization over N (and H, W for NCHW), per channel C.

    In training, normalizes with the batch statistics and updates ``running_mean`` /
    ``running_var`` (Tensors, in place) with the unbiased batch variance, as PyTorch
    does; in eval, normalizes with the running statistics.
    """
    x = as_tensor(x)
    if x.ndim not in (2, 3, 4):
        raise ValueError(f"batch_norm expects (N, C), (N, C, L) or (N, C, H, W), got {x.shape}")
    axes = (0,) + tuple(range(2, x.ndim))
    stat_shape = (1, x.shape[1]) + (1,) * (x.ndim - 2)
    if training:
        count = x.numel() // x.shape[1]
        if count < 2:
            raise ValueError(
                f"batch_norm in training needs more than one value per channel, "
                f"got input of shape {x.shape}"
            )
        mean = reduce.mean(x, axis=axes, keepdims=True)
        centered = x - mean
        var = reduce.mean(centered * centered, axis=axes, keepdims=True)
        if running_mean is not None:
            with no_grad():
                m = momentum
                running_mean.array *= 1 - m
                running_mean.array += m * mean.array.reshape(-1)
                running_var.array *= 1 - m
                running_var.array += m * var.array.reshape(-1) * (count / (count - 1))
                increment_version(running_mean)
                increment_version(running_var)
        y = centered / (var + eps).sqrt()
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm in eval mode needs running_mean and running_var")
        mean = shape.reshape(running_mean, stat_shape)
        var = shape.reshape(running_var, stat_shape)
        y = (x - mean) / (var + eps).sqrt()
    if weight is not None:
        y = y * shape.reshape(weight, stat_shape)
    if bias is not None:
        y = y + shape.reshape(bias, stat_shape)
    return y
