"""Windows of an NCHW image as columns, and back: the pair of linear maps that
convolution and overlapping pooling are built on.

* ``im2col`` gathers every kh×kw window (its taps ``dilation`` apart) of an image padded
  with a constant (0; -inf for max pooling), each side on its own, into a column:
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
    """An int or a pair of ints as a pair (kernel_size, stride, padding, dilation)."""
    if isinstance(v, int):
        return v, v
    v = tuple(v)
    if len(v) != 2 or not all(isinstance(n, int) for n in v):
        raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}")
    return v


def sides(padding):
    """Padding as ((top, bottom), (left, right)): from an int, a pair (each side of an axis
    alike) or already per side."""
    if not isinstance(padding, int) and all(not isinstance(p, int) for p in padding):
        (t, b), (left, r) = padding
        return (t, b), (left, r)
    ph, pw = pair(padding, "padding")
    return (ph, ph), (pw, pw)


def output_size(size, k, stride, padding, name, dilation=1):
    """The number of windows along one axis (``padding`` an int or a (before, after)
    pair); ValueError if the kernel does not fit."""
    before, after = (padding, padding) if isinstance(padding, int) else padding
    out = (size + before + after - dilation * (k - 1) - 1) // stride + 1
    if out < 1:
        raise ValueError(
            f"{name}: kernel {k} (dilation {dilation}) with padding {padding} does not fit an "
            f"input of size {size}"
        )
    return out


def offset_window(i, j, ho, wo, stride, dilation=(1, 1)):
    """The (rows, cols) slices of a padded image that kernel offset (i, j) reads."""
    (sh, sw), (dh, dw) = stride, dilation
    return (
        slice(i * dh, i * dh + sh * (ho - 1) + 1, sh),
        slice(j * dw, j * dw + sw * (wo - 1) + 1, sw),
    )


class Im2Col(Function):
    """(N, C, H, W) -> (C, kh, kw, N, Ho, Wo): every window as a column."""

    def __init__(self, kernel, stride, padding, dilation=(1, 1), fill=0.0):
        self.kernel, self.stride, self.padding = kernel, stride, sides(padding)
        self.dilation, self.fill = dilation, fill

    def forward(self, x):
        xp = backend.get_array_module(x)
        (kh, kw), (sh, sw), (dh, dw) = self.kernel, self.stride, self.dilation
        self.in_shape = x.shape
        if any(self.padding[0] + self.padding[1]):
            width = ((0, 0), (0, 0), *self.padding)
            x = xp.pad(x, width, constant_values=self.fill)
        n, c, h, w = x.shape
        ho, wo = (h - dh * (kh - 1) - 1) // sh + 1, (w - dw * (kw - 1) - 1) // sw + 1
        by_channel = x.transpose(1, 0, 2, 3)  # (C, N, H, W), a view
        cols = xp.empty((c, kh, kw, n, ho, wo), dtype=x.dtype)
        for i in range(kh):
            for j in range(kw):
                rows_at, cols_at = offset_window(i, j, ho, wo, self.stride, self.dilation)
                cols[:, i, j] = by_channel[:, :, rows_at, cols_at]
        return cols

    def backward(self, ns, gy):
        adjoint = Col2Im(self.in_shape, self.kernel, self.stride, self.padding, self.dilation)
        return ns.apply(adjoint, gy)


class Col2Im(Function):
    """The adjoint of Im2Col: (C, kh, kw, N, Ho, Wo) -> (N, C, H, W), overlaps added (the
    padding dropped, whatever it was filled with)."""

    def __init__(self, in_shape, kernel, stride, padding, dilation=(1, 1)):
        self.in_shape, self.kernel, self.stride = in_shape, kernel, stride
        self.padding, self.dilation = sides(padding), dilation

    def forward(self, cols):
        xp = backend.get_array_module(cols)
        (kh, kw), (sh, sw) = self.kernel, self.stride
        (pt, pb), (pl, pr) = self.padding
        n, c, h, w = self.in_shape
        ho, wo = cols.shape[4], cols.shape[5]
        padded = (n, c, h + pt + pb, w + pl + pr)
        # Windows that do not overlap (pooling) are placed, not added; when they also tile
        # the whole image, nothing needs zeroing first.
        plain = self.dilation == (1, 1)
        disjoint = plain and sh >= kh and sw >= kw
        tiles = plain and (sh, sw) == (kh, kw) and (sh * ho, sw * wo) == padded[2:]
        out = xp.empty(padded, dtype=cols.dtype) if tiles else xp.zeros(padded, dtype=cols.dtype)
        by_channel = out.transpose(1, 0, 2, 3)  # (C, N, H, W), a view
        for i in range(kh):
            for j in range(kw):
                rows_at, cols_at = offset_window(i, j, ho, wo, self.stride, self.dilation)
                if disjoint:
                    by_channel[:, :, rows_at, cols_at] = cols[:, i, j]
                else:
                    by_channel[:, :, rows_at, cols_at] += cols[:, i, j]
        return out[:, :, pt : pt + h, pl : pl + w]

    def backward(self, ns, gy):
        return ns.apply(Im2Col(self.kernel, self.stride, self.padding, self.dilation), gy)


def im2col(x, kernel_size, stride=1, padding=0, dilation=1, fill=0.0) -> Tensor:
    """Windows of an NCHW tensor as columns: (C, kh, kw, N, Ho, Wo).  ``padding``: an int,
    a pair, or ((top, bottom), (left, right)); the padding holds ``fill``."""
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"expected an NCHW tensor (4-d), got shape {x.shape}")
    k, s = pair(kernel_size, "kernel_size"), pair(stride, "stride")
    d, p = pair(dilation, "dilation"), sides(padding)
    if min(s) < 1 or min(p[0] + p[1]) < 0 or min(k) < 1 or min(d) < 1:
        raise ValueError(
            f"need kernel_size >= 1, stride >= 1, padding >= 0, dilation >= 1; "
            f"got {k}, {s}, {p}, {d}"
        )
    output_size(x.shape[2], k[0], s[0], p[0], "height", d[0])
    output_size(x.shape[3], k[1], s[1], p[1], "width", d[1])
    return Im2Col(k, s, p, d, fill)(x)
