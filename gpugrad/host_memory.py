"""How the process's C allocator treats NumPy's large arrays on the CPU.

A training step on the CPU makes and frees the same large temporaries every step (a
convolution's columns, the activations, the gradients).  glibc's malloc hands arrays above
its mmap threshold back to the system when they are freed, and trims the top of its heap,
so every step touches fresh pages and pays a page fault for each 4 KiB of them: measured
here, the CNN train step at batch 64 on 2 cores takes 3,900 page faults and 34 ms, and
16 ms with none once malloc keeps what is freed.  PyTorch avoids most of them by
allocating less; NumPy cannot be told to reuse its buffers.

:func:`keep_freed_memory` asks glibc to keep freed memory for reuse (``mallopt``: the mmap
threshold at its maximum, 32 MiB, and no trimming).  It is process-wide — the process keeps
the most memory it ever used — so it is the caller's choice: ``python -m gpugrad train``
makes it, ``GPUGRAD_KEEP_HOST_MEMORY=1`` makes it when gpugrad is imported, and a program
may call it itself.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

__all__ = ["keep_freed_memory", "keeps_freed_memory"]

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
_MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's ceiling for it on 64-bit systems
_kept = False


def keep_freed_memory() -> bool:
    """Make glibc's malloc keep freed memory for reuse (see the module docstring).  Returns
    True when it did (or had already), False where the C library is not glibc (nothing
    changed).  Idempotent."""
    global _kept
    if _kept:
        return True
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        mallopt = None
    if mallopt is None:
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if not mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD_MAX):
        return False
    _kept = bool(mallopt(_M_TRIM_THRESHOLD, 2**31 - 1))
    return _kept


def keeps_freed_memory() -> bool:
    """Whether :func:`keep_freed_memory` has taken effect in this process."""
    return _kept


def apply_environment() -> None:
    """``GPUGRAD_KEEP_HOST_MEMORY=1`` (at import): keep freed memory."""
    if os.environ.get("GPUGRAD_KEEP_HOST_MEMORY", "").strip() in ("1", "true", "yes"):
        keep_freed_memory()
