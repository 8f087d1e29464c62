"""The entry points of a backward pass: the seed gradient of an output, ``gg.grad``
(gradients returned instead of accumulated) and ``gg.autograd.backward`` (PyTorch's,
accumulated into ``.grad``).  ``Tensor.backward`` uses the seed too."""

from __future__ import annotations

import numbers

import numpy

from .. import backend
from . import engine, recording
from .accumulate import shared_ones
from .engine import run_backward


def _seeds(outputs, grad_outputs, create_graph: bool):
    """``outputs`` as a list and the seed gradient of each (``grad_outputs``: None, one
    gradient, or one per output)."""
    Tensor = engine.tensor_type()
    outputs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    if grad_outputs is None:
        grad_outputs = [None] * len(outputs)
    elif isinstance(grad_outputs, Tensor) or not isinstance(grad_outputs, (list, tuple)):
        grad_outputs = [grad_outputs]
    if len(grad_outputs) != len(outputs):
        raise ValueError(f"got {len(grad_outputs)} grad_outputs for {len(outputs)} outputs")
    return outputs, [seed_gradient(o, g, create_graph) for o, g in zip(outputs, grad_outputs)]


def _as_list(inputs) -> list:
    return [inputs] if isinstance(inputs, engine.tensor_type()) else list(inputs)


def grad(
    outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False, allow_unused=False
):
    """Gradients of ``outputs`` with respect to ``inputs``, as a tuple of Tensors.

    ``.grad`` of the inputs is not touched.  ``grad_outputs`` gives the upstream gradient
    of each output (needed for outputs with more than one element).  With
    ``create_graph=True`` the returned gradients are themselves differentiable.
    """
    inputs_seq = _as_list(inputs)
    for k, t in enumerate(inputs_seq):
        if not t.requires_grad:
            raise RuntimeError(f"input {k} of gg.grad does not require grad")
    outputs, seeds = _seeds(outputs, grad_outputs, create_graph)
    if retain_graph is None:
        retain_graph = create_graph
    return run_backward(
        outputs,
        seeds,
        retain_graph=retain_graph,
        create_graph=create_graph,
        inputs=inputs_seq,
        allow_unused=allow_unused,
    )


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """PyTorch's ``torch.autograd.backward``: accumulate the gradients of ``tensors``
    (seeded with ``grad_tensors``) into ``.grad`` of the leaves, or, with ``inputs``, of
    those Tensors only.

    >>> import gpugrad as gg
    >>> x = gg.tensor([1.0, 2.0], requires_grad=True)
    >>> gg.autograd.backward([(x * x).sum()])
    >>> x.grad
    tensor([2., 4.])
    """
    tensors, seeds = _seeds(tensors, grad_tensors, create_graph)
    if retain_graph is None:
        retain_graph = create_graph
    if inputs is None:
        run_backward(tensors, seeds, retain_graph=retain_graph, create_graph=create_graph)
        return
    inputs = _as_list(inputs)
    grads = run_backward(
        tensors,
        seeds,
        retain_graph=retain_graph,
        create_graph=create_graph,
        inputs=inputs,
        allow_unused=True,
    )
    Tensor = engine.tensor_type()
    for t, g in zip(inputs, grads):
        if g is None:
            continue
        if create_graph:
            t.grad = g if t.grad is None else t.grad + g
        else:  # a buffer of its own: the returned gradients may share one
            t.grad = Tensor.wrap(g.array.copy() if t.grad is None else t.grad.array + g.array)


def seed_gradient(t, grad, create_graph: bool):
    """The upstream gradient that starts a backward from ``t``: ones for a one-element
    ``t`` when ``grad`` is None; else ``grad`` (a Tensor, array or number) of t's shape,
    dtype and device.  A Tensor under ``create_graph``, a raw array otherwise."""
    Tensor = engine.tensor_type()
    xp = backend.get_array_module(t.array)
    if grad is None:
        if t.array.size != 1:
            raise RuntimeError(
                f"backward() without a gradient needs a one-element output; "
                f"this one has shape {t.shape}: pass grad= of that shape"
            )
        g = Tensor.wrap(xp.ones_like(t.array) if create_graph else shared_ones(t.array))
    elif isinstance(grad, Tensor):
        g = grad
        if recording.active is not None:  # gg.compile: where this gradient comes from
            recording.active.seed(g.array, g)
    elif isinstance(grad, numpy.ndarray) or backend.is_cuda_array(grad):
        recording.refuse("an array given to backward() as the gradient (give a tensor)")
        g = Tensor.wrap(backend.to_device(grad, t.device))  # keeps its dtype: checked
    elif isinstance(grad, (numbers.Number, list, tuple)):  # these take the output's dtype
        host = numpy.asarray(grad, dtype=t.dtype if t.dtype.kind == "f" else None)
        g = Tensor.wrap(backend.to_device(host, t.device))
    else:
        raise TypeError(f"expected a Tensor, a number or an array, got {type(grad).__name__}")
    if g.shape != t.shape:
        raise ValueError(f"grad has shape {g.shape} but the output has shape {t.shape}")
    if g.dtype != t.dtype:
        raise TypeError(
            f"backward: dtype mismatch: left operand is {t.dtype}, right operand is "
            f"{g.dtype}; convert one with .astype()"
        )
    if g.device != t.device:
        raise RuntimeError(
            f"backward: device mismatch: left operand is on {t.device}, right operand is on "
            f"{g.device}; move one with .to()"
        )
    return g if create_graph else g.array
