"""2-d convolution (cross-correlation, as torch.nn.functional.conv2d) on NCHW tensors:
im2col, then the matmul (F, C·kh·kw) @ (C·kh·kw, N·Ho·Wo) — per group, batched, when
``groups > 1`` — and the bias, in one node.

On the CPU the batch goes through in chunks of samples whose columns fit ``CHUNK_BYTES``
(8 MiB): one columns buffer is reused from chunk to chunk and nothing of it is kept for
the backward, which rebuilds each chunk's columns from x.  Whole-batch columns (C·kh·kw
times the image) and their gradient would be the largest arrays of a CNN's step; every
fresh large array costs page faults on first touch, which outweighed the arithmetic.  The
columns, their gradient, the output and the input's gradient come from gpugrad's pool of
host blocks (``host_memory.empty``), so a steady step takes them again without touching
fresh pages.  On the GPU one chunk is the whole batch, in CuPy's pool.  The output is the
(N, F, Ho, Wo) view of an (F, N, Ho, Wo) array; the layers after it keep that layout, in
which the next im2col's copies and this node's gradient need no transposing copy.

Under ``create_graph`` the backward is the recorded im2col, matmuls and col2im, so conv2d
is differentiable to any order.  ``padding='same'`` pads as PyTorch does: the total
``dilation·(k-1)`` split with the odd one at the bottom/right.

``conv2d_activation`` is act(conv2d(x, W) + b), what ``nn.Sequential`` runs for a Conv2d
followed by an activation module.  On CUDA it is the convolution without bias and one
:class:`ChannelBiasActivation` node: one kernel each way over the (C, N·Ho·Wo) output
buffer (the bias per row), the backward also summing the bias gradient, and its gradient
in the layout the convolution's backward reads without a copy.  On the CPU the bias is
added inside the GEMM's chunk loop, while the chunk is in cache, and the activation is
its own pass: a separate bias-and-activation pass would cost one more sweep."""

from __future__ import annotations

import numpy

from .. import backend, host_memory, kernels
from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor
from .activation import ActivationGrad, ActivationNode, activate, spec_with_parameter
from .im2col import (
    Col2Im,
    Im2Col,
    add_columns,
    fill_columns,
    im2col,
    output_size,
    pair,
    sides,
    window_counts,
)
from .promotion import promote_all

CHUNK_BYTES = 8 << 20  # the columns of one chunk of samples on the CPU (tuned on the CNN)

__all__ = ["channel_bias_activation", "conv2d", "conv2d_activation", "im2col"]


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


class Conv2dFunction(Function):
    """x (N, C, H, W), W (F, C / g, kh, kw), b (F,) -> (N, F, Ho, Wo): im2col, GEMM and
    bias per chunk of samples (see the module's docstring)."""

    name, symbol = "Conv2d", "conv2d"  # as errors and explain show it
    save_inputs = (0, 1)

    def __init__(self, stride, padding, dilation, groups: int):
        self.stride, self.padding, self.dilation = stride, sides(padding), dilation
        self.groups = groups

    def _geometry(self, x, W):
        """(F, F / g, rows per group, Ho, Wo, samples per chunk)."""
        f, rows = W.shape[0], W[0].size
        ho, wo = window_counts(x.shape[2:], W.shape[2:], self.stride, self.padding, self.dilation)
        per_sample = max(1, rows * self.groups * ho * wo * x.itemsize)
        chunk = x.shape[0] if backend.is_cuda_array(x) else max(1, CHUNK_BYTES // per_sample)
        return f, f // self.groups, rows, ho, wo, chunk

    def _columns(self, x, W, n0, n1, buffer):
        """The columns (C, kh, kw, n1 - n0, Ho, Wo) of samples [n0, n1), in ``buffer``
        when it has that shape (every chunk but a shorter last one), else in a new one."""
        c, (kh, kw) = x.shape[1], W.shape[2:]
        ho, wo = window_counts(x.shape[2:], (kh, kw), self.stride, self.padding, self.dilation)
        shape = (c, kh, kw, n1 - n0, ho, wo)
        if buffer is None or buffer.shape != shape:
            buffer = _empty(x, shape)
        fill_columns(x[n0:n1], buffer, (kh, kw), self.stride, self.padding, self.dilation)
        return buffer

    def forward(self, x, W, b=None):
        xp = backend.get_array_module(x)
        g, n = self.groups, x.shape[0]
        f, fg, rows, ho, wo, chunk = self._geometry(x, W)
        y = _empty(x, (f, n, ho, wo))
        y_g, w_g = y.reshape(g, fg, n, ho * wo), W.reshape(g, fg, rows)
        b_g = None if b is None else b.reshape(g, fg, 1)
        cols = None
        for n0 in range(0, n, chunk):
            n1 = min(n, n0 + chunk)
            m = (n1 - n0) * ho * wo
            cols = self._columns(x, W, n0, n1, cols)
            out = y_g[:, :, n0:n1].reshape(g, fg, m)  # a view: y is contiguous
            xp.matmul(w_g, cols.reshape(g, rows, m), out=out)
            if b_g is not None:
                out += b_g  # in place, while the chunk is in cache
        return y.transpose(1, 0, 2, 3)

    def backward(self, ns, gy, x, W):
        needs = self.needs_grad
        if ns.graph:  # recorded, so that the gradient is differentiable again
            kernel = W.shape[2:]
            cols = ns.apply(Im2Col(kernel, self.stride, self.padding, self.dilation), x)
            gcols, gW, gb = _gemm_backward(ns, needs, gy, cols, W, self.groups)
            if gcols is not None:
                adjoint = Col2Im(x.shape, kernel, self.stride, self.padding, self.dilation)
                gcols = ns.apply(adjoint, gcols)
            return (gcols, gW) if len(needs) == 2 else (gcols, gW, gb)
        xp = backend.get_array_module(gy)
        g, (n, c, h, w) = self.groups, x.shape
        _, fg, rows, ho, wo, chunk = self._geometry(x, W)
        gy_t = xp.ascontiguousarray(gy.transpose(1, 0, 2, 3))  # (F, N, Ho, Wo), often a view
        gy_g = gy_t.reshape(g, fg, n, ho * wo)
        gx = _empty(x, (c, n, h, w)) if needs[0] else None
        gW = xp.zeros((g, fg, rows), W.dtype) if needs[1] else None
        w_t = W.reshape(g, fg, rows).transpose(0, 2, 1)  # (g, rows, F/g)
        cols = gcols = None
        for n0 in range(0, n, chunk):
            n1 = min(n, n0 + chunk)
            m = (n1 - n0) * ho * wo
            gy_c = gy_g[:, :, n0:n1].reshape(g, fg, m)
            if gW is not None:
                cols = self._columns(x, W, n0, n1, cols)
                gW += gy_c @ cols.reshape(g, rows, m).transpose(0, 2, 1)
            if gx is not None:
                if gcols is None or gcols.shape[3] != n1 - n0:
                    gcols = _empty(x, (c, *W.shape[2:], n1 - n0, ho, wo))
                xp.matmul(w_t, gy_c, out=gcols.reshape(g, rows, m))
                add_columns(
                    gcols,
                    gx[:, n0:n1],
                    W.shape[2:],
                    self.stride,
                    self.padding,
                    self.dilation,
                    scratch=True,
                )
        grads = (
            None if gx is None else gx.transpose(1, 0, 2, 3),
            None if gW is None else gW.reshape(W.shape),
        )
        if len(needs) == 2:
            return grads
        return (*grads, gy_t.sum(axis=(1, 2, 3)) if needs[2] else None)


def _empty(x, shape):
    """An uninitialized array of x's dtype and device: from gpugrad's host pool on the CPU,
    from CuPy's pool on the GPU."""
    if backend.is_cuda_array(x):
        return backend.get_array_module(x).empty(shape, x.dtype)
    return host_memory.empty(shape, x.dtype)


def _gemm_backward(ns, needs, gy, cols, W, groups):
    """The gradients of y = W @ cols + b per group (cols (C, kh, kw, N, Ho, Wo)) as
    (gcols, gW, gb), each None where not needed."""
    f, g = W.shape[0], groups
    rows, m = W.shape[1] * W.shape[2] * W.shape[3], gy.shape[0] * gy.shape[2] * gy.shape[3]
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
    return gcols, gW, gb


class ChannelBiasActivation(ActivationNode):
    """y = act(x + b) for x (N, C, H, W) and b (C,) on the channel axis; saves y, which has
    the (C, N, H, W) memory layout (a convolution's output, seen as (N, C, H, W)).  On CUDA
    one kernel each way over that buffer as a (C, N·H·W) matrix, the backward also summing
    each row into the bias gradient; x or gy in another layout is copied into it first (one
    copy each).  On the CPU the sum goes into a pooled array, activated in place."""

    template = "channel_bias_{}"
    save_output = True

    def forward(self, x, b):
        xt = x.transpose(1, 0, 2, 3)  # (C, N, H, W): C-contiguous after a convolution
        if backend.is_cuda_array(x):
            yt = kernels.activation.row_bias_forward(self.spec.code, xt, b, self.p)
        else:
            yt = host_memory.empty(xt.shape, x.dtype)
            numpy.add(xt, b.reshape(-1, 1, 1, 1), out=yt)
            yt = self.spec.forward_numpy(yt, self.p, owned=True)
        return yt.transpose(1, 0, 2, 3)

    def backward(self, ns, gy, y):
        need_x, need_b = self.needs_grad
        if not ns.graph and backend.is_cuda_array(y):
            t = (1, 0, 2, 3)
            gxt, gb = kernels.activation.row_bias_backward(
                self.spec.code, y.transpose(t), gy.transpose(t), self.p
            )
            gx = gxt.transpose(t)
        else:
            gx = ns.apply(ActivationGrad(self.spec, self.p), y, gy)
            gb = ns.sum(gx, axis=(0, 2, 3)) if need_b else None
        return (gx if need_x else None), (gb if need_b else None)


def channel_bias_activation(x, b, kind: str, **params) -> Tensor:
    """act(x + b) for x (N, C, H, W) and b (C,) along the channel axis: one kernel each way
    on the GPU (:class:`ChannelBiasActivation`).  ``kind`` is a key of
    :data:`~gpugrad.ops.activation.ACTIVATIONS`, its parameter by PyTorch's keyword.  The
    result has the (C, N, H, W) memory layout whatever x's.

    >>> import gpugrad as gg
    >>> channel_bias_activation(gg.ones(2, 3, 4, 4), gg.zeros(3), "relu").shape
    (2, 3, 4, 4)
    """
    spec, p = spec_with_parameter(kind, params, kind)
    x = as_tensor(x)
    b = as_tensor(b, like=x)
    if x.ndim != 4 or b.shape != (x.shape[1],):
        raise ValueError(
            f"channel_bias_{kind}: x {x.shape} must be (N, C, H, W) and the bias (C,), got "
            f"a bias of shape {b.shape}"
        )
    if x.dtype.kind != "f":
        raise TypeError(f"channel_bias_{kind} needs floating-point tensors, got {x.dtype}")
    x, b = promote_all([x, b], f"channel_bias_{kind}")
    return ChannelBiasActivation(spec, p)(x, b)


def conv2d_activation(
    x, W, b, kind: str, stride=1, padding=0, dilation=1, groups: int = 1, **params
) -> Tensor:
    """act(conv2d(x, W, b, stride, padding, dilation, groups)) in two nodes: on CUDA the
    convolution without bias and one bias + activation kernel each way; on the CPU the
    convolution with its bias, then the activation (see the module's docstring).  The same
    numbers as the two calls, to float rounding; the result has the (F, N, Ho, Wo) memory
    layout.  ``kind`` and ``params`` as in :func:`channel_bias_activation`."""
    spec, p = spec_with_parameter(kind, params, kind)
    x = as_tensor(x)
    if b is None or not x.is_cuda:
        return activate(kind, conv2d(x, W, b, stride, padding, dilation, groups), p)
    x, W, b = promote_all([x, as_tensor(W, like=x), as_tensor(b, like=x)], "conv2d")
    if b.shape != (W.shape[0],):
        raise ValueError(f"conv2d: bias of shape {b.shape}, expected ({W.shape[0]},)")
    y = conv2d(x, W, None, stride, padding, dilation, groups)
    return ChannelBiasActivation(spec, p)(y, b)


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
    for axis, size in enumerate(x.shape[2:]):
        output_size(size, (kh, kw)[axis], s[axis], p[axis], ("height", "width")[axis], d[axis])
    return Conv2dFunction(s, p, d, groups)(x, *params)
