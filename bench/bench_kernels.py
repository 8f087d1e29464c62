"""Benchmark of the fused CUDA kernels: see gpugrad/kernel_bench.py.

python bench/bench_kernels.py [--sizes 2^20,2^24] [--reps 30] [--warmup 5] [--out DIR]
"""

import sys

from gpugrad.kernel_bench import gpu_unavailable_reason, main, parse_sizes  # noqa: F401  (the tests use them)

if __name__ == "__main__":
    sys.exit(main())
