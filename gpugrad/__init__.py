"""gpugrad: tape-based automatic differentiation on NumPy (CPU) and CuPy (GPU).

>>> import gpugrad as gg
>>> x = gg.tensor([1.0, 2.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad
tensor([2., 4.])

This file only re-exports the public API, after the one setup step below.
"""

from . import autograd, backend, cuda, methods
from .autograd import (
    detect_anomaly,
    enable_grad,
    grad,
    gradcheck,
    gradgradcheck,
    is_grad_enabled,
    no_grad,
)
from .backend import default_device, device, set_default_device
from .creation import (
    arange,
    as_tensor,
    empty,
    full,
    full_like,
    ones,
    ones_like,
    tensor,
    zeros,
    zeros_like,
)
from .dtypes import float16, float32, float64, int64
from .ops import namespace as _graph_namespace, view
from .ops.activation import relu, sigmoid, tanh
from .ops.arithmetic import maximum, minimum
from .ops.concatenate import concatenate, stack
from .ops.matmul import matmul
from .ops.reduce import max, mean, min, sum, var
from .ops.shape import (
    broadcast_to,
    expand_dims,
    flatten,
    reshape,
    squeeze,
    swapaxes,
    transpose,
    unsqueeze,
)
from .ops.softmax import logsumexp
from .ops.unary import abs, clip, exp, log, sqrt
from .ops.where import where
from .random import get_rng_state, manual_seed, rand, randn, set_rng_state
from .tensor import Tensor

# The one setup step: the engine sits below Tensor and the ops, so it is handed the Tensor
# class and the namespace of recorded backward formulas here; Tensor gets its operators.
autograd.engine.setup(Tensor, _graph_namespace, view.refresh)
methods.bind(Tensor)

__version__ = "0.1.0"

from . import functional, nn  # noqa: E402
from .explain import explain  # noqa: E402  (the function; the module is gpugrad.explain)
from .io import load, save  # noqa: E402

# Submodules with heavier imports (matplotlib, safetensors, mpi4py) load on first use.
_LAZY_SUBMODULES = {"optim", "io", "data", "distributed", "trainer"}


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'gpugrad' has no attribute {name!r}")
