"""Throughput benchmarks: gpugrad next to PyTorch, ratios measured in one run.

``python -m gpugrad bench [--quick] [--only ops,mlp,cnn,kernels]`` (or ``python -m
bench.train_bench`` in the checkout, or ``python bench/bench_<name>.py``) runs what fits the
machine, prints a table per benchmark and writes ``bench/results/<name>-<device>.json``.

Method (DESIGN.md, "Benchmarks"): every case is timed in a fresh worker process, gpugrad
and torch alternating round by round (on a CPU, NumPy's BLAS threads keep spinning after a
call and would steal cores from torch's threads if both lived in one process), with the
same thread count on both sides.  Each worker warms up, then reports the median of >= 20
synchronized repetitions.  TF32 is off on both sides; GPU memory is the peak reserved by
each library's allocator.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

from bench import common, models

CASES = ("ops", "mlp", "cnn", "kernels")
OPS = ("chain20", "add", "mul", "matmul", "sum", "relu", "sigmoid")
BATCHES = {"mlp": (64, 256, 1024, 4096), "cnn": (64, 256)}
QUICK_BATCHES = {"mlp": 2, "cnn": 1}  # how many of BATCHES a quick run takes
LIBRARIES = ("gpugrad", "torch")


# -- what runs inside a worker ----------------------------------------------------------------
def ops_step(lib, device: str, op: str):
    """One forward+backward of ``op`` on 4x4 tensors ("chain20" is 20 elementwise ops); returns
    the step and the number of ops in it, the final sum included."""
    x = lib.randn(4, 4, device=device, requires_grad=True)
    w = lib.randn(4, 4, device=device, requires_grad=True)
    bodies = {
        "add": lambda: x + w,
        "mul": lambda: x * w,
        "matmul": lambda: x @ w,
        "sum": lambda: x.sum(),
        "relu": lambda: x.relu(),
        "sigmoid": lambda: x.sigmoid(),
    }

    def chain():
        y = x
        for _ in range(5):
            y = (y * 1.01 + 0.5) * w - x
        return y

    body = chain if op == "chain20" else bodies[op]

    def step():
        x.grad = None
        w.grad = None
        body().sum().backward()

    return step, (20 if op == "chain20" else 1) + 1


def peak_reserved_bytes(lib, device: str, run) -> int | None:
    """The most device memory the library's allocator held while ``run()`` ran (None on the
    CPU): peak reserved for both, so the two are compared like for like."""
    if device == "cpu":
        run()
        return None
    if lib.name == "torch":
        torch = lib.module
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        run()
        return int(torch.cuda.max_memory_reserved())
    import cupy

    pool = cupy.get_default_memory_pool()  # it only grows while run() runs: its peak
    pool.free_all_blocks()
    run()
    return int(pool.total_bytes())


def worker(spec: dict) -> dict:
    """Run one case in this process; returns its median (seconds) and peak memory."""
    lib = models.library(spec["lib"])
    device, case = spec["device"], spec["case"]
    if lib.name == "torch" and spec.get("threads"):
        lib.module.set_num_threads(spec["threads"])
    clock = common.HostClock(None if device == "cpu" else lambda: lib.synchronize(device))
    if case == "ops":
        step, ops = ops_step(lib, device, spec["op"])
        t = common.median_time(step, clock, spec["reps"], inner=spec.get("inner", 50))
        return {"median_s": t, "ops_per_step": ops}
    step = models.train_step(lib, case, spec["batch"], device)
    peak = peak_reserved_bytes(lib, device, lambda: (step(), clock.sync()))
    t = common.median_time(step, clock, spec["reps"], inner=spec.get("inner", 1))
    return {"median_s": t, "peak_bytes": peak}


# -- the harness -----------------------------------------------------------------------------
def compare(specs: list, rounds: int) -> list:
    """Each spec run for gpugrad and torch, alternating over ``rounds``; the median of the
    rounds' medians is kept."""
    results = []
    for spec in specs:
        env = common.worker_env(spec["device"], spec.get("threads"))
        per_lib = {lib: [] for lib in LIBRARIES}
        peaks = {}
        for _ in range(rounds):
            for lib in LIBRARIES:
                args = ["--worker", json.dumps({**spec, "lib": lib})]
                out = common.run_worker("bench.train_bench", args, env)
                per_lib[lib].append(out["median_s"])
                peaks[lib] = out.get("peak_bytes")
                extra = {k: v for k, v in out.items() if k not in ("median_s", "peak_bytes")}
        row = {
            **{k: v for k, v in spec.items() if k not in ("reps", "inner")},
            **extra,
            "gpugrad_s": statistics.median(per_lib["gpugrad"]),
            "torch_s": statistics.median(per_lib["torch"]),
            "gpugrad_rounds_s": per_lib["gpugrad"],
            "torch_rounds_s": per_lib["torch"],
        }
        row["speedup_vs_torch"] = row["torch_s"] / row["gpugrad_s"]
        if peaks.get("gpugrad") is not None:
            row["gpugrad_peak_bytes"], row["torch_peak_bytes"] = peaks["gpugrad"], peaks["torch"]
            row["memory_ratio_vs_torch"] = peaks["gpugrad"] / peaks["torch"]
        results.append(row)
    return results


def bench_ops(device: str, threads: int, quick: bool, out_dir) -> str:
    reps = 3 if quick else 25
    spec = {"case": "ops", "device": device, "threads": threads, "reps": reps}
    specs = [{**spec, "op": op, "inner": 5 if quick else 50} for op in OPS]
    rows = compare(specs, rounds=1 if quick else 3)
    for r in rows:
        r["gpugrad_us_per_op"] = r["gpugrad_s"] / r["ops_per_step"]
        r["torch_us_per_op"] = r["torch_s"] / r["ops_per_step"]
    common.print_table(
        f"per-op overhead, forward+backward on 4x4 tensors ({device}, {threads} threads)",
        rows,
        [
            ("op", str),
            ("gpugrad_us_per_op", common.micros),
            ("torch_us_per_op", common.micros),
            ("speedup_vs_torch", common.ratio),
        ],
    )
    settings = {"shape": [4, 4], "dtype": "float32", "reps": reps}
    return common.write_result("ops", device, threads, settings, rows, out_dir)


def bench_train(case: str, device: str, threads: int, quick: bool, out_dir) -> str:
    """Samples/s of a train step of model ``case`` ("mlp" or "cnn") over its batch sizes."""
    reps = 3 if quick else 20
    batches = BATCHES[case][: QUICK_BATCHES[case]] if quick else BATCHES[case]
    spec = {"case": case, "device": device, "threads": threads, "reps": reps, "inner": 1}
    rows = compare([{**spec, "batch": b} for b in batches], rounds=1 if quick else 3)
    for r in rows:
        r["gpugrad_samples_per_s"] = r["batch"] / r["gpugrad_s"]
        r["torch_samples_per_s"] = r["batch"] / r["torch_s"]
    keys = [
        ("batch", str),
        ("gpugrad_samples_per_s", common.count),
        ("torch_samples_per_s", common.count),
        ("speedup_vs_torch", common.ratio),
    ]
    if device != "cpu":
        keys.append(("memory_ratio_vs_torch", common.ratio))
    common.print_table(f"{case} train step, float32 ({device}, {threads} threads)", rows, keys)
    settings = {
        "dtype": "float32",
        "optimizer": "SGD(lr=0.01, momentum=0.9)",
        "tf32": False,
        "reps": reps,
    }
    return common.write_result(case, device, threads, settings, rows, out_dir)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m gpugrad bench", description=__doc__.split("\n\n")[0]
    )
    common.add_run_arguments(p, CASES)
    return p


def main(argv=None) -> int:
    from gpugrad import backend

    parser = build_parser()
    args = common.parse_or_work(parser, argv, worker)
    if isinstance(args, int):
        return args
    chosen = args.only.split(",") if args.only else list(CASES)
    unknown = [c for c in chosen if c not in CASES]
    if unknown:
        return common.usage_error(
            parser, f"unknown benchmark {unknown[0]!r} (choose from {', '.join(CASES)})"
        )
    try:
        import torch  # noqa: F401
    except ImportError:
        return common.usage_error(parser, "the comparisons need torch (pip install torch)")
    device = args.device or ("cuda" if backend.cuda_available() else "cpu")
    written = []
    for case in chosen:
        if case == "ops":
            written.append(bench_ops(device, args.threads, args.quick, args.out_dir))
        elif case != "kernels":
            written.append(bench_train(case, device, args.threads, args.quick, args.out_dir))
        elif device == "cpu":
            print("\nkernels: skipped (needs a CUDA GPU)")
        else:
            from bench import kernel_bench

            written.append(kernel_bench.run(args.quick, args.out_dir))
    print("\nwrote " + ", ".join(written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
