"""Benchmark 'ops': see gpugrad/benchmarks.py.  Usage: python bench/bench_ops.py [--quick]."""

import sys

from gpugrad.benchmarks import main

if __name__ == "__main__":
    sys.exit(main(["--only", "ops", *sys.argv[1:]]))
