// Fused softmax cross-entropy.  Forward: one block per row computes the row's
// log-sum-exp (max first, so exp never overflows) and loss = lse - x[label].  Backward:
// gx = (softmax(x) - onehot(label)) * gy_row, elementwise from the saved lse.
// A label outside [0, C) sets *flag (read by Python at the next synchronization) and
// makes that row's loss NaN, instead of reading out of bounds.
#include "common.cuh"

#define GG_CE_THREADS 256

template <typename C>
__device__ C block_reduce(C v, C* shared, bool take_max) {
    shared[threadIdx.x] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            C o = shared[threadIdx.x + s];
            shared[threadIdx.x] = take_max ? (o > shared[threadIdx.x] ? o : shared[threadIdx.x])
                                           : shared[threadIdx.x] + o;
        }
        __syncthreads();
    }
    C r = shared[0];
    __syncthreads();
    return r;
}

template <typename T, typename C>
__device__ void sce_forward(const T* logits, const long long* labels, T* loss, C* lse_out,
                            int* flag, long long rows, long long cols) {
    __shared__ C shared[GG_CE_THREADS];
    for (long long r = blockIdx.x; r < rows; r += gridDim.x) {
        const long long base = r * cols;
        C m = -(C)GG_INF;
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) {
            C v = gg_load(logits, base + c);
            m = v > m ? v : m;
        }
        m = block_reduce<C>(m, shared, true);
        C shift = (m == m && m != -(C)GG_INF && m != (C)GG_INF) ? m : C(0);
        C s = C(0);
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) s += gg_exp(gg_load(logits, base + c) - shift);
        s = block_reduce<C>(s, shared, false);
        if (threadIdx.x == 0) {
            C lse = gg_log(s) + shift;
            lse_out[r] = lse;
            long long y = labels[r];
            if (y < 0 || y >= cols) {
                atomicExch(flag, 1);
                gg_store(loss, r, (C)GG_NAN);
            } else {
                gg_store(loss, r, lse - gg_load(logits, base + y));
            }
        }
    }
}

template <typename T, typename C>
__device__ void sce_backward(const T* logits, const C* lse, const long long* labels, const T* gy,
                             T* gx, long long rows, long long cols) {
    GG_GRID_STRIDE(i, rows * cols) {
        long long r = i / cols, c = i - r * cols;
        C p = gg_exp(gg_load(logits, i) - lse[r]);
        C target = labels[r] == c ? C(1) : C(0);
        gg_store(gx, i, (p - target) * gg_load(gy, r));
    }
}

#define GG_CE_KERNELS(SUFFIX, T, C)                                                                \
    extern "C" __global__ void sce_forward_##SUFFIX(const T* logits, const long long* labels,      \
                                                    T* loss, C* lse, int* flag, long long rows,     \
                                                    long long cols) {                              \
        sce_forward<T, C>(logits, labels, loss, lse, flag, rows, cols);                            \
    }                                                                                              \
    extern "C" __global__ void sce_backward_##SUFFIX(const T* logits, const C* lse,                \
                                                     const long long* labels, const T* gy, T* gx,  \
                                                     long long rows, long long cols) {             \
        sce_backward<T, C>(logits, lse, labels, gy, gx, rows, cols);                               \
    }

GG_CE_KERNELS(f16, gg_half, float)
GG_CE_KERNELS(f32, float, float)
GG_CE_KERNELS(f64, double, double)
