"""Windows of an NCHW image as columns, and back: the pair of linear maps that
convolution and overlapping pooling are built on.

* ``im2col`` gathers every kh×kw window of a (zero-padded) image into a column:
  (N, C, H, W) -> (C, kh, kw, N, Ho, Wo), Caffe's layout: one strided copy per kernel
  offset (i, j), each of whole output rows, so the copies run at memory speed (a layout
  with the tiny kh, kw axes innermost copies 4-6x slower in NumPy);
* ``col2im`` is its adjoint: it adds each offset's block back to where it came from (a loop
  over the kh·kw offsets, never over the batch).

Each is the other's backward, so everything built on them is differentiable to any order.
"""

from __future__ import annotations

from .. import backend
from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor


def pair(v, name):
    """An int or a pair of ints as a pair (kernel_size, stride, padding)."""
    if isinstance(v, int):
        return v, v
    v = tuple(v)
    if len(v) != 2 or not all(isinstance(n, int) for n in v):
        raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}")
    return v


def output_size(size, k, stride, padding, name):
    """The number of windows along one axis; ValueError if the kernel does not fit."""
    out = (size + 2 * padding - k) // stride + 1
    if out < 1:
        raise ValueError(
            f"{name}: kernel {k} with padding {padding} does not fit an input of size {size}"
        )
    return out


def offset_window(i, j, ho, wo, stride):
    """The (rows, cols) slices of a padded image that kernel offset (i, j) reads."""
    sh, sw = stride
    return slice(i, i + sh * (ho - 1) + 1, sh), slice(j, j + sw * (wo - 1) + 1, sw)


class Im2Col(Function):
    """(N, C, H, W) -> (C, kh, kw, N, Ho, Wo): every window as a column."""

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
        by_channel = x.transpose(1, 0, 2, 3)  # (C, N, H, W), a view
        cols = xp.empty((c, kh, kw, n, ho, wo), dtype=x.dtype)
        for i in range(kh):
            for j in range(kw):
                rows_at, cols_at = offset_window(i, j, ho, wo, self.stride)
                cols[:, i, j] = by_channel[:, :, rows_at, cols_at]
        return cols

    def backward(self, ns, gy):
        return ns.apply(Col2Im(self.in_shape, self.kernel, self.stride, self.padding), gy)


class Col2Im(Function):
    """The adjoint of Im2Col: (C, kh, kw, N, Ho, Wo) -> (N, C, H, W), overlaps added."""

    def __init__(self, in_shape, kernel, stride, padding):
        self.in_shape, self.kernel, self.stride, self.padding = in_shape, kernel, stride, padding

    def forward(self, cols):
        xp = backend.get_array_module(cols)
        (kh, kw), (sh, sw), (ph, pw) = self.kernel, self.stride, self.padding
        n, c, h, w = self.in_shape
        ho, wo = cols.shape[4], cols.shape[5]
        padded = (n, c, h + 2 * ph, w + 2 * pw)
        # Windows that do not overlap (pooling) are placed, not added; when they also tile
        # the whole image, nothing needs zeroing first.
        disjoint = sh >= kh and sw >= kw
        tiles = (sh, sw) == (kh, kw) and (sh * ho, sw * wo) == padded[2:]
        out = xp.empty(padded, dtype=cols.dtype) if tiles else xp.zeros(padded, dtype=cols.dtype)
        by_channel = out.transpose(1, 0, 2, 3)  # (C, N, H, W), a view
        for i in range(kh):
            for j in range(kw):
                rows_at, cols_at = offset_window(i, j, ho, wo, self.stride)
                if disjoint:
                    by_channel[:, :, rows_at, cols_at] = cols[:, i, j]
                else:
                    by_channel[:, :, rows_at, cols_at] += cols[:, i, j]
        return out[:, :, ph : ph + h, pw : pw + w]

    def backward(self, ns, gy):
        return ns.apply(Im2Col(self.kernel, self.stride, self.padding), gy)


def im2col(x, kernel_size, stride=1, padding=0) -> Tensor:
    """Windows of an NCHW tensor as columns: (C, kh, kw, N, Ho, Wo)."""
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"expected an NCHW tensor (4-d), got shape {x.shape}")
    k, s, p = pair(kernel_size, "kernel_size"), pair(stride, "stride"), pair(padding, "padding")
    if min(s) < 1 or min(p) < 0 or min(k) < 1:
        raise ValueError(f"need kernel_size >= 1, stride >= 1, padding >= 0; got {k}, {s}, {p}")
    output_size(x.shape[2], k[0], s[0], p[0], "height")
    output_size(x.shape[3], k[1], s[1], p[1], "width")
    return Im2Col(k, s, p)(x)
