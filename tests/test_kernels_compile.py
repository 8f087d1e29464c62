"""Every CUDA kernel compiles with NVRTC (no GPU needed) for Ampere and Hopper, and
every kernel the launcher calls exists for every dtype."""
import re

import pytest

from gpugrad import kernels

nvrtc = pytest.importorskip("cupy_backends.cuda.libs.nvrtc",
                            reason="NVRTC is not installed (pip install -e '.[nvrtc]')")

EXPECTED = {
    "activation.cu": ["activation_forward", "activation_backward", "bias_activation_forward", "column_sum"],
    "softmax_cross_entropy.cu": ["sce_forward", "sce_backward"],
    "optimizer.cu": ["sgd_update", "adam_update"],
}


def compile_ptx(name: str, source: str, arch: str) -> str:
    headers = kernels.header_sources()
    program = nvrtc.createProgram(source, name, [h.encode() for h in headers.values()],
                                  [n.encode() for n in headers])
    try:
        nvrtc.compileProgram(program, [f"--gpu-architecture={arch}", "-std=c++14"])
    except Exception as e:  # the log says what is wrong
        raise AssertionError(f"{name} does not compile for {arch}:\n{nvrtc.getProgramLog(program)}") from e
    return nvrtc.getPTX(program).decode() if isinstance(nvrtc.getPTX(program), bytes) else nvrtc.getPTX(program)


def test_every_source_is_known():
    assert set(kernels.kernel_sources()) == set(EXPECTED)


@pytest.mark.parametrize("arch", ["compute_80", "compute_90"])
@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_kernel_file_compiles(name, arch):
    ptx = compile_ptx(name, kernels.kernel_sources()[name], arch)
    entries = set(re.findall(r"\.entry\s+(\w+)", ptx))
    for kernel in EXPECTED[name]:
        for suffix in ("f16", "f32", "f64"):
            assert f"{kernel}_{suffix}" in entries, f"{kernel}_{suffix} missing from {name}"


def test_broken_source_is_reported():
    with pytest.raises(AssertionError, match="does not compile"):
        compile_ptx("broken.cu", 'extern "C" __global__ void k() { undefined_thing(); }', "compute_90")
