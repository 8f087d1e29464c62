"""Convolution and pooling on NCHW tensors, built on one pair of linear maps:

* ``im2col`` gathers every kh×kw window of a (zero-padded) image into a row:
  (N, C, H, W) -> (N, Ho, Wo, C, kh, kw), a strided view copied once;
* ``col2im`` is its adjoint: it adds each window back to where it came from (a loop over
  the kh·kw offsets, never over the batch).

Each is the other's backward, so convolution = im2col + one matmul, max pooling = im2col
+ max over the window (the max gate: ties go to the first element), average pooling =
im2col + mean; all of them differentiable to any order.
"""
from __future__ import annotations

from .. import backend
from ..autograd import Function
from ..tensor import Tensor, as_tensor
from . import linalg, reduce, shape

__all__ = ["conv2d", "max_pool2d", "avg_pool2d", "im2col"]


def _pair(v, name):
    if isinstance(v, int):
        return v, v
    v = tuple(v)
    if len(v) != 2 or not all(isinstance(n, int) for n in v):
        raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}")
    return v


def _output_size(size, k, stride, padding, name):
    out = (size + 2 * padding - k) // stride + 1
    if out < 1:
        raise ValueError(f"{name}: kernel {k} with padding {padding} does not fit an input of "
                         f"size {size}")
    return out


class Im2Col(Function):
    """(N, C, H, W) -> (N, Ho, Wo, C, kh, kw): every window as a contiguous block."""

    def __init__(self, kernel, stride, padding):
        self.kernel, self.stride, self.padding = kernel, stride, padding

    def forward(self, x):
        xp = backend.get_array_module(x)
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        self.in_shape = x.shape
        if ph or pw:
            x = xp.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
        n, c, h, w = x.shape
        ho, wo = (h - kh) // sh + 1, (w - kw) // sw + 1
        s_n, s_c, s_h, s_w = x.strides
        windows = xp.lib.stride_tricks.as_strided(
            x, shape=(n, ho, wo, c, kh, kw), strides=(s_n, s_h * sh, s_w * sw, s_c, s_h, s_w))
        return xp.ascontiguousarray(windows)

    def backward(self, ns, gy):
        return ns.apply(Col2Im(self.in_shape, self.kernel, self.stride, self.padding), gy)


class Col2Im(Function):
    """The adjoint of Im2Col: (N, Ho, Wo, C, kh, kw) -> (N, C, H, W), overlaps added."""

    def __init__(self, in_shape, kernel, stride, padding):
        self.in_shape, self.kernel, self.stride, self.padding = in_shape, kernel, stride, padding

    def forward(self, cols):
        xp = backend.get_array_module(cols)
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        n, c, h, w = self.in_shape
        ho, wo = cols.shape[1], cols.shape[2]
        # (kh, kw, N, C, Ho, Wo), contiguous: each offset's block is read in one sweep.
        by_offset = xp.ascontiguousarray(cols.transpose(4, 5, 0, 3, 1, 2))
        if (kh, kw) == (sh, sw):
            # Non-overlapping windows (pooling): placing the blocks is a reshape, no adds.
            tiled = by_offset.transpose(2, 3, 4, 0, 5, 1).reshape(n, c, ho * kh, wo * kw)
            out = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
            out[:, :, :ho * kh, :wo * kw] = tiled
            return out[:, :, ph:ph + h, pw:pw + w]
        out = xp.zeros((n, c, h + 2 * ph, w + 2 * pw), dtype=cols.dtype)
        for i in range(kh):
            for j in range(kw):
                out[:, :, i:i + sh * (ho - 1) + 1:sh, j:j + sw * (wo - 1) + 1:sw] += by_offset[i, j]
        return out[:, :, ph:ph + h, pw:pw + w]

    def backward(self, ns, gy):
        return ns.apply(Im2Col(self.kernel, self.stride, self.padding), gy)


def im2col(x, kernel_size, stride=1, padding=0) -> Tensor:
    """Windows of an NCHW tensor: (N, Ho, Wo, C, kh, kw)."""
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"expected an NCHW tensor (4-d), got shape {x.shape}")
    k, s, p = _pair(kernel_size, "kernel_size"), _pair(stride, "stride"), _pair(padding, "padding")
    if min(s) < 1 or min(p) < 0 or min(k) < 1:
        raise ValueError(f"need kernel_size >= 1, stride >= 1, padding >= 0; got {k}, {s}, {p}")
    _output_size(x.shape[2], k[0], s[0], p[0], "height")
    _output_size(x.shape[3], k[1], s[1], p[1], "width")
    return Im2Col(k, s, p)(x)


def conv2d(x, W, b=None, stride=1, padding=0) -> Tensor:
    """2-d cross-correlation, like torch.nn.functional.conv2d.

    x: (N, C, H, W); W: (F, C, kh, kw); b: (F,) or None -> (N, F, Ho, Wo).
    """
    x = as_tensor(x)
    W = as_tensor(W, like=x)
    if W.ndim != 4 or x.ndim != 4 or W.shape[1] != x.shape[1]:
        raise ValueError(f"conv2d: input {x.shape} (N, C, H, W) and weight {W.shape} "
                         f"(F, C, kh, kw) do not match")
    f, c, kh, kw = W.shape
    cols = im2col(x, (kh, kw), stride, padding)                  # (N, Ho, Wo, C, kh, kw)
    n, ho, wo = cols.shape[:3]
    rows = shape.reshape(cols, (n * ho * wo, c * kh * kw))
    y = linalg.matmul(rows, shape.reshape(W, (f, c * kh * kw)).T)  # (N·Ho·Wo, F)
    if b is not None:
        b = as_tensor(b, like=x)
        if b.shape != (f,):
            raise ValueError(f"conv2d: bias of shape {b.shape}, expected ({f},)")
        y = y + b
    return shape.transpose(shape.reshape(y, (n, ho, wo, f)), (0, 3, 1, 2))


def _pool(x, kernel_size, stride, reducer):
    x = as_tensor(x)
    k = _pair(kernel_size, "kernel_size")
    s = k if stride is None else _pair(stride, "stride")
    cols = im2col(x, k, s, 0)                                    # (N, Ho, Wo, C, kh, kw)
    n, ho, wo, c = cols.shape[:4]
    pooled = reducer(shape.reshape(cols, (n, ho, wo, c, k[0] * k[1])), axis=-1)
    return shape.transpose(pooled, (0, 3, 1, 2))


def max_pool2d(x, kernel_size, stride=None) -> Tensor:
    """Max over each window (stride defaults to the kernel size); ties route the gradient
    to the first maximal element of the window."""
    return _pool(x, kernel_size, stride, reduce.max)


def avg_pool2d(x, kernel_size, stride=None) -> Tensor:
    """Mean over each window (stride defaults to the kernel size)."""
    return _pool(x, kernel_size, stride, reduce.mean)
