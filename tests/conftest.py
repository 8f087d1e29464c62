"""Shared fixtures: the ``device`` fixture runs a test on the CPU always and on CUDA
when a GPU answers (skipped otherwise, with the reason).

``pytest --cuda-standin`` runs the CUDA cases of ``device`` on the counting CuPy stand-in
instead (tests/cuda_standin.py: NumPy arrays that say they live on CUDA, our kernels built
with g++): a rehearsal, on a machine without a GPU, of the Python the GPU tests run.  What
the stand-in does not model (streams, events, timing, memory-pool statistics, CuPy-only
functions) fails there; a real GPU is the judge."""

import contextlib
import os

import numpy as np
import pytest

import gpugrad as gg
from gpugrad import backend

CUDA = backend.cuda_available()
DEVICES = ["cpu", "cuda"]


def pytest_addoption(parser):
    parser.addoption(
        "--cuda-standin",
        action="store_true",
        help="run the device fixture's CUDA cases on the counting CuPy stand-in",
    )


@pytest.fixture(scope="session")
def standin_library(request, tmp_path_factory):
    import cuda_standin

    return cuda_standin.cached_kernels(request.config, tmp_path_factory)


@pytest.fixture(params=DEVICES)
def device(request):
    if request.param == "cuda" and not CUDA:
        if not request.config.getoption("--cuda-standin"):
            pytest.skip(f"no CUDA device: {backend.cuda_unavailable_reason()}")
        import cuda_standin

        library = request.getfixturevalue("standin_library")
        cuda_standin.install(request.getfixturevalue("monkeypatch"), library)
    return gg.device(request.param)


@pytest.fixture(autouse=True)
def _seed():
    gg.manual_seed(0)
    np.random.seed(0)
    yield


@pytest.fixture(autouse=True)
def _clear_deferred_label_flags():
    """Device checks deferred to the next host read (a GPU label flag) belong to the test
    that set them: clear them after each test, so no later, unrelated ``.item()`` raises."""
    yield
    with contextlib.suppress(ValueError):
        backend.run_deferred_checks()


def pytest_configure(config):
    # Keep torch (the oracle) from fighting NumPy's BLAS for the two CI cores.
    os.environ.setdefault("OMP_NUM_THREADS", "2")
