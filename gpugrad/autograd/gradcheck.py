"""Numerical versus analytic gradients, in float64.

The function's outputs are reduced to a scalar ``L = sum_k <u_k, f_k(x)>`` with random
weights ``u_k`` (so every output element matters without building a Jacobian).  For each
input, the analytic ``dL/dx`` from backward is compared with central differences: along
every coordinate for small inputs, along random directions (projections) for large ones.
"""

from __future__ import annotations

import numpy

from . import engine
from .backward import grad

MAX_COORDINATES = 256  # above this many elements an input is checked by projections
PROJECTIONS = 16


def _is_tensor(x) -> bool:
    # The Tensor class comes from the engine's setup: autograd sits below tensor.py.
    return isinstance(x, engine.tensor_type())


def _as_outputs(out):
    """The Tensors among ``fn``'s outputs (a custom Function may return other values too)."""
    return [o for o in out if _is_tensor(o)] if isinstance(out, (tuple, list)) else [out]


def _float64_inputs(inputs):
    ins = []
    for x in inputs:
        if _is_tensor(x) and x.dtype.kind == "f":
            t = engine.tensor_type().wrap(x.array.astype("float64"))
            t.requires_grad = x.requires_grad
            ins.append(t)
        else:
            ins.append(x)
    return ins


def _scalar(fn, ins, weights):
    """L(x) = sum_k <u_k, f_k(x)> as a float.  (Grad mode stays on: for gradgradcheck
    ``fn`` itself runs a backward.)"""
    outs = _as_outputs(fn(*ins))
    total = 0.0
    for o, u in zip(outs, weights):
        total += float((o.numpy().astype(numpy.float64) * u).sum())
    return total


def gradcheck(
    fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0
) -> bool:
    """Check the analytic gradient of ``fn`` at ``inputs`` against central differences.

    ``inputs``: a Tensor or a sequence; floating Tensors with ``requires_grad`` are
    checked (they are copied to float64 first).  Returns True or raises AssertionError
    naming the input, the direction and the worst mismatch.
    """
    inputs = [inputs] if _is_tensor(inputs) else list(inputs)
    ins = _float64_inputs(inputs)
    checked = [i for i, x in enumerate(ins) if _is_tensor(x) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck: no input requires grad")
    rng = numpy.random.default_rng(seed)
    outs = _as_outputs(fn(*ins))
    weights = [rng.standard_normal(o.shape) for o in outs]
    xp_weights = [o.device.xp.asarray(u, dtype=o.dtype) for o, u in zip(outs, weights)]
    diff_outs = [(o, w) for o, w in zip(outs, xp_weights) if o.requires_grad]
    # No output in the graph: the analytic gradient is zero (a constant, as the gradient
    # of a linear function is), and the differences must agree.
    analytic = (
        grad(
            [o for o, _ in diff_outs],
            [ins[i] for i in checked],
            grad_outputs=[w for _, w in diff_outs],
            allow_unused=True,
        )
        if diff_outs
        else [None] * len(checked)
    )
    for i, g in zip(checked, analytic):
        x = ins[i]
        g = numpy.zeros(x.shape) if g is None else g.numpy()
        host = x.numpy().astype(numpy.float64)
        if host.size <= MAX_COORDINATES:
            directions = [("coordinate", idx) for idx in numpy.ndindex(*x.shape)]
        else:
            directions = [("projection", rng.standard_normal(x.shape)) for _ in range(PROJECTIONS)]
        for kind, d in directions:
            if kind == "coordinate":
                v = numpy.zeros(x.shape)
                v[d] = 1.0
            else:
                v = d
            saved = x.array
            x.array = x.device.xp.asarray(host + eps * v)
            plus = _scalar(fn, ins, weights)
            x.array = x.device.xp.asarray(host - eps * v)
            minus = _scalar(fn, ins, weights)
            x.array = saved
            numeric = (plus - minus) / (2 * eps)
            exact = float((g * v).sum())
            if not abs(numeric - exact) <= atol + rtol * abs(numeric):
                where = f"element {d}" if kind == "coordinate" else "a random direction"
                raise AssertionError(
                    f"gradcheck failed for input {i} (shape {x.shape}) along {where}: "
                    f"numerical {numeric:.8g}, analytic {exact:.8g}, "
                    f"difference {abs(numeric - exact):.3g} > "
                    f"atol {atol} + rtol {rtol} * |numerical|"
                )
    return True


def gradgradcheck(
    fn, inputs, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3, seed: int = 0
) -> bool:
    """gradcheck of the gradient: checks second derivatives (create_graph backward)."""
    inputs = [inputs] if _is_tensor(inputs) else list(inputs)
    ins = _float64_inputs(inputs)
    checked = [i for i, x in enumerate(ins) if _is_tensor(x) and x.requires_grad]
    rng = numpy.random.default_rng(seed + 1)
    probe = _as_outputs(fn(*ins))
    weights = [rng.standard_normal(o.shape) for o in probe]

    def first_derivative(*xs):
        outs = _as_outputs(fn(*xs))
        ws = [o.device.xp.asarray(u, dtype=o.dtype) for o, u in zip(outs, weights)]
        grads = grad(
            outs, [xs[i] for i in checked], grad_outputs=ws, create_graph=True, allow_unused=True
        )
        return tuple(g for g in grads if g is not None)

    return gradcheck(first_derivative, ins, eps=eps, atol=atol, rtol=rtol, seed=seed)
