"""The CUDA kernels on the CPU, with the host C++ compiler.

1. The scalar maths of ``kernels/common.cuh`` (activations, online log-sum-exp,
   cross-entropy gradient, SGD/Adam steps) compiled with g++ and compared with NumPy,
   float64 references and torch.optim, on the edge inputs where they break: ±1000, ±0,
   NaN, ±inf, subnormals and float16's limits.
2. The kernels themselves: every ``.cu`` file compiled with g++ against a small stand-in
   for the CUDA built-ins (each block's threads run as cooperative fibers, so
   ``__syncthreads`` and warp shuffles behave), and launched through ``gpugrad.kernels``
   with NumPy playing CuPy.  This runs the launchers' grids, chunking, 64-bit grid-stride
   loops, reductions and label flag on any machine; ``test_kernels_cuda.py`` runs the same
   on a real GPU.
"""

import ctypes
import shutil
import subprocess
import types

import numpy as np
import pytest

from gpugrad import kernels
from gpugrad.ops import activation

torch = pytest.importorskip("torch")
CXX = shutil.which("g++") or shutil.which("c++")
pytestmark = pytest.mark.skipif(CXX is None, reason="needs a host C++ compiler (g++)")

ACTS = sorted(kernels.ACTIVATIONS)
PARAMS = {"sigmoid": 0.0, "tanh": 0.0, "relu": 0.0, "leaky_relu": 0.1, "elu": 1.5, "softplus": 0.0}
EDGES = [
    -1000.0,
    1000.0,
    -0.0,
    0.0,
    np.nan,
    -np.inf,
    np.inf,
    5e-324,
    -5e-324,
    1e-310,
    1e-45,
    -1e-40,
    65504.0,
    -65504.0,
    6.1e-5,
    5.96e-8,
    1.0,
    -1.0,
    0.5,
    -0.5,
    20.0,
    -20.0,
    50.0,
    -50.0,
    88.0,
    -88.0,
    710.0,
    -745.0,
]

# -- part 1: the formulas ---------------------------------------------------------------------
FORMULAS = r"""
#include "common.cuh"
#define GG_FORMULAS(SFX, C)                                                                  \
extern "C" {                                                                                 \
void forward_##SFX(int act, const C* x, C* y, long n, C p) {                                 \
    for (long i = 0; i < n; ++i) y[i] = gg_activation<C>(act, x[i], p); }                    \
void local_##SFX(int act, const C* y, C* g, long n, C p) {                                   \
    for (long i = 0; i < n; ++i) g[i] = gg_local_gradient<C>(act, y[i], p); }                \
void backward_##SFX(int act, const C* y, const C* gy, C* gx, long n, C p) {                  \
    for (long i = 0; i < n; ++i) gx[i] = gg_activation_backward<C>(act, y[i], gy[i], p); }   \
/* lse of each row of x (rows, cols): element c goes to lane c % lanes, lanes merge in */    \
/* the butterfly order of the warp shuffles */                                               \
void lse_##SFX(const C* x, long rows, long cols, int lanes, double* out) {                        \
    for (long r = 0; r < rows; ++r) {                                                        \
        C m[32], s[32];                                                                      \
        for (int l = 0; l < lanes; ++l) { m[l] = -INFINITY; s[l] = 0; }                      \
        for (long c = 0; c < cols; ++c) gg_lse_push<C>(m[c % lanes], s[c % lanes], x[r * cols + c]); \
        for (int off = lanes / 2; off > 0; off /= 2) {                                       \
            C m2[32], s2[32];                                                                \
            for (int l = 0; l < lanes; ++l) { m2[l] = m[l ^ off]; s2[l] = s[l ^ off]; }      \
            for (int l = 0; l < lanes; ++l) gg_lse_merge<C>(m[l], s[l], m2[l], s2[l]);       \
        }                                                                                    \
        out[r] = gg_lse_finish<C>(m[0], s[0]);                                               \
    } }                                                                                      \
void xent_grad_##SFX(const C* x, const double* lse, const long long* label, const C* gy, C* gx,   \
                     long rows, long cols) {                                                 \
    for (long r = 0; r < rows; ++r) for (long c = 0; c < cols; ++c)                          \
        gx[r * cols + c] = gg_xent_grad<C>(x[r * cols + c], lse[r], label[r] == c, gy[r]); } \
void sgd_##SFX(C* w, const C* g, C* buf, long n, C lr, C momentum, C wd, int nesterov,       \
               int first) {                                                                  \
    for (long i = 0; i < n; ++i)                                                             \
        w[i] = gg_sgd_step<C>(w[i], g[i], buf[i], lr, momentum, wd, nesterov, first); }      \
void adam_##SFX(C* w, const C* g, C* m, C* v, long n, double lr, double b1, double b2,       \
                double eps, double wd, int decoupled, double bc1, double bc2) {              \
    for (long i = 0; i < n; ++i)                                                             \
        w[i] = gg_adam_step<C>(w[i], g[i], m[i], v[i], (C)(1.0 - b1), (C)b2, (C)(1.0 - b2),  \
                               (C)eps, (C)wd, decoupled, (C)(1.0 - lr * wd), (C)(lr / bc1),  \
                               (C)sqrt(bc2)); }                                              \
}
GG_FORMULAS(f64, double)
GG_FORMULAS(f32, float)
/* (r, c) advanced through a grid-stride loop, checked against / and % at every step */
extern "C" long advance_mismatches(long long start, long long stride, long long n, long long cols) {
    long long r = start / cols, c = start % cols, dr = stride / cols, dc = stride % cols;
    long bad = 0;
    for (long long i = start; i < n; i += stride) {
        if (r != i / cols || c != i % cols) ++bad;
        gg_advance(r, c, dr, dc, cols);
    }
    return bad;
}
"""


def _build(sources: dict, directory, include: dict) -> dict:
    """Compile {name: C++ text} into shared libraries in parallel, each after its
    ``include[name]`` header if any; {name: CDLL}."""
    jobs = {}
    for name, text in sources.items():
        cpp, so = directory / f"{name}.cpp", directory / f"{name}.so"
        cpp.write_text(text)
        cmd = [
            CXX,
            "-std=c++17",
            "-O1",
            "-shared",
            "-fPIC",
            f"-I{kernels.source_dir()}",
            str(cpp),
            "-o",
            str(so),
        ]
        if name in include:
            cmd[1:1] = ["-include", include[name]]
        jobs[name] = (subprocess.Popen(cmd, stderr=subprocess.PIPE, text=True), so)
    libs = {}
    for name, (proc, so) in jobs.items():
        _, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{name} does not compile with {CXX}:\n{err}"
        libs[name] = ctypes.CDLL(str(so))
    return libs


@pytest.fixture(scope="module")
def libs(tmp_path_factory):
    """The formula shim and the emulated kernel files, compiled together (in parallel)."""
    d = tmp_path_factory.mktemp("host_kernels")
    prelude = d / "cuda_on_cpu.h"
    prelude.write_text(CUDA_ON_CPU)
    # All kernel files in one translation unit (one compile: the C++ headers dominate).
    # They include common.cuh, whose #pragma once keeps it to one copy; otherwise this is
    # the text kernels.module_source gives to CuPy.
    emulated = "".join(f'#include "{file}"\n' for file in kernels.KERNELS) + "".join(
        f"GG_EMU({k}_{s})\n"
        for names in kernels.KERNELS.values()
        for k in names
        for s in ("f16", "f32", "f64")
    )
    return _build({"formulas": FORMULAS, "kernels": emulated}, d, include={"kernels": str(prelude)})


@pytest.fixture(scope="module")
def lib(libs):
    return libs["formulas"]


def _ptr(a):
    return ctypes.c_void_p(a.ctypes.data)


def _scalar(dtype):
    return ctypes.c_double if dtype == np.float64 else ctypes.c_float


def _sfx(dtype):
    return "f64" if dtype == np.float64 else "f32"


def _map(lib, fn, act, dtype, *arrays, p=0.0):
    """out = fn(act, *arrays, out, n, p) over contiguous arrays of ``dtype``."""
    arrays = [np.ascontiguousarray(a, dtype=dtype) for a in arrays]
    out = np.empty_like(arrays[0])
    f = getattr(lib, f"{fn}_{_sfx(dtype)}")
    f.argtypes = (
        [ctypes.c_int] + [ctypes.c_void_p] * (len(arrays) + 1) + [ctypes.c_long, _scalar(dtype)]
    )
    f(kernels.ACTIVATIONS[act], *[_ptr(a) for a in arrays], _ptr(out), out.size, p)
    return out


def _reference(act, x, p):
    """The textbook formulas in long double, independent of both implementations."""
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


def _tol(dtype):
    return dict(rtol=1e-13, atol=0) if dtype == np.float64 else dict(rtol=2e-6, atol=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("act", ACTS)
def test_forward_formula_matches_numpy(lib, act, dtype):
    x = np.array(EDGES, dtype=dtype)
    p = PARAMS[act]
    got = _map(lib, "forward", act, dtype, x, p=p)
    np.testing.assert_allclose(
        got, _reference(act, x, p), **_tol(dtype), err_msg=f"{act} {dtype.__name__}"
    )
    twin = activation.forward_cpu(act, x, {"slope": p, "alpha": p})
    np.testing.assert_allclose(got, twin, **_tol(dtype), err_msg=f"{act} twin")
    assert np.isnan(got[np.isnan(x)]).all()  # NaN passes through


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("act", ACTS)
def test_backward_formula_matches_numpy_twin_and_derivative(lib, act, dtype):
    x = np.array([v for v in EDGES if np.isfinite(v)], dtype=dtype)
    p = PARAMS[act]
    params = {"slope": p, "alpha": p}
    y = activation.forward_cpu(act, x, params)
    gy = np.linspace(-2, 3, y.size).astype(dtype)
    got = _map(lib, "backward", act, dtype, y, gy, p=p)
    twin = activation.cpu_backward(act, y, gy, params)
    tiny = 1e-300 if dtype == np.float64 else 1e-38
    np.testing.assert_allclose(got, twin, rtol=_tol(dtype)["rtol"], atol=tiny)
    local = _map(lib, "local", act, dtype, y, p=p)
    np.testing.assert_allclose(got, gy * local, rtol=_tol(dtype)["rtol"], atol=tiny)
    # the local gradient from y is the derivative of the reference forward, where smooth
    with np.errstate(all="ignore"):
        x64 = x.astype(np.float64)
        h = 1e-6 * np.maximum(1, np.abs(x64))
        smooth = (np.abs(x64) > 1e-3) & (np.abs(x64) < 30)
        numeric = (_reference(act, x64 + h, p) - _reference(act, x64 - h, p)) / (2 * h)
    np.testing.assert_allclose(local[smooth], numeric[smooth], rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("act", ACTS)
def test_backward_of_an_inactive_unit_is_zero_even_for_inf_upstream(lib, act):
    # relu selects: gy = inf or NaN where the unit is off gives 0, not inf * 0 = NaN
    y = np.array([-0.0, 0.0, np.nan, -1.0, 2.0])
    gy = np.array([np.inf, np.nan, 1.0, 5.0, np.inf])
    got = _map(lib, "backward", act, np.float64, y, gy, p=0.0 if act != "elu" else 1.0)
    if act == "relu":
        np.testing.assert_array_equal(got, [0, 0, 0, 0, np.inf])
    if act in ("relu", "leaky_relu", "elu"):
        assert got[-1] == np.inf


def test_sigmoid_never_overflows(lib):
    x = np.array([-1e308, -745.2, -710.0, 710.0, 1e308])
    with np.errstate(over="raise"):
        y = _map(lib, "forward", "sigmoid", np.float64, x)
    assert np.all(np.isfinite(y)) and y[0] == 0 and y[-1] == 1


def _lse_reference(x):
    x = x.astype(np.longdouble)
    with np.errstate(all="ignore"):
        m = x.max(axis=1, keepdims=True)
        shift = np.where(np.isfinite(m), m, 0)
        return (np.log(np.exp(x - shift).sum(axis=1)) + shift[:, 0]).astype(np.float64)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("lanes", [1, 2, 32])
def test_online_logsumexp_matches_numpy(lib, dtype, lanes):
    rng = np.random.default_rng(0)
    rows = [
        rng.standard_normal(40) * 30,
        np.full(40, -1000.0),
        np.full(40, 1000.0),
        np.r_[np.full(39, -np.inf), 3.0],
        np.full(40, -np.inf),
        np.r_[np.inf, np.zeros(39)],
        np.r_[np.zeros(20), np.nan, np.zeros(19)],
        np.r_[88.0, -88.0, np.zeros(38)],
        np.r_[np.full(20, 1e-310), np.full(20, -5e-324)],
        np.r_[65504.0, np.zeros(39)],
    ]
    x = np.ascontiguousarray(np.stack(rows), dtype=dtype)
    out = np.empty(len(rows))
    f = getattr(lib, f"lse_{_sfx(dtype)}")
    f.argtypes = [ctypes.c_void_p, ctypes.c_long, ctypes.c_long, ctypes.c_int, ctypes.c_void_p]
    f(_ptr(x), x.shape[0], x.shape[1], lanes, _ptr(out))
    ref = _lse_reference(x)
    np.testing.assert_allclose(out, ref, rtol=1e-13 if dtype == np.float64 else 1e-6, atol=0)
    assert out[4] == -np.inf and out[5] == np.inf and np.isnan(out[6])


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cross_entropy_gradient_matches_torch(lib, dtype):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((6, 9)) * 10).astype(dtype)
    x[0, 0], x[1, :] = 200.0, -1000.0
    label = np.array([0, 3, 8, 2, 2, 5], dtype=np.int64)
    gy = np.array([1.0, 0.5, -2.0, 0.0, 3.0, 1 / 6], dtype=dtype)
    lse = _lse_reference(x)
    gx = np.empty_like(x)
    f = getattr(lib, f"xent_grad_{_sfx(dtype)}")
    f.argtypes = [ctypes.c_void_p] * 5 + [ctypes.c_long, ctypes.c_long]
    f(_ptr(x), _ptr(lse), _ptr(label), _ptr(gy), _ptr(gx), *x.shape)
    tx = torch.tensor(x, requires_grad=True)
    torch.nn.functional.cross_entropy(tx, torch.tensor(label), reduction="none").backward(
        torch.tensor(gy)
    )
    np.testing.assert_allclose(
        gx, tx.grad.numpy(), rtol=1e-12 if dtype == np.float64 else 2e-6, atol=1e-7
    )


@pytest.mark.parametrize(
    "n, cols, start, stride",
    [
        (10**6, 7, 3, 1000),
        (10**6, 1000, 999, 256),
        (5000, 1, 0, 33),
        (10**5, 4096, 17, 4096 * 3 + 5),
        (3 * 2**33, 2**33 + 1, 2**33, 2**32 + 3),
    ],
)
def test_row_column_advance_matches_division(lib, n, cols, start, stride):
    lib.advance_mismatches.restype = ctypes.c_long
    lib.advance_mismatches.argtypes = [ctypes.c_longlong] * 4
    assert lib.advance_mismatches(start, stride, n, cols) == 0


OPTIMIZERS = {
    "sgd": dict(lr=0.1, momentum=0.0, weight_decay=0.0, nesterov=False),
    "sgd_momentum_wd": dict(lr=0.05, momentum=0.9, weight_decay=0.01, nesterov=False),
    "sgd_nesterov": dict(lr=0.05, momentum=0.8, weight_decay=0.1, nesterov=True),
    "adam": dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0),
    "adam_l2": dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    "adamw": dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1),
}


def _torch_trajectory(kind, w0, grads):
    w = torch.tensor(w0, requires_grad=True)
    hp = OPTIMIZERS[kind]
    opt = (
        torch.optim.SGD([w], **hp)
        if kind.startswith("sgd")
        else torch.optim.AdamW([w], **hp)
        if kind == "adamw"
        else torch.optim.Adam([w], **hp)
    )
    for g in grads:
        w.grad = torch.tensor(g)
        opt.step()
    return w.detach().numpy()


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_optimizer_steps_match_torch(lib, kind, dtype):
    rng = np.random.default_rng(2)
    w0 = rng.standard_normal(50).astype(dtype)
    grads = [rng.standard_normal(50).astype(dtype) for _ in range(6)]
    hp = OPTIMIZERS[kind]
    w = w0.copy()
    s = _scalar(dtype)
    if kind.startswith("sgd"):
        buf = np.zeros_like(w)
        f = getattr(lib, f"sgd_{_sfx(dtype)}")
        f.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_long, s, s, s, ctypes.c_int, ctypes.c_int]
        for t, g in enumerate(grads):
            f(
                _ptr(w),
                _ptr(g),
                _ptr(buf),
                w.size,
                hp["lr"],
                hp["momentum"],
                hp["weight_decay"],
                hp["nesterov"],
                t == 0,
            )
    else:
        m, v = np.zeros_like(w), np.zeros_like(w)
        f = getattr(lib, f"adam_{_sfx(dtype)}")
        f.argtypes = (
            [ctypes.c_void_p] * 4
            + [ctypes.c_long]
            + [ctypes.c_double] * 5
            + [ctypes.c_int]
            + [ctypes.c_double] * 2
        )
        (b1, b2) = hp["betas"]
        for t, g in enumerate(grads, start=1):
            f(
                _ptr(w),
                _ptr(g),
                _ptr(m),
                _ptr(v),
                w.size,
                hp["lr"],
                b1,
                b2,
                hp["eps"],
                hp["weight_decay"],
                kind == "adamw",
                1 - b1**t,
                1 - b2**t,
            )
    np.testing.assert_allclose(
        w,
        _torch_trajectory(kind, w0, grads),
        rtol=1e-13 if dtype == np.float64 else 2e-6,
        atol=1e-7 if dtype == np.float32 else 0,
    )


# -- part 2: the kernels, on the CPU ------------------------------------------------------------
CUDA_ON_CPU = r"""
// A CPU stand-in for the CUDA built-ins the kernels use.  Each block's threads run as
// cooperative fibers (ucontext) in one OS thread; __syncthreads and __shfl_xor_sync yield
// to a scheduler that runs every thread of the block up to its next yield, in order, so a
// round is a barrier (every thread of a block, or of a warp for shuffles, yields the same
// number of times, as CUDA requires).  Blocks run one after another.
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>
#include <ucontext.h>

#define __CUDACC__ 1
#define __host__
#define __device__
#define __global__
#define __forceinline__ inline
#define __shared__ static
#define GG_HALF_TO_FLOAT(h) gg_emu_h2f(h)
#define GG_FLOAT_TO_HALF(f) gg_emu_f2h(f)

struct gg_dim3 { unsigned x = 1, y = 1, z = 1; };
static gg_dim3 threadIdx, blockIdx, blockDim, gridDim;

inline float gg_emu_h2f(unsigned short h) { _Float16 v; std::memcpy(&v, &h, 2); return (float)v; }
inline unsigned short gg_emu_f2h(float f) {
    _Float16 v = (_Float16)f; unsigned short h; std::memcpy(&h, &v, 2); return h; }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline int atomicExch(int* p, int v) { int old = *p; *p = v; return old; }

static ucontext_t gg_emu_scheduler;
static std::vector<ucontext_t> gg_emu_fibers;
static int gg_emu_current;
static bool gg_emu_finished;
static bool gg_emu_plain, gg_emu_misused;
inline void gg_emu_yield() {
    if (gg_emu_plain) gg_emu_misused = true;
    else swapcontext(&gg_emu_fibers[gg_emu_current], &gg_emu_scheduler);
}
inline void __syncthreads() { gg_emu_yield(); }

static double gg_emu_lanes[1024];
template <typename T> T __shfl_xor_sync(unsigned, T v, int offset) {
    gg_emu_lanes[gg_emu_current] = (double)v;       // linear thread index; a warp is 32 of them
    gg_emu_yield();                                 // every lane has written
    T other = (T)gg_emu_lanes[gg_emu_current ^ offset];
    gg_emu_yield();                                 // every lane has read
    return other;
}

static void (*gg_emu_body)(void*);
static void* gg_emu_ctx;
static void gg_emu_entry() { gg_emu_body(gg_emu_ctx); gg_emu_finished = true; }

// Runs body(ctx) as every thread of the grid: 1 for a launch CUDA would refuse, 2 if a
// kernel launched as not cooperative (plain calls, thread after thread: fast) synchronized.
inline int gg_emu_run(const unsigned* dims, int cooperative, void (*body)(void*), void* ctx) {
    gridDim = {dims[0], dims[1], dims[2]};
    blockDim = {dims[3], dims[4], dims[5]};
    const unsigned threads = blockDim.x * blockDim.y * blockDim.z;
    if (threads == 0 || threads > 1024 || blockDim.z > 64 || gridDim.x == 0 || gridDim.y == 0 ||
        gridDim.z == 0 || gridDim.y > 65535 || gridDim.z > 65535 || gridDim.x > 2147483647u)
        return 1;
    gg_emu_plain = !cooperative;
    gg_emu_misused = false;
    if (gg_emu_plain) {
        for (unsigned bz = 0; bz < gridDim.z; ++bz)
        for (unsigned by = 0; by < gridDim.y; ++by)
        for (unsigned bx = 0; bx < gridDim.x; ++bx)
        for (unsigned t = 0; t < threads; ++t) {
            blockIdx = {bx, by, bz};
            threadIdx = {t % blockDim.x, (t / blockDim.x) % blockDim.y, t / (blockDim.x * blockDim.y)};
            gg_emu_current = (int)t;
            body(ctx);
        }
        return gg_emu_misused ? 2 : 0;
    }
    const size_t stack = 1 << 16;
    static std::vector<char> stacks;
    stacks.resize(stack * threads);
    gg_emu_fibers.assign(threads, ucontext_t{});
    std::vector<char> done(threads);
    gg_emu_body = body;
    gg_emu_ctx = ctx;
    for (unsigned bz = 0; bz < gridDim.z; ++bz)
    for (unsigned by = 0; by < gridDim.y; ++by)
    for (unsigned bx = 0; bx < gridDim.x; ++bx) {
        for (unsigned t = 0; t < threads; ++t) {
            done[t] = 0;
            getcontext(&gg_emu_fibers[t]);
            gg_emu_fibers[t].uc_stack.ss_sp = &stacks[t * stack];
            gg_emu_fibers[t].uc_stack.ss_size = stack;
            gg_emu_fibers[t].uc_link = &gg_emu_scheduler;   // where a finished thread returns
            makecontext(&gg_emu_fibers[t], gg_emu_entry, 0);
        }
        for (unsigned left = threads; left;) {
            for (unsigned t = 0; t < threads; ++t) {
                if (done[t]) continue;
                blockIdx = {bx, by, bz};
                threadIdx = {t % blockDim.x, (t / blockDim.x) % blockDim.y, t / (blockDim.x * blockDim.y)};
                gg_emu_current = (int)t;
                gg_emu_finished = false;
                swapcontext(&gg_emu_scheduler, &gg_emu_fibers[t]);
                if (gg_emu_finished) { done[t] = 1; --left; }
            }
        }
    }
    return 0;
}

// emu_<kernel>(dims, cooperative, argv) launches a kernel with CUDA's convention: argv[i]
// points at the i-th argument's value.
template <typename... A> struct GgEmu {
    static inline void (*kernel)(A...);
    static inline void** argv;
    template <size_t... I> static void call(std::index_sequence<I...>) { kernel(*static_cast<A*>(argv[I])...); }
    static void body(void*) { call(std::index_sequence_for<A...>{}); }
    static int launch(void (*k)(A...), const unsigned* dims, int cooperative, void** args) {
        kernel = k;
        argv = args;
        return gg_emu_run(dims, cooperative, body, nullptr);
    }
};
template <typename... A>
int gg_emu_launch(void (*kernel)(A...), const unsigned* dims, int cooperative, void** argv) {
    return GgEmu<A...>::launch(kernel, dims, cooperative, argv);
}
#define GG_EMU(name)                                                                    \
    extern "C" int emu_##name(const unsigned* dims, int cooperative, void** argv) {     \
        return gg_emu_launch(name, dims, cooperative, argv);                            \
    }
"""


class _EmulatedKernel:
    """A RawKernel look-alike: kernel(grid, block, args) with NumPy arrays for device memory."""

    ARG = {np.int32: ctypes.c_int32, np.int64: ctypes.c_int64, np.float64: ctypes.c_double}

    # kernels that synchronize threads (__syncthreads, warp shuffles) run as fibers; the
    # others as plain calls, which is much faster (the emulator reports a wrong guess)
    COOPERATIVE = ("column_", "sce_forward")

    def __init__(self, lib, name, launches):
        self.fn, self.name, self.launches = getattr(lib, f"emu_{name}"), name, launches
        self.fn.argtypes, self.fn.restype = (
            [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p],
            ctypes.c_int,
        )
        self.cooperative = name.startswith(self.COOPERATIVE)

    def __call__(self, grid, block, args):
        grid, block = tuple(grid) + (1,) * (3 - len(grid)), tuple(block) + (1,) * (3 - len(block))
        values = []
        for a in args:
            if isinstance(a, np.ndarray):
                assert a.flags.c_contiguous, f"{self.name}: a non-contiguous array reached a kernel"
                values.append(ctypes.c_void_p(a.ctypes.data))
            else:  # CuPy needs NumPy scalars to know the C type
                values.append(self.ARG[type(a)](a.item()))
        argv = (ctypes.c_void_p * len(values))(*[ctypes.addressof(v) for v in values])
        self.launches.append((self.name, grid, block))
        status = self.fn((ctypes.c_uint * 6)(*grid, *block), self.cooperative, argv)
        assert status != 1, f"{self.name}: CUDA would refuse grid {grid} block {block}"
        assert status != 2, f"{self.name} synchronizes threads: add it to COOPERATIVE"


@pytest.fixture
def emulated(libs, monkeypatch):
    """gpugrad.kernels with NumPy as CuPy and the g++-compiled kernels as its RawModules, on
    a pretend GPU of 1 SM (so that small arrays already need several grid-stride steps).
    Yields the list of launches (name, grid, block)."""
    launches = []
    sources = {kernels.module_source(f) for f in kernels.KERNELS}

    class Module:
        def __init__(self, code, options=()):
            assert code in sources and tuple(options) == kernels.COMPILE_OPTIONS
            self.lib = libs["kernels"]

        def get_function(self, name):
            return _EmulatedKernel(self.lib, name, launches)

    fake = types.SimpleNamespace(
        ndarray=np.ndarray,
        empty=np.empty,
        empty_like=np.empty_like,
        zeros=np.zeros,
        ascontiguousarray=np.ascontiguousarray,
        broadcast_to=np.broadcast_to,
        maximum=np.maximum,
        asarray=np.asarray,
        RawModule=Module,
        cuda=types.SimpleNamespace(
            runtime=types.SimpleNamespace(getDevice=lambda: 0),
            Device=lambda d: types.SimpleNamespace(attributes={"MultiProcessorCount": 1}),
        ),
    )
    monkeypatch.setattr(kernels, "_cupy", lambda: fake)
    for cache in ("_modules", "_functions", "_max_blocks", "_pending_label_flags"):
        monkeypatch.setattr(kernels, cache, {})
    return launches


DTYPES = [np.float16, np.float32, np.float64]
TOL = {
    np.float16: dict(rtol=2e-3, atol=2e-3),
    np.float32: dict(rtol=2e-6, atol=1e-7),
    np.float64: dict(rtol=1e-13, atol=1e-15),
}
KW = {"leaky_relu": {"slope": 0.1}, "elu": {"alpha": 1.5}}


def _twin_forward(act, x):
    p = {"slope": 0.1, "alpha": 1.5}
    return activation.forward_cpu(act, x.astype(np.float64), p)


def _twin_backward(act, y, gy):
    p = {"slope": 0.1, "alpha": 1.5}
    return activation.cpu_backward(act, y.astype(np.float64), gy.astype(np.float64), p)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
def test_emulated_activation_kernels(emulated, act, dtype):
    rng = np.random.default_rng(3)
    for shape in [(), (0,), (1,), (9000,), (37, 11)]:  # 9000 > one pass of 32 blocks x 256
        x = np.asarray(rng.standard_normal(shape) * 4, dtype=dtype)  # 0-d stays an array
        y = kernels.activation_forward(act, x, **KW.get(act, {}))
        assert y.dtype == dtype and y.shape == x.shape
        np.testing.assert_allclose(y.astype(np.float64), _twin_forward(act, x), **TOL[dtype])
        gy = np.asarray(rng.standard_normal(shape), dtype=dtype)
        gx = kernels.activation_backward(act, y, gy, **KW.get(act, {}))
        np.testing.assert_allclose(gx.astype(np.float64), _twin_backward(act, y, gy), **TOL[dtype])


def test_emulated_edges_and_non_contiguous_inputs(emulated):
    x = np.array(EDGES, dtype=np.float32)
    y = kernels.activation_forward("sigmoid", x)
    np.testing.assert_allclose(y, _reference("sigmoid", x, 0), rtol=2e-6)
    h = kernels.activation_forward(
        "relu", np.array([np.nan, -0.0, 65504, -65504, 6e-8], np.float16)
    )
    np.testing.assert_array_equal(h, np.array([np.nan, 0, 65504, 0, 6e-8], np.float16))
    base = np.random.default_rng(4).standard_normal((64, 48))
    view = base[:, ::3].T  # non-contiguous
    np.testing.assert_allclose(kernels.activation_forward("tanh", view), np.tanh(view), rtol=1e-14)
    gx = kernels.activation_backward(
        "tanh", np.tanh(view), np.float64(2.0) + 0 * view[:1]
    )  # broadcast gy
    np.testing.assert_allclose(gx, 2 * (1 - np.tanh(view) ** 2), rtol=1e-14)


def test_emulated_empty_arrays_launch_nothing(emulated):
    for dtype in DTYPES:
        e = np.empty((0, 5), dtype)
        assert kernels.activation_forward("elu", e).shape == (0, 5)
        assert kernels.activation_backward("elu", e, e).shape == (0, 5)
        y = kernels.bias_activation_forward("relu", e, np.ones(5, dtype))
        gx, gb = kernels.bias_activation_backward("relu", y, y)
        assert gx.shape == (0, 5) and gb.dtype == dtype
        np.testing.assert_array_equal(gb, np.zeros(5))
        loss, lse, flag = kernels.softmax_cross_entropy_forward(e, np.empty(0, np.int64))
        assert loss.shape == (0,) and int(flag[0]) == 0
        kernels.sgd_update(e, e, None, lr=0.1)
    assert emulated == []


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
def test_emulated_bias_activation(emulated, act, dtype):
    rng = np.random.default_rng(5)
    # shapes that take the single-pass and the two-pass column reduction, narrow and wide
    for shape in [(5, 7), (600, 40), (1500, 3), (2, 3, 33), (1, 300), (300, 1)]:
        x = rng.standard_normal(shape).astype(dtype)
        b = rng.standard_normal(shape[-1]).astype(dtype)
        y = kernels.bias_activation_forward(act, x, b, **KW.get(act, {}))
        # the kernel adds in the compute type (float32 for float16) and rounds once, at the end
        ref = _twin_forward(
            act,
            (x.astype(np.float64) + b).astype(np.float64 if dtype == np.float64 else np.float32),
        )
        np.testing.assert_allclose(y.astype(np.float64), ref, **TOL[dtype])
        gy = rng.standard_normal(shape).astype(dtype)
        gx, gb = kernels.bias_activation_backward(act, y, gy, **KW.get(act, {}))
        ref_gx = _twin_backward(act, y, gy)
        np.testing.assert_allclose(gx.astype(np.float64), ref_gx, **TOL[dtype])
        columns = ref_gx.reshape(-1, shape[-1])
        # a sum's rounding error scales with the sum of magnitudes (float32 accumulates half)
        scale = np.abs(columns).sum(axis=0).max() + 1
        atol = 8 * np.finfo(np.float64 if dtype == np.float64 else np.float32).eps * scale + (
            2e-3 * np.sqrt(columns.shape[0]) if dtype == np.float16 else 0
        )
        np.testing.assert_allclose(
            gb.astype(np.float64), columns.sum(axis=0), rtol=TOL[dtype]["rtol"], atol=atol
        )
    names = {name for name, _, _ in emulated}
    assert {
        f"column_reduce_{kernels.SUFFIX[np.dtype(dtype)]}",
        f"column_finish_{kernels.SUFFIX[np.dtype(dtype)]}",
        f"column_reduce_direct_{kernels.SUFFIX[np.dtype(dtype)]}",
    } <= names


def test_emulated_column_sum_is_deterministic_and_accumulates_half_in_float32(emulated):
    g = np.full((4096, 3), 0.1, np.float16)  # a float16 running sum would stall at 256
    out = kernels.column_sum(g)
    assert out.dtype == np.float16
    np.testing.assert_allclose(out.astype(np.float64), 4096 * float(np.float16(0.1)), rtol=1e-3)
    np.testing.assert_array_equal(kernels.column_sum(g), out)


@pytest.mark.parametrize("dtype", DTYPES)
def test_emulated_softmax_cross_entropy(emulated, dtype):
    rng = np.random.default_rng(6)
    for rows, cols in [(1, 1), (9, 10), (70, 3), (5, 1000)]:  # 70 rows: warps loop over rows
        logits = (rng.standard_normal((rows, cols)) * 5).astype(dtype)
        labels = rng.integers(0, cols, rows)
        loss, lse, flag = kernels.softmax_cross_entropy_forward(logits, labels)
        assert loss.dtype == dtype and lse.dtype == np.float64
        l64 = logits.astype(np.float64)
        ref_lse = _lse_reference(l64)
        np.testing.assert_allclose(
            lse, ref_lse, **TOL[np.float32 if dtype == np.float16 else dtype]
        )
        np.testing.assert_allclose(
            loss.astype(np.float64), ref_lse - l64[np.arange(rows), labels], **TOL[dtype]
        )
        kernels.check_label_flag(flag, cols)
        gy = rng.standard_normal(rows).astype(dtype)
        gx = kernels.softmax_cross_entropy_backward(logits, lse, labels, gy)
        tl = torch.tensor(l64, requires_grad=True)
        torch.nn.functional.cross_entropy(tl, torch.tensor(labels), reduction="none").backward(
            torch.tensor(gy.astype(np.float64))
        )
        np.testing.assert_allclose(gx.astype(np.float64), tl.grad.numpy(), **TOL[dtype])
        mean = kernels.softmax_cross_entropy_backward(
            logits, lse, labels, 1.0 / rows
        )  # a scalar scale
        assert mean.shape == logits.shape


def test_emulated_label_out_of_range_sets_the_flag(emulated):
    logits = np.zeros((4, 3), np.float32)
    for bad in (3, -1):
        loss, _, flag = kernels.softmax_cross_entropy_forward(logits, np.array([0, 1, bad, 2]))
        assert np.isnan(loss[2]) and np.isfinite(loss[[0, 1, 3]]).all()
        with pytest.raises(ValueError, match=r"label out of range \[0, 3\)"):
            kernels.check_label_flag(flag, 3)
        kernels.defer_label_check(flag, 3)
    kernels.defer_label_check(
        kernels.softmax_cross_entropy_forward(logits, np.array([0, 1, 2, 2]))[2], 3
    )
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        kernels.check_labels()
    kernels.check_labels()  # reported once, then cleared


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_emulated_optimizer_kernels_match_torch(emulated, kind, dtype):
    rng = np.random.default_rng(7)
    w0 = rng.standard_normal(9000).astype(dtype)
    grads = [rng.standard_normal(9000).astype(dtype) for _ in range(4)]
    hp = OPTIMIZERS[kind]
    w = w0.copy()
    if kind.startswith("sgd"):
        buf = np.empty_like(w) if hp["momentum"] else None
        for t, g in enumerate(grads):
            kernels.sgd_update(
                w,
                g,
                buf,
                lr=hp["lr"],
                momentum=hp["momentum"],
                nesterov=hp["nesterov"],
                weight_decay=hp["weight_decay"],
                first_step=t == 0,
            )
    else:
        m, v = np.zeros_like(w), np.zeros_like(w)
        b1, b2 = hp["betas"]
        for t, g in enumerate(grads, start=1):
            kernels.adam_update(
                w,
                g,
                m,
                v,
                lr=hp["lr"],
                beta1=b1,
                beta2=b2,
                eps=hp["eps"],
                weight_decay=hp["weight_decay"],
                decoupled=kind == "adamw",
                bias_correction1=1 - b1**t,
                bias_correction2=1 - b2**t,
            )
    np.testing.assert_allclose(
        w,
        _torch_trajectory(kind, w0, grads),
        rtol=1e-13 if dtype == np.float64 else 2e-6,
        atol=1e-7 if dtype == np.float32 else 0,
    )


def test_emulated_float16_adam_keeps_state_in_float16(emulated):
    w = np.ones(10, np.float16)
    m, v = np.zeros_like(w), np.zeros_like(w)
    kernels.adam_update(
        w,
        np.full(10, 0.5, np.float16),
        m,
        v,
        lr=0.1,
        beta1=0.9,
        beta2=0.999,
        eps=1e-8,
        weight_decay=0.0,
        decoupled=False,
        bias_correction1=0.1,
        bias_correction2=0.001,
    )
    np.testing.assert_allclose(w.astype(np.float64), 0.9, rtol=1e-3)  # the first step moves by lr
    assert w.dtype == m.dtype == v.dtype == np.float16


def test_emulated_bad_inputs_raise_clear_errors(emulated):
    x = np.ones((3, 4), np.float32)
    with pytest.raises(TypeError, match="int32"):
        kernels.activation_forward("relu", np.ones(3, np.int32))
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        kernels.activation_forward("gelu", x)
    with pytest.raises(ValueError, match="slope >= 0"):
        kernels.activation_backward("leaky_relu", x, x, slope=-0.1)
    with pytest.raises(ValueError, match=r"bias of shape \(3,\)"):
        kernels.bias_activation_forward("relu", x, np.ones(3, np.float32))
    with pytest.raises(ValueError, match="broadcast"):
        kernels.activation_backward("relu", x, np.ones(5, np.float32))
    with pytest.raises(ValueError, match="labels of shape"):
        kernels.softmax_cross_entropy_forward(x, np.zeros(4, np.int64))
    with pytest.raises(TypeError, match="integer"):
        kernels.softmax_cross_entropy_forward(x, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match="momentum buffer"):
        kernels.sgd_update(x, x, None, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="C-contiguous"):
        kernels.sgd_update(x.T, x.T, None, lr=0.1)
    with pytest.raises(ValueError, match="does not match the parameter"):
        kernels.adam_update(
            x,
            x,
            np.zeros(12, np.float32),
            np.zeros_like(x),
            lr=1,
            beta1=0.9,
            beta2=0.9,
            eps=1e-8,
            weight_decay=0,
            decoupled=False,
            bias_correction1=1,
            bias_correction2=1,
        )
    assert emulated == []  # nothing was launched for a bad call


def test_kernel_sources_are_found_and_listed():
    assert set(kernels.kernel_sources()) == set(kernels.KERNELS)
    assert "common.cuh" in kernels.header_sources()
    for file in kernels.KERNELS:
        assert '#include "common.cuh"' not in kernels.module_source(file)


def test_missing_sources_name_both_places(monkeypatch, tmp_path):
    fake_file = tmp_path / "gpugrad" / "kernels.py"
    monkeypatch.setattr(kernels, "__file__", str(fake_file))
    with pytest.raises(FileNotFoundError, match=r"_kernels.*kernels"):
        kernels.source_dir()
