"""Devices (gpugrad/backend.py): parsing, the default device and the environment, nested
`with` blocks, the array-module switch, transfers.  `python -m gpugrad info`: test_cli.py."""

import os
import subprocess
import sys

import numpy as np
import pytest

import gpugrad as gg
from gpugrad import backend


def _run(code, **env):
    full_env = {**os.environ, **env}
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=full_env, timeout=120
    )


def test_device_specs_parse_and_print():
    assert str(gg.device("cpu")) == "cpu"
    assert gg.device("cpu") == "cpu" and gg.device("cpu") == gg.device("CPU")
    with pytest.raises(ValueError, match="unknown device"):
        gg.device("tpu")
    with pytest.raises(TypeError):
        gg.device(3)


def test_cuda_request_without_cuda_raises_clearly():
    if gg.cuda.is_available():
        pytest.skip("this machine has CUDA")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        gg.device("cuda")
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        gg.zeros(2, device="cuda:0")


def test_default_device_from_environment():
    r = _run(
        "import gpugrad as gg; print(gg.default_device(), gg.zeros(1).device)", GPUGRAD_DEVICE="cpu"
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["cpu", "cpu"]


def test_bad_environment_device_is_an_error_not_a_fallback():
    r = _run(
        "import gpugrad as gg; gg.zeros(1)",
        GPUGRAD_DEVICE="cuda:7" if not gg.cuda.is_available() else "tpu",
    )
    assert r.returncode != 0
    assert "GPUGRAD_DEVICE" in r.stderr


def test_no_cuda_means_cpu_never_an_exception():
    r = _run(
        "import gpugrad as gg; print(gg.cuda.is_available(), gg.default_device())",
        GPUGRAD_DEVICE="",
    )
    assert r.returncode == 0, r.stderr
    if not gg.cuda.is_available():
        assert r.stdout.split() == ["False", "cpu"]


def test_nested_device_blocks_each_restore_their_own_context(monkeypatch):
    """Device objects are shared by name, so `with` must not keep its cupy context on the
    object: an inner block on the same device would overwrite the outer one's."""
    events = []

    class FakeCupyDevice:
        def __init__(self, index):
            self.index = index

        def __enter__(self):
            events.append(("enter", self.index, id(self)))

        def __exit__(self, *exc):
            events.append(("exit", self.index, id(self)))

    class FakeCupy:
        class cuda:
            Device = FakeCupyDevice

    d = backend.Device("cpu")
    d.kind, d.index, d.xp = "cuda", 1, FakeCupy
    with d:
        with d:
            pass
        assert len(backend._entered_contexts()) == 1
    assert backend._entered_contexts() == []
    (_, _, outer), (_, _, inner), (_, _, first_exit), (_, _, second_exit) = events
    assert [e[0] for e in events] == ["enter", "enter", "exit", "exit"]
    assert first_exit == inner and second_exit == outer and inner != outer


def test_get_array_module(device):
    x = gg.zeros(2, device=device)
    xp = backend.get_array_module(x)
    assert xp is device.xp
    assert backend.get_array_module(x.array) is device.xp
    assert backend.get_array_module(np.zeros(2)) is np
    assert backend.get_array_module(3.0) is np


def test_transfers_round_trip(device):
    x = gg.tensor([[1.0, 2.0]], device=device, requires_grad=True)
    c = x.cpu()
    assert c.device == "cpu" and isinstance(c.numpy(), np.ndarray)
    back = c.to(device)
    assert back.device == device
    (back * 3).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[3.0, 3.0]])
    assert x.to(device) is x
