// gpugrad kernels: the scalar maths shared by forward and backward, and by host and device.
//
// Everything here is a __host__ __device__ inline function (GG_HD), so the very same
// formulas compile with NVRTC for the GPU and with g++ for a CPU test against NumPy.
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

// -- activations: forward(x) and the local gradient as a function of the OUTPUT y --------
enum GgActivation { GG_SIGMOID = 0, GG_TANH = 1, GG_RELU = 2, GG_LEAKY_RELU = 3, GG_ELU = 4, GG_SOFTPLUS = 5 };

// sigmoid: exp of a non-positive number only, so it never overflows.
template <typename C> GG_HD C gg_sigmoid(C x) {
    C e = gg_exp(-gg_abs(x));            // in (0, 1]
    C r = C(1) / (C(1) + e);             // sigmoid(|x|)
    return x >= C(0) ? r : e * r;        // sigmoid(-|x|) = e / (1 + e); NaN stays NaN
}
template <typename C> GG_HD C gg_relu(C x) { return (x > C(0) || x != x) ? x : C(0); }  // NaN passes
template <typename C> GG_HD C gg_leaky_relu(C x, C slope) { return x > C(0) ? x : x * slope; }
template <typename C> GG_HD C gg_elu(C x, C alpha) { return x > C(0) ? x : alpha * gg_expm1(x); }
// softplus = max(x, 0) + log1p(exp(-|x|)): stable for any x.
template <typename C> GG_HD C gg_softplus(C x) {
    C m = x > C(0) ? x : C(0);
    return (x != x) ? x : m + gg_log1p(gg_exp(-gg_abs(x)));
}

template <typename C> GG_HD C gg_activation(int act, C x, C p) {
    switch (act) {
        case GG_SIGMOID: return gg_sigmoid(x);
        case GG_TANH: return gg_tanh(x);
        case GG_RELU: return gg_relu(x);
        case GG_LEAKY_RELU: return gg_leaky_relu(x, p);
        case GG_ELU: return gg_elu(x, p);
        default: return gg_softplus(x);
    }
}

// dy/dx from y: sigmoid y(1-y); tanh 1-y²; relu [y>0]; leaky 1 or slope; elu 1 or y+α;
// softplus 1 - exp(-y) = -expm1(-y).  (leaky needs slope >= 0 and elu α > 0, so that the
// sign of y is the sign of x.)
template <typename C> GG_HD C gg_local_gradient(int act, C y, C p) {
    switch (act) {
        case GG_SIGMOID: return y * (C(1) - y);
        case GG_TANH: return C(1) - y * y;
        case GG_RELU: return y > C(0) ? C(1) : C(0);
        case GG_LEAKY_RELU: return y > C(0) ? C(1) : p;
        case GG_ELU: return y > C(0) ? C(1) : y + p;
        default: return -gg_expm1(-y);
    }
}

// -- storage types: float16 is loaded and stored through PTX conversions (no headers) -----
#if defined(__CUDACC__)
typedef unsigned short gg_half;       // the 16 bits of an IEEE binary16

GG_D float gg_load(const gg_half* p, long long i) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(p[i]));
    return f;
}
GG_D void gg_store(gg_half* p, long long i, float v) {
    unsigned short h;
    asm("cvt.rn.f16.f32 %0, %1;" : "=h"(h) : "f"(v));
    p[i] = h;
}
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
#endif
