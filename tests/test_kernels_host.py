"""The scalar maths of the CUDA kernels (kernels/common.cuh), compiled with the host C++
compiler, against NumPy — on the edge inputs where activations break: ±1000, ±0, NaN,
±inf, subnormals and float16's limits."""
import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from gpugrad import kernels
from gpugrad.ops import activation

SHIM = r'''
#include "common.cuh"
extern "C" {
void forward_f64(int act, const double* x, double* y, long n, double p) {
    for (long i = 0; i < n; ++i) y[i] = gg_activation<double>(act, x[i], p);
}
void forward_f32(int act, const float* x, float* y, long n, float p) {
    for (long i = 0; i < n; ++i) y[i] = gg_activation<float>(act, x[i], p);
}
void local_f64(int act, const double* y, double* g, long n, double p) {
    for (long i = 0; i < n; ++i) g[i] = gg_local_gradient<double>(act, y[i], p);
}
void local_f32(int act, const float* y, float* g, long n, float p) {
    for (long i = 0; i < n; ++i) g[i] = gg_local_gradient<float>(act, y[i], p);
}
}
'''

EDGES = [-1000.0, 1000.0, -0.0, 0.0, np.nan, -np.inf, np.inf, 5e-324, -5e-324, 1e-310, 1e-45,
         -1e-40, 65504.0, -65504.0, 6.1e-5, 1.0, -1.0, 0.5, -0.5, 20.0, -20.0, 50.0, -50.0, 88.0, -88.0]
PARAMS = {"sigmoid": 0.0, "tanh": 0.0, "relu": 0.0, "leaky_relu": 0.1, "elu": 1.5, "softplus": 0.0}


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    compiler = shutil.which("g++") or shutil.which("c++")
    if compiler is None:
        pytest.skip("no host C++ compiler")
    d = tmp_path_factory.mktemp("shim")
    (d / "shim.cpp").write_text(SHIM)
    out = d / "shim.so"
    subprocess.run([compiler, "-O2", "-shared", "-fPIC", f"-I{kernels.source_dir()}",
                    str(d / "shim.cpp"), "-o", str(out)], check=True)
    return ctypes.CDLL(str(out))


def _call(lib, fn, dtype, act, values, p):
    values = np.ascontiguousarray(values, dtype=dtype)
    out = np.empty_like(values)
    ctype = ctypes.c_double if dtype == np.float64 else ctypes.c_float
    f = getattr(lib, fn)
    f.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_long, ctype]
    f(kernels.ACTIVATIONS[act], values.ctypes.data, out.ctypes.data, values.size, p)
    return out


def _reference(act, x, p):
    """Direct float64/longdouble formulas, independent of both implementations."""
    xl = x.astype(np.longdouble)
    with np.errstate(all="ignore"):
        if act == "sigmoid":
            r = 1 / (1 + np.exp(-xl))
        elif act == "tanh":
            r = np.tanh(xl)
        elif act == "relu":
            r = np.where(np.isnan(xl), xl, np.maximum(xl, 0))
        elif act == "leaky_relu":
            r = np.where(xl > 0, xl, xl * p)
        elif act == "elu":
            r = np.where(xl > 0, xl, p * np.expm1(xl))
        else:
            r = np.logaddexp(np.longdouble(0), xl)
    return r.astype(x.dtype)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("act", sorted(PARAMS))
def test_forward_formula_matches_numpy(lib, act, dtype):
    x = np.array(EDGES, dtype=dtype)
    sfx = "f64" if dtype == np.float64 else "f32"
    got = _call(lib, f"forward_{sfx}", dtype, act, x, PARAMS[act])
    rtol = 1e-13 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(got, _reference(act, x, PARAMS[act]), rtol=rtol, atol=0,
                               err_msg=f"{act} {dtype.__name__}")
    twin = activation.CPU_FORWARD[act](x.copy(), {"slope": PARAMS[act], "alpha": PARAMS[act]})
    np.testing.assert_allclose(got, twin, rtol=rtol, atol=0, err_msg=f"{act} twin")
    assert np.isnan(got[np.isnan(x)]).all()                       # NaN passes through


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("act", sorted(PARAMS))
def test_local_gradient_matches_numpy_twin(lib, act, dtype):
    x = np.array([v for v in EDGES if np.isfinite(v)], dtype=dtype)
    p = PARAMS[act]
    params = {"slope": p, "alpha": p}
    y = activation.CPU_FORWARD[act](x.copy(), params).astype(dtype)
    sfx = "f64" if dtype == np.float64 else "f32"
    got = _call(lib, f"local_{sfx}", dtype, act, y, p)
    twin = activation._cpu_backward(act, y, np.ones_like(y), params)
    rtol = 1e-13 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(got, twin, rtol=rtol, atol=1e-300 if dtype == np.float64 else 1e-38)
    # and against the derivative of the reference forward, where it is smooth
    with np.errstate(all="ignore"):
        h = 1e-6 * np.maximum(1, np.abs(x.astype(np.float64)))
        smooth = (np.abs(x) > 1e-3) & (np.abs(x) < 30)
        x64 = x.astype(np.float64)
        numeric = (_reference(act, x64 + h, p) - _reference(act, x64 - h, p)) / (2 * h)
    np.testing.assert_allclose(got[smooth], numeric[smooth], rtol=1e-4, atol=1e-7)


def test_sigmoid_never_overflows(lib):
    x = np.array([-1e308, -745.2, -710.0, 710.0, 1e308])
    with np.errstate(over="raise"):      # the formula itself must not overflow
        y = _call(lib, "forward_f64", np.float64, "sigmoid", x, 0.0)
    assert np.all(np.isfinite(y)) and y[0] == 0 and y[-1] == 1
