// Fused softmax cross-entropy on (rows, cols) row-major logits and int64 labels (rows,).
// Forward: one warp per row reads the row once, keeping an online log-sum-exp per lane
// (common.cuh), merges the lanes with shuffles, and writes lse (as double) and
// loss = lse - x[label].  Backward: gx = (softmax(x) - onehot(label)) · gy_row, one
// elementwise pass from the saved lse (double for every dtype, see gg_xent_grad).
// A label equal to ignore_index (when use_ignore) gives that row a loss of 0 (its weight
// is 0 outside the kernel, so its upstream gradient is 0 too).  Any other label outside
// [0, cols) sets *flag (Python reads it when it next synchronizes) and makes that row's
// loss NaN, instead of reading out of bounds.
#include "common.cuh"

// d(lse(x) - x[label])/dx_c · gy = (softmax(x)_c - [c == label]) · gy, where softmax is
// exp(x - lse).  lse is kept in double for every dtype: with logits of magnitude ~1000 a
// float lse would carry an error of |lse|·2⁻²⁴ into every probability.
template <typename C> GG_HD C gg_xent_grad(C x, double lse, bool is_label, C gy) {
    return (gg_exp((C)((double)x - lse)) - (is_label ? C(1) : C(0))) * gy;
}

template <typename T, typename C>
__device__ void softmax_cross_entropy_forward(const T* logits, const long long* labels, T* loss,
                                              double* lse_out, int* flag, long long rows,
                                              long long cols, long long ignore_index,
                                              int use_ignore) {
    const int lane = threadIdx.x & 31;
    const long long warps = (long long)gridDim.x * (blockDim.x >> 5);
    // r is the same for the 32 lanes of a warp, so every lane reaches every shuffle.
    for (long long r = (long long)blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5); r < rows;
         r += warps) {
        const T* row = logits + r * cols;
        C m = -(C)GG_INF, s = C(0);
        for (long long c = lane; c < cols; c += 32) gg_lse_push<C>(m, s, gg_load(row, c));
        for (int offset = 16; offset > 0; offset >>= 1) {
            C m2 = __shfl_xor_sync(0xffffffffu, m, offset);
            C s2 = __shfl_xor_sync(0xffffffffu, s, offset);
            gg_lse_merge<C>(m, s, m2, s2);
        }
        if (lane == 0) {
            const double lse = gg_lse_finish<C>(m, s);
            lse_out[r] = lse;
            const long long label = labels[r];
            if (use_ignore && label == ignore_index) {
                gg_store(loss, r, C(0));
            } else if (label < 0 || label >= cols) {
                atomicExch(flag, 1);
                gg_store(loss, r, (C)GG_NAN);
            } else {
                gg_store(loss, r, (C)(lse - (double)gg_load(row, label)));
            }
        }
    }
}

template <typename T, typename C>
__device__ void softmax_cross_entropy_backward(const T* logits, const double* lse,
                                               const long long* labels, const T* gy, T* gx,
                                               long long rows, long long cols) {
    const long long n = rows * cols, stride = gg_grid_stride();
    long long i = gg_thread_start();
    long long r = i / cols, c = i - r * cols;             // one division per thread, not per step
    const long long dr = stride / cols, dc = stride - dr * cols;
    for (; i < n; i += stride) {
        gg_store(gx, i, gg_xent_grad<C>(gg_load(logits, i), lse[r], labels[r] == c, gg_load(gy, r)));
        gg_advance(r, c, dr, dc, cols);
    }
}

#define GG_CE_KERNELS(SUFFIX, T, C)                                                       \
    extern "C" __global__ void softmax_cross_entropy_forward_##SUFFIX(                    \
        const T* logits, const long long* labels, T* loss, double* lse, int* flag,        \
        long long rows, long long cols, long long ignore_index, int use_ignore) {         \
        softmax_cross_entropy_forward<T, C>(logits, labels, loss, lse, flag, rows, cols,  \
                                            ignore_index, use_ignore);                    \
    }                                                                                     \
    extern "C" __global__ void softmax_cross_entropy_backward_##SUFFIX(                   \
        const T* logits, const double* lse, const long long* labels, const T* gy, T* gx,  \
        long long rows, long long cols) {                                                 \
        softmax_cross_entropy_backward<T, C>(logits, lse, labels, gy, gx, rows, cols);    \
    }

GG_CE_KERNELS(f16, gg_half, float)
GG_CE_KERNELS(f32, float, float)
GG_CE_KERNELS(f64, double, double)
