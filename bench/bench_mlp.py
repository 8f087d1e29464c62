"""Benchmark 'mlp': see gpugrad/benchmarks.py.  Usage: python bench/bench_mlp.py [--quick]."""

import sys

from gpugrad.benchmarks import main

if __name__ == "__main__":
    sys.exit(main(["--only", "mlp", *sys.argv[1:]]))
