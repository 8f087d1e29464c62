"""Benchmark 'cnn': see gpugrad/benchmarks.py.  Usage: python bench/bench_cnn.py [--quick]."""

import sys

from gpugrad.benchmarks import main

if __name__ == "__main__":
    sys.exit(main(["--only", "cnn", *sys.argv[1:]]))
