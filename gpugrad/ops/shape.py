"""Shape ops: reshape/view, flatten/unflatten, squeeze/unsqueeze, expand_dims,
transpose/permute/swapaxes, broadcast_to/expand.  They move elements without changing
them; the backward moves the gradient
back the same way.

Views (reshape without a copy, transpose, squeeze) share the version counter of the tensor
they view, so an in-place change through either is seen by both (``view.make_view``).
"""

from __future__ import annotations

import numbers

import numpy

from .. import backend
from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor
from .view import ViewStep, make_view


class Reshape(Function):
    """x with ``shape`` (the same elements, in C order); the gradient gets x's shape back."""

    def __init__(self, shape, in_shape):
        self.shape, self.in_shape = shape, in_shape

    def forward(self, x):
        return x.reshape(self.shape)

    def backward(self, ns, gy):
        return ns.reshape(gy, self.in_shape)


class Transpose(Function):
    def __init__(self, axes):
        self.axes = axes

    def forward(self, x):
        return x.transpose(self.axes)

    def backward(self, ns, gy):
        if self.axes is None:
            return ns.transpose(gy)
        return ns.transpose(gy, tuple(int(i) for i in numpy.argsort(self.axes)))


class BroadcastTo(Function):
    def __init__(self, shape):
        self.shape = tuple(shape)

    def forward(self, x):
        return backend.get_array_module(x).broadcast_to(x, self.shape)

    def backward(self, ns, gy):
        return gy  # the engine sums it back to the input's shape


# -- lowercase functions ---------------------------------------------------------------


def reshape(x, shape) -> Tensor:
    x = as_tensor(x)
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
    if shape == x.shape:
        return x
    try:
        out = Reshape(shape, x.shape)(x)
    except ValueError:
        raise ValueError(
            f"cannot reshape a tensor of shape {x.shape} ({x.numel()} elements) into shape {shape}"
        ) from None
    return make_view(out, x, ViewStep(lambda t: reshape(t, shape), lambda a: a.reshape(shape)))


def transpose(x, axes=None) -> Tensor:
    x = as_tensor(x)
    if axes is not None:
        axes = tuple(int(a) % x.ndim for a in axes)
        if sorted(axes) != list(range(x.ndim)):
            raise ValueError(f"axes {axes} are not a permutation of the {x.ndim} axes")
    step = ViewStep(lambda t: transpose(t, axes), lambda a: a.transpose(axes))
    return make_view(Transpose(axes)(x), x, step)


def view(x, shape) -> Tensor:
    """``x`` with ``shape`` sharing its memory; an error, as PyTorch's, when that needs a
    copy (use ``reshape``)."""
    out = reshape(x, shape)
    if out is not x and out._view is None and x.numel():
        raise RuntimeError(
            f"view size is not compatible with input tensor's size and stride (shape "
            f"{x.shape} to {tuple(out.shape)} needs a copy). Use .reshape(...) instead."
        )
    return out


def permute(x, dims) -> Tensor:
    """The dims of ``x`` reordered: ``dims[i]`` becomes dim i."""
    x = as_tensor(x)
    if len(dims) != x.ndim:
        raise ValueError(f"permute: {len(dims)} dims given for a {x.ndim}-d tensor")
    return transpose(x, dims)


def transpose_dims(x, *dims) -> Tensor:
    """PyTorch's ``transpose(x, d0, d1)``: dims d0 and d1 swapped.  NumPy's forms stay:
    no dims reverses them all, a full permutation reorders them."""
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    if len(dims) == 2:
        x = as_tensor(x)
        if x.ndim < 2:
            if any(d not in (0, -1) for d in dims):
                raise ValueError(f"dims {dims} are out of range for a {x.ndim}-d tensor")
            return x
        return swapaxes(x, *dims)
    return transpose(x, dims or None)


def swapaxes(x, a: int, b: int) -> Tensor:
    axes = list(range(x.ndim))
    axes[a], axes[b] = axes[b], axes[a]
    return transpose(x, axes)


def expand_dims(x, axis) -> Tensor:
    return unsqueeze(x, axis)


def flatten(x, start_dim=0, end_dim=-1) -> Tensor:
    """Dims ``start_dim`` to ``end_dim`` (both included) merged into one."""
    x = as_tensor(x)
    if x.ndim == 0:
        return reshape(x, (1,))
    s, e = start_dim % x.ndim, end_dim % x.ndim
    shape = x.shape[:s] + (int(numpy.prod(x.shape[s : e + 1])),) + x.shape[e + 1 :]
    return reshape(x, shape)


def squeeze(x, axis=None) -> Tensor:
    x = as_tensor(x)
    if axis is None:
        return reshape(x, tuple(n for n in x.shape if n != 1))
    axes = (axis,) if isinstance(axis, numbers.Integral) else tuple(axis)
    if x.ndim == 0:  # squeeze(0) of a 0-d tensor is itself, as PyTorch
        if any(a not in (0, -1) for a in axes):
            raise ValueError(f"axis {axis} is out of range for squeeze of a 0-d tensor")
        return x
    axes = {a % x.ndim for a in axes}
    for a in axes:
        if x.shape[a] != 1:
            raise ValueError(f"cannot squeeze axis {a} of length {x.shape[a]} (shape {x.shape})")
    return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))


def unsqueeze(x, axis: int) -> Tensor:
    x = as_tensor(x)
    if not -x.ndim - 1 <= axis <= x.ndim:
        raise ValueError(f"axis {axis} is out of range for unsqueeze of a {x.ndim}-d tensor")
    axis = axis % (x.ndim + 1)
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def unflatten(x, dim: int, sizes) -> Tensor:
    """Dim ``dim`` split into ``sizes`` (one of them may be -1)."""
    x = as_tensor(x)
    d = dim % x.ndim
    return reshape(x, x.shape[:d] + tuple(sizes) + x.shape[d + 1 :])


def expand(x, *sizes) -> Tensor:
    """``x`` broadcast to ``sizes`` (a view); -1 keeps a dim's length."""
    x = as_tensor(x)
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    lead = len(sizes) - x.ndim
    shape = tuple(x.shape[i - lead] if n == -1 and i >= lead else n for i, n in enumerate(sizes))
    return broadcast_to(x, shape)


def broadcast_to(x, shape) -> Tensor:
    x = as_tensor(x)
    shape = tuple(shape)
    if shape == x.shape:
        return x
    try:
        numpy.broadcast_shapes(x.shape, shape)
        if len(shape) < x.ndim:
            raise ValueError
    except ValueError:
        raise ValueError(f"cannot broadcast shape {x.shape} to {shape}") from None
    xp_broadcast = backend.get_array_module(x.array).broadcast_to
    step = ViewStep(
        lambda t: broadcast_to(t, shape), lambda a: xp_broadcast(a, shape), read_only=True
    )
    return make_view(BroadcastTo(shape)(x), x, step)
