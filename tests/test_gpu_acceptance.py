"""bench/gpu_acceptance.sh: syntax, and its dry mode (what it would run on a GPU machine)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gpugrad import backend

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "gpu_acceptance.sh"
BASH = shutil.which("bash")

pytestmark = pytest.mark.skipif(BASH is None, reason="needs bash")

EXPECTED = [
    "-m pytest -q -m 'slow or not slow' -k 'cuda or gpu or backend'",
    "--junitxml",
    "tests/test_gpu_no_sync.py",
    "bench/bench_kernels.py --out",
    "bench/bench_mlp.py --device cuda --out",
    "bench/bench_cnn.py --device cuda --out",
    "bench/bench_compile.py --device cuda --only chain20,mlp --rounds 1 --out",
    "-m gpugrad train --device cuda --compile --cuda-graph --out",
    "-m gpugrad train --device cuda --model cnn --out",
]


def _run(*args, cwd):
    env = dict(os.environ, PYTHON=sys.executable)
    return subprocess.run(
        [BASH, str(SCRIPT), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_syntax():
    subprocess.run([BASH, "-n", str(SCRIPT)], check=True)


def _check_dry(proc, outdir):
    assert proc.returncode == 0, proc.stderr
    for piece in EXPECTED:
        assert piece in proc.stdout, (piece, proc.stdout)
    assert str(outdir / "results") in proc.stdout
    assert proc.stdout.count("timeout ") == 8  # eight steps, each with a time limit
    # Nothing written: OUTDIR is not even created.
    assert not outdir.exists() or not any(outdir.iterdir())


def test_dry_run_prints_every_step_and_writes_nothing(tmp_path):
    outdir = tmp_path / "acc"
    # From another folder with a relative OUTDIR: the script finds the repo from its path.
    proc = _run("--dry-run", "acc", cwd=tmp_path)
    _check_dry(proc, outdir)


@pytest.mark.skipif(backend.cuda_available(), reason="a CUDA device is here: it would run for real")
def test_without_cuda_it_falls_back_to_the_dry_mode(tmp_path):
    outdir = tmp_path / "acc"
    proc = _run(str(outdir), cwd=tmp_path)
    assert "no CUDA device" in proc.stdout
    _check_dry(proc, outdir)


def test_usage_error_without_outdir(tmp_path):
    proc = _run(cwd=tmp_path)
    assert proc.returncode == 2
    assert "usage" in proc.stderr
