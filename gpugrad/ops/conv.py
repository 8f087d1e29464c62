"""2-d convolution (cross-correlation, as torch.nn.functional.conv2d) on NCHW tensors:
im2col, then one matmul (F, C·kh·kw) @ (C·kh·kw, N·Ho·Wo).  Its gradient is the matmul's
and im2col's (col2im), so conv2d is differentiable to any order."""

from __future__ import annotations

from ..creation import as_tensor
from ..tensor import Tensor
from . import shape
from .im2col import im2col
from .matmul import matmul

__all__ = ["conv2d", "im2col"]


def conv2d(x, W, b=None, stride=1, padding=0) -> Tensor:
    """2-d cross-correlation, like torch.nn.functional.conv2d.

    x: (N, C, H, W); W: (F, C, kh, kw); b: (F,) or None -> (N, F, Ho, Wo).
    """
    x = as_tensor(x)
    W = as_tensor(W, like=x)
    if W.ndim != 4 or x.ndim != 4 or W.shape[1] != x.shape[1]:
        raise ValueError(
            f"conv2d: input {x.shape} (N, C, H, W) and weight {W.shape} (F, C, kh, kw) do not match"
        )
    f, c, kh, kw = W.shape
    if b is not None:
        b = as_tensor(b, like=x)
        if b.shape != (f,):
            raise ValueError(f"conv2d: bias of shape {b.shape}, expected ({f},)")
    cols = im2col(x, (kh, kw), stride, padding)  # (C, kh, kw, N, Ho, Wo)
    n, ho, wo = cols.shape[3:]
    y = matmul(
        shape.reshape(W, (f, c * kh * kw)), shape.reshape(cols, (c * kh * kw, n * ho * wo))
    )  # (F, N·Ho·Wo)
    if b is not None:
        y = y + shape.reshape(b, (f, 1))
    return shape.transpose(shape.reshape(y, (f, n, ho, wo)), (1, 0, 2, 3))
