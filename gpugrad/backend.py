"""The one place that knows NumPy from CuPy.

A :class:`Device` names where arrays live (``cpu`` or ``cuda:N``) and carries the
array module (``xp``) that computes there.  The default device is decided once:
``GPUGRAD_DEVICE`` if set, else CUDA when ``cupy`` imports, a device answers and a
one-element test kernel compiles and runs there, else the CPU.  Nothing here raises on a
machine without CUDA; the reason for the choice is kept in :data:`device_reason` for
``python -m gpugrad info``.
"""

from __future__ import annotations

import os
import threading

import numpy

__all__ = [
    "Device",
    "cuda_available",
    "cupy_or_none",
    "default_device",
    "device",
    "device_of",
    "get_array_module",
    "set_default_device",
    "synchronize",
    "to_device",
]

_cupy = None  # the cupy module once imported successfully
_cupy_error = None  # why cupy is unusable, if it is
_cupy_probed = False


def _probe_cupy():
    """Import cupy, ask for a device and run one tiny kernel there, once. Never raises."""
    global _cupy, _cupy_error, _cupy_probed
    if _cupy_probed:
        return _cupy
    _cupy_probed = True
    try:
        import cupy
    except Exception as e:  # ImportError, or a broken CUDA install
        _cupy_error = f"cupy is not importable ({type(e).__name__}: {e})"
        return None
    try:
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception as e:  # no driver, insufficient driver, ...
        _cupy_error = f"cupy imported but CUDA did not answer ({type(e).__name__}: {e})"
        return None
    if count < 1:
        _cupy_error = "cupy imported but there is no CUDA device"
        return None
    # CuPy 14 without the CUDA headers answers getDeviceCount() and fails only at the first
    # kernel ("Failed to find CUDA headers"): compile and run one tiny kernel now, once.
    failure = _kernel_probe_failure(cupy)
    if failure is not None:
        _cupy_error = failure
        return None
    _cupy = cupy
    return cupy


def _kernel_probe_failure(cupy) -> str | None:
    """Compile and run a one-element kernel; None if it worked, else why not. Never raises."""
    try:
        kernel = cupy.ElementwiseKernel("T x", "T y", "y = x + 1", "gpugrad_probe_add_one")
        y = kernel(cupy.zeros(1, dtype=cupy.float32))
        got = y.get()
        if float(got[0]) != 1.0:
            return (
                "cupy imported and a device answered, but a test kernel computed "
                f"0 + 1 = {float(got[0])!r}"
            )
    except Exception as e:  # CompileException, missing headers, launch failure, ...
        return (
            "cupy imported and a device answered, but compiling and running a kernel failed "
            f"({type(e).__name__}: {_first_lines(e)}): install {_ctk_hint(cupy)} "
            "or the CUDA toolkit headers"
        )
    return None


def _first_lines(e: BaseException, n: int = 3) -> str:
    """The start of an exception's message (NVRTC logs run to pages)."""
    lines = [line for line in str(e).strip().splitlines() if line.strip()]
    text = " / ".join(lines[:n])
    return text + (" ..." if len(lines) > n else "")


def _ctk_hint(cupy) -> str:
    """The pip package that brings the CUDA headers for this CuPy's CUDA major version."""
    try:
        major = int(cupy.cuda.runtime.runtimeGetVersion()) // 1000
    except Exception:
        major = None
    if major in (12, 13):
        return f"cupy-cuda{major}x[ctk]"
    return "cupy-cuda12x[ctk] (or cupy-cuda13x[ctk])"


def cupy_or_none():
    """The cupy module if CUDA is usable here, else None."""
    return _probe_cupy()


def cuda_available() -> bool:
    """True when cupy imports, a CUDA device answers and a test kernel runs on it."""
    return _probe_cupy() is not None


def cuda_unavailable_reason() -> str | None:
    _probe_cupy()
    return _cupy_error


class Device:
    """Where arrays live: ``Device("cpu")`` or ``Device("cuda", N)``.

    ``xp`` is the array module (numpy or cupy). Devices compare equal by name and
    print as ``cpu`` / ``cuda:0``, like PyTorch's.
    """

    __slots__ = ("_name", "index", "kind", "xp")

    def __init__(self, kind: str, index: int = 0):
        self.kind = kind
        self.index = index if kind == "cuda" else None
        if kind == "cpu":
            self.xp = numpy
            self._name = "cpu"
        else:
            cupy = _probe_cupy()
            if cupy is None:
                raise RuntimeError(
                    f"device cuda:{index} requested but CUDA is not available: {_cupy_error}"
                )
            n = cupy.cuda.runtime.getDeviceCount()
            if not 0 <= index < n:
                raise ValueError(
                    f"device cuda:{index} does not exist (this machine has {n} CUDA device(s))"
                )
            self.xp = cupy
            self._name = f"cuda:{index}"

    @property
    def type(self) -> str:
        return self.kind

    def __repr__(self):
        return f"device('{self._name}')"

    def __str__(self):
        return self._name

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                other = device(other)
            except (ValueError, RuntimeError):
                return False
        return isinstance(other, Device) and other._name == self._name

    def __hash__(self):
        return hash(self._name)

    def __enter__(self):
        # `with gg.device("cuda:1"):` makes it cupy's current device.  Device objects are
        # shared (cached by name), so the entered cupy contexts live on a per-thread stack,
        # not on the object: nested and concurrent `with` blocks each undo their own.
        if self.kind == "cuda":
            ctx = self.xp.cuda.Device(self.index)
            ctx.__enter__()
            _entered_contexts().append(ctx)
        return self

    def __exit__(self, *exc):
        if self.kind == "cuda":
            _entered_contexts().pop().__exit__(*exc)
        return False


_thread_state = threading.local()


def _entered_contexts() -> list:
    """This thread's stack of cupy device contexts entered by ``with Device``."""
    stack = getattr(_thread_state, "contexts", None)
    if stack is None:
        stack = _thread_state.contexts = []
    return stack


_device_cache: dict = {}


def device(spec) -> Device:
    """Parse ``"cpu"``, ``"cuda"``, ``"cuda:N"`` (or a Device) into a Device."""
    if isinstance(spec, Device):
        return spec
    if spec is None:
        return default_device()
    if not isinstance(spec, str):
        raise TypeError(
            f"device must be a string like 'cpu', 'cuda' or 'cuda:0', not {type(spec).__name__}"
        )
    d = _device_cache.get(spec)
    if d is not None:
        return d
    s = spec.strip().lower()
    if s == "cpu":
        d = Device("cpu")
    elif s == "cuda" or s == "gpu":
        d = Device("cuda", 0)
    elif s.startswith("cuda:") and s[5:].isdigit():
        d = Device("cuda", int(s[5:]))
    else:
        raise ValueError(f"unknown device {spec!r}: expected 'cpu', 'cuda' or 'cuda:N'")
    _device_cache[spec] = d
    return d


CPU = Device("cpu")
_default: Device | None = None
device_reason: str = ""


def _choose_default() -> Device:
    global device_reason
    env = os.environ.get("GPUGRAD_DEVICE", "").strip()
    if env:
        try:
            d = device(env)
        except (ValueError, RuntimeError) as e:
            # An explicit request that cannot be honoured is an error, not a silent fallback.
            raise RuntimeError(f"GPUGRAD_DEVICE={env!r} cannot be used: {e}") from None
        device_reason = f"GPUGRAD_DEVICE={env}"
        return d
    if _probe_cupy() is not None:
        device_reason = "CUDA is available (cupy imported, a device answered, a kernel ran)"
        return device("cuda:0")
    device_reason = f"CPU: {_cupy_error}"
    return CPU


def default_device() -> Device:
    """The device new tensors go to unless told otherwise."""
    global _default
    if _default is None:
        _default = _choose_default()
    return _default


def set_default_device(spec) -> Device:
    """Change the default device for new tensors; returns the new default."""
    global _default, device_reason
    _default = device(spec)
    device_reason = "set_default_device()"
    return _default


def get_array_module(x):
    """``numpy`` or ``cupy`` for an array or a Tensor (numpy for anything else)."""
    if _cupy is None:
        if _cupy_probed or isinstance(x, numpy.ndarray):
            return numpy
        _probe_cupy()  # someone may hand us a CuPy array before any device was chosen
        return get_array_module(x)
    if isinstance(x, _cupy.ndarray):
        return _cupy
    # a Tensor: its backend array
    if isinstance(getattr(x, "array", None), _cupy.ndarray):
        return _cupy
    return numpy


def is_cuda_array(a) -> bool:
    if _cupy is None and not _cupy_probed and not isinstance(a, numpy.ndarray):
        _probe_cupy()
    return _cupy is not None and isinstance(a, _cupy.ndarray)


def memory_owner(a):
    """The array that owns ``a``'s memory (``a`` itself unless it is a view); NumPy's and
    CuPy's views both keep their source in ``.base``."""
    while a.base is not None and hasattr(a.base, "base"):
        a = a.base
    return a


def device_of(a) -> Device:
    """The Device an array lives on."""
    if _cupy is not None and isinstance(a, _cupy.ndarray):
        return device(f"cuda:{a.device.id}")
    return CPU


def to_device(a, dev: Device):
    """Move (or copy only if needed) an array to ``dev``; returns the array there."""
    if dev.kind == "cpu":
        if _cupy is not None and isinstance(a, _cupy.ndarray):
            return _cupy.asnumpy(a)
        return a
    cupy = dev.xp
    if isinstance(a, cupy.ndarray) and a.device.id == dev.index:
        return a
    with cupy.cuda.Device(dev.index):
        return cupy.asarray(a)


def synchronize(dev=None) -> None:
    """Wait for all work queued on a CUDA device; a no-op on the CPU."""
    dev = default_device() if dev is None else device(dev)
    if dev.kind == "cuda":
        with dev.xp.cuda.Device(dev.index):
            dev.xp.cuda.get_current_stream().synchronize()


def gpu_name(index: int) -> str:
    """The marketing name of CUDA device ``index`` ("NVIDIA H100 80GB HBM3")."""
    props = _probe_cupy().cuda.runtime.getDeviceProperties(index)
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else name


# -- checks deferred to the next host read ----------------------------------------------------
# A kernel that finds bad input on the device (a label out of range) sets a flag there
# instead of synchronizing; the flag is read at the next host read (``Tensor.item()``),
# which synchronizes anyway.  Whoever sets such flags registers a check here.
_deferred_checks: list = []


def register_deferred_check(check) -> None:
    """Run ``check()`` (which raises on bad input) at every host read of a CUDA tensor."""
    if check not in _deferred_checks:
        _deferred_checks.append(check)


def run_deferred_checks() -> None:
    """Run the registered checks; called by ``Tensor.item()`` before it reads the device."""
    for check in _deferred_checks:
        check()
