// kernels/philox.cuh called straight from Python (ctypes): Philox4x32-10 of any counter and
// key, for Random123's known answers (a kernel launch only reaches counters whose high 64
// bits are 0), and the numbers at a stream position, as the dropout kernel draws them.
#include "common.cuh"
#include "philox.cuh"

extern "C" {
// out[4 i .. 4 i + 3] = Philox4x32-10(counter[4 i .. 4 i + 3], key[2 i], key[2 i + 1])
void philox4x32_10(const unsigned int* counter, const unsigned int* key, unsigned int* out,
                   long n) {
    for (long i = 0; i < n; ++i) {
        unsigned int c[4] = {counter[4 * i], counter[4 * i + 1], counter[4 * i + 2],
                             counter[4 * i + 3]};
        gg_philox4x32_10(c, key[2 * i], key[2 * i + 1]);
        for (int k = 0; k < 4; ++k) out[4 * i + k] = c[k];
    }
}

// out[0 .. 4 groups) = the numbers at positions offset, offset + 1, ... of seed's stream
void philox_stream(unsigned long long seed, unsigned long long offset, unsigned int* out,
                   long groups) {
    for (long g = 0; g < groups; ++g) gg_philox_at(seed, offset + 4ull * g, out + 4 * g);
}
}
