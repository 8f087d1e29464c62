"""gpugrad: tape-based automatic differentiation on NumPy (CPU) and CuPy (GPU).

>>> import gpugrad as gg
>>> x = gg.tensor([1.0, 2.0], requires_grad=True)
>>> (x * x).sum().backward()
>>> x.grad
tensor([2., 4.])

This file only re-exports the public API, after the one setup step below.
"""

from . import autograd, backend, cuda, dtypes, host_memory, methods
from .autograd import (
    detect_anomaly,
    enable_grad,
    grad,
    gradcheck,
    gradgradcheck,
    is_grad_enabled,
    no_grad,
)
from .autograd.grad_mode import inference_mode, set_grad_enabled
from .backend import default_device, device, set_default_device
from .creation import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    tensor,
    zeros,
    zeros_like,
)
from .dtypes import (
    double,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int8,
    int16,
    int32,
    int64,
    long,
    set_default_dtype,
    uint8,
)
from .interop import from_dlpack
from .ops import namespace as _graph_namespace, view
from .ops.activation import relu, sigmoid, tanh
from .ops.arithmetic import add, div, maximum, minimum, mul, neg, pow, sub
from .ops.comparison import allclose, eq, equal, ge, gt, isfinite, isinf, isnan, le, lt, ne
from .ops.concatenate import cat, concatenate, stack
from .ops.cumulative import cumsum
from .ops.einsum import einsum
from .ops.logical import (
    bitwise_and,
    bitwise_not,
    bitwise_or,
    bitwise_xor,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
)
from .ops.matmul import bmm, dot, matmul, mm, mv, outer
from .ops.piecewise_activations import prelu, threshold
from .ops.reduce import (
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    max,
    mean,
    min,
    norm,
    prod,
    std,
    sum,
    var,
)
from .ops.rounding import ceil, floor, floor_divide, remainder, round, sign
from .ops.shape import (
    broadcast_to,
    expand_dims,
    flatten,
    permute,
    reshape,
    squeeze,
    swapaxes,
    transpose_dims as transpose,
    unflatten,
    unsqueeze,
)
from .ops.smooth_activations import celu, selu
from .ops.softmax import log_softmax, logsumexp, softmax
from .ops.sort import argsort, sort, topk
from .ops.split import chunk, split
from .ops.tile import flip
from .ops.trig import cos, sin
from .ops.unary import abs, clip, clone, exp, expm1, log, log1p, rsqrt, sqrt
from .ops.where import masked_fill, where
from .random import (
    get_rng_state,
    manual_seed,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    set_rng_state,
)
from .tensor import Tensor

# PyTorch's dtype names that shadow Python builtins inside this module only.
float = dtypes.float32
int = dtypes.int32
bool = dtypes.bool_
clamp = clip

# The one setup step: the engine sits below Tensor and the ops, so it is handed the Tensor
# class and the namespace of recorded backward formulas here; Tensor gets its operators.
autograd.engine.setup(Tensor, _graph_namespace, view.refresh)
methods.bind(Tensor)
host_memory.apply_environment()  # GPUGRAD_KEEP_HOST_MEMORY=1

__version__ = "0.1.0"

from . import functional, nn  # noqa: E402
from .compile import CompileError, compile  # noqa: E402  (the function; also gpugrad.compile)
from .explain import explain  # noqa: E402  (the function; the module is gpugrad.explain)
from .io import load, save  # noqa: E402

# Submodules with heavier imports (matplotlib, safetensors, mpi4py) load on first use.
_LAZY_SUBMODULES = {"optim", "io", "data", "distributed", "trainer", "utils"}


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        import importlib

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module 'gpugrad' has no attribute {name!r}")
