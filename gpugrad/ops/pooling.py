"""Pooling on NCHW tensors: ``max_pool2d`` and ``avg_pool2d``.

Windows that overlap (stride < kernel) go through im2col and a max or mean over the window
axis.  Max pooling over disjoint windows (stride == kernel, the usual case) needs no
im2col: window offset (i, j) of every window is one strided view of x.  The max gate:
each window's gradient goes to its first maximal element in row-major order (as in
PyTorch), a NaN counting as the maximum.
"""

from __future__ import annotations

from .. import backend
from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor
from . import reduce, shape
from .im2col import im2col, output_size, pair
from .select import select

__all__ = ["avg_pool2d", "max_pool2d"]


def _pool(x, kernel_size, stride, reducer):
    x = as_tensor(x)
    k = pair(kernel_size, "kernel_size")
    s = k if stride is None else pair(stride, "stride")
    cols = im2col(x, k, s, 0)  # (C, kh, kw, N, Ho, Wo)
    c, n, ho, wo = cols.shape[0], *cols.shape[3:]
    pooled = reducer(shape.reshape(cols, (c, k[0] * k[1], n, ho, wo)), axis=1)
    return shape.transpose(pooled, (1, 0, 2, 3))


# -- max pooling over disjoint windows, without im2col ------------------------------------
# Offset (i, j) of every window is the strided view x[:, :, i::kh, j::kw]: the max is
# kh·kw - 1 elementwise maxima of views, and the gradient is placed back through them.
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
        h, w = self.in_shape[2:]
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
    k = pair(kernel_size, "kernel_size")
    if stride is None or pair(stride, "stride") == k:
        x = as_tensor(x)
        if x.ndim != 4:
            raise ValueError(f"expected an NCHW tensor (4-d), got shape {x.shape}")
        if min(k) < 1:
            raise ValueError(f"need kernel_size >= 1, got {k}")
        output_size(x.shape[2], k[0], k[0], 0, "height")
        output_size(x.shape[3], k[1], k[1], 0, "width")
        return DisjointMaxPool(k)(x)
    return _pool(x, kernel_size, stride, reduce.max)


def avg_pool2d(x, kernel_size, stride=None) -> Tensor:
    """Mean over each window (stride defaults to the kernel size)."""
    return _pool(x, kernel_size, stride, reduce.mean)
