// Philox4x32-10, the counter-based generator of Random123 (Salmon, Moraes, Dror and Shaw,
// "Parallel random numbers: as easy as 1, 2, 3", SC 2011), which cuRAND and PyTorch's CUDA
// generator use too: a bijection of a 128-bit counter, keyed by 64 bits, that gives four
// 32-bit numbers per counter.  Any counter is computed without the ones before it, so every
// thread of a kernel draws its own numbers with no state in memory, and the host only has
// to hand out disjoint counter ranges (gpugrad/random.py: PhiloxGenerator).
//
// __host__ __device__ with no headers: the same code compiles with NVRTC and with g++
// (tests/test_philox_dropout.py checks it against Random123's known answers).
// Include common.cuh first (GG_HD).
#pragma once

// The round multipliers and the key increments (the Weyl sequence: golden ratio, sqrt(3)-1).
#define GG_PHILOX_M0 0xD2511F53u
#define GG_PHILOX_M1 0xCD9E8D57u
#define GG_PHILOX_W0 0x9E3779B9u
#define GG_PHILOX_W1 0xBB67AE85u

// The 64-bit product of two 32-bit words: returns the low word, *hi the high one.  On the GPU
// __umulhi (as Random123's CUDA path): two 32-bit multiplies; a 64-bit product there would
// be carried in 64-bit registers through the rounds.
GG_HD unsigned int gg_mulhilo32(unsigned int a, unsigned int b, unsigned int* hi) {
#if defined(__CUDA_ARCH__)
    *hi = __umulhi(a, b);
#else
    *hi = (unsigned int)(((unsigned long long)a * b) >> 32);
#endif
    return a * b;
}

// One round: two products, then the Feistel-like swap of the halves.
GG_HD void gg_philox_round(unsigned int c[4], unsigned int k0, unsigned int k1) {
    unsigned int hi0, hi1;
    const unsigned int lo0 = gg_mulhilo32(GG_PHILOX_M0, c[0], &hi0);
    const unsigned int lo1 = gg_mulhilo32(GG_PHILOX_M1, c[2], &hi1);
    c[0] = hi1 ^ c[1] ^ k0;
    c[1] = lo1;
    c[2] = hi0 ^ c[3] ^ k1;
    c[3] = lo0;
}

// Philox4x32-10 of counter c (replaced by the four outputs) under key (k0, k1): ten rounds,
// the key bumped by the Weyl increments between rounds (Random123's philox4x32_R(10, ...)).
GG_HD void gg_philox4x32_10(unsigned int c[4], unsigned int k0, unsigned int k1) {
#if defined(__CUDA_ARCH__)
#pragma unroll
#endif
    for (int round = 0; round < 10; ++round) {
        if (round > 0) {
            k0 += GG_PHILOX_W0;
            k1 += GG_PHILOX_W1;
        }
        gg_philox_round(c, k0, k1);
    }
}

// The four 32-bit numbers at position `offset` (a count of 32-bit numbers, a multiple of 4)
// of the stream of `seed`: the counter is offset / 4 in its low 64 bits (c[0] low word, c[1]
// high word) and 0 in its high 64 bits, the key is the seed (k0 low word, k1 high word).
GG_HD void gg_philox_at(unsigned long long seed, unsigned long long offset, unsigned int r[4]) {
    const unsigned long long counter = offset / 4;
    r[0] = (unsigned int)counter;
    r[1] = (unsigned int)(counter >> 32);
    r[2] = 0u;
    r[3] = 0u;
    gg_philox4x32_10(r, (unsigned int)seed, (unsigned int)(seed >> 32));
}
