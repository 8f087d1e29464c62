// Fused activations: one pass forward (x -> y) and one pass backward ((y, gy) -> gx).
// The backward reads the forward's OUTPUT y, never x.  Bias + activation adds a
// row-broadcast bias first; its backward writes gx and, in the same pass, per-chunk column
// sums of gx that a second, small launch adds up into the bias gradient.
// All arrays are C-contiguous; x and y are (rows, cols) row-major with n = rows·cols.
#include "common.cuh"

template <typename T, typename C>
__device__ void activation_forward(int act, const T* x, T* y, long long n, double p) {
    GG_GRID_STRIDE(i, n) { gg_store(y, i, gg_activation<C>(act, gg_load(x, i), (C)p)); }
}

template <typename T, typename C>
__device__ void activation_backward(int act, const T* y, const T* gy, T* gx, long long n, double p) {
    GG_GRID_STRIDE(i, n) {
        gg_store(gx, i, gg_activation_backward<C>(act, gg_load(y, i), gg_load(gy, i), (C)p));
    }
}

// y[r, c] = act(x[r, c] + b[c]).  The column is advanced with the loop instead of computed
// as i % cols each step: a 64-bit division per element would cost more than the memory.
template <typename T, typename C>
__device__ void bias_activation_forward(int act, const T* x, const T* b, T* y, long long n,
                                        long long cols, double p) {
    const long long stride = gg_grid_stride();
    long long i = gg_thread_start();
    long long r = i / cols, c = i - r * cols;
    const long long dr = stride / cols, dc = stride - dr * cols;
    for (; i < n; i += stride) {
        gg_store(y, i, gg_activation<C>(act, gg_load(x, i) + gg_load(b, c), (C)p));
        gg_advance(r, c, dr, dc, cols);
    }
}

// Column sums of a (rows, cols) matrix, blockDim = (bx, by) with bx·by = 256, by a power of
// two.  Block (bx_i, chunk) sums columns [bx_i·bx, +bx) over the rows chunk, chunk +
// gridDim.y, ... and writes out[chunk, c]: with gridDim.y == 1 that is the final sum,
// otherwise a (gridDim.y, cols) matrix of partial sums for a second launch (TIn = C).
// Deterministic: a fixed order, no atomics.  Accumulates in C (float32 for float16).
// act >= 0: the summed value is the activation backward of (y, gy), also stored to gx (the
// fused bias + activation backward); act < 0: the summed value is y itself.
template <typename TIn, typename C, typename TOut>
__device__ void column_reduce(int act, const TIn* y, const TIn* gy, TIn* gx, TOut* out,
                              long long rows, long long cols, double p) {
    __shared__ C partial[256];
    const int tx = threadIdx.x, ty = threadIdx.y, bx = blockDim.x;
    const long long c = (long long)blockIdx.x * bx + tx;
    C acc = C(0);
    if (c < cols) {
        const long long step = (long long)blockDim.y * gridDim.y;
        for (long long r = (long long)blockIdx.y * blockDim.y + ty; r < rows; r += step) {
            const long long i = r * cols + c;
            if (act >= 0) {
                C g = gg_activation_backward<C>(act, gg_load(y, i), gg_load(gy, i), (C)p);
                gg_store(gx, i, g);
                acc += g;
            } else {
                acc += gg_load(y, i);
            }
        }
    }
    partial[ty * bx + tx] = acc;
    __syncthreads();
    for (int s = blockDim.y / 2; s > 0; s >>= 1) {      // tree over the block's rows
        if (ty < s) partial[ty * bx + tx] += partial[(ty + s) * bx + tx];
        __syncthreads();
    }
    if (ty == 0 && c < cols) gg_store(out, (long long)blockIdx.y * cols + c, partial[tx]);
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
    /* first pass: partial sums in C (and gx when act >= 0) */                                     \
    extern "C" __global__ void column_reduce_##SUFFIX(int act, const T* y, const T* gy, T* gx,     \
                                                      C* out, long long rows, long long cols,      \
                                                      double p) {                                  \
        column_reduce<T, C, C>(act, y, gy, gx, out, rows, cols, p);                                \
    }                                                                                              \
    /* a single pass (gridDim.y == 1): the sums stored as T */                                     \
    extern "C" __global__ void column_reduce_direct_##SUFFIX(int act, const T* y, const T* gy,     \
                                                             T* gx, T* out, long long rows,        \
                                                             long long cols, double p) {           \
        column_reduce<T, C, T>(act, y, gy, gx, out, rows, cols, p);                                \
    }                                                                                              \
    /* second pass: the (chunks, cols) partial sums -> (cols,) as T */                             \
    extern "C" __global__ void column_finish_##SUFFIX(const C* partial, T* out, long long chunks,  \
                                                      long long cols) {                            \
        column_reduce<C, C, T>(-1, partial, nullptr, nullptr, out, chunks, cols, 0.0);             \
    }

GG_ACTIVATION_KERNELS(f16, gg_half, float)
GG_ACTIVATION_KERNELS(f32, float, float)
GG_ACTIVATION_KERNELS(f64, double, double)
