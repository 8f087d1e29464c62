"""Benchmark 'compile': see bench/compile_bench.py.

Usage: python bench/bench_compile.py [--quick] [--device cpu|cuda]."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout, for `bench`
from bench.compile_bench import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
