"""Building the kernels (``gpugrad.kernels._build``): the sources are found and listed;
every ``.cu`` file compiles with NVRTC — the compiler CuPy uses, which needs no GPU — for
Ampere (compute_80) and Hopper (sm_90: PTX for compute_90 and, through the assembler, a
cubin, which also checks the inline PTX), and every kernel a launcher declares exists for
every dtype; the CPU stand-in for CUDA refuses what CUDA refuses; the kernel benchmark.

The text NVRTC compiles is exactly what ``gpugrad.kernels`` hands to ``cupy.RawModule``
(``module_source``: the file with common.cuh pasted in), with the same options.
"""

import ctypes
import importlib.util
import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

from gpugrad import kernels
from gpugrad.kernels import _build

CUPY_APPENDED = _build.CUPY_APPENDED_OPTIONS  # compiled as CuPy really compiles

ARCHS = ["compute_80", "sm_90"]


def test_kernel_sources_are_found_and_listed():
    assert set(kernels.kernel_sources()) == set(kernels.KERNELS)
    assert "common.cuh" in kernels.header_sources()
    for file in kernels.KERNELS:
        assert '#include "common.cuh"' not in kernels.module_source(file)


def test_missing_sources_name_both_places(monkeypatch, tmp_path):
    monkeypatch.setattr(_build, "__file__", str(tmp_path / "gpugrad" / "kernels" / "_build.py"))
    with pytest.raises(FileNotFoundError, match=r"_kernels.*kernels"):
        kernels.source_dir()


@pytest.fixture(scope="module")
def nvrtc():
    return pytest.importorskip(
        "cupy_backends.cuda.libs.nvrtc", reason="NVRTC is not installed (pip install -e '.[nvrtc]')"
    )


def compile_program(nvrtc, name: str, source: str, arch: str) -> dict:
    """NVRTC ``source`` for ``arch``: {"ptx": text, "cubin": bytes or None}, or
    {"error": the compiler's log}."""
    program = nvrtc.createProgram(source, name, [], [])
    try:
        try:
            options = [f"--gpu-architecture={arch}", *kernels.COMPILE_OPTIONS, *CUPY_APPENDED]
            nvrtc.compileProgram(program, options)
        except nvrtc.NVRTCError:
            return {"error": nvrtc.getProgramLog(program)}
        ptx = nvrtc.getPTX(program)
        return {
            "ptx": ptx.decode() if isinstance(ptx, bytes) else ptx,
            "cubin": nvrtc.getCUBIN(program) if arch.startswith("sm_") else None,
        }
    finally:
        nvrtc.destroyProgram(program)


@pytest.fixture(scope="module")
def compiled(nvrtc):
    """{(file, arch): result}, compiled in threads (NVRTC releases the GIL)."""
    jobs = [(file, arch) for file in sorted(kernels.KERNELS) for arch in ARCHS]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = pool.map(
            lambda job: compile_program(nvrtc, job[0], kernels.module_source(job[0]), job[1]), jobs
        )
        return dict(zip(jobs, results))


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("file", sorted(kernels.KERNELS))
def test_kernel_file_compiles_with_every_dtype(compiled, file, arch):
    result = compiled[(file, arch)]
    assert "error" not in result, f"{file} does not compile for {arch}:\n{result.get('error')}"
    entries = set(re.findall(r"\.entry\s+(\w+)", result["ptx"]))
    expected = {
        f"{kernel}_{sfx}" for kernel in kernels.KERNELS[file] for sfx in kernels.SUFFIX.values()
    }
    assert expected <= entries, f"missing from {file}: {sorted(expected - entries)}"
    if arch.startswith("sm_"):
        assert result["cubin"][:4] == b"\x7fELF"


def test_broken_source_is_reported(nvrtc):
    result = compile_program(
        nvrtc, "broken.cu", 'extern "C" __global__ void k() { undefined_thing(); }', "compute_90"
    )
    assert "undefined_thing" in result["error"]


def test_emulator_refuses_what_cuda_refuses(host_libraries):
    """The CPU stand-in of tests/kernels/cpp/cuda_on_cpu.h reports a launch CUDA would
    refuse (status 1) and a kernel launched as plain calls that synchronizes (status 2)."""
    x = np.zeros(4, np.float32)
    args = [ctypes.c_int(0), ctypes.c_void_p(x.ctypes.data), ctypes.c_void_p(x.ctypes.data)]
    args += [ctypes.c_longlong(x.size), ctypes.c_double(0.0)]
    argv = (ctypes.c_void_p * len(args))(*[ctypes.addressof(a) for a in args])
    launch = host_libraries["kernels"].emu_activation_forward_f32
    launch.argtypes, launch.restype = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p], ctypes.c_int
    for grid_block, status in [((1, 1, 1, 2048, 1, 1), 1), ((0, 1, 1, 32, 1, 1), 1)]:
        assert launch((ctypes.c_uint * 6)(*grid_block), 0, argv) == status
    assert launch((ctypes.c_uint * 6)(1, 1, 1, 32, 1, 1), 0, argv) == 0
    y, g, out = (np.ones((2, 3), np.float32) for _ in range(3))
    args = [ctypes.c_int(-1), *(ctypes.c_void_p(a.ctypes.data) for a in (y, g, g, out))]
    args += [ctypes.c_longlong(2), ctypes.c_longlong(3), ctypes.c_double(0.0)]
    argv = (ctypes.c_void_p * len(args))(*[ctypes.addressof(a) for a in args])
    reduce = host_libraries["kernels"].emu_column_reduce_direct_f32
    reduce.argtypes, reduce.restype = launch.argtypes, ctypes.c_int
    assert reduce((ctypes.c_uint * 6)(1, 1, 1, 4, 64, 1), 0, argv) == 2
    assert reduce((ctypes.c_uint * 6)(1, 1, 1, 4, 64, 1), 1, argv) == 0
    np.testing.assert_array_equal(out[0], [2, 2, 2])


def test_benchmark_script_runs_here_or_says_why_not(tmp_path, capsys):
    """bench/bench_kernels.py imports without a GPU; without one it exits 2 with a
    message, with one a tiny run writes kernels-<gpu>.json."""
    path = Path(__file__).resolve().parents[2] / "bench" / "bench_kernels.py"
    spec = importlib.util.spec_from_file_location("bench_kernels", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    assert bench.parse_sizes("2^10, 2**3,100") == [1024, 8, 100]
    with pytest.raises(ValueError):
        bench.parse_sizes("0")
    status = bench.main(["--sizes", "2^12", "--reps", "2", "--warmup", "1", "--out", str(tmp_path)])
    if bench.gpu_unavailable_reason() is not None:
        assert status == 2 and "needs a CUDA GPU" in capsys.readouterr().err
        return
    assert status == 0
    (written,) = tmp_path.glob("kernels-*.json")
    doc = json.loads(written.read_text())
    assert doc["machine"]["gpu"] and doc["results"][0]["elements"] == 4096
    assert doc["results"][0]["sigmoid_fused_GBps"] > 0


def test_launchers_run_on_the_device_that_holds_their_arrays(monkeypatch):
    """A launcher given a CuPy array of cuda:1 while cuda:0 is current runs (allocates and
    launches) inside that array's device context; other arrays run as they are."""
    from gpugrad import backend

    entered = []

    class FakeDevice:
        def __init__(self, a):
            self.name = f"cuda:{a.device_id}"

        def __enter__(self):
            entered.append(self.name)

        def __exit__(self, *exc):
            entered.append("exit")

    class FakeCudaArray:
        device_id = 1

    monkeypatch.setattr(backend, "is_cuda_array", lambda a: isinstance(a, FakeCudaArray))
    monkeypatch.setattr(backend, "device_of", FakeDevice)
    seen = []

    @_build.on_arrays_device
    def launcher(code, x):
        seen.append(list(entered))
        return "done"

    assert launcher(3, FakeCudaArray()) == "done"
    assert seen == [["cuda:1"]] and entered == ["cuda:1", "exit"]
    assert launcher(3, np.zeros(2)) == "done" and entered == ["cuda:1", "exit"]
