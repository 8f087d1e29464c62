"""Throughput benchmarks: gpugrad next to PyTorch (and CuPy), ratios measured in one run.

``python -m gpugrad bench [--quick] [--only ops,mlp,cnn,kernels]`` runs what fits the
machine, prints a table per benchmark and writes ``bench/results/<name>-<device>.json``.

Method (DESIGN.md, "Benchmarks"): every case is timed in a fresh worker process, gpugrad
and torch alternating round by round (on a CPU, NumPy's BLAS threads keep spinning after a
call and would steal cores from torch's threads if both lived in one process), with the
same thread count on both sides.  Each worker warms up, then reports the median of >= 20
synchronized repetitions.  TF32 is off on both sides.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

CASES = ("ops", "mlp", "cnn", "kernels")
MLP_BATCHES = (64, 256, 1024, 4096)
CNN_BATCHES = (64, 256)


# -- what runs inside a worker ----------------------------------------------------------------
def _sync(lib: str, device: str):
    if device == "cpu":
        return lambda: None
    if lib == "torch":
        import torch

        return torch.cuda.synchronize
    import cupy

    return cupy.cuda.get_current_stream().synchronize


def _time(step, sync, reps: int, inner: int, warmup: int = 5) -> list:
    for _ in range(warmup):
        step()
    sync()
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        for _ in range(inner):
            step()
        sync()
        times.append((time.perf_counter() - start) / inner)
    return times


def _ops_step(lib: str, device: str, op: str):
    """One forward+backward of ``op`` on tiny tensors; "chain20" is 20 elementwise ops."""
    if lib == "torch":
        import torch

        dev = "cuda" if device != "cpu" else "cpu"
        x = torch.randn(4, 4, device=dev, requires_grad=True)
        w = torch.randn(4, 4, device=dev, requires_grad=True)
    else:
        import gpugrad as gg

        x = gg.randn(4, 4, device=device, requires_grad=True)
        w = gg.randn(4, 4, device=device, requires_grad=True)
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

    return step, (20 if op == "chain20" else 1) + 1  # ops per step, the final sum included


def _mlp(lib: str, device: str, batch: int, conv: bool):
    """A train step: forward, cross-entropy, backward, SGD update."""
    if lib == "torch":
        import torch
        import torch.nn as tnn

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        dev = "cuda" if device != "cpu" else "cpu"
        torch.manual_seed(0)
        if conv:
            model = tnn.Sequential(
                tnn.Conv2d(1, 16, 3, padding=1),
                tnn.ReLU(),
                tnn.MaxPool2d(2),
                tnn.Conv2d(16, 32, 3, padding=1),
                tnn.ReLU(),
                tnn.MaxPool2d(2),
                tnn.Flatten(),
                tnn.Linear(32 * 7 * 7, 10),
            ).to(dev)
            x = torch.randn(batch, 1, 28, 28, device=dev)
        else:
            model = tnn.Sequential(
                tnn.Linear(784, 512),
                tnn.ReLU(),
                tnn.Linear(512, 512),
                tnn.ReLU(),
                tnn.Linear(512, 10),
            ).to(dev)
            x = torch.randn(batch, 784, device=dev)
        y = torch.randint(0, 10, (batch,), device=dev)
        opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        loss_fn = tnn.functional.cross_entropy

        def step():
            opt.zero_grad(set_to_none=True)
            loss_fn(model(x), y).backward()
            opt.step()

        return step
    import gpugrad as gg
    import gpugrad.functional as F
    from gpugrad import nn, optim

    gg.manual_seed(0)
    if conv:
        model = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * 7 * 7, 10),
        ).to(device)
        x = gg.randn(batch, 1, 28, 28, device=device)
    else:
        model = nn.Sequential(
            nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)
        ).to(device)
        x = gg.randn(batch, 784, device=device)
    y = gg.tensor((gg.rand(batch, device=device) * 10).astype("int64"), device=device)
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()

    return step


def _peak_memory(lib: str, device: str, run) -> int | None:
    if device == "cpu":
        run()
        return None
    if lib == "torch":
        import torch

        torch.cuda.reset_peak_memory_stats()
        run()
        return int(torch.cuda.max_memory_allocated())
    import cupy

    pool = cupy.get_default_memory_pool()
    pool.free_all_blocks()
    run()
    return int(pool.total_bytes())


def worker(spec: dict) -> dict:
    """Run one case in this process; returns medians (seconds) and peak memory."""
    lib, device, case = spec["lib"], spec["device"], spec["case"]
    threads = spec.get("threads")
    if lib == "torch":
        import torch

        if threads:
            torch.set_num_threads(threads)
    sync = _sync(lib, device)
    reps = spec["reps"]
    if case == "ops":
        step, ops = _ops_step(lib, device, spec["op"])
        times = _time(step, sync, reps, inner=spec.get("inner", 50))
        return {"median_s": statistics.median(times), "ops_per_step": ops}
    step = _mlp(lib, device, spec["batch"], conv=case == "cnn")
    peak = _peak_memory(lib, device, lambda: (step(), sync()))
    times = _time(step, sync, reps, inner=spec.get("inner", 1))
    return {"median_s": statistics.median(times), "peak_bytes": peak}


# -- the harness -----------------------------------------------------------------------------
def machine_info(device: str, threads: int) -> dict:
    import numpy

    info = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "threads": threads,
        "device": device,
    }
    try:
        import torch

        info["torch"] = torch.__version__
    except ImportError:
        info["torch"] = None
    try:
        with open("/proc/cpuinfo") as f:
            info["cpu_model"] = next(
                (l.split(":", 1)[1].strip() for l in f if l.startswith("model name")), None
            )
    except OSError:
        info["cpu_model"] = platform.processor() or None
    try:
        from threadpoolctl import threadpool_info

        # The library's file name only: a full path would record this machine's layout.
        info["blas"] = [
            {
                **{k: p.get(k) for k in ("internal_api", "version", "num_threads")},
                "library": os.path.basename(p.get("filepath") or ""),
            }
            for p in threadpool_info()
        ]
    except ImportError:
        import numpy

        cfg = (
            numpy.show_config(mode="dicts")
            if "mode" in numpy.show_config.__code__.co_varnames
            else {}
        )
        info["blas"] = cfg.get("Build Dependencies", {}).get("blas")
    if device != "cpu":
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
        info["gpu"] = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
        info["cupy"] = cupy.__version__
    return info


def device_slug(device: str) -> str:
    if device == "cpu":
        return "cpu"
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(cupy.cuda.Device().id)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    return "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")


def run_worker(spec: dict) -> dict:
    env = dict(os.environ)
    if spec.get("threads"):
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(spec["threads"])
    env["GPUGRAD_DEVICE"] = spec["device"]
    r = subprocess.run(
        [sys.executable, "-m", "gpugrad.benchmarks", "--worker", json.dumps(spec)],
        capture_output=True,
        text=True,
        env=env,
        timeout=1800,
    )
    if r.returncode != 0:
        raise RuntimeError(f"benchmark worker {spec} failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def compare(specs: list, rounds: int) -> list:
    """Each spec run for gpugrad and torch, alternating over ``rounds``; the median of the
    rounds' medians is kept."""
    results = []
    for spec in specs:
        per_lib = {"gpugrad": [], "torch": []}
        peaks = {}
        for _ in range(rounds):
            for lib in ("gpugrad", "torch"):
                out = run_worker({**spec, "lib": lib})
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


def write_result(
    name: str, device: str, threads: int, settings: dict, rows: list, out_dir: str
) -> str:
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{name}-{device_slug(device)}.json")
    doc = {
        "benchmark": name,
        "machine": machine_info(device, threads),
        "settings": settings,
        "results": rows,
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    with open(path + ".tmp", "w") as f:
        json.dump(doc, f, indent=2)
    os.replace(path + ".tmp", path)
    return path


def print_table(title: str, rows: list, keys: list) -> None:
    print(f"\n{title}")
    header = [k for k, _ in keys]
    cells = [[fmt(r.get(k)) for k, fmt in keys] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for c in cells:
        print("  ".join(v.rjust(w) for v, w in zip(c, widths)))


def _us(v):
    return "-" if v is None else f"{v * 1e6:.1f}"


def _x(v):
    return "-" if v is None else f"{v:.2f}x"


def bench_ops(device, threads, quick, out_dir):
    ops = ["chain20", "add", "mul", "matmul", "sum", "relu", "sigmoid"]
    reps = 3 if quick else 25
    specs = [
        {
            "case": "ops",
            "op": op,
            "device": device,
            "threads": threads,
            "reps": reps,
            "inner": 5 if quick else 50,
        }
        for op in ops
    ]
    rows = compare(specs, rounds=1 if quick else 3)
    for r in rows:
        r["gpugrad_us_per_op"] = r["gpugrad_s"] / r["ops_per_step"]
        r["torch_us_per_op"] = r["torch_s"] / r["ops_per_step"]
    print_table(
        f"per-op overhead, forward+backward on 4x4 tensors ({device}, {threads} threads)",
        rows,
        [
            ("op", str),
            ("gpugrad_us_per_op", _us),
            ("torch_us_per_op", _us),
            ("speedup_vs_torch", _x),
        ],
    )
    return write_result(
        "ops", device, threads, {"shape": [4, 4], "dtype": "float32", "reps": reps}, rows, out_dir
    )


def _bench_train(name, case, batches, device, threads, quick, out_dir):
    reps = 3 if quick else 20
    specs = [
        {"case": case, "batch": b, "device": device, "threads": threads, "reps": reps, "inner": 1}
        for b in batches
    ]
    rows = compare(specs, rounds=1 if quick else 3)
    for r in rows:
        r["gpugrad_samples_per_s"] = r["batch"] / r["gpugrad_s"]
        r["torch_samples_per_s"] = r["batch"] / r["torch_s"]
    keys = [
        ("batch", str),
        ("gpugrad_samples_per_s", lambda v: f"{v:,.0f}"),
        ("torch_samples_per_s", lambda v: f"{v:,.0f}"),
        ("speedup_vs_torch", _x),
    ]
    if device != "cpu":
        keys.append(("memory_ratio_vs_torch", _x))
    print_table(f"{name} train step, float32 ({device}, {threads} threads)", rows, keys)
    settings = {
        "dtype": "float32",
        "optimizer": "SGD(lr=0.01, momentum=0.9)",
        "tf32": False,
        "reps": reps,
    }
    return write_result(name, device, threads, settings, rows, out_dir)


def bench_mlp(device, threads, quick, out_dir):
    return _bench_train(
        "mlp", "mlp", MLP_BATCHES[:2] if quick else MLP_BATCHES, device, threads, quick, out_dir
    )


def bench_cnn(device, threads, quick, out_dir):
    return _bench_train(
        "cnn", "cnn", CNN_BATCHES[:1] if quick else CNN_BATCHES, device, threads, quick, out_dir
    )


def main(argv=None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m gpugrad bench", description=__doc__.split("\n\n")[0]
    )
    p.add_argument(
        "--quick", action="store_true", help="tiny sizes and few repetitions (a smoke test)"
    )
    p.add_argument("--only", default=None, help=f"comma-separated subset of {','.join(CASES)}")
    p.add_argument("--device", default=None, help="cpu or cuda (default: the best available)")
    p.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    p.add_argument("--out", default=os.path.join("bench", "results"), help="where the JSON goes")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    try:
        args = p.parse_args(argv)
    except SystemExit as e:
        return 0 if e.code == 0 else 2
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return 0
    from . import backend

    device = args.device or ("cuda" if backend.cuda_available() else "cpu")
    chosen = args.only.split(",") if args.only else list(CASES)
    unknown = [c for c in chosen if c not in CASES]
    if unknown:
        print(
            f"gpugrad bench: unknown benchmark {unknown[0]!r} (choose from {', '.join(CASES)})",
            file=sys.stderr,
        )
        return 2
    try:
        import torch  # noqa: F401
    except ImportError:
        print("gpugrad bench: the comparisons need torch (pip install torch)", file=sys.stderr)
        return 2
    written = []
    for case in chosen:
        if case == "kernels":
            if device == "cpu":
                print("\nkernels: skipped (needs a CUDA GPU)")
                continue
            from .kernel_bench import bench_kernels

            written.append(bench_kernels(args.quick, args.out))
            continue
        written.append(
            {"ops": bench_ops, "mlp": bench_mlp, "cnn": bench_cnn}[case](
                device, args.threads, args.quick, args.out
            )
        )
    print("\nwrote " + ", ".join(written))
    return 0


if __name__ == "__main__":
    sys.exit(main())
