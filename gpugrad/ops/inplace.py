"""In-place operations: ``+=``, ``x[i] = v``, ``add_`` ... .

The buffer is written in place and the tensor's version counter goes up, so a backward
that saved the old value raises instead of computing a wrong gradient.  When the graph
is being recorded, the tensor takes over the history of the out-of-place result: the op
is recorded on a shallow copy carrying the old history, then the result is written into
the tensor's own buffer.
"""

from __future__ import annotations

from ..autograd import grad_mode, increment_version, no_grad
from ..creation import as_tensor
from ..tensor import Tensor
from .indexing import SetItem, raw_index


def _check_leaf(t: Tensor, what: str):
    if t.requires_grad and t.creator is None:
        raise RuntimeError(
            f"{what} on a leaf tensor that requires grad would lose its "
            f"gradient; do it inside `with gg.no_grad():` (or on .data)"
        )


def _old_self(t: Tensor) -> Tensor:
    """A Tensor sharing t's buffer, version counter and history (t's value before the op)."""
    old = Tensor.wrap(t.data)
    old._version = t._version
    old.creator = t.creator
    old.requires_grad = t.requires_grad
    return old


def _write_back(t: Tensor, result: Tensor) -> Tensor:
    if result.shape != t.shape:
        raise ValueError(
            f"in-place result has shape {result.shape}, but the tensor has shape "
            f"{t.shape}: in-place ops cannot broadcast the target"
        )
    if result.dtype != t.dtype:
        raise TypeError(f"in-place result has dtype {result.dtype}, the tensor {t.dtype}")
    if result.data is not t.data:
        t.data[...] = result.data
    increment_version(t)
    if result.requires_grad:
        t.creator = result.creator
        t.requires_grad = True
    return t


def _recording(t: Tensor, other) -> bool:
    return grad_mode.grad_enabled and (
        t.requires_grad or (isinstance(other, Tensor) and other.requires_grad)
    )


def apply(t: Tensor, op, other) -> Tensor:
    """``t = op(t, other)`` written into t's buffer."""
    if _recording(t, other):
        _check_leaf(t, "an in-place operation")
        return _write_back(t, op(_old_self(t), other))
    with no_grad():
        return _write_back(t, op(t, other))


def fill(t: Tensor, value) -> Tensor:
    if grad_mode.grad_enabled:
        _check_leaf(t, "fill_/zero_")
    t.data.fill(value)
    increment_version(t)
    if t.creator is not None:  # a non-leaf: its values no longer depend on its history
        t.creator = None
        t.requires_grad = False
    return t


def setitem(t: Tensor, index, value) -> None:
    index = raw_index(index, t)
    if _recording(t, value):
        _check_leaf(t, "item assignment")
        v = as_tensor(value, like=t)
        _write_back(t, SetItem(index)(_old_self(t), v))
        return
    v = value.data if isinstance(value, Tensor) else value
    t.data[index] = v
    increment_version(t)
