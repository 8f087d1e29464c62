"""Automatic differentiation: the tape engine, grad mode, and numerical gradient checks.

    engine         Function (one node: forward and backward side by side), the backward
                   pass (``run_backward``)
    backward       the seed gradient of an output, and ``grad``
    raw_namespace  what backward formulas call on raw arrays; ``sum_to``
    grad_mode      no_grad, enable_grad, detect_anomaly
    gradcheck      gradcheck, gradgradcheck against float64 central differences

How to write an op is told in ``engine``'s docstring.
"""

from . import backward, engine, grad_mode
from .backward import grad, seed_gradient
from .engine import Function, edge, increment_version, run_backward
from .grad_mode import detect_anomaly, enable_grad, is_grad_enabled, no_grad
from .gradcheck import gradcheck, gradgradcheck
from .raw_namespace import (
    RawNamespace,
    broadcast_axes,
    raw_namespace,
    sum_array,
    sum_to_array,
)
