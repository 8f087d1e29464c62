// gpugrad kernels: the scalar maths shared by forward and backward, and by host and device.
//
// Everything above the "device only" line is a __host__ __device__ inline function (GG_HD):
// the very same formulas compile with NVRTC for the GPU and with g++ for a CPU test that
// compares them with NumPy and PyTorch (tests/kernels/, tests/kernels/cpp/).
// C is the compute type: float for float16/float32 storage, double for float64.
#pragma once

#if defined(__CUDACC__)
#define GG_HD __host__ __device__ __forceinline__
#define GG_D __device__ __forceinline__
#else
#define GG_HD inline
#include <cmath>
#endif

// -- math wrappers with float and double overloads ------------------------------------
GG_HD float gg_exp(float x) { return expf(x); }
GG_HD double gg_exp(double x) { return exp(x); }
GG_HD float gg_expm1(float x) { return expm1f(x); }
GG_HD double gg_expm1(double x) { return expm1(x); }
GG_HD float gg_log(float x) { return logf(x); }
GG_HD double gg_log(double x) { return log(x); }
GG_HD float gg_log1p(float x) { return log1pf(x); }
GG_HD double gg_log1p(double x) { return log1p(x); }
GG_HD float gg_tanh(float x) { return tanhf(x); }
GG_HD double gg_tanh(double x) { return tanh(x); }
GG_HD float gg_abs(float x) { return fabsf(x); }
GG_HD double gg_abs(double x) { return fabs(x); }
GG_HD float gg_sqrt(float x) { return sqrtf(x); }
GG_HD double gg_sqrt(double x) { return sqrt(x); }

// -- log-sum-exp, online: a running (max m, sum s of exp(x - m)) ----------------------------
// Start from (m, s) = (-inf, 0); push each value; merge partial states in any order; the
// result is m + log(s).  exp only ever sees a non-positive argument.  Equal maxima scale by
// exactly 1, so rows with +inf or all -inf give +inf / -inf (not inf - inf = NaN); a NaN
// value never becomes the max but makes s NaN, so NaN propagates.  The result is a double
// (see gg_xent_grad in softmax_cross_entropy.cu).
template <typename C> GG_HD C gg_lse_scale(C mi, C m) { return mi == m ? C(1) : gg_exp(mi - m); }
template <typename C> GG_HD void gg_lse_merge(C& m, C& s, C m2, C s2) {
    C mm = m2 > m ? m2 : m;
    s = s * gg_lse_scale(m, mm) + s2 * gg_lse_scale(m2, mm);
    m = mm;
}
template <typename C> GG_HD void gg_lse_push(C& m, C& s, C x) { gg_lse_merge(m, s, x, C(1)); }
template <typename C> GG_HD double gg_lse_finish(C m, C s) { return (double)m + log((double)s); }

// -- row/column of a flat index, advanced by a fixed stride without a division per step ----
// (r, c) of i + stride, given (r, c) of i, with stride = dr·cols + dc and 0 <= dc < cols.
GG_HD void gg_advance(long long& r, long long& c, long long dr, long long dc, long long cols) {
    r += dr;
    c += dc;
    if (c >= cols) { c -= cols; ++r; }
}

// ================================= device only ===========================================
#if defined(__CUDACC__)
// -- storage types: float16 is loaded and stored through PTX conversions (no headers) -----
typedef unsigned short gg_half;       // the 16 bits of an IEEE binary16

#if defined(GG_HALF_TO_FLOAT)     // the CPU emulation in the tests brings its own conversions
GG_D float gg_load(const gg_half* p, long long i) { return GG_HALF_TO_FLOAT(p[i]); }
GG_D void gg_store(gg_half* p, long long i, float v) { p[i] = GG_FLOAT_TO_HALF(v); }
#else
GG_D float gg_load(const gg_half* p, long long i) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(p[i]));
    return f;
}
GG_D void gg_store(gg_half* p, long long i, float v) {
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v));   // round to nearest even, as NumPy
    p[i] = h;
}
#endif
GG_D float gg_load(const float* p, long long i) { return p[i]; }
GG_D void gg_store(float* p, long long i, float v) { p[i] = v; }
GG_D double gg_load(const double* p, long long i) { return p[i]; }
GG_D void gg_store(double* p, long long i, double v) { p[i] = v; }

// IEEE infinity and NaN without headers (casting to double keeps them).
#define GG_INF __int_as_float(0x7f800000)
#define GG_NAN __int_as_float(0x7fffffff)

// A grid-stride loop with 64-bit indices: any n, any grid.
#define GG_GRID_STRIDE(i, n) \
    for (long long i = (long long)blockIdx.x * blockDim.x + threadIdx.x; i < (n); \
         i += (long long)blockDim.x * gridDim.x)

// The first index and the stride of this thread's grid-stride loop.
GG_D long long gg_thread_start() { return (long long)blockIdx.x * blockDim.x + threadIdx.x; }
GG_D long long gg_grid_stride() { return (long long)blockDim.x * gridDim.x; }
#endif
