"""Shared fixtures: the ``device`` fixture runs a test on the CPU always and on CUDA
when a GPU answers (skipped otherwise, with the reason)."""

import contextlib
import os

import numpy as np
import pytest

import gpugrad as gg
from gpugrad import backend

CUDA = backend.cuda_available()
DEVICES = ["cpu", "cuda"]


@pytest.fixture(params=DEVICES)
def device(request):
    if request.param == "cuda" and not CUDA:
        pytest.skip(f"no CUDA device: {backend.cuda_unavailable_reason()}")
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
