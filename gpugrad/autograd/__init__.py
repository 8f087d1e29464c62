"""Automatic differentiation: the tape engine, grad mode, and numerical gradient checks.

    engine      Function (one node: forward and backward side by side), the backward pass
                (``run_backward``, ``grad``), the raw-array namespace of backward formulas
    grad_mode   no_grad, enable_grad, detect_anomaly
    gradcheck   gradcheck, gradgradcheck against float64 central differences

How to write an op is told in ``engine``'s docstring.
"""

from . import engine, grad_mode
from .engine import (
    Function,
    broadcast_axes,
    grad,
    raw_namespace,
    run_backward,
    seed_gradient,
    sum_to_array,
)
from .grad_mode import detect_anomaly, enable_grad, is_grad_enabled, no_grad

# gradcheck works on Tensors; tensor.py imports engine and grad_mode above, so this comes last.
from .gradcheck import gradcheck, gradgradcheck
