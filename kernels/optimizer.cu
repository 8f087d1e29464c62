// One kernel launch per parameter update, in place, with PyTorch's update rules
// (gg_sgd_step / gg_adam_step below, where the formulas are written out).
// Scalars arrive as double and are rounded to the compute type once, as PyTorch does
// with its Python-float hyperparameters.  The gradient is only read.
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

template <typename T, typename C>
__device__ void sgd_update(T* p, const T* grad, T* buf, long long n, double lr, double momentum,
                           double wd, int nesterov, int first_step) {
    const bool use_buf = momentum != 0.0;       // buf may be a dummy pointer otherwise
    GG_GRID_STRIDE(i, n) {
        C b = use_buf && !first_step ? gg_load(buf, i) : C(0);
        C w = gg_sgd_step<C>(gg_load(p, i), gg_load(grad, i), b, (C)lr, (C)momentum, (C)wd,
                             nesterov != 0, first_step != 0);
        if (use_buf) gg_store(buf, i, b);
        gg_store(p, i, w);
    }
}

template <typename T, typename C>
__device__ void adam_update(T* p, const T* grad, T* m, T* v, long long n, double lr, double b1,
                            double b2, double eps, double wd, int decoupled, double bc1, double bc2) {
    const C one_minus_b1 = (C)(1.0 - b1), one_minus_b2 = (C)(1.0 - b2);
    const C decay = (C)(1.0 - lr * wd), step_size = (C)(lr / bc1), bc2_sqrt = (C)sqrt(bc2);
    GG_GRID_STRIDE(i, n) {
        C mi = gg_load(m, i), vi = gg_load(v, i);
        C w = gg_adam_step<C>(gg_load(p, i), gg_load(grad, i), mi, vi, one_minus_b1, (C)b2,
                              one_minus_b2, (C)eps, (C)wd, decoupled != 0, decay, step_size,
                              bc2_sqrt);
        gg_store(m, i, mi);
        gg_store(v, i, vi);
        gg_store(p, i, w);
    }
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
    }

GG_OPTIMIZER_KERNELS(f16, gg_half, float)
GG_OPTIMIZER_KERNELS(f32, float, float)
GG_OPTIMIZER_KERNELS(f64, double, double)
