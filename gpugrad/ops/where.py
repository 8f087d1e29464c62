"""``where(cond, a, b)``: elements of a where cond holds, of b elsewhere; the gradient is
routed the same way.  ``masked_fill(x, mask, value)`` is ``where(mask, value, x)``."""

from __future__ import annotations

import numbers

import numpy

from .. import backend
from ..autograd import recording
from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor
from .promotion import promote_all
from .shape import broadcast_to


class Where(Function):
    """where(cond, a, b): the gradient goes to a where cond holds, to b elsewhere.  The
    condition is an input (no gradient), so a compiled step replays it with each step's
    condition (``x > 0`` computed in the step)."""

    def forward(self, cond, a, b):
        self.cond = cond
        return backend.get_array_module(a).where(cond, a, b)

    def backward(self, ns, gy):
        _, need_a, need_b = self.needs_grad
        return (
            None,
            ns.where(self.cond, gy, 0) if need_a else None,
            ns.where(self.cond, 0, gy) if need_b else None,
        )


def where(cond, a, b) -> Tensor:
    """Elements of ``a`` where ``cond`` holds, of ``b`` elsewhere (cond: bool Tensor or array)."""
    like = a if isinstance(a, Tensor) else b if isinstance(b, Tensor) else None
    if like is None:
        like = as_tensor(a)
    a = as_tensor(a, like=like)
    b = as_tensor(b, like=like)
    a, b = promote_all([a, b], "where")
    c = cond.array if isinstance(cond, Tensor) else cond
    python_data = not hasattr(c, "dtype")
    if python_data:
        c = numpy.asarray(c)
    moved = backend.to_device(c, like.device)
    if moved.dtype != bool:
        raise TypeError(f"where: the condition must be boolean, got {moved.dtype}")
    if not (isinstance(cond, Tensor) and moved is c):  # a list or an array: a new tensor
        cond = Tensor.wrap(moved)
        if python_data:  # the same in every step
            recording.constant(cond)
    shape = numpy.broadcast_shapes(moved.shape, a.shape, b.shape)
    return Where()(cond, broadcast_to(a, shape), broadcast_to(b, shape))


def masked_fill(x, mask, value) -> Tensor:
    """``x`` with ``value`` (a number or 0-d tensor) where the boolean ``mask`` holds;
    x's dtype kept; no gradient flows to ``x`` under the mask."""
    x = as_tensor(x)
    if isinstance(value, Tensor) and value.ndim == 0:
        recording.refuse("masked_fill with a tensor value (read on the host)")
        value = value.array.item()
    fill = as_tensor(backend.get_array_module(x.array).asarray(value, dtype=x.dtype), like=x)
    if isinstance(value, numbers.Number):  # the same in every step
        recording.constant(fill)
    return where(mask, fill, x)
