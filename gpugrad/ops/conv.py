"""2-d convolution (cross-correlation, as torch.nn.functional.conv2d) on NCHW tensors:
im2col, then one matmul (F, C·kh·kw) @ (C·kh·kw, N·Ho·Wo) — per group, batched, when
``groups > 1``.  Its gradient is the matmul's and im2col's (col2im), so conv2d is
differentiable to any order.  ``padding='same'`` pads as PyTorch does: the total
``dilation·(k-1)`` split with the odd one at the bottom/right."""

from __future__ import annotations

from ..creation import as_tensor
from ..tensor import Tensor
from . import shape
from .im2col import im2col, pair
from .matmul import matmul

__all__ = ["conv2d", "im2col"]


def conv_padding(padding, kernel, stride, dilation):
    """``padding`` (an int, a pair, 'valid' or 'same') as ((top, bottom), (left, right))."""
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding != "same":
            raise ValueError(f"padding must be 'valid', 'same', an int or a pair, got {padding!r}")
        if stride != (1, 1):
            raise ValueError("padding='same' is not supported for strided convolutions")
        totals = [d * (k - 1) for d, k in zip(dilation, kernel)]
        return tuple((t // 2, t - t // 2) for t in totals)
    ph, pw = pair(padding, "padding")
    return (ph, ph), (pw, pw)


def conv2d(x, W, b=None, stride=1, padding=0, dilation=1, groups: int = 1) -> Tensor:
    """2-d cross-correlation, like torch.nn.functional.conv2d.

    x: (N, C, H, W); W: (F, C / groups, kh, kw); b: (F,) or None -> (N, F, Ho, Wo).
    ``padding``: an int, a pair, 'valid' or 'same'.
    """
    x = as_tensor(x)
    W = as_tensor(W, like=x)
    if groups < 1 or x.ndim != 4 or x.shape[1] % groups or W.shape[0] % groups:
        raise ValueError(
            f"conv2d: input {x.shape} (N, C, H, W) with groups={groups}: C and the number of "
            f"filters must be divisible by groups"
        )
    if W.ndim != 4 or W.shape[1] * groups != x.shape[1]:
        raise ValueError(
            f"conv2d: input {x.shape} (N, C, H, W) and weight {W.shape} (F, C / groups, kh, "
            f"kw) do not match (groups={groups})"
        )
    f, cg, kh, kw = W.shape
    if b is not None:
        b = as_tensor(b, like=x)
        if b.shape != (f,):
            raise ValueError(f"conv2d: bias of shape {b.shape}, expected ({f},)")
    s, d = pair(stride, "stride"), pair(dilation, "dilation")
    p = conv_padding(padding, (kh, kw), s, d)
    cols = im2col(x, (kh, kw), s, p, d)  # (C, kh, kw, N, Ho, Wo)
    n, ho, wo = cols.shape[3:]
    rows = cg * kh * kw
    if groups == 1:
        y = matmul(shape.reshape(W, (f, rows)), shape.reshape(cols, (rows, n * ho * wo)))
    else:  # (g, F/g, rows) @ (g, rows, N·Ho·Wo)
        y = matmul(
            shape.reshape(W, (groups, f // groups, rows)),
            shape.reshape(cols, (groups, rows, n * ho * wo)),
        )
        y = shape.reshape(y, (f, n * ho * wo))
    if b is not None:
        y = y + shape.reshape(b, (f, 1))
    return shape.transpose(shape.reshape(y, (f, n, ho, wo)), (1, 0, 2, 3))
