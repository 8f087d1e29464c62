"""Devices (gpugrad/backend.py): parsing, the default device and the environment, nested
`with` blocks, the array-module switch, transfers.  `python -m gpugrad info`: test_cli.py."""

import os
import subprocess
import sys
import types

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


# -- the device probe: a device that answers must also compile and run a kernel ---------------


@pytest.fixture
def fresh_probe(monkeypatch):
    """Forget the probe's verdict (and the default device built from it) for one test;
    monkeypatch puts every value back exactly afterwards."""
    monkeypatch.setattr(backend, "_cupy", None)
    monkeypatch.setattr(backend, "_cupy_error", None)
    monkeypatch.setattr(backend, "_cupy_probed", False)
    monkeypatch.setattr(backend, "_default", None)
    monkeypatch.setattr(backend, "device_reason", "")
    monkeypatch.setattr(backend, "_device_cache", {})
    monkeypatch.delenv("GPUGRAD_DEVICE", raising=False)
    return monkeypatch


class CompileException(Exception):
    """Named as CuPy's (cupy.cuda.compiler.CompileException)."""


def _fake_cupy(kernel_error=None, result=1.0, runtime_version=12080):
    """A cupy whose device answers; its first kernel raises ``kernel_error`` at launch (as
    CuPy's ElementwiseKernel compiles on first call) or returns ``result``."""
    calls = {"compiled": 0, "launched": 0}

    class Array:
        def __init__(self, values):
            self.values = values

        def get(self):
            return np.array(self.values, dtype=np.float32)

    class ElementwiseKernel:
        def __init__(self, in_params, out_params, operation, name):
            calls["compiled"] += 1

        def __call__(self, x):
            calls["launched"] += 1
            if kernel_error is not None:
                raise kernel_error
            return Array([result] * len(x.values))

    runtime = types.SimpleNamespace(
        getDeviceCount=lambda: 1, runtimeGetVersion=lambda: runtime_version
    )
    fake = types.ModuleType("cupy")
    fake.cuda = types.SimpleNamespace(runtime=runtime)
    fake.ElementwiseKernel = ElementwiseKernel
    fake.ndarray = Array
    fake.float32 = np.float32
    fake.zeros = lambda n, dtype=None: Array([0.0] * n)
    return fake, calls


HEADERS = CompileException(
    "Failed to find CUDA headers\ncuda_fp16.h: No such file or directory\n3\n4\n5"
)


def test_probe_falls_back_to_cpu_when_a_kernel_does_not_compile(fresh_probe):
    fake, calls = _fake_cupy(kernel_error=HEADERS)
    fresh_probe.setitem(sys.modules, "cupy", fake)
    assert calls == {"compiled": 0, "launched": 0}  # lazy: nothing until first need
    assert backend.cuda_available() is False
    assert backend.cupy_or_none() is None
    reason = backend.cuda_unavailable_reason()
    assert "a device answered" in reason and "kernel failed" in reason
    assert "CompileException: Failed to find CUDA headers" in reason
    assert "install cupy-cuda12x[ctk]" in reason and "CUDA toolkit headers" in reason
    assert "\n" not in reason and "No such file or directory / 3 ..." in reason  # NVRTC log cut
    assert backend.default_device() == backend.CPU
    assert backend.device_reason == f"CPU: {reason}"
    with pytest.raises(RuntimeError, match="compiling and running a kernel failed"):
        backend.device("cuda")
    assert calls == {"compiled": 1, "launched": 1}  # once, however often it is asked


def test_probe_names_the_cuda13_package_for_a_cuda13_cupy(fresh_probe):
    fake, _ = _fake_cupy(kernel_error=HEADERS, runtime_version=13000)
    fresh_probe.setitem(sys.modules, "cupy", fake)
    assert not backend.cuda_available()
    assert "install cupy-cuda13x[ctk]" in backend.cuda_unavailable_reason()


def test_probe_reports_a_kernel_that_computes_wrong(fresh_probe):
    fake, _ = _fake_cupy(result=0.0)
    fresh_probe.setitem(sys.modules, "cupy", fake)
    assert not backend.cuda_available()
    assert "test kernel computed 0 + 1 = 0.0" in backend.cuda_unavailable_reason()


def test_probe_accepts_cuda_when_the_kernel_runs(fresh_probe):
    fake, calls = _fake_cupy()
    fresh_probe.setitem(sys.modules, "cupy", fake)
    assert backend.cuda_available() is True
    assert backend.cupy_or_none() is fake
    assert backend.cuda_unavailable_reason() is None
    assert backend.default_device() == "cuda:0"
    assert "a kernel ran" in backend.device_reason
    assert calls == {"compiled": 1, "launched": 1}


def test_probe_state_is_restored_after_the_fake_cupy_tests():
    # runs after the tests above (file order): the real verdict is back
    assert backend._probe_cupy() is backend._cupy
    assert (backend._cupy is None) == (backend.cuda_unavailable_reason() is not None)
    real = sys.modules.get("cupy")
    assert real is None or hasattr(real, "__file__")  # the fake (no __file__) is gone
