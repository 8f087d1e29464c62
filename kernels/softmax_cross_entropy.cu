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

// The log-sum-exp of one row by the 32 lanes of a warp: each lane an online log-sum-exp of
// every 32nd value (common.cuh), merged by shuffles; every lane returns it.  All 32 lanes
// must call it (the shuffles).
template <typename T, typename C>
__device__ double gg_warp_row_lse(const T* row, long long cols, int lane) {
    C m = -(C)GG_INF, s = C(0);
    for (long long c = lane; c < cols; c += 32) gg_lse_push<C>(m, s, gg_load(row, c));
    for (int offset = 16; offset > 0; offset >>= 1) {
        C m2 = __shfl_xor_sync(0xffffffffu, m, offset);
        C s2 = __shfl_xor_sync(0xffffffffu, s, offset);
        gg_lse_merge<C>(m, s, m2, s2);
    }
    return gg_lse_finish<C>(m, s);
}

// A row's loss lse - x[label]; a label outside [0, cols) sets *flag and gives NaN instead of
// reading out of bounds.
template <typename T, typename C>
__device__ C gg_row_loss(const T* row, long long label, long long cols, double lse, int* flag) {
    if (label < 0 || label >= cols) {
        atomicExch(flag, 1);
        return (C)GG_NAN;
    }
    return (C)(lse - (double)gg_load(row, label));
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
        const double lse = gg_warp_row_lse<T, C>(row, cols, lane);
        if (lane == 0) {
            lse_out[r] = lse;
            const long long label = labels[r];
            const bool ignored = use_ignore && label == ignore_index;
            gg_store(loss, r, ignored ? C(0) : gg_row_loss<T, C>(row, label, cols, lse, flag));
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

// The loss of a whole batch, cross_entropy's "mean" or "sum" over rows, in ONE launch of ONE
// block: a warp per row as above, each warp's lane 0 adding its rows' losses (each rounded to
// the compute type C; float16 rows are not rounded to half first) and the number of rows not
// ignored, in row order, in double; then
// thread 0 adds the warps' partial sums in warp order.  The same rows in the same order at
// every launch: the same bits (no atomics).  out[0] = sum / count for a mean (0/0 = NaN when
// every row is ignored, as PyTorch) or the sum; divisor[0] = count (mean) or 1 (sum), which
// the backward divides the upstream gradient by.  The launcher keeps it to batches small
// enough for one block; larger ones take the per-row kernel and reductions.
template <typename T, typename C>
__device__ void softmax_cross_entropy_reduce_forward(const T* logits, const long long* labels,
                                                     T* out, double* lse_out, double* divisor,
                                                     int* flag, long long rows, long long cols,
                                                     long long ignore_index, int use_ignore,
                                                     int mean) {
    __shared__ double warp_sums[32], warp_counts[32];
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    double sum = 0.0, count = 0.0;
    for (long long r = warp; r < rows; r += warps) {  // the same r for the 32 lanes
        const T* row = logits + r * cols;
        const double lse = gg_warp_row_lse<T, C>(row, cols, lane);
        if (lane == 0) {
            lse_out[r] = lse;
            const long long label = labels[r];
            if (!(use_ignore && label == ignore_index)) {
                sum += (double)gg_row_loss<T, C>(row, label, cols, lse, flag);
                count += 1.0;
            }
        }
    }
    if (lane == 0) {
        warp_sums[warp] = sum;
        warp_counts[warp] = count;
    }
    __syncthreads();
    if (threadIdx.x == 0) {
        double total = 0.0, kept = 0.0;
        for (int w = 0; w < warps; ++w) {
            total += warp_sums[w];
            kept += warp_counts[w];
        }
        divisor[0] = mean ? kept : 1.0;
        gg_store(out, 0, (C)(mean ? total / kept : total));
    }
}

// gx = (softmax(x) - onehot(label)) · gy / divisor for the rows not ignored, 0 for the others:
// the backward of the kernel above, gy its upstream gradient (one value).
template <typename T, typename C>
__device__ void softmax_cross_entropy_reduce_backward(const T* logits, const double* lse,
                                                      const long long* labels, const T* gy,
                                                      const double* divisor, T* gx,
                                                      long long rows, long long cols,
                                                      long long ignore_index, int use_ignore) {
    const C scale = (C)((double)gg_load(gy, 0) / divisor[0]);
    const long long n = rows * cols, stride = gg_grid_stride();
    long long i = gg_thread_start();
    long long r = i / cols, c = i - r * cols;
    const long long dr = stride / cols, dc = stride - dr * cols;
    for (; i < n; i += stride) {
        const long long label = labels[r];
        const bool ignored = use_ignore && label == ignore_index;
        gg_store(gx, i, ignored ? C(0) : gg_xent_grad<C>(gg_load(logits, i), lse[r], label == c, scale));
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
    }                                                                                     \
    extern "C" __global__ void softmax_cross_entropy_reduce_forward_##SUFFIX(             \
        const T* logits, const long long* labels, T* out, double* lse, double* divisor,   \
        int* flag, long long rows, long long cols, long long ignore_index, int use_ignore, \
        int mean) {                                                                       \
        softmax_cross_entropy_reduce_forward<T, C>(logits, labels, out, lse, divisor,     \
                                                   flag, rows, cols, ignore_index,        \
                                                   use_ignore, mean);                     \
    }                                                                                     \
    extern "C" __global__ void softmax_cross_entropy_reduce_backward_##SUFFIX(            \
        const T* logits, const double* lse, const long long* labels, const T* gy,        \
        const double* divisor, T* gx, long long rows, long long cols,                     \
        long long ignore_index, int use_ignore) {                                         \
        softmax_cross_entropy_reduce_backward<T, C>(logits, lse, labels, gy, divisor, gx, \
                                                    rows, cols, ignore_index, use_ignore); \
    }

GG_CE_KERNELS(f16, gg_half, float)
GG_CE_KERNELS(f32, float, float)
GG_CE_KERNELS(f64, double, double)
