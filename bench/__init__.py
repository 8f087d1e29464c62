"""Benchmarks of gpugrad next to PyTorch (and CuPy): scripts, not part of the library.

They import torch, so they live here in the source repository and never ship in the wheel.
Entry points: ``python bench/bench_ops.py | bench_mlp.py | bench_cnn.py | bench_kernels.py |
bench_allreduce.py [--quick]``, or ``python -m gpugrad bench`` from a source checkout.

- ``common.py``: timing (medians after warm-up), machine info, the table printer, the JSON
  result writer, the worker-process runner;
- ``models.py``: the benchmark models, built once for both libraries;
- ``train_bench.py``: per-op overhead and train steps (ops, mlp, cnn), and the whole suite;
- ``kernel_bench.py``: the fused CUDA kernels against unfused CuPy, PyTorch and a copy.
"""
