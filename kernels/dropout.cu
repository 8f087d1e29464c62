// Inverted dropout on Philox4x32-10 (philox.cuh): out = in · m, m = scale where the element is
// kept and 0 where it is dropped, element i kept when the 32-bit number at position
// offset + i of the seed's stream is >= threshold (the uniform u = number / 2^32 is >= p:
// threshold = ceil(p · 2^32), so the comparison is exact and the same for every dtype).
//
// One kernel serves both directions: the forward is dropout(x) -> y, the backward is
// dropout(gy) -> gx with the same (seed, offset), which recomputes the very same mask.  No
// mask is stored: storing one would cost a buffer of n bytes per layer, held from the
// forward to the backward, and its write and read; recomputing costs ten Philox rounds (20
// integer multiplies) per 4 elements, which the memory traffic hides.
//
// Element i takes number i % 4 of counter offset / 4 + i / 4 (philox.cuh: gg_philox_at),
// whatever the grid: the mask depends on (seed, offset, n) only, not on the number of SMs,
// so the CPU emulation in the tests draws the GPU's masks.  (PyTorch instead gives each
// thread its own subsequence and advances the offset per thread; its rule of rounding the
// increment to a multiple of 4 is kept: a launch of n elements advances the offset by n
// rounded up to 4, so the next launch starts on a fresh counter.)
//
// Where (seed, offset) come from is PyTorch's PhiloxCudaState, unpacked as
// at::cuda::philox::unpack does: base_address == 0 (an eager launch) -> the values passed;
// otherwise (a launch captured in a CUDA graph) base_address is a device int64[2] holding
// the generator's (seed, offset), written by the host before each replay of the graph, and
// `offset` is this launch's offset inside the graph, fixed at the capture.  Every replay
// then reads a new base and draws new masks.
// All arrays are C-contiguous; n >= 1.
#include "common.cuh"
#include "philox.cuh"

template <typename T, typename C>
__device__ void dropout(const T* in, T* out, long long n, long long seed, long long offset,
                        long long base_address, long long threshold, double scale) {
    unsigned long long s = (unsigned long long)seed, o = (unsigned long long)offset;
    if (base_address != 0) {  // one broadcast load per thread, served by the cache
        const long long* base = (const long long*)base_address;
        s = (unsigned long long)base[0];
        o += (unsigned long long)base[1];
    }
    const C kept = (C)scale;
    const long long groups = (n + 3) / 4;  // four elements per counter
    GG_GRID_STRIDE(g, groups) {
        unsigned int r[4];
        gg_philox_at(s, o + 4ull * (unsigned long long)g, r);
#pragma unroll
        for (int k = 0; k < 4; ++k) {  // unrolled: r stays in registers
            const long long i = 4 * g + k;
            if (i < n) {
                // multiply by 0 rather than select 0: a dropped inf or NaN gives NaN, as the
                // CPU's x · mask (and PyTorch's) does
                const C m = (long long)r[k] >= threshold ? kept : C(0);
                gg_store(out, i, gg_load(in, i) * m);
            }
        }
    }
}

#define GG_DROPOUT_KERNELS(SUFFIX, T, C)                                                       \
    extern "C" __global__ void dropout_##SUFFIX(const T* in, T* out, long long n,              \
                                                long long seed, long long offset,              \
                                                long long base_address, long long threshold,   \
                                                double scale) {                                \
        dropout<T, C>(in, out, n, seed, offset, base_address, threshold, scale);               \
    }

GG_DROPOUT_KERNELS(f16, gg_half, float)
GG_DROPOUT_KERNELS(f32, float, float)
GG_DROPOUT_KERNELS(f64, double, double)
