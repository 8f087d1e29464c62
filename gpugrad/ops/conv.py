"""2-d convolution (cross-correlation, as torch.nn.functional.conv2d) on NCHW tensors:
im2col, then one node (``ConvGemm``) for the matmul (F, C·kh·kw) @ (C·kh·kw, N·Ho·Wo) —
per group, batched, when ``groups > 1`` — and the bias, added in place into the product
(a separate add would allocate, and keep alive, a second output).  The output is the
(N, F, Ho, Wo) view of the (F, N, Ho, Wo) product; the layers after it keep that layout,
in which the next im2col's copies and this node's gradient need no transposing copy.
Its gradient is written with matmuls and im2col's (col2im), so conv2d is differentiable
to any order.  ``padding='same'`` pads as PyTorch does: the total ``dilation·(k-1)``
split with the odd one at the bottom/right."""

from __future__ import annotations

from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor
from .im2col import im2col, pair
from .promotion import promote_all

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


class ConvGemm(Function):
    """y = W @ cols + b per group: cols (C, kh, kw, N, Ho, Wo) from im2col, W (F, C / g,
    kh, kw), b (F,) -> (N, F, Ho, Wo), a view of an (F, N, Ho, Wo) array."""

    name, symbol = "Conv2d", "conv2d"  # as errors and explain show it
    save_inputs = (0, 1)

    def __init__(self, groups: int):
        self.groups = groups

    def forward(self, cols, W, b=None):
        f, g, rows = W.shape[0], self.groups, W[0].size  # rows: C/g·kh·kw
        n, ho, wo = cols.shape[3:]
        y = W.reshape(g, f // g, rows) @ cols.reshape(g, rows, n * ho * wo)  # (g, F/g, M)
        y = y.reshape(f, n * ho * wo)
        if b is not None:
            y += b.reshape(f, 1)  # in place: y is ours
        return y.reshape(f, n, ho, wo).transpose(1, 0, 2, 3)

    def backward(self, ns, gy, cols, W):
        needs, f, g = self.needs_grad, W.shape[0], self.groups
        rows, m = W.shape[1] * W.shape[2] * W.shape[3], gy.shape[0] * gy.shape[2] * gy.shape[3]
        # (F, N·Ho·Wo): a view when gy has the output's layout, as ReLU's and pooling's
        # gradients do.
        gy2 = ns.reshape(ns.transpose(gy, (1, 0, 2, 3)), (f, m))
        gyg = ns.reshape(gy2, (g, f // g, m))
        gcols = gW = gb = None
        if needs[0]:  # (g, rows, F/g) @ (g, F/g, M)
            w_t = ns.swapaxes(ns.reshape(W, (g, f // g, rows)), -1, -2)
            gcols = ns.reshape(ns.matmul(w_t, gyg), cols.shape)
        if needs[1]:  # (g, F/g, M) @ (g, M, rows)
            cols_t = ns.swapaxes(ns.reshape(cols, (g, rows, m)), -1, -2)
            gW = ns.reshape(ns.matmul(gyg, cols_t), W.shape)
        if len(needs) == 3 and needs[2]:
            gb = ns.sum(gy2, axis=1)
        return (gcols, gW) if len(needs) == 2 else (gcols, gW, gb)


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
    f, _, kh, kw = W.shape
    operands = [x, W]
    if b is not None:
        b = as_tensor(b, like=x)
        if b.shape != (f,):
            raise ValueError(f"conv2d: bias of shape {b.shape}, expected ({f},)")
        operands.append(b)
    # One device, one dtype (PyTorch's promotion, as the matmul and add did).
    x, *params = promote_all(operands, "conv2d")
    s, d = pair(stride, "stride"), pair(dilation, "dilation")
    p = conv_padding(padding, (kh, kw), s, d)
    cols = im2col(x, (kh, kw), s, p, d)  # (C, kh, kw, N, Ho, Wo)
    return ConvGemm(groups)(cols, *params)
