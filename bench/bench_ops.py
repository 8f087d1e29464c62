"""Benchmark 'ops': see bench/train_bench.py.  Usage: python bench/bench_ops.py [--quick]."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout, for `bench`
from bench.train_bench import main

if __name__ == "__main__":
    sys.exit(main(["--only", "ops", *sys.argv[1:]]))
