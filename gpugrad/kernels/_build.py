"""What every launcher shares: finding the CUDA sources, compiling and caching them, the
launch configuration, the argument checks, and the checks deferred to the next host read.

The sources ship inside the package (``gpugrad/_kernels`` in a wheel; ``kernels/`` at the
top of a source checkout).  A ``.cu`` file holds each of its kernels once per dtype
(``<kernel>_f16``, ``_f32``, ``_f64``); it is compiled once per device with
``cupy.RawModule`` (which also caches the binary on disk, keyed by the source text) and
each kernel function is looked up once.  A launcher module declares its kernels as
:class:`Kernel` objects: the only place a kernel's name is written in Python.

cupy is imported lazily: importing this module on a machine without CUDA works.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy

from .. import backend

SUFFIX = {
    numpy.dtype(numpy.float16): "f16",
    numpy.dtype(numpy.float32): "f32",
    numpy.dtype(numpy.float64): "f64",
}
COMPILE_OPTIONS = ("-std=c++17",)
# What CuPy's RawModule appends after the options it is given (CuPy issue 9576): the kernels
# are compiled with flush-to-zero, so on the GPU float32 subnormals (below 1.18e-38) read and
# compute as 0 — relu/tanh of a subnormal give 0, sigmoid(-88) and softplus(-88) give 0.
# float64 and float16 (computed in float32 from normal float32 values) are unaffected.  The
# choice is CuPy's and documented rather than worked around; the NVRTC test compiles with it.
CUPY_APPENDED_OPTIONS = ("-ftz=true",)
THREADS = 256

KERNELS: dict = {}  # file name -> [kernel names], filled by the Kernel declarations
_modules: dict = {}  # (device id, file name) -> cupy.RawModule
_functions: dict = {}  # (device id, kernel name with suffix) -> cupy.RawKernel
_max_blocks: dict = {}  # device id -> blocks worth launching for a grid-stride loop
_pending_flags: dict = {}  # (message, key) -> device int32 flag (see defer_flag)
_standing_flags: dict = {}  # (message, key, device) -> a flag kept across calls (standing_flag)


# -- sources ------------------------------------------------------------------------------
def source_dir() -> Path:
    """Where the .cu/.cuh files are: inside the installed package, or the repo's kernels/."""
    package = Path(__file__).resolve().parent.parent
    candidates = (package / "_kernels", package.parent / "kernels")
    for candidate in candidates:
        if (candidate / "common.cuh").is_file():
            return candidate
    raise FileNotFoundError(
        f"gpugrad's CUDA sources were not found in {candidates[0]} (an "
        f"installed wheel) or {candidates[1]} (a source checkout): the "
        f"installation is incomplete"
    )


def kernel_sources() -> dict:
    """{file name: source text} of every .cu file."""
    return {p.name: p.read_text() for p in sorted(source_dir().glob("*.cu"))}


def header_sources() -> dict:
    """{file name: source text} of every .cuh file."""
    return {p.name: p.read_text() for p in sorted(source_dir().glob("*.cuh"))}


def module_source(file: str) -> str:
    """The text that is compiled for ``file``: the .cu file with its headers pasted in, so
    that CuPy's on-disk cache (keyed by the source text) also sees a change to a header.
    The NVRTC test compiles exactly this."""
    source = (source_dir() / file).read_text()
    for name, text in header_sources().items():
        source = source.replace(f'#include "{name}"', text.replace("#pragma once", "", 1))
    return source


# -- compiling ------------------------------------------------------------------------------
def cupy_module():
    """The cupy module, imported at the first launch (the CPU-side tests put a stand-in
    here that runs the kernels compiled with g++)."""
    import cupy

    return cupy


class Kernel:
    """One kernel of a .cu file, declared once by its launcher module; ``kernel(dtype)`` is
    the compiled function for that dtype on the current device."""

    def __init__(self, file: str, name: str):
        self.file, self.name = file, name
        KERNELS.setdefault(file, []).append(name)

    def __call__(self, dtype):
        cupy = cupy_module()
        device = cupy.cuda.runtime.getDevice()  # a module is loaded per device
        full_name = f"{self.name}_{SUFFIX[numpy.dtype(dtype)]}"
        fn = _functions.get((device, full_name))
        if fn is None:
            module = _modules.get((device, self.file))
            if module is None:
                module = cupy.RawModule(code=module_source(self.file), options=COMPILE_OPTIONS)
                _modules[(device, self.file)] = module
            fn = _functions[(device, full_name)] = module.get_function(full_name)
        return fn


def on_arrays_device(launcher):
    """Run ``launcher`` on the device that holds its first CuPy array argument, so that its
    allocations and launches happen there and not on cupy's current device (a tensor on
    cuda:1 while cuda:0 is current).  Arrays that are not CuPy's (the tests' stand-in) run
    as they are."""

    @functools.wraps(launcher)
    def run(*args, **kwargs):
        for a in args:
            if backend.is_cuda_array(a):
                with backend.device_of(a):
                    return launcher(*args, **kwargs)
        return launcher(*args, **kwargs)

    return run


# -- launch configuration ---------------------------------------------------------------------
def blocks_cap() -> int:
    """32 blocks of 256 threads per SM: four full waves, after which the grid-stride loop
    gives each thread more elements instead of launching more blocks."""
    cupy = cupy_module()
    device = cupy.cuda.runtime.getDevice()
    cap = _max_blocks.get(device)
    if cap is None:
        sms = cupy.cuda.Device(device).attributes["MultiProcessorCount"]
        cap = _max_blocks[device] = int(sms) * 32
    return cap


def grid(n: int) -> tuple:
    """The grid of a grid-stride loop over ``n`` elements."""
    return (int(min(max(-(-n // THREADS), 1), blocks_cap())),)


# -- argument checks ------------------------------------------------------------------------
def check_float(a, what: str = "input"):
    """``a`` must be a cupy array of float16, float32 or float64 (TypeError naming it)."""
    cupy = cupy_module()
    if not isinstance(a, cupy.ndarray):
        raise TypeError(f"gpugrad kernels take cupy arrays; the {what} is a {type(a).__name__}")
    if a.dtype not in SUFFIX:
        raise TypeError(
            f"gpugrad kernels support float16, float32 and float64; the {what} is {a.dtype}"
        )


def compute_dtype(a):
    """The dtype a kernel computes ``a``'s dtype in: float64 stays, the others float32."""
    return numpy.float64 if a.dtype == numpy.float64 else numpy.float32


def address(a) -> int:
    """The device address of ``a``'s data, as a kernel argument inside a table or buffer
    (the tests' NumPy stand-ins: the host address, which the kernels emulated on the CPU
    read)."""
    return a.ctypes.data if isinstance(a, numpy.ndarray) else a.data.ptr


def contiguous(a):
    return a if a.flags.c_contiguous else cupy_module().ascontiguousarray(a)


def as_contiguous(a, dtype, what: str, shape=None):
    """``a`` (a cupy array) as a contiguous array of ``dtype``, broadcast to ``shape`` if
    given; copied only when needed."""
    cupy = cupy_module()
    if not isinstance(a, cupy.ndarray):
        raise TypeError(f"gpugrad kernels take cupy arrays; the {what} is a {type(a).__name__}")
    if shape is not None and a.shape != tuple(shape):
        try:
            a = cupy.broadcast_to(a, shape)
        except ValueError:
            raise ValueError(
                f"the {what} of shape {a.shape} does not broadcast to {tuple(shape)}"
            ) from None
    return contiguous(a.astype(dtype, copy=False))


# -- checks deferred to the next host read ----------------------------------------------------
def defer_flag(flag, message: str, key=None) -> None:
    """Remember a device int32 flag (shape (1,)) that a kernel sets on bad input; the next
    host read (``Tensor.item()``) raises ValueError(``message``) if it is set.  Flags of the
    same message and key are folded together on the device (no sync)."""
    pending = _pending_flags.get((message, key))
    if pending is None:
        _pending_flags[(message, key)] = flag
    else:
        cupy_module().maximum(pending, flag, out=pending)


def standing_flag(message: str, key=None):
    """A device int32 flag (shape (1,)) for ``message`` and ``key`` on the current device,
    made once and kept: a kernel sets it on bad input, the next host read raises
    ValueError(``message``) and zeroes it again.  Deferred already; reused by every call
    after the first, so a steady step allocates no flag and folds none (and a captured
    graph writes the same flag at every replay)."""
    cupy = cupy_module()
    slot = (message, key, cupy.cuda.runtime.getDevice())
    flag = _standing_flags.get(slot)
    if flag is None:
        flag = _standing_flags[slot] = cupy.zeros(1, dtype=numpy.int32)
    _pending_flags[(message, slot)] = flag
    return flag


def pending_flags() -> dict:
    """The flags deferred to the next host read, as a copy (for :func:`defer_flags`)."""
    return dict(_pending_flags)


def defer_flags(flags: dict) -> None:
    """Defer again the flags of :func:`pending_flags` (a replayed CUDA graph wrote them,
    as the Python that registered them at its capture no longer runs)."""
    _pending_flags.update(flags)


@on_arrays_device
def _zero(flag) -> None:
    """Zero a flag on its own device."""
    flag.fill(0)


def check_flag(flag, message: str) -> None:
    """Raise ValueError(``message``) if the device flag is set.  Reads one int: this
    synchronizes, so the caller decides when."""
    if int(flag[0]):
        raise ValueError(message)


def check_deferred_flags() -> None:
    """Raise for the first deferred flag that is set.  Synchronizes if anything is pending;
    clears the pending flags either way, so an error is reported once."""
    if not _pending_flags:
        return
    pending = list(_pending_flags.items())
    _pending_flags.clear()
    first = None
    for (message, key), flag in pending:
        if int(flag[0]):
            first = first or message
            if key in _standing_flags:  # kept for the next calls: zeroed, reported once
                _zero(flag)
    if first is not None:
        raise ValueError(first)


backend.register_deferred_check(check_deferred_flags)
