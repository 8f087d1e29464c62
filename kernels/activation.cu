// Fused activations: one pass forward (x -> y) and one pass backward ((y, gy) -> gx).
// The backward reads the forward's OUTPUT y, never x.  Bias + activation adds a
// row-broadcast bias first (b[c] per column); its backward writes gx and, in the same pass,
// per-chunk column sums of gx that a second, small launch adds up into the bias gradient.
// The row-bias variants add b[r] per ROW instead: a convolution's (C, N, Ho, Wo) output seen
// as (C, N·Ho·Wo), one channel per row; their backward sums each row of gx.
// All arrays are C-contiguous; x and y are (rows, cols) row-major with n = rows·cols.
#include "common.cuh"

// -- activations ------------------------------------------------------------------------------
// One struct per activation: forward(x, p), and backward(y, gy, p) = gy · dy/dx computed from
// the OUTPUT y, never from x.  p is the activation's parameter (the slope of leaky ReLU, alpha
// of ELU; unused by the others); leaky ReLU needs slope >= 0 and ELU alpha > 0, so that the
// sign of y is the sign of x.  The piecewise backwards SELECT rather than multiply by a 0/1
// mask, so that an infinite or NaN gy where the unit is off gives 0 (as PyTorch's
// threshold_backward), not inf·0 = NaN.  At a kink or a NaN each takes PyTorch's side, the
// rule its NumPy twin follows (gpugrad/ops/activation_twins.py): ReLU and ELU are off where
// y <= 0, so a NaN y passes gy; leaky ReLU is on where y > 0, so a NaN y takes the slope;
// softplus is x above x = 20 and its gradient gy above y = softplus(20).
// The codes are those of the registry, ACTIVATIONS in gpugrad/ops/activation.py (a test
// compares them).  Adding an activation: its code, its struct, its line in GG_ACTIVATIONS.
enum GgActivation { GG_SIGMOID = 0, GG_TANH = 1, GG_RELU = 2, GG_LEAKY_RELU = 3, GG_ELU = 4, GG_SOFTPLUS = 5 };

struct GgSigmoid {  // exp of a non-positive number only, so it never overflows
    template <typename C> static GG_HD C forward(C x, C) {
        C e = gg_exp(-gg_abs(x));            // in [0, 1]
        C r = C(1) / (C(1) + e);             // sigmoid(|x|)
        return x >= C(0) ? r : e * r;        // sigmoid(-|x|) = e / (1 + e); NaN stays NaN
    }
    template <typename C> static GG_HD C backward(C y, C gy, C) { return gy * (y * (C(1) - y)); }
};

struct GgTanh {
    template <typename C> static GG_HD C forward(C x, C) { return gg_tanh(x); }
    template <typename C> static GG_HD C backward(C y, C gy, C) { return gy * (C(1) - y * y); }
};

struct GgRelu {  // NaN passes through
    template <typename C> static GG_HD C forward(C x, C) { return (x > C(0) || x != x) ? x : C(0); }
    template <typename C> static GG_HD C backward(C y, C gy, C) {  // NaN y passes gy
        return y <= C(0) ? C(0) : gy;
    }
};

struct GgLeakyRelu {
    template <typename C> static GG_HD C forward(C x, C slope) { return x > C(0) ? x : x * slope; }
    template <typename C> static GG_HD C backward(C y, C gy, C slope) {
        return y > C(0) ? gy : gy * slope;
    }
};

struct GgElu {  // α·eˣ = y + α for x <= 0
    template <typename C> static GG_HD C forward(C x, C alpha) {
        return x > C(0) ? x : alpha * gg_expm1(x);
    }
    template <typename C> static GG_HD C backward(C y, C gy, C alpha) {
        return y <= C(0) ? gy * (y + alpha) : gy;
    }
};

// max(x, 0) + log1p(exp(-|x|)): stable for any x; dy/dx = 1 - exp(-y).  Above torch's
// threshold, x > 20, it is x itself, and the gradient is gy above y = softplus(20) =
// 20 + log1p(exp(-20)) (20 in float): the twin's SOFTPLUS_THRESHOLD, SOFTPLUS_AT_THRESHOLD.
#define GG_SOFTPLUS_THRESHOLD 20.0
#define GG_SOFTPLUS_AT_THRESHOLD 20.000000002061153
struct GgSoftplus {
    template <typename C> static GG_HD C forward(C x, C) {
        if (x != x || x > C(GG_SOFTPLUS_THRESHOLD)) return x;
        C m = x > C(0) ? x : C(0);
        return m + gg_log1p(gg_exp(-gg_abs(x)));
    }
    template <typename C> static GG_HD C backward(C y, C gy, C) {
        return y > C(GG_SOFTPLUS_AT_THRESHOLD) ? gy : gy * -gg_expm1(-y);
    }
};

#define GG_ACTIVATIONS(X)                                                                     \
    X(GG_SIGMOID, GgSigmoid) X(GG_TANH, GgTanh) X(GG_RELU, GgRelu)                            \
    X(GG_LEAKY_RELU, GgLeakyRelu) X(GG_ELU, GgElu) X(GG_SOFTPLUS, GgSoftplus)

// The kernels take the code at run time and dispatch here (the branch is the same for every
// element of a launch, so it costs no divergence).  An unknown code gives NaN, never another
// activation's values.
template <typename C> GG_HD C gg_activation(int act, C x, C p) {
    switch (act) {
#define GG_FORWARD_CASE(CODE, A) case CODE: return A::forward(x, p);
        GG_ACTIVATIONS(GG_FORWARD_CASE)
#undef GG_FORWARD_CASE
        default: return C(0) / C(0);
    }
}

template <typename C> GG_HD C gg_activation_backward(int act, C y, C gy, C p) {
    switch (act) {
#define GG_BACKWARD_CASE(CODE, A) case CODE: return A::backward(y, gy, p);
        GG_ACTIVATIONS(GG_BACKWARD_CASE)
#undef GG_BACKWARD_CASE
        default: return C(0) / C(0);
    }
}

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

// y[r, c] = act(x[r, c] + b[c]), or + b[r] with ROWS.  The row and column are advanced with
// the loop instead of computed as i / cols each step: a 64-bit division per element would
// cost more than the memory.
template <typename T, typename C, bool ROWS>
__device__ void bias_activation_forward(int act, const T* x, const T* b, T* y, long long n,
                                        long long cols, double p) {
    const long long stride = gg_grid_stride();
    long long i = gg_thread_start();
    long long r = i / cols, c = i - r * cols;
    const long long dr = stride / cols, dc = stride - dr * cols;
    for (; i < n; i += stride) {
        gg_store(y, i, gg_activation<C>(act, gg_load(x, i) + gg_load(b, ROWS ? r : c), (C)p));
        gg_advance(r, c, dr, dc, cols);
    }
}

// One element of a fused reduction: act >= 0, the activation backward of (y, gy) at i,
// also stored to gx (the fused bias + activation backward); act < 0, y[i] itself.
template <typename TIn, typename C>
GG_D C gg_reduced_value(int act, const TIn* y, const TIn* gy, TIn* gx, long long i, double p) {
    if (act < 0) return gg_load(y, i);
    C g = gg_activation_backward<C>(act, gg_load(y, i), gg_load(gy, i), (C)p);
    gg_store(gx, i, g);
    return g;
}

// Row sums of a (rows, cols) matrix, blockDim = (256, 1), grid = (rows, chunks): block
// (r, chunk) sums row r's columns chunk·256 + tx, + 256·chunks, ... and writes
// out[chunk, r]: with one chunk that is the final sum, otherwise a (chunks, rows) matrix of
// partial sums that column_finish adds up.  Deterministic; accumulates in C; each element
// is gg_reduced_value's.
template <typename T, typename C, typename TOut>
__device__ void row_reduce(int act, const T* y, const T* gy, T* gx, TOut* out, long long rows,
                           long long cols, double p) {
    __shared__ C partial[256];
    const int tx = threadIdx.x;
    const long long r = blockIdx.x, step = (long long)blockDim.x * gridDim.y;
    C acc = C(0);
    for (long long c = (long long)blockIdx.y * blockDim.x + tx; c < cols; c += step)
        acc += gg_reduced_value<T, C>(act, y, gy, gx, r * cols + c, p);
    partial[tx] = acc;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {      // tree over the block's threads
        if (tx < s) partial[tx] += partial[tx + s];
        __syncthreads();
    }
    if (tx == 0) gg_store(out, (long long)blockIdx.y * rows + r, partial[0]);
}

// Column sums of a (rows, cols) matrix, blockDim = (bx, by) with bx·by = 256, by a power of
// two.  Block (bx_i, chunk) sums columns [bx_i·bx, +bx) over the rows chunk, chunk +
// gridDim.y, ... and writes out[chunk, c]: with gridDim.y == 1 that is the final sum,
// otherwise a (gridDim.y, cols) matrix of partial sums for a second launch (TIn = C).
// Deterministic: a fixed order, no atomics.  Accumulates in C (float32 for float16); each
// element is gg_reduced_value's.
template <typename TIn, typename C, typename TOut>
__device__ void column_reduce(int act, const TIn* y, const TIn* gy, TIn* gx, TOut* out,
                              long long rows, long long cols, double p) {
    __shared__ C partial[256];
    const int tx = threadIdx.x, ty = threadIdx.y, bx = blockDim.x;
    const long long c = (long long)blockIdx.x * bx + tx;
    C acc = C(0);
    if (c < cols) {
        const long long step = (long long)blockDim.y * gridDim.y;
        for (long long r = (long long)blockIdx.y * blockDim.y + ty; r < rows; r += step)
            acc += gg_reduced_value<TIn, C>(act, y, gy, gx, r * cols + c, p);
    }
    partial[ty * bx + tx] = acc;
    __syncthreads();
    for (int s = blockDim.y / 2; s > 0; s >>= 1) {      // tree over the block's rows
        if (ty < s) partial[ty * bx + tx] += partial[(ty + s) * bx + tx];
        __syncthreads();
    }
    if (ty == 0 && c < cols) gg_store(out, (long long)blockIdx.y * cols + c, partial[tx]);
}

// A reduction's two entry points: NAME_SUFFIX, the first pass of several (gridDim.y > 1:
// per-chunk partial sums in C, and gx when act >= 0), and NAME_direct_SUFFIX, a single
// pass (the sums stored as T).
#define GG_REDUCE_KERNELS(NAME, SUFFIX, T, C)                                                      \
    extern "C" __global__ void NAME##_##SUFFIX(int act, const T* y, const T* gy, T* gx, C* out,   \
                                              long long rows, long long cols, double p) {          \
        NAME<T, C, C>(act, y, gy, gx, out, rows, cols, p);                                         \
    }                                                                                              \
    extern "C" __global__ void NAME##_direct_##SUFFIX(int act, const T* y, const T* gy, T* gx,     \
                                                     T* out, long long rows, long long cols,       \
                                                     double p) {                                   \
        NAME<T, C, T>(act, y, gy, gx, out, rows, cols, p);                                         \
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
        bias_activation_forward<T, C, false>(act, x, b, y, n, cols, p);                            \
    }                                                                                              \
    extern "C" __global__ void row_bias_activation_forward_##SUFFIX(int act, const T* x,           \
                                                                    const T* b, T* y, long long n, \
                                                                    long long cols, double p) {    \
        bias_activation_forward<T, C, true>(act, x, b, y, n, cols, p);                             \
    }                                                                                              \
    /* the row-bias backward (row_reduce) and the column one (column_reduce) */                    \
    GG_REDUCE_KERNELS(row_reduce, SUFFIX, T, C)                                                    \
    GG_REDUCE_KERNELS(column_reduce, SUFFIX, T, C)                                                 \
    /* second pass: the (chunks, cols) partial sums -> (cols,) as T */                             \
    extern "C" __global__ void column_finish_##SUFFIX(const C* partial, T* out, long long chunks,  \
                                                      long long cols) {                            \
        column_reduce<C, C, T>(-1, partial, nullptr, nullptr, out, chunks, cols, 0.0);             \
    }

GG_ACTIVATION_KERNELS(f16, gg_half, float)
GG_ACTIVATION_KERNELS(f32, float, float)
GG_ACTIVATION_KERNELS(f64, double, double)
