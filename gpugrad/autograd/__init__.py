"""Automatic differentiation: the tape engine, grad mode, and numerical gradient checks.

    engine         the library's op contract: engine.Function (one node, forward and
                   backward side by side), the backward pass (``run_backward``)
    function       Function: custom ops PyTorch's way (ctx, save_for_backward, apply)
    backward       the seed gradient of an output, ``grad`` and ``backward``
    raw_namespace  what backward formulas call on raw arrays; ``sum_to``
    grad_mode      no_grad, enable_grad, detect_anomaly
    accumulate     how a gradient is added into a leaf's .grad (AccumulateGrad)
    recording      the hooks through which gg.compile watches a step being recorded
    gradcheck      gradcheck, gradgradcheck against float64 central differences

How the library writes an op is told in ``engine``'s docstring; how a user writes one
PyTorch's way, in ``function``'s.  (``gpugrad.autograd.backward`` is the function, as
PyTorch's; the module is ``gpugrad.autograd.backward`` in ``sys.modules``.)
"""

from . import engine, grad_mode, recording
from .backward import backward, grad, seed_gradient
from .engine import edge, increment_version, run_backward
from .function import Function, FunctionCtx, once_differentiable
from .grad_mode import detect_anomaly, enable_grad, is_grad_enabled, no_grad
from .gradcheck import gradcheck, gradgradcheck
from .raw_namespace import (
    RawNamespace,
    broadcast_axes,
    raw_namespace,
    sum_array,
    sum_to_array,
)
