"""Views: a Tensor that shares its base's memory, version counter and (for gradients)
history, as in PyTorch.

A view (basic indexing, a reshape that made no copy, transpose, squeeze, unsqueeze,
broadcast_to) carries a :class:`ViewInfo`: its root base (never itself a view) and the
chain of :class:`ViewStep` that takes the base to the view.  The chain is what the autograd
needs after an in-place write:

* written through a view, the base gets a new history (``inplace.SetView``, PyTorch's
  CopySlices) over the region the chain selects;
* a view whose version moved since its history was recorded (the base or another view was
  written) gets its history again, the chain replayed on the base's current history
  (:func:`refresh`, called by the engine before it uses the view).

``detach()`` shares memory and version but is no view for gradients: it has no history.
"""

from __future__ import annotations

from .. import backend
from ..autograd import enable_grad


class ViewStep:
    """One link of a view chain: ``tensor(t)`` records it on a Tensor, ``array(a)`` applies
    it to a raw array (a view of ``a``), ``assign(a, v)`` writes ``v`` into that region."""

    __slots__ = ("array", "read_only", "tensor")

    def __init__(self, tensor, array, read_only: bool = False):
        self.tensor, self.array, self.read_only = tensor, array, read_only

    def assign(self, a, value) -> None:
        self.array(a)[...] = value


class IndexStep(ViewStep):
    """``a[index]``; written with ``a[index] = v`` (so advanced indices write too)."""

    __slots__ = ("index",)

    def __init__(self, tensor, index):
        super().__init__(tensor, lambda a: a[index])
        self.index = index

    def assign(self, a, value) -> None:
        a[self.index] = value


class ViewInfo:
    """What makes a Tensor a view: its root ``base``, the ``steps`` from it, and the version
    at which the view's history was last recorded."""

    __slots__ = ("base", "steps", "version")

    def __init__(self, base, steps: tuple, version: int):
        self.base, self.steps, self.version = base, steps, version


def shares_memory(out, base) -> bool:
    """True when ``out``'s array is a view into ``base``'s memory (not a copy)."""
    return backend.memory_owner(out.array) is backend.memory_owner(base.array)


def make_view(out, source, step: ViewStep):
    """Mark ``out`` (the result of a view op on ``source``) as a view when no copy was made:
    it shares the root base's version counter and knows the chain of steps from it."""
    if not shares_memory(out, source):
        return out
    info = source._view
    base, steps = (source, ()) if info is None else (info.base, info.steps)
    out._version = base._version
    out._view = ViewInfo(base, (*steps, step), base._version[0])
    return out


def region(steps, a, graph: bool):
    """The region of ``a`` (a base-shaped array, or a Tensor when ``graph``) that ``steps``
    select."""
    for step in steps:
        a = step.tensor(a) if graph else step.array(a)
    return a


def assign_region(steps, a, value) -> None:
    """Write ``value`` into the region of the array ``a`` that ``steps`` select."""
    for step in steps[:-1]:
        a = step.array(a)
    steps[-1].assign(a, value)


def refresh(t) -> None:
    """Record ``t``'s history again as its chain of steps on its base's current history
    (after an in-place write to the base or to another view of it)."""
    info = t._view
    base = info.base
    if base.creator is None and not base.requires_grad:
        t.creator, t.requires_grad = None, False
    else:
        with enable_grad():
            replayed = region(info.steps, base, graph=True)
        t.creator, t.requires_grad = replayed.creator, replayed.requires_grad
    info.version = t._version[0]
