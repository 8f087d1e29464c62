"""Pooling on NCHW tensors: ``max_pool2d`` and ``avg_pool2d``.

Windows that overlap (stride < kernel), padding (-inf for max, 0 for mean, as PyTorch),
dilation and ``ceil_mode`` go through im2col and a max or mean over the window axis.  Max
pooling over disjoint windows (stride == kernel, the usual case) needs no
im2col: window offset (i, j) of every window is one strided view of x; its output and
gradient keep x's memory layout ((C, N, H, W) after a convolution), so that the ReLU
before it and the convolution after it run over contiguous memory.  The max gate:
each window's gradient goes to its first maximal element in row-major order (as in
PyTorch), a NaN counting as the maximum.  On the CPU, disjoint windows take a faster
path (:class:`WindowChoice`); its arrays come from gpugrad's host pool.
"""

from __future__ import annotations

import functools

import numpy

from .. import backend, host_memory
from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor
from . import reduce, shape
from .im2col import Im2Col, im2col, output_size, pair
from .select import select

__all__ = ["avg_pool2d", "max_pool2d"]


def _geometry(x, kernel_size, stride, padding, dilation, ceil_mode):
    """kernel, stride, dilation and the padding per side (PyTorch's ceil_mode adds at the
    bottom/right what the last, partial window needs, if it starts inside the image)."""
    k = pair(kernel_size, "kernel_size")
    s = k if stride is None or stride == [] else pair(stride, "stride")
    p, d = pair(padding, "padding"), pair(dilation, "dilation")
    if any(2 * pi > ki for pi, ki in zip(p, k)):
        raise ValueError(f"pad should be at most half of effective kernel size, got {p} for {k}")
    sides = []
    for size, ki, si, pi, di in zip(x.shape[2:], k, s, p, d):
        span = size + 2 * pi - di * (ki - 1) - 1
        out = span // si + 1
        if ceil_mode and span % si:
            out += 1
            if (out - 1) * si >= size + pi:
                out -= 1
        sides.append((pi, max(pi, (out - 1) * si + di * (ki - 1) + 1 - size - pi)))
    return k, s, d, tuple(sides)


def _pool(x, geometry, reducer, fill=0.0):
    """``reducer`` over the window axis of im2col's columns."""
    k, s, d, sides = geometry
    cols = im2col(x, k, s, sides, d, fill)  # (C, kh, kw, N, Ho, Wo)
    c, n, ho, wo = cols.shape[0], *cols.shape[3:]
    pooled = reducer(shape.reshape(cols, (c, k[0] * k[1], n, ho, wo)), axis=1)
    return shape.transpose(pooled, (1, 0, 2, 3))


def _window_counts(x, k, s, sides, padding, count_include_pad):
    """How many elements each window averages over, as PyTorch counts them: the padding
    counts (if ``count_include_pad``), what ceil_mode adds beyond it never does."""
    xp = backend.get_array_module(x.array)
    h, w = x.shape[2:]
    (ph, pw) = pair(padding, "padding")
    inside = numpy.zeros((1, 1, h + 2 * ph, w + 2 * pw), dtype=x.dtype)
    if count_include_pad:
        inside[...] = 1
    else:
        inside[:, :, ph : ph + h, pw : pw + w] = 1
    extra = ((0, 0), (0, 0), (0, sides[0][1] - ph), (0, sides[1][1] - pw))
    mask = backend.to_device(numpy.pad(inside, extra), x.device)
    cols = Im2Col(k, s, 0).forward(mask)  # (1, kh, kw, 1, Ho, Wo)
    return xp.reshape(cols.sum(axis=(1, 2)), (1, 1) + cols.shape[4:])


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
        self.in_shape, self.channels_outer = x.shape, x.strides[1] > x.strides[0]
        if WindowChoice.applies(x, self.kernel):
            found = WindowChoice.pool(x, self.kernel, self.channels_outer, True in self.needs_grad)
            if found is not None:  # else a NaN is in x: the path below routes NaNs
                y, self.chosen = found
                return y
        views = _offset_views(
            x, self.kernel, (x.shape[2] // self.kernel[0], x.shape[3] // self.kernel[1])
        )
        # maximum() allocates y in x's layout (a copy() would make it C-contiguous).
        y = xp.maximum(views[0], views[1]) if len(views) > 1 else views[0].copy()
        for v in views[2:]:
            xp.maximum(y, v, out=y)  # NaN propagates
        if True in self.needs_grad:
            # A NaN window maximum must be matched by the NaN itself (NaN != NaN).  On the
            # CPU one look at y saves that test in the common case; on the GPU the look
            # would synchronize, so the test always runs there.
            on_gpu = backend.is_cuda_array(y)
            nan_possible = on_gpu or bool(xp.isnan(y).any())
            hits = []  # per offset: where it is a max
            for v in views:
                hit = v == y
                if nan_possible:
                    hit |= v != v
                hits.append(hit)
            # Each window's gradient goes to its first max only.  On the CPU, a count
            # shows whether any window has two (a tie) before paying for the sweep.
            if on_gpu or sum(int(xp.count_nonzero(h)) for h in hits) > y.size:
                taken = hits[0].copy()
                for hit in hits[1:]:
                    hit &= ~taken
                    taken |= hit
            self.chosen = hits
        return y

    def backward(self, ns, gy):
        scatter = WindowScatter(self.chosen, self.in_shape, self.kernel, self.channels_outer)
        return ns.apply(scatter, gy)


class WindowScatter(Function):
    """(N, C, Ho, Wo) -> (N, C, H, W): each value placed at its window's chosen offset,
    0 elsewhere.  Linear; its adjoint is WindowGather."""

    def __init__(self, chosen, in_shape, kernel, channels_outer=False):
        self.chosen, self.in_shape, self.kernel = chosen, in_shape, kernel
        self.channels_outer = channels_outer

    def forward(self, g):
        xp = backend.get_array_module(g)
        h, w = self.in_shape[2:]
        if isinstance(self.chosen, WindowChoice):
            return self.chosen.scatter(g)
        if self.channels_outer:  # x's layout: the ReLU gradient then runs contiguously
            n, c = self.in_shape[:2]
            out = xp.empty((c, n, h, w), g.dtype).transpose(1, 0, 2, 3)
        else:
            out = xp.empty(self.in_shape, g.dtype)
        if (h % self.kernel[0], w % self.kernel[1]) != (0, 0):
            out[...] = 0  # the cropped rows and columns; the windows are written below
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
        if isinstance(self.chosen, WindowChoice):
            return self.chosen.gather(a)
        views = _offset_views(a, self.kernel, self.chosen[0].shape[2:])
        out = select(self.chosen[0], views[0])
        for view, hit in zip(views[1:], self.chosen[1:]):
            out += select(hit, view)  # one offset is chosen: adds of 0
        return out

    def backward(self, ns, gy):
        return ns.apply(WindowScatter(self.chosen, self.in_shape, self.kernel), gy)


# -- on the CPU: the windows' values side by side, and flat indices ---------------------------
# Through the strided offset views, every NumPy pass runs over rows of Wo elements kw apart,
# and NumPy's loop costs some 30 ns per row: most of the time.  One copy puts the offsets
# side by side instead, (kh·kw, A, B, Ho, Wo) in x's memory order (A, B) (N, C), or (C, N)
# for a (C, N, H, W) array's view): the max and the choice are then passes over contiguous
# memory, and the gradient is one scatter through flat indices into a zeroed array.
class WindowChoice:
    """Each window's first max on the CPU: ``choice`` (A·B·Ho·Wo,) uint8, its offset
    (row-major) in the window; the flat index into x's memory order made from it when the
    gradient needs it."""

    def __init__(self, choice, shape, kernel, outer: bool):
        self.choice, self.shape, self.kernel, self.outer = choice, shape, kernel, outer
        self.index = None

    @staticmethod
    def applies(x, kernel) -> bool:
        return not backend.is_cuda_array(x) and kernel[0] * kernel[1] < 256  # uint8 offsets

    @classmethod
    def pool(cls, x, kernel, outer: bool, choose: bool):
        """(y, choice or None when not ``choose``); None when a max is NaN (the general path
        routes the gradient to the NaN)."""
        m = x.transpose(1, 0, 2, 3) if outer else x  # memory order
        (a, b, h, w), (kh, kw) = m.shape, kernel
        ho, wo = h // kh, w // kw
        m6 = m[:, :, : ho * kh, : wo * kw].reshape(a, b, ho, kh, wo, kw)  # a view
        side = host_memory.empty((kh, kw, a, b, ho, wo), x.dtype)
        numpy.copyto(side, m6.transpose(3, 5, 0, 1, 2, 4))
        side = side.reshape(kh * kw, -1)
        y = host_memory.empty(side.shape[1], x.dtype)
        if len(side) == 1:
            y[...] = side[0]
        else:
            numpy.maximum(side[0], side[1], out=y)
        choice = None
        if choose:  # a later offset is chosen where it is strictly greater: the first max
            better = host_memory.empty(y.shape, bool)
            choice = host_memory.empty(y.shape, numpy.uint8)
            chosen_k = host_memory.empty(y.shape, numpy.uint8)
            if len(side) == 1:
                choice[...] = 0
            else:
                numpy.greater(side[1], side[0], out=better)
                choice[...] = better
            for k in range(2, len(side)):
                numpy.greater(side[k], y, out=better)
                numpy.maximum(y, side[k], out=y)
                numpy.multiply(better.view(numpy.uint8), k, out=chosen_k)
                numpy.maximum(choice, chosen_k, out=choice)  # k beats every earlier offset
        elif len(side) > 2:
            for k in range(2, len(side)):
                numpy.maximum(y, side[k], out=y)
        if y.dtype.kind == "f" and y.size and numpy.isnan(y.max()):
            return None
        y = y.reshape(a, b, ho, wo)
        y = y.transpose(1, 0, 2, 3) if outer else y
        return y, (None if choice is None else cls(choice, (a, b, h, w), kernel, outer))

    def flat_index(self):
        """Per window, the flat index of its choice in the (A, B, H, W) array."""
        if self.index is None:
            (a, b, h, w), (kh, kw) = self.shape, self.kernel
            # offset k of a window is row k // kw, column k % kw: k + (k // kw)·(W - kw),
            # in int32 (half the bytes of the int64 index, made in the one add at the end)
            within = host_memory.empty(self.choice.shape, numpy.int32)
            numpy.floor_divide(self.choice, kw, out=within)
            within *= w - kw
            within += self.choice
            index = host_memory.empty(self.choice.shape, numpy.int64)
            self.index = numpy.add(_window_starts(a, b, h, w, kh, kw), within, out=index)
        return self.index

    def scatter(self, g):
        """The gradient (N, C, H, W) in x's layout: each window's g at its choice, 0
        elsewhere."""
        out = host_memory.empty(self.shape, g.dtype)
        out.fill(0)
        gm = g.transpose(1, 0, 2, 3) if self.outer else g
        if not gm.flags.c_contiguous:  # the values in the index's order (a pooled copy)
            values = host_memory.empty(gm.shape, gm.dtype)
            values[...] = gm
            gm = values
        out.reshape(-1)[self.flat_index()] = gm.reshape(-1)
        return out.transpose(1, 0, 2, 3) if self.outer else out

    def gather(self, values):
        """(N, C, Ho, Wo): the value of (N, C, H, W) ``values`` at each window's choice."""
        a, b, h, _ = self.shape
        vm = values.transpose(1, 0, 2, 3) if self.outer else values
        out = vm.reshape(-1)[self.flat_index()].reshape(a, b, h // self.kernel[0], -1)
        return out.transpose(1, 0, 2, 3) if self.outer else out


@functools.lru_cache(maxsize=8)  # a training loop's few pooling shapes
def _window_starts(a, b, h, w, kh, kw):
    """The flat index of each window's first element in an (A, B, H, W) array, read-only."""
    ho, wo = h // kh, w // kw
    rows = numpy.arange(a * b, dtype=numpy.int64)[:, None] * (h * w)
    rows = (rows + numpy.arange(ho, dtype=numpy.int64) * (kh * w)).reshape(-1, 1)
    starts = (rows + numpy.arange(wo, dtype=numpy.int64) * kw).reshape(-1)
    starts.flags.writeable = False
    return starts


def max_pool2d(
    x, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False, return_indices=False
) -> Tensor:
    """Max over each window (stride defaults to the kernel size, the padding is -inf, as
    PyTorch's); ties route the gradient to the first maximal element of the window
    (row-major), a NaN counts as the max."""
    if return_indices:
        raise NotImplementedError("max_pool2d(return_indices=True) is not supported")
    k = pair(kernel_size, "kernel_size")
    plain = pair(padding, "padding") == (0, 0) and pair(dilation, "dilation") == (1, 1)
    if plain and not ceil_mode and (stride is None or pair(stride, "stride") == k):
        x = as_tensor(x)
        if x.ndim != 4:
            raise ValueError(f"expected an NCHW tensor (4-d), got shape {x.shape}")
        if min(k) < 1:
            raise ValueError(f"need kernel_size >= 1, got {k}")
        output_size(x.shape[2], k[0], k[0], 0, "height")
        output_size(x.shape[3], k[1], k[1], 0, "width")
        return DisjointMaxPool(k)(x)
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"expected an NCHW tensor (4-d), got shape {x.shape}")
    fill = float("-inf") if x.dtype.kind == "f" else int(numpy.iinfo(x.dtype).min)
    geometry = _geometry(x, kernel_size, stride, padding, dilation, ceil_mode)
    return _pool(x, geometry, reduce.max, fill)


def avg_pool2d(
    x,
    kernel_size,
    stride=None,
    padding=0,
    ceil_mode=False,
    count_include_pad=True,
    divisor_override=None,
) -> Tensor:
    """Mean over each window (stride defaults to the kernel size); the zero padding counts
    in the divisor unless ``count_include_pad=False``, as PyTorch's."""
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"expected an NCHW tensor (4-d), got shape {x.shape}")
    geometry = k, s, _, sides = _geometry(x, kernel_size, stride, padding, 1, ceil_mode)
    plain = sides == ((sides[0][0],) * 2, (sides[1][0],) * 2)  # no ceil_mode extra
    if divisor_override is None and plain and (count_include_pad or not any(sides[0] + sides[1])):
        return _pool(x, geometry, reduce.mean)
    summed = _pool(x, geometry, reduce.sum)
    if divisor_override is not None:
        return summed / divisor_override
    return summed / _window_counts(x, k, s, sides, padding, count_include_pad)
