// The scalar maths of kernels/common.cuh called straight from Python (ctypes), for what a
// kernel launch cannot vary: the online log-sum-exp merged over any number of lanes, and
// the row/column advance of a grid-stride loop over any stride.  (The activations, the
// cross-entropy gradient and the optimizer steps are tested through the kernels that call
// them, emulated on the CPU: tests/kernels/cpp/cuda_on_cpu.h.)
#include <cmath>

#include "common.cuh"

// The log-sum-exp of each row of x (rows, cols): element c goes to lane c % lanes (at most
// 32), then the lanes merge in the butterfly order of the warp shuffles.
template <typename C>
static void lse_rows(const C* x, long rows, long cols, int lanes, double* out) {
    for (long r = 0; r < rows; ++r) {
        C m[32], s[32];
        for (int l = 0; l < lanes; ++l) { m[l] = -INFINITY; s[l] = 0; }
        for (long c = 0; c < cols; ++c) gg_lse_push<C>(m[c % lanes], s[c % lanes], x[r * cols + c]);
        for (int offset = lanes / 2; offset > 0; offset /= 2) {
            C m2[32], s2[32];
            for (int l = 0; l < lanes; ++l) { m2[l] = m[l ^ offset]; s2[l] = s[l ^ offset]; }
            for (int l = 0; l < lanes; ++l) gg_lse_merge<C>(m[l], s[l], m2[l], s2[l]);
        }
        out[r] = gg_lse_finish<C>(m[0], s[0]);
    }
}

extern "C" {
void lse_f64(const double* x, long rows, long cols, int lanes, double* out) {
    lse_rows(x, rows, cols, lanes, out);
}
void lse_f32(const float* x, long rows, long cols, int lanes, double* out) {
    lse_rows(x, rows, cols, lanes, out);
}

// (r, c) advanced through a grid-stride loop, checked against / and % at every step: the
// number of steps where they disagree.
long advance_mismatches(long long start, long long stride, long long n, long long cols) {
    long long r = start / cols, c = start % cols, dr = stride / cols, dc = stride % cols;
    long bad = 0;
    for (long long i = start; i < n; i += stride) {
        if (r != i / cols || c != i % cols) ++bad;
        gg_advance(r, c, dr, dc, cols);
    }
    return bad;
}
}
