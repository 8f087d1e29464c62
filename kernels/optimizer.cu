// One kernel launch per parameter update, in place, PyTorch's update rules.
//   SGD:  g = grad + wd·p;  buf = momentum·buf + g (buf = g on the first step);
//         g = g + momentum·buf if nesterov else buf;  p -= lr·g
//   Adam: (AdamW: p *= 1 - lr·wd; Adam: g = grad + wd·p)
//         m = b1·m + (1-b1)·g;  v = b2·v + (1-b2)·g²
//         p -= lr/bc1 · m / (sqrt(v)/sqrt(bc2) + eps)     (bc = bias corrections)
// The gradient is only read: it may share memory with other arrays.
#include "common.cuh"

template <typename T, typename C>
__device__ void sgd_update(T* p, const T* grad, T* buf, long long n, double lr, double momentum,
                           double wd, int nesterov, int first_step) {
    GG_GRID_STRIDE(i, n) {
        C w = gg_load(p, i);
        C g = gg_load(grad, i) + (C)wd * w;
        if (momentum != 0.0) {
            C b = first_step ? g : (C)momentum * gg_load(buf, i) + g;
            gg_store(buf, i, b);
            g = nesterov ? g + (C)momentum * b : b;
        }
        gg_store(p, i, w - (C)lr * g);
    }
}

template <typename T, typename C>
__device__ void adam_update(T* p, const T* grad, T* m, T* v, long long n, double lr, double b1,
                            double b2, double eps, double wd, int decoupled, double bc1, double bc2) {
    const C step = (C)(lr / bc1);
    const C bc2_sqrt = (C)sqrt(bc2);
    GG_GRID_STRIDE(i, n) {
        C w = gg_load(p, i);
        C g = gg_load(grad, i);
        if (decoupled) w *= (C)(1.0 - lr * wd);
        else g += (C)wd * w;
        C mi = (C)b1 * gg_load(m, i) + (C)(1.0 - b1) * g;
        C vi = (C)b2 * gg_load(v, i) + (C)(1.0 - b2) * g * g;
        gg_store(m, i, mi);
        gg_store(v, i, vi);
        gg_store(p, i, w - step * mi / (gg_sqrt(vi) / bc2_sqrt + (C)eps));
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
