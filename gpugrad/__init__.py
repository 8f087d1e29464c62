"""gpugrad: tape-based automatic differentiation on NumPy (CPU) and CuPy (GPU).

import gpugrad as gg
x = gg.tensor([1.0, 2.0], requires_grad=True)
(x * x).sum().backward()
x.grad            # tensor([2., 4.])
"""

from . import backend, cuda
from .autograd import detect_anomaly, enable_grad, grad, is_grad_enabled, no_grad
from .backend import default_device, device, set_default_device
from .gradcheck import gradcheck, gradgradcheck
from .ops import namespace as _namespace  # registers the create_graph namespace
from .ops.activation import relu, sigmoid, tanh
from .ops.arithmetic import maximum, minimum
from .ops.linalg import matmul
from .ops.reduce import logsumexp, max, mean, min, sum, var
from .ops.shape import (
    broadcast_to,
    concatenate,
    expand_dims,
    flatten,
    reshape,
    squeeze,
    stack,
    swapaxes,
    transpose,
    unsqueeze,
    where,
)
from .ops.unary import abs, clip, exp, log, sqrt
from .tensor import (
    Tensor,
    arange,
    as_tensor,
    empty,
    full,
    full_like,
    manual_seed,
    ones,
    ones_like,
    rand,
    randn,
    tensor,
    zeros,
    zeros_like,
)

__version__ = "0.1.0"

float16 = "float16"
float32 = "float32"
float64 = "float64"
int64 = "int64"

from . import functional, nn  # noqa: E402
from .explain import explain  # noqa: E402  (the function; the module is gpugrad.explain)
from .io import load, save  # noqa: E402

# Submodules with heavier imports (matplotlib, safetensors, mpi4py) load on first use.
_LAZY_SUBMODULES = {"optim", "io", "data", "distributed", "trainer", "kernels"}


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'gpugrad' has no attribute {name!r}")
