"""Launchers of ``kernels/optimizer.cu``: one in-place SGD or Adam/AdamW step per launch,
PyTorch's update rules (written out in ``common.cuh``).

The parameter and its state are updated in place, so they must be C-contiguous CuPy arrays
of one dtype and shape (ValueError otherwise); the gradient is only read (cast and made
contiguous when needed).  An empty parameter launches nothing.
"""

from __future__ import annotations

import numpy

from ._build import THREADS, Kernel, as_contiguous, check_float, grid, on_arrays_device

FILE = "optimizer.cu"
_sgd = Kernel(FILE, "sgd_update")
_adam = Kernel(FILE, "adam_update")


def _check_state(p, *named):
    """p and its state: cupy, same dtype and shape, C-contiguous (updated in place)."""
    check_float(p, "parameter")
    for what, a in named:
        if a is None:
            continue
        check_float(a, what)
        if a.dtype != p.dtype or a.shape != p.shape:
            raise ValueError(
                f"the {what} ({a.dtype}, {a.shape}) does not match the parameter "
                f"({p.dtype}, {p.shape})"
            )
    for what, a in (("parameter", p), *named):
        if a is not None and not a.flags.c_contiguous:
            raise ValueError(
                f"optimizer kernels update the {what} in place: it must be C-contiguous"
            )


def _gradient(p, grad):
    check_float(grad, "gradient")
    if grad.shape != p.shape:
        raise ValueError(f"gradient of shape {grad.shape} for a parameter of shape {p.shape}")
    return as_contiguous(grad, p.dtype, "gradient")


def _doubles(*values) -> tuple:
    return tuple(numpy.float64(v) for v in values)


def _flags(*values) -> tuple:
    return tuple(numpy.int32(bool(v)) for v in values)


def _launch(kernel, arrays, scalars):
    """Launch ``kernel`` over the parameter ``arrays[0]``: the arrays, its size, then the
    scalars (already typed as the C signature wants: see _doubles and _flags)."""
    p = arrays[0]
    if p.size:
        kernel(p.dtype)(grid(p.size), (THREADS,), (*arrays, numpy.int64(p.size), *scalars))


@on_arrays_device
def sgd_update(
    p, grad, buf, *, lr, momentum=0.0, nesterov=False, weight_decay=0.0, first_step=False
):
    """One in-place SGD step on p (and the momentum buffer buf, p's shape; None only when
    momentum is 0), PyTorch's semantics with dampening 0.  ``first_step`` makes buf = g
    (PyTorch's fresh buffer) instead of reading it.  One launch."""
    if momentum != 0 and buf is None:
        raise ValueError("sgd_update with momentum needs a momentum buffer")
    _check_state(p, ("momentum buffer", buf))
    grad = _gradient(p, grad)
    _launch(
        _sgd,
        (p, grad, buf if buf is not None else p),  # buf is not read without momentum
        _doubles(lr, momentum, weight_decay) + _flags(nesterov, first_step),
    )


@on_arrays_device
def adam_update(
    p,
    grad,
    m,
    v,
    *,
    lr,
    beta1,
    beta2,
    eps,
    weight_decay,
    decoupled,
    bias_correction1,
    bias_correction2,
):
    """One in-place Adam (decoupled=False: g += wd·p) or AdamW (decoupled=True: p *= 1 - lr·wd)
    step on p, m, v (all p's shape), PyTorch's semantics.  The bias corrections 1 - β^t are
    computed by the caller from the step count t.  One launch."""
    if m is None or v is None:
        raise ValueError("adam_update needs both moment buffers")
    _check_state(p, ("first moment", m), ("second moment", v))
    grad = _gradient(p, grad)
    _launch(
        _adam,
        (p, grad, m, v),
        _doubles(lr, beta1, beta2, eps, weight_decay)
        + _flags(decoupled)
        + _doubles(bias_correction1, bias_correction2),
    )
