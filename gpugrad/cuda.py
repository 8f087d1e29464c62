"""``gg.cuda``: questions about CUDA that never raise on a machine without it."""

from __future__ import annotations

from . import backend


def is_available() -> bool:
    """True when cupy imports and at least one CUDA device answers."""
    return backend.cuda_available()


def device_count() -> int:
    cupy = backend.cupy_or_none()
    return 0 if cupy is None else cupy.cuda.runtime.getDeviceCount()


def synchronize(device=None) -> None:
    """Wait for the GPU to finish queued work (a no-op without CUDA)."""
    if is_available():
        backend.synchronize(device if device is not None else "cuda")
