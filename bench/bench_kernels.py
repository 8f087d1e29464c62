"""Benchmark of the fused CUDA kernels: see bench/kernel_bench.py.

python bench/bench_kernels.py [--quick] [--sizes 2^20,2^24] [--reps 30] [--warmup 5] [--out DIR]
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout, for `bench`
# gpu_unavailable_reason and parse_sizes: the tests use them
from bench.kernel_bench import gpu_unavailable_reason, main, parse_sizes  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
