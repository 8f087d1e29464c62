"""What every benchmark shares: timing, machine info, the table, the JSON result, workers.

- Timing: :func:`median_time` runs warm-up calls, then reports the median over repetitions of
  ``inner`` back-to-back calls, read with a :class:`HostClock` (wall time around a device
  synchronize) or an :class:`EventClock` (CUDA events on the current stream).
- Results: :func:`write_result` writes ``<out>/<name>-<device>.json`` (the device, versions,
  settings and rows) with gpugrad's atomic writer.  ``bench/results`` holds the committed
  results; a ``--quick`` run (a smoke test) writes to a temporary folder instead and refuses
  ``--out bench/results``, so it never overwrites them.
- Workers: :func:`run_worker` runs ``python -m bench.<module>`` in a fresh process (under
  ``mpiexec`` if asked) and returns the JSON the worker reported with :func:`report`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the source checkout: `bench` is a package here
RESULTS = ROOT / "bench" / "results"
QUICK_RESULTS = Path(tempfile.gettempdir()) / "gpugrad-bench"
RESULT_PREFIX = "RESULT "


# -- timing ----------------------------------------------------------------------------------
class HostClock:
    """Wall time; ``sync()`` (wait for the device, a no-op on the CPU) before each reading,
    or only before the start with ``at_stop=False``."""

    def __init__(self, sync=None, at_stop: bool = True):
        self.sync = sync or (lambda: None)
        self.at_stop = at_stop

    def start(self) -> None:
        self.sync()
        self.started = time.perf_counter()

    def stop(self) -> float:
        if self.at_stop:
            self.sync()
        return time.perf_counter() - self.started


class EventClock:
    """Two CUDA events recorded on the current stream around the timed calls."""

    def __init__(self, new_event, elapsed_ms):
        self.begin, self.end, self.elapsed_ms = new_event(), new_event(), elapsed_ms

    @classmethod
    def cupy(cls) -> EventClock:
        import cupy

        return cls(cupy.cuda.Event, cupy.cuda.get_elapsed_time)

    @classmethod
    def torch(cls, torch) -> EventClock:
        return cls(lambda: torch.cuda.Event(enable_timing=True), lambda a, b: a.elapsed_time(b))

    def start(self) -> None:
        self.begin.record()

    def stop(self) -> float:
        self.end.record()
        self.end.synchronize()
        return self.elapsed_ms(self.begin, self.end) / 1e3


def median_time(fn, clock, reps: int, warmup: int = 5, inner: int = 1) -> float:
    """Median seconds per call of ``fn()``: ``warmup`` untimed calls, then ``reps`` timed runs
    of ``inner`` back-to-back calls each."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(reps):
        clock.start()
        for _ in range(inner):
            fn()
        times.append(clock.stop() / inner)
    return statistics.median(times)


# -- command line and output folder ----------------------------------------------------------
def add_output_arguments(parser) -> None:
    """``--quick`` and ``--out``, read back by :func:`output_dir`."""
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny sizes and few repetitions (a smoke test); the JSON goes to a temporary "
        "folder unless --out names one",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="folder for the JSON (default bench/results, which is committed)",
    )


def add_run_arguments(parser, cases) -> None:
    """``--only`` (a subset of ``cases``), ``--device``, ``--threads`` and the hidden
    ``--worker`` every comparing benchmark takes (with :func:`add_output_arguments`)."""
    add_output_arguments(parser)
    parser.add_argument("--only", default=None, help=f"comma-separated subset of {','.join(cases)}")
    parser.add_argument("--device", default=None, help="cpu or cuda (default: the best available)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--worker", help=argparse.SUPPRESS)


def parse_or_work(parser, argv, worker):
    """The parsed arguments, or an exit code: of ``--help`` or a usage error, or 0 once this
    process has run as a worker (``--worker SPEC``: ``worker(spec)`` reported)."""
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    if args.worker:
        report(worker(json.loads(args.worker)))
        return 0
    return args


def output_dir(args) -> Path:
    """Where the JSON goes; raises ValueError when a quick run would overwrite the committed
    results."""
    if args.out is None:
        return QUICK_RESULTS if args.quick else RESULTS
    out = Path(args.out)
    if args.quick and out.resolve() == RESULTS.resolve():
        raise ValueError(
            "a --quick run never writes bench/results (the committed results); pass another --out"
        )
    return out


def parse_args(parser, argv):
    """``parser.parse_args(argv)`` with ``out_dir`` (:func:`output_dir`) added, or the exit
    code of ``--help`` (0) or a usage error (2)."""
    from gpugrad.cli import parse_args as parse

    args = parse(parser, argv)
    if isinstance(args, int):
        return args
    try:
        args.out_dir = output_dir(args)
    except ValueError as e:
        return usage_error(parser, str(e))
    return args


def usage_error(parser, message: str) -> int:
    """One line on stderr; the exit code of a usage error."""
    print(f"{parser.prog}: {message}", file=sys.stderr)
    return 2


# -- machine and results ---------------------------------------------------------------------
def _gpu_index(device: str) -> int:
    from gpugrad import backend

    return backend.device(device).index


def _gpu_info(index: int) -> dict:
    import cupy

    from gpugrad import backend

    dev = cupy.cuda.Device(index)
    return {
        "gpu": backend.gpu_name(index),
        "compute_capability": dev.compute_capability,
        "multiprocessors": dev.attributes["MultiProcessorCount"],
        "cuda_runtime": cupy.cuda.runtime.runtimeGetVersion(),
        "cuda_driver": cupy.cuda.runtime.driverGetVersion(),
        "cupy": cupy.__version__,
    }


def _blas_info():
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        import numpy

        cfg = (
            numpy.show_config(mode="dicts")
            if "mode" in numpy.show_config.__code__.co_varnames
            else {}
        )
        return cfg.get("Build Dependencies", {}).get("blas")
    # The library's file name only: a full path would record this machine's layout.
    return [
        {
            **{k: p.get(k) for k in ("internal_api", "version", "num_threads")},
            "library": os.path.basename(p.get("filepath") or ""),
        }
        for p in threadpool_info()
    ]


def machine_info(device: str, threads: int | None) -> dict:
    """Platform, versions, CPU, BLAS and, on a GPU, the GPU and CUDA versions."""
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
    info["blas"] = _blas_info()
    if device != "cpu":
        info.update(_gpu_info(_gpu_index(device)))
    return info


def device_slug(device: str) -> str:
    """ "cpu", or the GPU's name as a file-name part ("nvidia-h100-80gb-hbm3")."""
    if device == "cpu":
        return "cpu"
    from gpugrad import backend

    name = backend.gpu_name(_gpu_index(device))
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def write_result(
    name: str, device: str, threads, settings: dict, rows: list, out_dir, **extra
) -> str:
    """``<out_dir>/<name>-<device slug>.json`` with the machine, settings, rows and ``extra``
    top-level entries; returns its path."""
    from gpugrad.io import write_json

    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, f"{name}-{device_slug(device)}.json")
    doc = {
        "benchmark": name,
        "machine": machine_info(device, threads),
        "settings": settings,
        "results": rows,
        **extra,
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    write_json(path, doc)
    return path


# -- the table -------------------------------------------------------------------------------
def print_table(title: str, rows: list, keys: list) -> None:
    """``keys``: (column, formatter) pairs; a missing value prints as "-"."""
    print(f"\n{title}")
    header = [k for k, _ in keys]
    cells = [["-" if r.get(k) is None else fmt(r[k]) for k, fmt in keys] for r in rows]
    widths = [max(len(h), *(len(c[i]) for c in cells)) for i, h in enumerate(header)]
    print("  ".join(h.rjust(w) for h, w in zip(header, widths)))
    for c in cells:
        print("  ".join(v.rjust(w) for v, w in zip(c, widths)))


def micros(v) -> str:
    return f"{v * 1e6:.1f}"


def millis(v) -> str:
    return f"{v * 1e3:.3f}"


def ratio(v) -> str:
    return f"{v:.2f}x"


def count(v) -> str:
    return f"{v:,.0f}"


def general(v) -> str:
    return f"{v:.3g}" if isinstance(v, float) else str(v)


# -- workers ---------------------------------------------------------------------------------
def worker_env(device: str, threads: int | None) -> dict:
    """This environment with the BLAS/OpenMP thread counts pinned, GPUGRAD_DEVICE set and the
    checkout on PYTHONPATH (workers run as ``python -m bench.<module>`` from any folder)."""
    env = dict(os.environ)
    if threads:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
    env["GPUGRAD_DEVICE"] = device
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    return env


def run_worker(module: str, args: list, env: dict, launcher=(), timeout: int = 1800) -> dict:
    """Run ``python -m <module> <args>`` (after ``launcher``, e.g. ``mpiexec -n 2``) and return
    the JSON its :func:`report` printed."""
    cmd = [*launcher, sys.executable, "-m", module, *args]
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout)
    lines = [l for l in r.stdout.splitlines() if l.startswith(RESULT_PREFIX)]
    if r.returncode != 0 or not lines:
        raise RuntimeError(
            f"benchmark worker {module} {' '.join(args)} failed (exit {r.returncode}):\n"
            f"{r.stdout[-1000:]}{r.stderr[-2000:]}"
        )
    return json.loads(lines[-1][len(RESULT_PREFIX) :])


def report(result: dict) -> None:
    """What a worker prints for :func:`run_worker`."""
    print(RESULT_PREFIX + json.dumps(result), flush=True)
