"""The in-place array arithmetic that the optimizers' update rules share, in PyTorch's order
(so that trajectories agree with torch.optim to rounding), on NumPy or CuPy arrays:
temporaries for ``out=``, the weight-decayed gradient, ``lerp``, running averages of squares,
state buffers created on first use."""

from __future__ import annotations

from .. import backend


def scratch_like(p):
    """A temporary of p's shape and dtype, on p's device, for ``out=`` (a NumPy ufunc
    without ``out=`` returns a scalar, not an array, for 0-d inputs)."""
    return backend.get_array_module(p).empty(p.shape, p.dtype)


def decayed_gradient(p, grad, weight_decay: float):
    """``(g, owned)``: the gradient in p's dtype plus ``weight_decay·p`` (PyTorch's
    ``grad.add(p, alpha=weight_decay)``) and whether g is a fresh array we may overwrite."""
    g = grad.astype(p.dtype, copy=False)
    if weight_decay == 0:
        return g, False
    out = backend.get_array_module(p).multiply(p, weight_decay, out=scratch_like(p))
    out += g  # grad is never written: it may be shared
    return out, True


def lerp_(m, g, weight: float, scratch) -> None:
    """``m = lerp(m, g, weight)`` in place, in PyTorch's two-sided form (exact at both ends),
    the weight rounded to the compute type first as PyTorch does; scratch is overwritten."""
    xp = backend.get_array_module(m)
    xp.subtract(g, m, out=scratch)
    w = m.dtype.type(weight)
    if abs(w) < 0.5:
        scratch *= w
        m += scratch
    else:
        scratch *= m.dtype.type(1) - w
        xp.subtract(g, scratch, out=m)


def average_square_(avg, decay: float, g, scratch) -> None:
    """``avg = decay·avg + ((1 - decay)·g)·g`` in place (``mul_`` then ``addcmul_``, in
    PyTorch's order); scratch is overwritten."""
    backend.get_array_module(avg).multiply(g, 1 - decay, out=scratch)
    scratch *= g
    avg *= decay
    avg += scratch


def state_buffer(state: dict, name: str, p, fill: float = 0.0):
    """``state[name]``, created filled with ``fill`` (p's shape, dtype, device) if absent."""
    if name not in state:
        state[name] = backend.get_array_module(p).full(p.shape, fill, p.dtype)
    return state[name]
