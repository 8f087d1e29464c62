"""Fixtures of the kernel tests.

``impl`` is what a test body runs on (``kernel_cases.IMPLEMENTATIONS``; a test narrows it
with ``kernel_cases.on_kernels`` or ``on_gpu``):

    numpy     the NumPy twins of ``gpugrad.ops.activation`` (activations only);
    emulated  the CUDA sources compiled with g++ against ``cpp/cuda_on_cpu.h`` (a stand-in
              for the CUDA built-ins) and launched through ``gpugrad.kernels`` with NumPy
              playing CuPy, on a pretend GPU of one SM, so that small arrays already take
              several grid-stride steps and chunked reductions: the launchers' grids,
              chunking, 64-bit loops, reductions and flags run on any machine;
    cuda      the kernels on a GPU, skipped without one (as the ``device`` fixture).

``formulas`` is ``cpp/formulas.cpp`` compiled with g++, for ctypes.
"""

import ctypes
import shutil
import subprocess
import types
from pathlib import Path

import numpy as np
import pytest
from kernel_cases import IMPLEMENTATIONS, TOLERANCES

from gpugrad import backend, kernels
from gpugrad.kernels import _build

CPP = Path(__file__).resolve().parent / "cpp"
CXX = shutil.which("g++") or shutil.which("c++")


# -- building with the host compiler ---------------------------------------------------------
def _compile(units: dict, directory: Path) -> dict:
    """Compile {name: (C++ file, extra flags)} into shared libraries, in parallel;
    {name: CDLL}."""
    jobs = {}
    for name, (cpp, flags) in units.items():
        so = directory / f"{name}.so"
        command = [CXX, *flags, "-std=c++17", "-O1", "-shared", "-fPIC"]
        command += [f"-I{kernels.source_dir()}", str(cpp), "-o", str(so)]
        jobs[name] = (subprocess.Popen(command, stderr=subprocess.PIPE, text=True), so)
    libraries = {}
    for name, (process, so) in jobs.items():
        _, errors = process.communicate(timeout=300)
        assert process.returncode == 0, f"{name} does not compile with {CXX}:\n{errors}"
        libraries[name] = ctypes.CDLL(str(so))
    return libraries


def write_emulated_unit(directory: Path) -> Path:
    """``directory/emulated_kernels.cpp``: every .cu file in one translation unit, each
    kernel exported as emu_<kernel>_<suffix> (also what tests/cuda_standin.py builds)."""
    unit = directory / "emulated_kernels.cpp"
    unit.write_text(
        "".join(f'#include "{file}"\n' for file in kernels.KERNELS)
        + "".join(
            f"GG_EMU({name}_{suffix})\n"
            for names in kernels.KERNELS.values()
            for name in names
            for suffix in kernels.SUFFIX.values()
        )
    )
    return unit


@pytest.fixture(scope="session")
def host_libraries(tmp_path_factory):
    """{"formulas": CDLL, "kernels": CDLL}: both built at once, the first time either is
    needed.  The kernels are every .cu file in one translation unit (one compile: the C++
    headers dominate), each kernel exported as emu_<kernel>_<suffix>; common.cuh's
    #pragma once keeps it to one copy, otherwise this is the text CuPy is given."""
    if CXX is None:
        pytest.skip("needs a host C++ compiler (g++)")
    directory = tmp_path_factory.mktemp("host_kernels")
    unit = write_emulated_unit(directory)
    return _compile(
        {
            "formulas": (CPP / "formulas.cpp", []),
            "kernels": (unit, ["-include", str(CPP / "cuda_on_cpu.h")]),
        },
        directory,
    )


@pytest.fixture(scope="session")
def formulas(host_libraries):
    return host_libraries["formulas"]


# -- the emulated GPU --------------------------------------------------------------------------
# the C type of each NumPy scalar a launcher passes (CuPy needs NumPy scalars to know it)
SCALAR_TYPES = {np.int32: ctypes.c_int32, np.int64: ctypes.c_int64, np.float64: ctypes.c_double}


class EmulatedKernel:
    """A RawKernel look-alike: kernel(grid, block, args) with NumPy arrays for device memory."""

    # kernels that synchronize threads (__syncthreads, warp shuffles) run as fibers; the
    # others as plain calls, which is much faster (the emulator reports a wrong guess)
    COOPERATIVE = (
        "column_",
        "row_reduce",
        "softmax_cross_entropy_forward",
        "softmax_cross_entropy_reduce_forward",
    )

    def __init__(self, library, name: str, launches: list):
        self.fn, self.name, self.launches = getattr(library, f"emu_{name}"), name, launches
        self.fn.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        self.fn.restype = ctypes.c_int
        self.cooperative = name.startswith(self.COOPERATIVE)

    def __call__(self, grid, block, args):
        grid, block = tuple(grid) + (1,) * (3 - len(grid)), tuple(block) + (1,) * (3 - len(block))
        values = []
        for a in args:
            if isinstance(a, np.ndarray):
                assert a.flags.c_contiguous, f"{self.name}: a non-contiguous array reached a kernel"
                values.append(ctypes.c_void_p(a.ctypes.data))
            else:
                values.append(SCALAR_TYPES[type(a)](a.item()))
        argv = (ctypes.c_void_p * len(values))(*[ctypes.addressof(v) for v in values])
        self.launches.append((self.name, grid, block))
        status = self.fn((ctypes.c_uint * 6)(*grid, *block), self.cooperative, argv)
        assert status != 1, f"{self.name}: CUDA would refuse grid {grid} block {block}"
        assert status != 2, f"{self.name} synchronizes threads: add it to COOPERATIVE"


def emulated_cupy(library, launches: list):
    """A module that stands in for cupy in gpugrad.kernels: NumPy's arrays, RawModules whose
    functions are the g++-built kernels of ``library``, and one device of one SM."""
    sources = {kernels.module_source(file) for file in kernels.KERNELS}

    class RawModule:
        def __init__(self, code, options=()):
            assert code in sources and tuple(options) == kernels.COMPILE_OPTIONS

        def get_function(self, name):
            return EmulatedKernel(library, name, launches)

    return types.SimpleNamespace(
        ndarray=np.ndarray,
        empty=np.empty,
        empty_like=np.empty_like,
        zeros=np.zeros,
        ascontiguousarray=np.ascontiguousarray,
        broadcast_to=np.broadcast_to,
        maximum=np.maximum,
        asarray=np.asarray,
        RawModule=RawModule,
        cuda=types.SimpleNamespace(
            runtime=types.SimpleNamespace(getDevice=lambda: 0),
            Device=lambda device: types.SimpleNamespace(attributes={"MultiProcessorCount": 1}),
        ),
    )


# -- what a test body runs on ------------------------------------------------------------------
class Implementation:
    """The kernels behind gpugrad.kernels, on arrays of ``xp``.  ``tol`` maps a dtype to the
    rtol/atol of its arithmetic against a float64 reference; ``launches`` lists the
    launches (name, grid, block) where they are recorded (emulated), else it is None."""

    is_kernel = True
    launches = None

    def __init__(self, name: str, xp, machine: str):
        self.name, self.xp, self.machine = name, xp, machine
        self.tol = TOLERANCES[machine]

    def asarray(self, a):
        return self.xp.asarray(a)

    def asnumpy(self, a) -> np.ndarray:
        return np.asarray(a)

    def forward(self, case, x):
        return kernels.activation.forward(case.code, x, case.p)

    def backward(self, case, y, gy):
        return kernels.activation.backward(case.code, y, gy, case.p)

    def bias_forward(self, case, x, b):
        return kernels.activation.bias_forward(case.code, x, b, case.p)

    def bias_backward(self, case, y, gy):
        return kernels.activation.bias_backward(case.code, y, gy, case.p)


class NumpyTwin(Implementation):
    """The CPU path of the activation Functions: the registry's NumPy twins, the bias added
    into a buffer the forward owns, the bias gradient summed as the engine does."""

    is_kernel = False

    def forward(self, case, x):
        return case.spec.forward_numpy(x, case.p)

    def backward(self, case, y, gy):
        return case.spec.backward_numpy(y, gy, case.p)

    def bias_forward(self, case, x, b):
        return case.spec.forward_numpy(np.add(x, b), case.p, owned=True)

    def bias_backward(self, case, y, gy):
        gx = self.backward(case, y, gy)
        return gx, gx.sum(axis=tuple(range(gx.ndim - 1)))  # the engine's sum_to


class CupyKernels(Implementation):
    def asnumpy(self, a) -> np.ndarray:
        return self.xp.asnumpy(a)


@pytest.fixture(params=IMPLEMENTATIONS)
def impl(request):
    if request.param == "numpy":
        return NumpyTwin("numpy", np, "host")
    if request.param == "emulated":
        library = request.getfixturevalue("host_libraries")["kernels"]
        monkeypatch = request.getfixturevalue("monkeypatch")
        emulated = Implementation("emulated", np, "host")
        emulated.launches = []
        fake = emulated_cupy(library, emulated.launches)
        monkeypatch.setattr(_build, "cupy_module", lambda: fake)
        for cache in ("_modules", "_functions", "_max_blocks", "_pending_flags", "_standing_flags"):
            monkeypatch.setattr(_build, cache, {})
        return emulated
    if not backend.cuda_available():
        pytest.skip(f"no CUDA device: {backend.cuda_unavailable_reason()}")
    return CupyKernels("cuda", backend.cupy_or_none(), "gpu")
