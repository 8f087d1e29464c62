"""In-place operations: ``+=``, ``x[i] = v``, ``add_``, ``fill_`` ..., with PyTorch's rules.

An in-place op computes its result out of place from a snapshot of the tensor (its value
and history before the op; a copy of the value when the op's backward saved it, so that
``h *= w`` can differentiate in w), writes the result into the tensor's buffer, bumps the
version counter it shares with its views, and moves the tensor to a new history:

* the tensor itself: the result's node becomes its creator;
* a view (``h[0] *= 2``): its root base gets a :class:`SetView` node (PyTorch's
  CopySlices) whose gradient flows to the base's old history outside the written region
  and to the result inside it; the view's own history is recorded again from the base's
  when it is next used (``view.refresh``).

What was recorded before keeps its edges, so it backpropagates as it saw the values; a
backward that needs an overwritten value raises.  A leaf that requires grad, or a view of
one, refuses in-place ops while grad mode is on (do them under ``gg.no_grad()``).
"""

from __future__ import annotations

import numpy

from .. import backend
from ..autograd import edge, grad_mode, increment_version, no_grad
from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor
from .indexing import raw_index
from .shape import broadcast_to
from .unary import astype, clone, to_device
from .view import IndexStep, assign_region, region


class SetView(Function):
    """The base after a write through the view ``steps``: the old base outside the region,
    ``value`` (broadcast to the region) inside it.  Recorded over a write already done."""

    def __init__(self, steps: tuple, value_shape: tuple):
        self.steps, self.value_shape = steps, value_shape

    def label(self) -> str:
        return "set view"

    def backward(self, ns, gy):
        need_base, need_value = self.needs_grad
        g_base = ns.apply(ZeroRegion(self.steps), gy) if need_base else None
        g_value = None
        if need_value and self.steps:
            g_value = region(self.steps, gy, ns.graph)
            # value may carry extra leading length-1 axes (x[0] = v of shape (1, n))
            shape = self.value_shape
            lead = len(shape) - g_value.ndim
            if lead > 0 and all(n == 1 for n in shape[:lead]):
                g_value = ns.reshape(ns.sum_to(g_value, shape[lead:]), shape)
        elif need_value:
            g_value = gy
        return g_base, g_value


class ZeroRegion(Function):
    """g with the region ``steps`` zeroed (all of it when there are no steps); linear and its
    own adjoint."""

    def __init__(self, steps: tuple):
        self.steps = steps

    def forward(self, g):
        if not self.steps:
            return backend.get_array_module(g).zeros_like(g)
        out = g.copy()
        assign_region(self.steps, out, 0)
        return out

    def backward(self, ns, gg):
        return ns.apply(ZeroRegion(self.steps), gg)


# -- the write ------------------------------------------------------------------------------
def _recording(t: Tensor, other) -> bool:
    return grad_mode.grad_enabled and (
        t.requires_grad or (isinstance(other, Tensor) and other.requires_grad)
    )


def _check_writable(t: Tensor, what: str) -> None:
    """Grad mode is on: a leaf that requires grad, or a view of one, must not change."""
    base = t if t._view is None else t._view.base
    if base.requires_grad and base.creator is None:
        whose = "a leaf tensor" if base is t else "a view of a leaf tensor"
        raise RuntimeError(
            f"{what} on {whose} that requires grad would lose its gradient; do it inside "
            f"`with gg.no_grad():` (or on .data / .detach())"
        )


def _snapshot(t: Tensor) -> Tensor:
    """t's value and history now, as the input of the out-of-place op (own version)."""
    old = Tensor.wrap(t.array)
    e = edge(t)  # a stale view's history is recorded again first
    old.creator = e if isinstance(e, Function) else None
    old.requires_grad = e is not None
    return old


def _rebase(t: Tensor, steps: tuple, value, keep_old: bool = False) -> None:
    """Give t's root base its history after the write of ``value`` (a Tensor, or None for
    a constant) into the region ``steps`` of t (no steps: all of t).  ``keep_old``: a base
    with a history keeps an edge to it (a zero gradient, as PyTorch's CopyBackwards)."""
    info = t._view
    base, steps = (t, steps) if info is None else (info.base, info.steps + steps)
    value_grad = value is not None and value.requires_grad
    if not (value_grad or base.requires_grad):
        return
    if value_grad:
        edge(value)  # a stale view (h[1] in h[1] += 1) gets its current history first
    if not steps and value_grad and value.creator is not None and not keep_old:
        base.creator, base.requires_grad = value.creator, True  # the result's node
        return
    node = SetView(steps, value.shape if value is not None else ())
    old_base = _snapshot(base)
    if value is None:
        value = Tensor.wrap(old_base.array)  # a constant: no gradient flows to it
    node.needs_grad = (old_base.requires_grad, value_grad)
    node.record((old_base, value), base)


def _write(t: Tensor, result: Tensor) -> Tensor:
    if result.shape != t.shape:
        raise ValueError(
            f"in-place result has shape {result.shape}, but the tensor has shape "
            f"{t.shape}: in-place ops cannot broadcast the target"
        )
    if result.dtype != t.dtype:
        raise TypeError(f"in-place result has dtype {result.dtype}, the tensor {t.dtype}")
    if t._view is not None and any(s.read_only for s in t._view.steps):
        raise RuntimeError(
            "in-place operation on an expanded (broadcast) view: more than one element "
            "refers to one memory location; clone() it first"
        )
    if result.array is not t.array:
        t.array[...] = result.array
    increment_version(t)
    return t


# -- the in-place ops -----------------------------------------------------------------------
def apply(t: Tensor, op, other) -> Tensor:
    """``t = op(t, other)`` written into t's buffer."""
    if not _recording(t, other):
        with no_grad():
            return _write(t, op(t, other))
    _check_writable(t, "an in-place operation")
    old = _snapshot(t)
    result = op(old, other)
    node = result.creator
    if node is not None and node.inputs and node.inputs[0] is old and 0 in node.save_inputs:
        old.array = old.array.copy()  # what its backward reads, before the write below
    _write(t, result)
    _rebase(t, (), result)
    return t


def fill(t: Tensor, value) -> Tensor:
    """``fill_``/``zero_``: every element becomes ``value``; the gradient to the old values
    is zero, as PyTorch's FillBackward."""
    if grad_mode.grad_enabled:
        _check_writable(t, "fill_/zero_")
    t.array.fill(value)
    increment_version(t)
    if grad_mode.grad_enabled:
        _rebase(t, (), None)
    return t


def setitem(t: Tensor, index, value) -> None:
    """``t[index] = value``: the region of t is replaced (value broadcast to it)."""
    index = raw_index(index, t)
    step = IndexStep(lambda x: x[index], index)
    if not _recording(t, value):
        step.assign(t.array, value.array if isinstance(value, Tensor) else value)
        increment_version(t)
        return
    _check_writable(t, "item assignment")
    v = as_tensor(value, like=t)
    step.assign(t.array, v.array)
    increment_version(t)
    _rebase(t, (step,), v)


def copy(t: Tensor, src) -> Tensor:
    """``t.copy_(src)``: src's values (broadcast to t's shape, cast to t's dtype, moved to
    t's device) written into t; t's history becomes src's (CopySlices through a view)."""
    src = as_tensor(src, like=t)
    if src.shape != t.shape:
        try:
            if src.ndim > t.ndim or numpy.broadcast_shapes(src.shape, t.shape) != t.shape:
                raise ValueError
        except ValueError:
            raise RuntimeError(
                f"copy_: the source's shape {list(src.shape)} does not broadcast to the "
                f"output's shape {list(t.shape)}"
            ) from None
    if not _recording(t, src):
        with no_grad():
            return _write(t, _unaliased(t, _copied(t, src)))
    _check_writable(t, "copy_")
    value = _copied(t, src)
    _write(t, _unaliased(t, value))
    _rebase(t, (), value, keep_old=True)
    return t


def _unaliased(t: Tensor, value: Tensor) -> Tensor:
    """value, or a copy of it where its memory may overlap t's (h.copy_(h[1])): CuPy's
    assignment does not order overlapping reads and writes.  PyTorch raises there."""
    a = value.array
    if a is not t.array and backend.get_array_module(a).may_share_memory(t.array, a):
        return Tensor.wrap(a.copy())
    return value


def _copied(t: Tensor, src: Tensor) -> Tensor:
    """src as t's new value: on t's device, in t's dtype, in t's shape (its own Tensor)."""
    out = broadcast_to(astype(to_device(src, t.device), t.dtype), t.shape)
    return clone(out) if out is src and src.requires_grad else out
