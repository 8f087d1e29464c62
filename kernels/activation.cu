// Fused activations: one pass forward (x -> y) and one pass backward ((y, gy) -> gx).
// The backward reads the forward's OUTPUT y, never x.  Bias + activation adds a
// row-broadcast bias first; its bias gradient is a column sum (column_sum below).
#include "common.cuh"

template <typename T, typename C>
__device__ void activation_forward(int act, const T* x, T* y, long long n, double p) {
    GG_GRID_STRIDE(i, n) { gg_store(y, i, gg_activation<C>(act, gg_load(x, i), (C)p)); }
}

template <typename T, typename C>
__device__ void activation_backward(int act, const T* y, const T* gy, T* gx, long long n, double p) {
    GG_GRID_STRIDE(i, n) {
        gg_store(gx, i, gg_load(gy, i) * gg_local_gradient<C>(act, gg_load(y, i), (C)p));
    }
}

template <typename T, typename C>
__device__ void bias_activation_forward(int act, const T* x, const T* b, T* y, long long n,
                                        long long cols, double p) {
    GG_GRID_STRIDE(i, n) {
        gg_store(y, i, gg_activation<C>(act, gg_load(x, i) + gg_load(b, i % cols), (C)p));
    }
}

// gb[c] = sum_r g[r, c]: 32 columns per block, 8 row-groups reduced in shared memory.
// Deterministic (no atomics); accumulates in C.
template <typename T, typename C>
__device__ void column_sum(const T* g, T* out, long long rows, long long cols) {
    __shared__ C partial[8][33];
    long long c = (long long)blockIdx.x * 32 + threadIdx.x;
    C acc = C(0);
    if (c < cols) {
        for (long long r = threadIdx.y; r < rows; r += 8) acc += gg_load(g, r * cols + c);
    }
    partial[threadIdx.y][threadIdx.x] = acc;
    __syncthreads();
    if (threadIdx.y == 0 && c < cols) {
        for (int k = 1; k < 8; ++k) acc += partial[k][threadIdx.x];
        gg_store(out, c, acc);
    }
}

#define GG_ACTIVATION_KERNELS(SUFFIX, T, C)                                                       \
    extern "C" __global__ void activation_forward_##SUFFIX(int act, const T* x, T* y,              \
                                                           long long n, double p) {                \
        activation_forward<T, C>(act, x, y, n, p);                                                 \
    }                                                                                              \
    extern "C" __global__ void activation_backward_##SUFFIX(int act, const T* y, const T* gy,      \
                                                            T* gx, long long n, double p) {        \
        activation_backward<T, C>(act, y, gy, gx, n, p);                                           \
    }                                                                                              \
    extern "C" __global__ void bias_activation_forward_##SUFFIX(int act, const T* x, const T* b,   \
                                                                T* y, long long n,                 \
                                                                long long cols, double p) {        \
        bias_activation_forward<T, C>(act, x, b, y, n, cols, p);                                   \
    }                                                                                              \
    extern "C" __global__ void column_sum_##SUFFIX(const T* g, T* out, long long rows,             \
                                                   long long cols) {                               \
        column_sum<T, C>(g, out, rows, cols);                                                      \
    }

GG_ACTIVATION_KERNELS(f16, gg_half, float)
GG_ACTIVATION_KERNELS(f32, float, float)
GG_ACTIVATION_KERNELS(f64, double, double)
