"""``nn.utils``: gradient clipping and flattening parameters into one vector, as PyTorch's."""

from __future__ import annotations

import math

import numpy

from .. import backend
from ..autograd import increment_version, no_grad, recording
from ..ops.concatenate import concatenate
from ..tensor import Tensor

__all__ = [
    "clip_grad_norm_",
    "clip_grad_value_",
    "parameters_to_vector",
    "vector_to_parameters",
]


def _listed(parameters) -> list:
    return [parameters] if isinstance(parameters, Tensor) else list(parameters)


def _norm(a, norm_type: float):
    """The ``norm_type`` norm of an array as a 0-d float64 array (no host read)."""
    xp = backend.get_array_module(a)
    a = xp.abs(a.astype(xp.float64).ravel())
    if math.isinf(norm_type):
        return a.max() if a.size else xp.zeros((), xp.float64)
    return (a**norm_type).sum() ** (1.0 / norm_type)


def clip_grad_norm_(
    parameters,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
    foreach=None,
) -> Tensor:
    """Scale the gradients in place so that their joint ``norm_type`` norm is at most
    ``max_norm``; returns the norm before clipping (a 0-d Tensor).  Nothing is read back
    to the host unless ``error_if_nonfinite``."""
    if recording.active is not None:  # inside gg.compile: replayed as a call
        params = list(_listed(parameters))  # a generator would be empty at the replays
        return recording.active.call(
            clip_grad_norm_, params, max_norm, norm_type, error_if_nonfinite, foreach
        )
    grads = [p.grad for p in _listed(parameters) if p.grad is not None]
    norm_type = float(norm_type)
    if not grads:
        return Tensor(0.0)
    xp = backend.get_array_module(grads[0].array)
    norms = xp.stack([_norm(g.array, norm_type) for g in grads])
    total = norms.max() if math.isinf(norm_type) else _norm(norms, norm_type)
    if error_if_nonfinite and not bool(xp.isfinite(total)):
        raise RuntimeError(
            f"The total norm of order {norm_type} for gradients from `parameters` is "
            f"non-finite, so it cannot be clipped. To disable this error and scale the "
            f"gradients by the non-finite norm anyway, set `error_if_nonfinite=False`"
        )
    coef = xp.minimum(max_norm / (total + 1e-6), 1.0)
    with no_grad(), numpy.errstate(invalid="ignore"):  # inf · 0 is NaN, as in PyTorch
        for g in grads:
            g.array *= coef.astype(g.dtype)
            increment_version(g)
    return Tensor.wrap(total.astype(grads[0].dtype))


def clip_grad_value_(parameters, clip_value: float, foreach=None) -> None:
    """Clamp every gradient to [-clip_value, clip_value] in place."""
    if recording.active is not None:  # inside gg.compile: replayed as a call
        params = list(_listed(parameters))  # a generator would be empty at the replays
        return recording.active.call(clip_grad_value_, params, clip_value, foreach)
    clip_value = float(clip_value)
    with no_grad():
        for p in _listed(parameters):
            if p.grad is not None:
                xp = backend.get_array_module(p.grad.array)
                xp.clip(p.grad.array, -clip_value, clip_value, out=p.grad.array)
                increment_version(p.grad)


def parameters_to_vector(parameters) -> Tensor:
    """The parameters flattened and concatenated into one 1-d Tensor (a copy, recorded)."""
    return concatenate([p.reshape(-1) for p in _listed(parameters)])


def vector_to_parameters(vec: Tensor, parameters) -> None:
    """Copy consecutive slices of the 1-d ``vec`` into the parameters, in place."""
    if not isinstance(vec, Tensor) or vec.ndim != 1:
        raise TypeError("expected vec to be a 1-d Tensor")
    params = _listed(parameters)
    total = sum(math.prod(p.shape) for p in params)
    if total != math.prod(vec.shape):
        raise ValueError(f"vector has {math.prod(vec.shape)} elements, the parameters {total}")
    offset = 0
    with no_grad():
        for p in params:
            n = math.prod(p.shape)
            p.array[...] = vec.array[offset : offset + n].reshape(p.shape)
            increment_version(p)
            offset += n
