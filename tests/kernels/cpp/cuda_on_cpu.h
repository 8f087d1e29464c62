// A CPU stand-in for the CUDA built-ins that gpugrad's kernels use, so that the kernel
// files themselves compile with g++ and run on the CPU (tests/kernels/conftest.py builds
// them with `-include cuda_on_cpu.h` and launches them through gpugrad.kernels).
//
// Each block's threads run as cooperative fibers (ucontext) in one OS thread;
// __syncthreads and __shfl_xor_sync yield to a scheduler that runs every thread of the
// block up to its next yield, in order, so a round is a barrier (every thread of a block,
// or of a warp for shuffles, yields the same number of times, as CUDA requires).  Blocks
// run one after another.  A kernel that never synchronizes may be launched as plain calls,
// thread after thread, which is much faster; the launcher reports it if it synchronizes.
#pragma once
#include <cmath>
#include <cstring>
#include <utility>
#include <vector>
#include <ucontext.h>

#define __CUDACC__ 1
#define __host__
#define __device__
#define __global__
#define __forceinline__ inline
#define __shared__ static
#define GG_HALF_TO_FLOAT(h) gg_emu_h2f(h)
#define GG_FLOAT_TO_HALF(f) gg_emu_f2h(f)

struct gg_dim3 { unsigned x = 1, y = 1, z = 1; };
static gg_dim3 threadIdx, blockIdx, blockDim, gridDim;

inline float gg_emu_h2f(unsigned short h) { _Float16 v; std::memcpy(&v, &h, 2); return (float)v; }
inline unsigned short gg_emu_f2h(float f) {
    _Float16 v = (_Float16)f; unsigned short h; std::memcpy(&h, &v, 2); return h; }
inline float __int_as_float(int i) { float f; std::memcpy(&f, &i, 4); return f; }
inline int atomicExch(int* p, int v) { int old = *p; *p = v; return old; }

static ucontext_t gg_emu_scheduler;
static std::vector<ucontext_t> gg_emu_fibers;
static int gg_emu_current;
static bool gg_emu_finished;
static bool gg_emu_plain, gg_emu_misused;
inline void gg_emu_yield() {
    if (gg_emu_plain) gg_emu_misused = true;
    else swapcontext(&gg_emu_fibers[gg_emu_current], &gg_emu_scheduler);
}
inline void __syncthreads() { gg_emu_yield(); }

static double gg_emu_lanes[1024];
template <typename T> T __shfl_xor_sync(unsigned, T v, int offset) {
    gg_emu_lanes[gg_emu_current] = (double)v;       // linear thread index; a warp is 32 of them
    gg_emu_yield();                                 // every lane has written
    T other = (T)gg_emu_lanes[gg_emu_current ^ offset];
    gg_emu_yield();                                 // every lane has read
    return other;
}

static void (*gg_emu_body)(void*);
static void* gg_emu_ctx;
static void gg_emu_entry() { gg_emu_body(gg_emu_ctx); gg_emu_finished = true; }

// Runs body(ctx) as every thread of the grid: 1 for a launch CUDA would refuse, 2 if a
// kernel launched as not cooperative (plain calls, thread after thread: fast) synchronized.
inline int gg_emu_run(const unsigned* dims, int cooperative, void (*body)(void*), void* ctx) {
    gridDim = {dims[0], dims[1], dims[2]};
    blockDim = {dims[3], dims[4], dims[5]};
    const unsigned threads = blockDim.x * blockDim.y * blockDim.z;
    if (threads == 0 || threads > 1024 || blockDim.z > 64 || gridDim.x == 0 || gridDim.y == 0 ||
        gridDim.z == 0 || gridDim.y > 65535 || gridDim.z > 65535 || gridDim.x > 2147483647u)
        return 1;
    gg_emu_plain = !cooperative;
    gg_emu_misused = false;
    if (gg_emu_plain) {
        for (unsigned bz = 0; bz < gridDim.z; ++bz)
        for (unsigned by = 0; by < gridDim.y; ++by)
        for (unsigned bx = 0; bx < gridDim.x; ++bx)
        for (unsigned t = 0; t < threads; ++t) {
            blockIdx = {bx, by, bz};
            threadIdx = {t % blockDim.x, (t / blockDim.x) % blockDim.y, t / (blockDim.x * blockDim.y)};
            gg_emu_current = (int)t;
            body(ctx);
        }
        return gg_emu_misused ? 2 : 0;
    }
    const size_t stack = 1 << 16;
    static std::vector<char> stacks;
    stacks.resize(stack * threads);
    gg_emu_fibers.assign(threads, ucontext_t{});
    std::vector<char> done(threads);
    gg_emu_body = body;
    gg_emu_ctx = ctx;
    for (unsigned bz = 0; bz < gridDim.z; ++bz)
    for (unsigned by = 0; by < gridDim.y; ++by)
    for (unsigned bx = 0; bx < gridDim.x; ++bx) {
        for (unsigned t = 0; t < threads; ++t) {
            done[t] = 0;
            getcontext(&gg_emu_fibers[t]);
            gg_emu_fibers[t].uc_stack.ss_sp = &stacks[t * stack];
            gg_emu_fibers[t].uc_stack.ss_size = stack;
            gg_emu_fibers[t].uc_link = &gg_emu_scheduler;   // where a finished thread returns
            makecontext(&gg_emu_fibers[t], gg_emu_entry, 0);
        }
        for (unsigned left = threads; left;) {
            for (unsigned t = 0; t < threads; ++t) {
                if (done[t]) continue;
                blockIdx = {bx, by, bz};
                threadIdx = {t % blockDim.x, (t / blockDim.x) % blockDim.y, t / (blockDim.x * blockDim.y)};
                gg_emu_current = (int)t;
                gg_emu_finished = false;
                swapcontext(&gg_emu_scheduler, &gg_emu_fibers[t]);
                if (gg_emu_finished) { done[t] = 1; --left; }
            }
        }
    }
    return 0;
}

// emu_<kernel>(dims, cooperative, argv) launches a kernel with CUDA's convention: argv[i]
// points at the i-th argument's value.
template <typename... A> struct GgEmu {
    static inline void (*kernel)(A...);
    static inline void** argv;
    template <size_t... I> static void call(std::index_sequence<I...>) { kernel(*static_cast<A*>(argv[I])...); }
    static void body(void*) { call(std::index_sequence_for<A...>{}); }
    static int launch(void (*k)(A...), const unsigned* dims, int cooperative, void** args) {
        kernel = k;
        argv = args;
        return gg_emu_run(dims, cooperative, body, nullptr);
    }
};
template <typename... A>
int gg_emu_launch(void (*kernel)(A...), const unsigned* dims, int cooperative, void** argv) {
    return GgEmu<A...>::launch(kernel, dims, cooperative, argv);
}
#define GG_EMU(name)                                                                    \
    extern "C" int emu_##name(const unsigned* dims, int cooperative, void** argv) {     \
        return gg_emu_launch(name, dims, cooperative, argv);                            \
    }
