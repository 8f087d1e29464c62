"""Adaptive average pooling, as ``torch.nn.functional.adaptive_avg_pool2d``: output cell i of
an axis of size n pooled to m averages input rows floor(i·n/m) to ceil((i+1)·n/m) - 1
(PyTorch's window bounds).  Each axis is a constant averaging matrix, so the op is two
recorded matmuls, A_h @ x @ A_wᵀ, differentiable to any order."""

from __future__ import annotations

import numpy

from .. import backend
from ..autograd import recording
from ..creation import as_tensor
from ..tensor import Tensor
from .matmul import matmul

__all__ = ["adaptive_avg_pool2d"]


def averaging_matrix(n: int, m: int, dtype):
    """(m, n): row i is 1/len over input positions [floor(i·n/m), ceil((i+1)·n/m))."""
    a = numpy.zeros((m, n), dtype=dtype)
    for i in range(m):
        start, end = (i * n) // m, -((-(i + 1) * n) // m)
        a[i, start:end] = 1.0 / (end - start)
    return a


def adaptive_avg_pool2d(x, output_size) -> Tensor:
    """(N, C, H, W) or (C, H, W) -> (..., Ho, Wo); ``output_size`` an int or a pair whose
    entries may be None (keep the input's size)."""
    x = as_tensor(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"adaptive_avg_pool2d expects a 3-d or 4-d input, got {x.shape}")
    sizes = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    h, w = x.shape[-2:]
    ho, wo = (n if m is None else m for n, m in zip((h, w), sizes))
    if min(ho, wo) < 1:
        raise ValueError(f"adaptive_avg_pool2d: output size must be positive, got {sizes}")
    a_h = backend.to_device(averaging_matrix(h, ho, x.dtype), x.device)
    a_w = backend.to_device(averaging_matrix(w, wo, x.dtype).T.copy(), x.device)
    # the averaging matrices depend on the shapes only: constants of a compiled step
    a_h, a_w = recording.constant(Tensor.wrap(a_h)), recording.constant(Tensor.wrap(a_w))
    return matmul(matmul(a_h, x), a_w)
