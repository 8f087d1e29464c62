"""Benchmark 'kernels': see gpugrad/benchmarks.py.  Usage: python bench/bench_kernels.py [--quick]."""
import sys

from gpugrad.benchmarks import main

if __name__ == "__main__":
    sys.exit(main(["--only", "kernels", *sys.argv[1:]]))
