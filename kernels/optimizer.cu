// Optimizer steps in place, with PyTorch's update rules (gg_sgd_step / gg_adam_step below,
// where the formulas are written out): per parameter (one launch each: sgd_update,
// adam_update) or multi-tensor (every parameter of a group, one dtype and one device, in one
// launch over a table of pointers: sgd_multi_update; adam_multi_count + adam_multi_update),
// and zero_grad's multi_zero over the same kind of table.
// Scalars are doubles (by value, or read from device memory by the multi-tensor kernels) and
// are rounded to the compute type once, as PyTorch does with its Python-float
// hyperparameters; both kinds of kernel share the per-element code, so they give the same
// numbers.  The gradient is only read.
#include "common.cuh"

// -- optimizer steps, PyTorch's update rules (torch.optim.SGD / Adam / AdamW) -------------
// SGD, dampening 0:  g = grad + wd·w;  buf = momentum·buf + g (buf = g on the first step);
// g = g + momentum·buf if nesterov else buf;  w -= lr·g.  Returns the new w; buf is only
// touched when momentum != 0.
template <typename C> GG_HD C gg_sgd_step(C w, C grad, C& buf, C lr, C momentum, C wd,
                                          bool nesterov, bool first_step) {
    C g = wd != C(0) ? grad + wd * w : grad;     // as PyTorch: no 0·inf = NaN when wd is 0
    if (momentum != C(0)) {
        buf = first_step ? g : momentum * buf + g;
        g = nesterov ? g + momentum * buf : buf;
    }
    return w - lr * g;
}

// torch.lerp's two-sided form (exact at both ends): a + w·(b - a).
template <typename C> GG_HD C gg_lerp(C a, C b, C w) {
    return w < C(0.5) ? a + w * (b - a) : b - (b - a) * (C(1) - w);
}

// Adam: g = grad + wd·w;  AdamW (decoupled): w *= decay (= 1 - lr·wd) instead.
// m = lerp(m, g, 1-β1);  v = β2·v + (1-β2)·g²;  w -= step_size · m / (sqrt(v)/sqrt(bc2) + eps)
// with step_size = lr / bc1 and the bias corrections bc = 1 - β^t computed on the host.
template <typename C> GG_HD C gg_adam_step(C w, C grad, C& m, C& v, C one_minus_b1, C b2,
                                           C one_minus_b2, C eps, C wd, bool decoupled, C decay,
                                           C step_size, C bc2_sqrt) {
    C g = grad;
    if (decoupled) w *= decay;
    else if (wd != C(0)) g += wd * w;
    m = gg_lerp(m, g, one_minus_b1);
    v = v * b2 + one_minus_b2 * g * g;
    return w - step_size * (m / (gg_sqrt(v) / bc2_sqrt + eps));
}

// -- one element of a step, shared by the per-parameter and the multi-tensor kernels -------
template <typename T, typename C>
GG_D void gg_sgd_element(T* p, const T* grad, T* buf, long long i, C lr, C momentum, C wd,
                         bool use_buf, bool nesterov, bool first_step) {
    C b = use_buf && !first_step ? gg_load(buf, i) : C(0);
    C w = gg_sgd_step<C>(gg_load(p, i), gg_load(grad, i), b, lr, momentum, wd, nesterov,
                         first_step);
    if (use_buf) gg_store(buf, i, b);
    gg_store(p, i, w);
}

// Adam's constants for one step, from the double hyperparameters and bias corrections.
template <typename C> struct GgAdam {
    C one_minus_b1, b2, one_minus_b2, eps, wd, decay, step_size, bc2_sqrt;
    bool decoupled;
};
template <typename C>
GG_D GgAdam<C> gg_adam_constants(double lr, double b1, double b2, double eps, double wd,
                                 int decoupled, double bc1, double bc2) {
    GgAdam<C> k;
    k.one_minus_b1 = (C)(1.0 - b1);
    k.b2 = (C)b2;
    k.one_minus_b2 = (C)(1.0 - b2);
    k.eps = (C)eps;
    k.wd = (C)wd;
    k.decay = (C)(1.0 - lr * wd);
    k.step_size = (C)(lr / bc1);
    k.bc2_sqrt = (C)sqrt(bc2);
    k.decoupled = decoupled != 0;
    return k;
}

template <typename T, typename C>
GG_D void gg_adam_element(T* p, const T* grad, T* m, T* v, long long i, const GgAdam<C>& k) {
    C mi = gg_load(m, i), vi = gg_load(v, i);
    C w = gg_adam_step<C>(gg_load(p, i), gg_load(grad, i), mi, vi, k.one_minus_b1, k.b2,
                          k.one_minus_b2, k.eps, k.wd, k.decoupled, k.decay, k.step_size,
                          k.bc2_sqrt);
    gg_store(m, i, mi);
    gg_store(v, i, vi);
    gg_store(p, i, w);
}

// -- per parameter: one launch each, a grid-stride loop ------------------------------------
template <typename T, typename C>
__device__ void sgd_update(T* p, const T* grad, T* buf, long long n, double lr, double momentum,
                           double wd, int nesterov, int first_step) {
    const bool use_buf = momentum != 0.0;       // buf may be a dummy pointer otherwise
    GG_GRID_STRIDE(i, n) {
        gg_sgd_element<T, C>(p, grad, buf, i, (C)lr, (C)momentum, (C)wd, use_buf, nesterov != 0,
                             first_step != 0);
    }
}

template <typename T, typename C>
__device__ void adam_update(T* p, const T* grad, T* m, T* v, long long n, double lr, double b1,
                            double b2, double eps, double wd, int decoupled, double bc1, double bc2) {
    const GgAdam<C> k = gg_adam_constants<C>(lr, b1, b2, eps, wd, decoupled, bc1, bc2);
    GG_GRID_STRIDE(i, n) { gg_adam_element<T, C>(p, grad, m, v, i, k); }
}

// -- multi-tensor: every parameter of a group in one launch (apex's multi_tensor_apply) ----
// The table is int64 device memory, built and cached by gpugrad.kernels.optimizer
// (PointerTable) for n tensors and S slots (parameter, gradient, state buffers...):
//   table[s·n + t]          the address of slot s of tensor t
//   table[S·n + t]          the number of elements of tensor t (none is empty)
//   table[(S+1)·n + 2b]     the tensor of block b, table[(S+1)·n + 2b + 1] its chunk c
// Block b updates elements [c·chunk, min((c+1)·chunk, size)) of its tensor, its threads
// striding through them (coalesced).  Hyperparameters, and Adam's step counts, are read from
// device memory, so that a captured CUDA graph sees a new lr (uploaded in place) and the step
// count advances on the device.
struct GgChunk { long long t, begin, end; };
GG_D GgChunk gg_block_chunk(const long long* table, long long n, int slots, long long chunk) {
    const long long* map = table + (slots + 1) * n + 2 * (long long)blockIdx.x;
    GgChunk c;
    c.t = map[0];
    c.begin = map[1] * chunk;
    const long long size = table[slots * n + c.t];
    c.end = c.begin + chunk < size ? c.begin + chunk : size;
    return c;
}
template <typename P> GG_D P* gg_slot(const long long* table, long long n, int s, long long t) {
    return reinterpret_cast<P*>(table[s * n + t]);
}

// SGD, slots (p, grad[, buf]); hyper = [lr, momentum, weight decay].  No first-step flag:
// the optimizer creates a new momentum buffer zero-filled, and momentum·0 + g is g (exactly;
// only a -0 gradient gives +0), PyTorch's buf = g.
template <typename T, typename C>
__device__ void sgd_multi(const long long* table, long long n, long long chunk,
                          const double* hyper, int nesterov, int has_buf) {
    const int slots = has_buf ? 3 : 2;
    const GgChunk c = gg_block_chunk(table, n, slots, chunk);
    T* p = gg_slot<T>(table, n, 0, c.t);
    const T* grad = gg_slot<const T>(table, n, 1, c.t);
    T* buf = has_buf ? gg_slot<T>(table, n, 2, c.t) : p;     // p: never read without a buffer
    const C momentum = has_buf ? (C)hyper[1] : C(0);
    const bool use_buf = momentum != C(0);
    for (long long i = c.begin + threadIdx.x; i < c.end; i += blockDim.x)
        gg_sgd_element<T, C>(p, grad, buf, i, (C)hyper[0], momentum, (C)hyper[2], use_buf,
                             nesterov != 0, false);
}

// Adam, slots (p, grad, m, v, step); step is one double per tensor (the steps taken,
// this one included: adam_multi_count runs first); hyper = [lr, β1, β2, eps, weight decay].
// The bias corrections 1 - β^t are computed here, in double, as the host does.
template <typename T, typename C>
__device__ void adam_multi(const long long* table, long long n, long long chunk,
                           const double* hyper, int decoupled) {
    const GgChunk c = gg_block_chunk(table, n, 5, chunk);
    T* p = gg_slot<T>(table, n, 0, c.t);
    const T* grad = gg_slot<const T>(table, n, 1, c.t);
    T* m = gg_slot<T>(table, n, 2, c.t);
    T* v = gg_slot<T>(table, n, 3, c.t);
    const double t = *gg_slot<const double>(table, n, 4, c.t);
    const double b1 = hyper[1], b2 = hyper[2];
    const GgAdam<C> k = gg_adam_constants<C>(hyper[0], b1, b2, hyper[3], hyper[4], decoupled,
                                             1.0 - pow(b1, t), 1.0 - pow(b2, t));
    for (long long i = c.begin + threadIdx.x; i < c.end; i += blockDim.x)
        gg_adam_element<T, C>(p, grad, m, v, i, k);
}

// Adam's step counts + 1, one thread per tensor: a launch of its own, before adam_multi,
// because every block of a tensor must read the same count.
__device__ void adam_multi_count(const long long* table, long long n) {
    const long long t = gg_thread_start();
    if (t < n) *gg_slot<double>(table, n, 4, t) += 1.0;
}

// zero_grad(set_to_none=False): every gradient of one dtype on one device zeroed in one
// launch, one slot (the gradient); PyTorch's foreach zero_.  Stores C(0): +0 in every dtype.
template <typename T, typename C>
__device__ void multi_zero(const long long* table, long long n, long long chunk) {
    const GgChunk c = gg_block_chunk(table, n, 1, chunk);
    T* a = gg_slot<T>(table, n, 0, c.t);
    for (long long i = c.begin + threadIdx.x; i < c.end; i += blockDim.x) gg_store(a, i, C(0));
}

#define GG_OPTIMIZER_KERNELS(SUFFIX, T, C)                                                         \
    extern "C" __global__ void sgd_update_##SUFFIX(T* p, const T* grad, T* buf, long long n,       \
                                                   double lr, double momentum, double wd,           \
                                                   int nesterov, int first_step) {                 \
        sgd_update<T, C>(p, grad, buf, n, lr, momentum, wd, nesterov, first_step);                 \
    }                                                                                              \
    extern "C" __global__ void adam_update_##SUFFIX(T* p, const T* grad, T* m, T* v, long long n,  \
                                                    double lr, double b1, double b2, double eps,   \
                                                    double wd, int decoupled, double bc1,           \
                                                    double bc2) {                                   \
        adam_update<T, C>(p, grad, m, v, n, lr, b1, b2, eps, wd, decoupled, bc1, bc2);             \
    }                                                                                              \
    extern "C" __global__ void sgd_multi_update_##SUFFIX(const long long* table, long long n,      \
                                                         long long chunk, const double* hyper,     \
                                                         int nesterov, int has_buf) {              \
        sgd_multi<T, C>(table, n, chunk, hyper, nesterov, has_buf);                                \
    }                                                                                              \
    extern "C" __global__ void adam_multi_update_##SUFFIX(const long long* table, long long n,     \
                                                          long long chunk, const double* hyper,    \
                                                          int decoupled) {                         \
        adam_multi<T, C>(table, n, chunk, hyper, decoupled);                                       \
    }                                                                                              \
    /* the same for every dtype: the counts are doubles; one name per dtype as the others */      \
    extern "C" __global__ void adam_multi_count_##SUFFIX(const long long* table, long long n) {    \
        adam_multi_count(table, n);                                                                \
    }                                                                                              \
    extern "C" __global__ void multi_zero_##SUFFIX(const long long* table, long long n,            \
                                                   long long chunk) {                              \
        multi_zero<T, C>(table, n, chunk);                                                         \
    }

GG_OPTIMIZER_KERNELS(f16, gg_half, float)
GG_OPTIMIZER_KERNELS(f32, float, float)
GG_OPTIMIZER_KERNELS(f64, double, double)
