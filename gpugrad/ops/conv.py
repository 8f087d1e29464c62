"""Convolution and pooling on NCHW tensors, built on one pair of linear maps:

* ``im2col`` gathers every kh×kw window of a (zero-padded) image into a column:
  (N, C, H, W) -> (C, kh, kw, N, Ho, Wo), Caffe's layout: one strided copy per kernel
  offset (i, j), each of whole output rows, so the copies run at memory speed (a layout
  with the tiny kh, kw axes innermost copies 4-6x slower in NumPy);
* ``col2im`` is its adjoint: it adds each offset's block back to where it came from (a loop
  over the kh·kw offsets, never over the batch).

Each is the other's backward, so convolution = im2col + one matmul, (F, C·kh·kw) @
(C·kh·kw, N·Ho·Wo); max pooling = im2col + max over the window axis (the max gate: ties go
to the first element); average pooling = im2col + mean; all differentiable to any order.
"""

from __future__ import annotations

from .. import backend
from ..autograd import Function
from ..tensor import Tensor, as_tensor
from . import linalg, reduce, shape
from .select import select

__all__ = ["avg_pool2d", "conv2d", "im2col", "max_pool2d"]


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
        raise ValueError(
            f"{name}: kernel {k} with padding {padding} does not fit an input of size {size}"
        )
    return out


def _offset_window(i, j, ho, wo, stride):
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
                rows_at, cols_at = _offset_window(i, j, ho, wo, self.stride)
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
                rows_at, cols_at = _offset_window(i, j, ho, wo, self.stride)
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
    y = linalg.matmul(
        shape.reshape(W, (f, c * kh * kw)), shape.reshape(cols, (c * kh * kw, n * ho * wo))
    )  # (F, N·Ho·Wo)
    if b is not None:
        y = y + shape.reshape(b, (f, 1))
    return shape.transpose(shape.reshape(y, (f, n, ho, wo)), (1, 0, 2, 3))


def _pool(x, kernel_size, stride, reducer):
    x = as_tensor(x)
    k = _pair(kernel_size, "kernel_size")
    s = k if stride is None else _pair(stride, "stride")
    cols = im2col(x, k, s, 0)  # (C, kh, kw, N, Ho, Wo)
    c, n, ho, wo = cols.shape[0], *cols.shape[3:]
    pooled = reducer(shape.reshape(cols, (c, k[0] * k[1], n, ho, wo)), axis=1)
    return shape.transpose(pooled, (1, 0, 2, 3))


# -- max pooling over disjoint windows, without im2col ------------------------------------
# With stride == kernel (the usual case) window offset (i, j) of every window is one
# strided view of x, x[:, :, i::kh, j::kw]: the max is kh·kw - 1 elementwise maxima of
# views, and the gradient is placed back through the same views.  The max gate: each
# window's gradient goes to its first maximal offset in row-major order (as in PyTorch),
# a NaN counting as the maximum.
def _offset_views(a, kernel, out_hw):
    """The kh·kw strided views a[:, :, i::kh, j::kw], cropped to the (Ho, Wo) windows."""
    (kh, kw), (ho, wo) = kernel, out_hw
    return [a[:, :, i : ho * kh : kh, j : wo * kw : kw] for i in range(kh) for j in range(kw)]


class DisjointMaxPool(Function):
    """(N, C, H, W) -> (N, C, H // kh, W // kw): the max of each kh×kw window."""

    def __init__(self, kernel):
        self.kernel = kernel

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.in_shape = x.shape
        views = _offset_views(
            x, self.kernel, (x.shape[2] // self.kernel[0], x.shape[3] // self.kernel[1])
        )
        y = views[0].copy()
        for v in views[1:]:
            xp.maximum(y, v, out=y)  # NaN propagates
        if True in self.needs_grad:
            self.chosen = []  # per offset: where it is the first max
            taken = xp.zeros(y.shape, dtype=bool)
            # A NaN window maximum must be matched by the NaN itself (NaN != NaN).  On the
            # CPU one look at y saves that test in the common case; on the GPU the look
            # would synchronize, so the test always runs there.
            nan_possible = backend.is_cuda_array(y) or bool(xp.isnan(y).any())
            for v in views:
                hit = v == y
                if nan_possible:
                    hit |= v != v
                hit &= ~taken
                taken |= hit
                self.chosen.append(hit)
        return y

    def backward(self, ns, gy):
        return ns.apply(WindowScatter(self.chosen, self.in_shape, self.kernel), gy)


class WindowScatter(Function):
    """(N, C, Ho, Wo) -> (N, C, H, W): each value placed at its window's chosen offset,
    0 elsewhere.  Linear; its adjoint is WindowGather."""

    def __init__(self, chosen, in_shape, kernel):
        self.chosen, self.in_shape, self.kernel = chosen, in_shape, kernel

    def forward(self, g):
        xp = backend.get_array_module(g)
        n, c, h, w = self.in_shape
        tiles = (h % self.kernel[0], w % self.kernel[1]) == (0, 0)  # every element is written
        out = xp.empty(self.in_shape, g.dtype) if tiles else xp.zeros(self.in_shape, g.dtype)
        for view, hit in zip(_offset_views(out, self.kernel, g.shape[2:]), self.chosen):
            view[...] = select(hit, g)
        return out

    def backward(self, ns, ggx):
        return ns.apply(WindowGather(self.chosen, self.kernel), ggx)


class WindowGather(Function):
    """(N, C, H, W) -> (N, C, Ho, Wo): the value at each window's chosen offset.  Linear;
    its adjoint is WindowScatter."""

    def __init__(self, chosen, kernel):
        self.chosen, self.kernel = chosen, kernel

    def forward(self, a):
        self.in_shape = a.shape
        views = _offset_views(a, self.kernel, self.chosen[0].shape[2:])
        out = select(self.chosen[0], views[0])
        for view, hit in zip(views[1:], self.chosen[1:]):
            out += select(hit, view)  # one offset is chosen: adds of 0
        return out

    def backward(self, ns, gy):
        return ns.apply(WindowScatter(self.chosen, self.in_shape, self.kernel), gy)


def max_pool2d(x, kernel_size, stride=None) -> Tensor:
    """Max over each window (stride defaults to the kernel size); ties route the gradient
    to the first maximal element of the window (row-major), a NaN counts as the max."""
    k = _pair(kernel_size, "kernel_size")
    if stride is None or _pair(stride, "stride") == k:
        x = as_tensor(x)
        if x.ndim != 4:
            raise ValueError(f"expected an NCHW tensor (4-d), got shape {x.shape}")
        if min(k) < 1:
            raise ValueError(f"need kernel_size >= 1, got {k}")
        _output_size(x.shape[2], k[0], k[0], 0, "height")
        _output_size(x.shape[3], k[1], k[1], 0, "width")
        return DisjointMaxPool(k)(x)
    return _pool(x, kernel_size, stride, reduce.max)


def avg_pool2d(x, kernel_size, stride=None) -> Tensor:
    """Mean over each window (stride defaults to the kernel size)."""
    return _pool(x, kernel_size, stride, reduce.mean)
