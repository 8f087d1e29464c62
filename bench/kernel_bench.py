"""Benchmark of the fused CUDA kernels against unfused CuPy, PyTorch and a memory copy.

    python bench/bench_kernels.py                       # 2^20 ... 2^28 float32 elements
    python bench/bench_kernels.py --sizes 2^10,2^12 --reps 5     # a tiny run
    python bench/bench_kernels.py --quick               # 2^20 and 2^22, 5 repetitions
    python -m gpugrad bench --only kernels [--quick]    # the same, from the bench command

For each size n (float32) it times, with CUDA events, the median of ``--reps`` runs after
``--warmup`` runs:

* sigmoid forward + backward and ReLU forward + backward: the fused kernels
  (``gpugrad.kernels``: one pass each way) against (a) the same maths as unfused CuPy
  expressions, (b) PyTorch's own kernels on the same GPU (``torch.sigmoid`` +
  ``aten.sigmoid_backward``, ``torch.relu`` + ``aten.threshold_backward``: what autograd
  runs, without its bookkeeping), (c) a device-to-device copy (cudaMemcpy) of n floats;
* bias + ReLU forward + backward on (n / 1024, 1024): fused against unfused CuPy and
  PyTorch's separate add, relu, threshold_backward and column sum.

GB/s counts the bytes a pass must move: forward reads x and writes y, backward reads y
and gy and writes gx (20 bytes per float32 element; bias + ReLU the same plus the bias);
the copy reads and writes n floats (8 bytes per element).  Writes
``bench/results/kernels-<gpu name>.json`` with the device, versions, settings and rows.
Needs a CUDA GPU; exits with status 2 and a message otherwise.  Importing this file
needs neither a GPU nor CuPy.
"""

from __future__ import annotations

import argparse
import re
import sys

from bench import common

DEFAULT_SIZES = "2^20,2^22,2^24,2^26,2^28"
QUICK_SIZES = "2^20,2^22"
BIAS_COLUMNS = 1024
TARGET_SIZE = 2**26  # where the targets are read
KERNELS = ("sigmoid", "relu", "bias_relu")


def parse_sizes(text: str) -> list:
    """'2^20,2**22, 1000' -> [1048576, 4194304, 1000] (element counts, > 0)."""
    sizes = []
    for item in re.split(r"[,\s]+", text.strip()):
        if not item:
            continue
        m = re.fullmatch(r"2(?:\^|\*\*)(\d+)", item)
        n = 2 ** int(m.group(1)) if m else int(item)
        if n <= 0:
            raise ValueError(f"size {item!r} is not a positive number of elements")
        sizes.append(n)
    if not sizes:
        raise ValueError("no sizes given")
    return sizes


def gpu_unavailable_reason() -> str | None:
    """None if cupy imports and a CUDA device answers, else why not."""
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() < 1:
            return "no CUDA device"
    except Exception as e:  # no cupy, no driver, no device
        return f"{type(e).__name__}: {e}"
    return None


def _torch_cuda():
    try:
        import torch
    except ImportError:
        return None
    return torch if torch.cuda.is_available() else None


def _cases(n: int):
    """{name: (fused, unfused, torch or None, bytes moved)} for n float32 elements."""
    import cupy

    from gpugrad import kernels

    x = cupy.random.standard_normal(n, dtype=cupy.float32)
    gy = cupy.random.standard_normal(n, dtype=cupy.float32)
    rows = max(n // BIAS_COLUMNS, 1)
    x2 = x[: rows * BIAS_COLUMNS].reshape(rows, -1)
    gy2 = gy[: rows * BIAS_COLUMNS].reshape(rows, -1)
    b = cupy.random.standard_normal(x2.shape[1], dtype=cupy.float32)
    moved, moved2 = 20 * n, 20 * x2.size + 8 * b.size

    def fused_sigmoid():
        kernels.activation_backward("sigmoid", kernels.activation_forward("sigmoid", x), gy)

    def unfused_sigmoid():
        y = 1 / (1 + cupy.exp(-x))
        return gy * y * (1 - y)

    def fused_relu():
        kernels.activation_backward("relu", kernels.activation_forward("relu", x), gy)

    def unfused_relu():
        y = cupy.maximum(x, 0)
        return gy * (y > 0)

    def fused_bias_relu():
        kernels.bias_activation_backward(
            "relu", kernels.bias_activation_forward("relu", x2, b), gy2
        )

    def unfused_bias_relu():
        y = cupy.maximum(x2 + b, 0)
        return (gy2 * (y > 0)).sum(axis=0)

    torch = _torch_cuda()
    torch_fns = {}
    if torch is not None:
        tx, tgy, tx2, tgy2, tb = (torch.from_dlpack(a) for a in (x, gy, x2, gy2, b))
        aten = torch.ops.aten
        torch_fns = {
            "sigmoid": lambda: aten.sigmoid_backward(tgy, torch.sigmoid(tx)),
            "relu": lambda: aten.threshold_backward(tgy, torch.relu(tx), 0),
            "bias_relu": lambda: aten.threshold_backward(tgy2, torch.relu(tx2 + tb), 0).sum(0),
        }
    return {
        "sigmoid": (fused_sigmoid, unfused_sigmoid, torch_fns.get("sigmoid"), moved),
        "relu": (fused_relu, unfused_relu, torch_fns.get("relu"), moved),
        "bias_relu": (fused_bias_relu, unfused_bias_relu, torch_fns.get("bias_relu"), moved2),
    }, x


def bench_size(n: int, reps: int, warmup: int) -> dict:
    """One row of results for n float32 elements."""
    import cupy

    cases, x = _cases(n)
    dst = cupy.empty_like(x)
    clock = common.EventClock.cupy()
    torch = _torch_cuda()
    torch_clock = common.EventClock.torch(torch) if torch is not None else None

    def median(fn, on=clock):
        return common.median_time(fn, on, reps, warmup)

    t_copy = median(lambda: dst.data.copy_from_device_async(x.data, x.nbytes))
    row = {"elements": n, "copy_s": t_copy, "copy_GBps": 2 * x.nbytes / t_copy / 1e9}
    for name, (fused, unfused, torch_fn, moved) in cases.items():
        t_fused = median(fused)
        t_unfused = median(unfused)
        row[f"{name}_fused_s"] = t_fused
        row[f"{name}_fused_GBps"] = moved / t_fused / 1e9
        row[f"{name}_fraction_of_copy"] = row[f"{name}_fused_GBps"] / row["copy_GBps"]
        row[f"{name}_unfused_s"] = t_unfused
        row[f"{name}_speedup_vs_unfused"] = t_unfused / t_fused
        if torch_fn is not None:
            t_torch = median(torch_fn, torch_clock)
            row[f"{name}_torch_s"] = t_torch
            row[f"{name}_speedup_vs_torch"] = t_torch / t_fused
    return row


def targets(rows: list) -> dict:
    """The issue's targets, read at 2^26 elements (or the largest size run)."""
    if not rows:
        return {}
    row = min(rows, key=lambda r: abs(r["elements"] - TARGET_SIZE))
    out = {
        "at_elements": row["elements"],
        "fused_fraction_of_copy_min": min(row[f"{k}_fraction_of_copy"] for k in KERNELS),
        "sigmoid_speedup_vs_unfused": row["sigmoid_speedup_vs_unfused"],
        "sigmoid_speedup_vs_torch": row.get("sigmoid_speedup_vs_torch"),
        "bias_relu_speedup_vs_torch": row.get("bias_relu_speedup_vs_torch"),
    }
    out["met"] = {
        "fused >= 0.9 x copy": out["fused_fraction_of_copy_min"] >= 0.9,
        "sigmoid >= 3 x unfused": out["sigmoid_speedup_vs_unfused"] >= 3,
        "sigmoid >= 1 x torch": None
        if out["sigmoid_speedup_vs_torch"] is None
        else out["sigmoid_speedup_vs_torch"] >= 1,
        "bias_relu >= 1.5 x torch": None
        if out["bias_relu_speedup_vs_torch"] is None
        else out["bias_relu_speedup_vs_torch"] >= 1.5,
    }
    return out


def print_table(rows: list) -> None:
    keys = [("elements", str), ("copy_GBps", common.general)]
    for name in KERNELS:
        for what in ("fused_GBps", "fraction_of_copy", "speedup_vs_unfused", "speedup_vs_torch"):
            keys.append((f"{name}_{what}", common.general))
    common.print_table(
        "fused kernels, float32, forward + backward (speedups: time of the other / time fused)",
        rows,
        keys,
    )


def _sizes_argument(text: str) -> list:
    try:
        return parse_sizes(text)
    except ValueError as e:  # argparse prints this message, not a generic one
        raise argparse.ArgumentTypeError(str(e)) from None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bench_kernels", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        type=_sizes_argument,
        default=None,
        help=f"element counts, e.g. 2^20,2^24 or 1000 (default {DEFAULT_SIZES}; "
        f"with --quick {QUICK_SIZES})",
    )
    parser.add_argument(
        "--reps", type=int, default=None, help="timed runs per measurement (median; 30, quick 5)"
    )
    parser.add_argument("--warmup", type=int, default=5, help="untimed runs first")
    common.add_output_arguments(parser)
    return parser


def main(argv=None) -> int:
    args = common.parse_args(build_parser(), argv)
    if isinstance(args, int):
        return args
    reason = gpu_unavailable_reason()
    if reason is not None:
        print(f"bench_kernels: needs a CUDA GPU with CuPy; none here ({reason})", file=sys.stderr)
        return 2
    sizes = args.sizes or parse_sizes(QUICK_SIZES if args.quick else DEFAULT_SIZES)
    measure(sizes, args.reps or (5 if args.quick else 30), args.warmup, args.out_dir)
    return 0


def run(quick: bool, out_dir) -> str:
    """What ``python -m gpugrad bench --only kernels`` runs; returns the JSON's path."""
    reason = gpu_unavailable_reason()
    if reason is not None:
        raise RuntimeError(f"the kernel benchmark needs a CUDA GPU ({reason})")
    sizes = parse_sizes(QUICK_SIZES if quick else DEFAULT_SIZES)
    return measure(sizes, 5 if quick else 30, 5, out_dir)


def measure(sizes: list, reps: int, warmup: int, out_dir) -> str:
    """Times every size, prints the table and writes the JSON; returns its path."""
    import cupy

    rows = []
    for n in sizes:
        rows.append(bench_size(n, reps, warmup))
        cupy.get_default_memory_pool().free_all_blocks()
    print_table(rows)
    settings = {
        "dtype": "float32",
        "reps": reps,
        "warmup": warmup,
        "timing": "CUDA events around each run, median",
        "bias_columns": BIAS_COLUMNS,
        "tf32": "not involved (elementwise)",
        "torch": "torch.sigmoid/relu + aten.sigmoid_backward/threshold_backward "
        "(+ add and sum(0) for bias_relu), no autograd",
        "copy": "cudaMemcpyAsync device to device, n float32",
    }
    path = common.write_result(
        "kernels", "cuda", None, settings, rows, out_dir, targets=targets(rows)
    )
    print(f"wrote {path}")
    return path
