"""The test cases shared by the NumPy-twin, emulated-kernel and real-GPU tests
(tests/kernels/) and by the activation op tests (tests/ops/test_activation.py).

One :class:`ActivationCase` per record of ``gpugrad.ops.activation.ACTIVATIONS``: its name
and kernel code come from the record, its parameter from PyTorch's keyword, its oracles
(a textbook formula in long double, torch's function) from the tables below.  Then the
edge inputs, the dtypes, the tolerances of host and device arithmetic, and the marks that
choose what a kernel test body runs on: the ``impl`` fixture of tests/kernels/conftest.py
runs it on the NumPy twin, on the kernel emulated on the CPU and on the kernel on a GPU
(skipped without one), as CuPy's ``numpy_cupy_allclose`` runs one body on NumPy and CuPy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch

import gpugrad.functional as F
from gpugrad.ops.activation import ACTIVATIONS, ActivationSpec

DTYPES = (np.float16, np.float32, np.float64)

IMPLEMENTATIONS = ("numpy", "emulated", "cuda")  # the params of the ``impl`` fixture
on_kernels = pytest.mark.parametrize("impl", ["emulated", "cuda"], indirect=True)
on_gpu = pytest.mark.parametrize("impl", ["cuda"], indirect=True)

# rtol/atol of a result against a float64 (or better) reference.  The host computes with
# glibc's maths and no contraction; the device with CUDA's maths and fused multiply-adds.
TOLERANCES = {
    "host": {
        np.float16: dict(rtol=2e-3, atol=2e-3),
        np.float32: dict(rtol=2e-6, atol=1e-7),
        np.float64: dict(rtol=1e-13, atol=1e-15),
    },
    "gpu": {
        np.float16: dict(rtol=2e-3, atol=2e-3),
        np.float32: dict(rtol=2e-6, atol=1e-6),
        np.float64: dict(rtol=1e-12, atol=1e-14),
    },
}

# Where the maths breaks: ±1000, ±0, NaN, ±inf, subnormals of float64 and float32, float16's
# limits, the points where exp overflows or underflows; edge_values adds the dtype's own.
EDGES = (
    *(-1000.0, 1000.0, -0.0, 0.0, np.nan, -np.inf, np.inf),
    *(5e-324, -5e-324, 1e-310, 1e-45, -1e-40, 1e-30, -1e-30),
    *(65504.0, -65504.0, 6.1e-5, 5.96e-8),
    *(1.0, -1.0, 0.5, -0.5, 20.0, -20.0, 50.0, -50.0, 88.0, -88.0, 710.0, -745.0),
)


def edge_values(dtype, finite: bool = False) -> np.ndarray:
    """EDGES and the dtype's smallest normal / 4 and largest value, both signs, as ``dtype``
    (only the finite ones with ``finite``)."""
    info = np.finfo(dtype)
    tiny, big = float(info.tiny) / 4, float(info.max)
    x = np.array([*EDGES, tiny, -tiny, big, -big], dtype=dtype)
    return x[np.isfinite(x)] if finite else x


# A test value per PyTorch keyword, away from the default so that a lost parameter shows.
TEST_PARAMETERS = {"negative_slope": 0.1, "alpha": 1.5}

# The textbook formulas, for long double x: independent of the twins and the kernels.
REFERENCES = {
    "sigmoid": lambda x, p: 1 / (1 + np.exp(-x)),
    "tanh": lambda x, p: np.tanh(x),
    "relu": lambda x, p: np.where(np.isnan(x), x, np.maximum(x, 0)),
    "leaky_relu": lambda x, p: np.where(x > 0, x, x * p),
    "elu": lambda x, p: np.where(x > 0, x, p * np.expm1(x)),
    # x itself above torch's default threshold, 20 (where log(1 + eˣ) is x + e⁻ˣ, < 2e-9 more)
    "softplus": lambda x, p: np.where(x > 20, x, np.logaddexp(np.longdouble(0), x)),
}

# torch's backward from the output y for the activations whose backward SELECTS gy where the
# unit is on: an infinite or NaN gy where it is off gives 0, not inf · 0 = NaN.
SELECTING_BACKWARDS = {
    "relu": lambda y, gy, p: torch.ops.aten.threshold_backward(gy, y, 0),
    "leaky_relu": lambda y, gy, p: torch.ops.aten.leaky_relu_backward(gy, y, p, True),
    "elu": lambda y, gy, p: torch.ops.aten.elu_backward(gy, p, 1, 1, True, y),
}


@dataclass(frozen=True)
class ActivationCase:
    """An activation (its registry record), the parameter the tests use, and its oracles."""

    name: str
    code: int  # in the kernels' GgActivation enum
    p: float
    spec: ActivationSpec

    def __str__(self) -> str:  # the test id
        return self.name

    @property
    def kwargs(self) -> dict:
        """The parameter as PyTorch's keyword argument (none for sigmoid, ...)."""
        return {} if self.spec.param is None else {self.spec.param: self.p}

    def function(self, x):
        """gpugrad.functional's function of x with this parameter."""
        return getattr(F, self.name)(x, **self.kwargs)

    def torch(self, t):
        """torch.nn.functional's function of the torch tensor t with this parameter."""
        return getattr(torch.nn.functional, self.name)(t, **self.kwargs)

    def reference(self, x) -> np.ndarray:
        """The textbook formula of the NumPy array x, in long double, rounded to x's dtype."""
        with np.errstate(all="ignore"):
            return REFERENCES[self.name](x.astype(np.longdouble), self.p).astype(x.dtype)

    def twin_forward(self, x) -> np.ndarray:
        """The NumPy twin's forward of x in float64."""
        return self.spec.forward_numpy(np.asarray(x, np.float64), self.p)

    def twin_backward(self, y, gy) -> np.ndarray:
        """The NumPy twin's backward of (y, gy) in float64."""
        y, gy = np.asarray(y, np.float64), np.asarray(gy, np.float64)
        return self.spec.backward_numpy(y, gy, self.p)


def _test_parameter(spec: ActivationSpec) -> float:
    return 0.0 if spec.param is None else TEST_PARAMETERS.get(spec.param, spec.default)


CASES = tuple(
    ActivationCase(name, spec.code, _test_parameter(spec), spec)
    for name, spec in sorted(ACTIVATIONS.items())
)
SELECTING = tuple(case for case in CASES if case.name in SELECTING_BACKWARDS)


# -- NaN, ±inf, ±0 and the kinks: the side PyTorch puts each point on ------------------------
# Each activation's kinks besides 0: softplus is x itself above torch's default threshold, 20.
KINKS = {"softplus": (20.0,)}
# Past a kink, the floats up to here; softplus: (20, softplus(20)] in float64, where y = x
# (x > 20) cannot be told from y = softplus(x <= 20) by the output the backward reads.
SKIPPED_AFTER_KINK = {"softplus": 20.000000002061153}


def special_values(name: str, dtype) -> np.ndarray:
    """NaN, ±inf, ±0, the floats next to 0, and each kink of ``name`` with the floats either
    side of it (less those it cannot tell apart) and points past it, as ``dtype``."""
    x = [np.nan, np.inf, -np.inf, 0.0, -0.0]
    zero, inf = dtype(0), dtype(np.inf)
    x += [np.nextafter(zero, inf), np.nextafter(zero, -inf)]
    for kink in KINKS.get(name, ()):
        k = dtype(kink)
        x += [k, np.nextafter(k, -inf), np.nextafter(k, inf), k + 0.5, k + 10, k + 16.5]
    x = np.array(x, dtype)
    end = SKIPPED_AFTER_KINK.get(name)
    if end is not None:
        x = x[~((x > KINKS[name][0]) & (x <= end))]
    return x


def torch_elementwise(fn, x: np.ndarray, gy: np.ndarray):
    """(y, gx, local) of the torch function ``fn`` at each element of x (float16 in float32,
    the result rounded), one element at a time: torch's scalar code, which its CUDA code
    matches.  (Its CPU vector loop may put a NaN on the other side: elu_backward tests
    y > 0 there, not y <= 0, and gives NaN.)  local is d gx / d gy, from the double backward."""
    compute = np.float32 if x.dtype == np.float16 else x.dtype
    ys, gxs, locals_ = [], [], []
    for xi, gi in zip(x.astype(compute), gy.astype(compute), strict=True):
        t = torch.tensor([xi], requires_grad=True)
        g = torch.tensor([gi], requires_grad=True)
        y = fn(t)
        (gx,) = torch.autograd.grad(y, [t], [g], create_graph=True)
        (local,) = torch.autograd.grad(gx, [g], allow_unused=True)
        ys.append(y.item())
        gxs.append(gx.item())
        locals_.append(0.0 if local is None else local.item())
    return tuple(np.array(v, compute).astype(x.dtype) for v in (ys, gxs, locals_))
