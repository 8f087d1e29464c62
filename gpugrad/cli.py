"""Command line: ``python -m gpugrad info | train | bench | explain``.

Each subcommand lives in its own module; this file only dispatches.  A usage error
prints one line and exits with code 2.
"""

from __future__ import annotations

import argparse
import platform
import sys


def info(argv) -> int:
    """Versions, the chosen device and why, the GPU if any."""
    import numpy

    from . import __version__, backend

    print(f"gpugrad {__version__}")
    print(f"python  {platform.python_version()} ({platform.machine()})")
    print(f"numpy   {numpy.__version__}")
    cupy = backend.cupy_or_none()
    try:
        import cupy as cupy_module

        print(f"cupy    {cupy_module.__version__}")
    except Exception as e:  # report, never fail: info is how users debug their install
        print(f"cupy    not usable ({type(e).__name__})")
    try:
        dev = backend.default_device()
    except RuntimeError as e:
        print(f"device  none: {e}")
        return 2
    why_not = backend.cuda_unavailable_reason()
    if why_not is None:
        print(f"device  {dev}  ({backend.device_reason})")
    else:  # say it plainly; cupy's own words (an "insufficient driver") go below, indented
        chosen = "" if backend.device_reason.startswith("CPU:") else f"; {backend.device_reason}"
        print(f"device  {dev}  (no CUDA device{chosen})")
        print(f"        reason: {why_not}")
    if cupy is not None:
        for i in range(cupy.cuda.runtime.getDeviceCount()):
            props = cupy.cuda.runtime.getDeviceProperties(i)
            print(f"gpu {i}   {backend.gpu_name(i)}, {props['totalGlobalMem'] / 2**30:.1f} GiB")
    return 0


def parse_args(parser: argparse.ArgumentParser, argv):
    """``parser.parse_args(argv)``, or the exit code argparse wanted (0 for --help, 2 for a
    usage error, whose message argparse has printed) instead of raising SystemExit."""
    try:
        return parser.parse_args(argv)
    except SystemExit as e:
        return 0 if e.code == 0 else 2


def bench(argv) -> int:
    """The benchmarks need torch, so they live in the source repository's ``bench/``, not in
    the library: from a source checkout this runs them (``bench/train_bench.py``)."""
    import os
    import subprocess
    from pathlib import Path

    checkout = Path(__file__).resolve().parent.parent
    if not (checkout / "bench" / "train_bench.py").is_file():
        print(
            "gpugrad bench: the benchmarks live in the source repository's bench/ "
            "(run this command from a clone of it)",
            file=sys.stderr,
        )
        return 2
    path = os.pathsep.join(p for p in (str(checkout), os.environ.get("PYTHONPATH")) if p)
    command = [sys.executable, "-m", "bench.train_bench", *argv]
    return subprocess.run(command, env={**os.environ, "PYTHONPATH": path}).returncode


COMMANDS = {
    "info": ("gpugrad.cli", "info"),
    "train": ("gpugrad.trainer", "main"),
    "bench": ("gpugrad.cli", "bench"),
    "explain": ("gpugrad.explain.cli", "main"),
}


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(
        prog="python -m gpugrad", description="gpugrad: autodiff on NumPy and CuPy"
    )
    parser.add_argument("command", choices=sorted(COMMANDS), help="what to run")
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    if argv[0] not in COMMANDS:
        print(
            f"gpugrad: unknown command {argv[0]!r} (choose from {', '.join(sorted(COMMANDS))})",
            file=sys.stderr,
        )
        return 2
    module_name, function_name = COMMANDS[argv[0]]
    import importlib

    module = importlib.import_module(module_name)
    return getattr(module, function_name)(argv[1:]) or 0
