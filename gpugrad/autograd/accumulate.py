"""A leaf's ``.grad`` buffer, in one place: how a backward adds a gradient into it
(PyTorch's AccumulateGrad: the engine and the replay of a compiled step both call
:func:`accumulate_leaf`, so they accumulate alike, bit for bit) and how ``zero_grad``
forgets or zeroes it (:func:`zero_grads`, for ``nn.Module`` and the optimizers)."""

from __future__ import annotations

from .. import backend
from ..kernels import zero_grad as zero_grad_kernel
from . import engine  # a module reference: engine imports this module

# What this backward did to a leaf's .grad (the values of ``made``):
SHARED = 0  # .grad is a gradient array as the backward handed it: maybe another's too
OWNED = 1  # .grad is a sum this backward allocated: ours to add into


_ones: dict = {}  # (array type, device, dtype, shape) -> a one-element array of 1
_ones_ids: set = set()  # their ids


def shared_ones(a):
    """``ones_like(a)`` for a one-element ``a``, made once per array type, device, dtype and
    shape: the seed of every ``loss.backward()`` (on a GPU a fill kernel and an allocation
    each).  Nothing may write into it: the engine counts a seed among the buffers already
    handed out (a leaf gets a copy), backward formulas never write their upstream gradient,
    and where it would leave the engine as it is (a custom Function's ``grad_output``, a
    result of ``gg.grad``) :func:`unshared` copies it.  ``create_graph`` seeds are fresh.
    Read-only where the array type has the flag (NumPy's)."""
    key = (type(a), backend.device_of(a), a.dtype, a.shape)
    ones = _ones.get(key)
    if ones is None:
        ones = _ones[key] = backend.get_array_module(a).ones_like(a)
        if hasattr(ones.flags, "writeable"):
            ones.flags.writeable = False
        _ones_ids.add(id(backend.memory_owner(ones)))
    return ones


def unshared(g):
    """``g``, or a copy of it where it is (a view of) a :func:`shared_ones` seed: before
    it reaches code that may write into it."""
    return g.copy() if id(backend.memory_owner(g)) in _ones_ids else g


def seed_owners(root_grads) -> set:
    """The ids of the memory owners of the seed gradients: buffers a user already holds,
    which no leaf gradient may share (see :func:`accumulate_leaf`)."""
    return {id(backend.memory_owner(g)) for g in root_grads}


def accumulate_leaf(t, g, handed: set, made: dict) -> None:
    """Add the raw gradient ``g`` to ``t.grad``, as PyTorch's AccumulateGrad.

    * ``t.grad`` is None: ``g`` becomes it, copied when its memory was already handed out
      in this backward (``handed``: Add gives one buffer to both inputs, and x.grad and
      y.grad must never share memory) or is not contiguous.
    * ``t.grad`` existed before this backward (a persistent buffer: ``zero_grad(
      set_to_none=False)``, or gradients accumulated over steps): ``g`` is added IN PLACE,
      so the buffer lives across steps and nothing is allocated (PyTorch does the same:
      someone holding ``t.grad`` sees the sum).
    * ``t.grad`` was set by this backward (``made``, id -> SHARED or OWNED): the first sum
      is out of place (the buffer may still be another node's pending gradient), later
      ones in place into that sum.
    The same values in the same order either way: in place or not changes no bit.
    """
    grad = t.grad
    key = id(t)
    if grad is None:
        owner = id(backend.memory_owner(g))
        flags = g.flags
        if owner in handed or not flags.c_contiguous or not getattr(flags, "writeable", True):
            # contiguous, writable and ours alone: broadcast views are read-only, and one
            # of a single value counts as contiguous
            g = g.copy()
            owner = id(g)
        handed.add(owner)
        t.grad = type(t).wrap(g)
        made[key] = SHARED
        return
    buffer = grad.array
    state = made.get(key, OWNED)
    if (
        state == OWNED
        and buffer.dtype == g.dtype
        and buffer.shape == g.shape
        and getattr(buffer.flags, "writeable", True)  # CuPy arrays are always writeable
    ):
        buffer += g
        # a graph that saved the old .grad refuses its backward; bumped here, not through
        # engine.increment_version, which gg.compile refuses (this write is the backward's)
        grad._version[0] += 1
        return
    t.grad = type(t).wrap(buffer + g)
    made[key] = OWNED


def zero_grads(params, set_to_none: bool) -> None:
    """``zero_grad`` of PyTorch for the tensors ``params``: ``.grad = None``
    (``set_to_none``), or the buffer zeroed in place, kept for the next backward to add
    into (a gradient with a grad_fn, from ``create_graph=True``, is detached first, as
    ``detach_()``: a new Tensor over the same array; else it stops requiring grad).  Zeroing
    in place writes every array that shares the gradient's memory.  On CUDA the contiguous
    gradients are zeroed together, one launch per dtype (``kernels.zero_grad``)."""
    together = []
    for p in params:
        grad = p.grad
        if grad is None:
            continue
        if set_to_none:
            p.grad = None
            continue
        if hasattr(grad, "array"):
            if grad.creator is not None:
                p.grad = grad = grad.detach()
            grad.requires_grad = False
            array = grad.array
            engine.increment_version(grad)
        else:  # a bare backend array
            array = grad
        if zero_grad_kernel.zeroes_in_one_launch(array):
            together.append(array)
        else:
            array.fill(0)
    if together:
        zero_grad_kernel.multi_zero(together)
