"""Every CUDA kernel file compiles with NVRTC — the compiler CuPy uses, which needs no GPU —
for Ampere (compute_80) and Hopper (sm_90: PTX for compute_90 and, through the
assembler, a cubin, which also checks the inline PTX), and every kernel the launchers
call exists for every dtype.

The text compiled is exactly what ``gpugrad.kernels`` hands to ``cupy.RawModule``
(``module_source``: the file with common.cuh pasted in), with the same options.
"""

import importlib.util
import json
import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from gpugrad import kernels

nvrtc = pytest.importorskip(
    "cupy_backends.cuda.libs.nvrtc", reason="NVRTC is not installed (pip install -e '.[nvrtc]')"
)

ARCHS = ["compute_80", "sm_90"]


def compile_program(name: str, source: str, arch: str) -> dict:
    """NVRTC ``source`` for ``arch``: {"ptx": text, "cubin": bytes or None}, or
    {"error": the compiler's log}."""
    program = nvrtc.createProgram(source, name, [], [])
    try:
        try:
            nvrtc.compileProgram(program, [f"--gpu-architecture={arch}", *kernels.COMPILE_OPTIONS])
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
def compiled():
    """{(file, arch): result}, compiled in threads (NVRTC releases the GIL)."""
    jobs = [(file, arch) for file in sorted(kernels.KERNELS) for arch in ARCHS]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = pool.map(
            lambda job: compile_program(job[0], kernels.module_source(job[0]), job[1]), jobs
        )
        return dict(zip(jobs, results))


def test_every_source_is_known():
    assert set(kernels.kernel_sources()) == set(kernels.KERNELS)


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


def test_broken_source_is_reported():
    result = compile_program(
        "broken.cu", 'extern "C" __global__ void k() { undefined_thing(); }', "compute_90"
    )
    assert "undefined_thing" in result["error"]


def test_benchmark_script_runs_here_or_says_why_not(tmp_path, capsys):
    """bench/bench_kernels.py imports without a GPU; without one it exits 2 with a
    message, with one a tiny run writes kernels-<gpu>.json."""
    path = Path(__file__).resolve().parent.parent / "bench" / "bench_kernels.py"
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
