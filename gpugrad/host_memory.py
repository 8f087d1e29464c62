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

The ops' own large arrays need no such setting: :func:`empty` and :func:`empty_like` take
them from a pool of blocks that gpugrad keeps, as CuPy's pool does on the GPU.  A block is
free again when no array uses it any more, which its reference count tells: every NumPy view
of a block holds the block itself as its ``base``, so the block's count is the pool's own
reference plus one per array in use.  A steady training step then takes the same blocks
again and touches no fresh page for the activations, gradients and working buffers that the
CNN's convolutions, ReLUs and max pools make (measured here: 5 µs per page fault, 3,900
faults in the CNN step at batch 64 before, about 20 ms of its 40).  Arrays from
``POOL_MIN_BYTES`` up are pooled while the pool holds at most ``pool_limit()`` bytes of
blocks, in use or idle (256 MiB unless ``GPUGRAD_HOST_POOL_MIB`` says otherwise at import;
idle blocks are freed to make room; past that, arrays are NumPy's own);
:func:`release_pool` frees the idle ones, ``set_pool_limit(0)`` turns the pool off.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys
import threading

import numpy

__all__ = [
    "empty",
    "empty_like",
    "keep_freed_memory",
    "keeps_freed_memory",
    "pool_bytes",
    "pool_limit",
    "pooled_like",
    "release_pool",
    "set_pool_limit",
]

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
    """At import: ``GPUGRAD_KEEP_HOST_MEMORY=1`` keeps freed memory;
    ``GPUGRAD_HOST_POOL_MIB=n`` sets the pool's limit to n MiB (0: no pool)."""
    if os.environ.get("GPUGRAD_KEEP_HOST_MEMORY", "").strip() in ("1", "true", "yes"):
        keep_freed_memory()
    mib = os.environ.get("GPUGRAD_HOST_POOL_MIB", "").strip()
    if mib:
        if not (mib.isascii() and mib.isdigit()):
            raise ValueError(f"GPUGRAD_HOST_POOL_MIB must be a whole number of MiB, got {mib!r}")
        set_pool_limit(int(mib) << 20)


# -- the pool of large blocks ----------------------------------------------------------------
POOL_MIN_BYTES = 64 * 1024  # smaller arrays: NumPy's allocation costs less than the pool's
_pool_limit = 256 * 1024 * 1024  # the most bytes of blocks the pool holds, in use or idle
# blocks are shared by all threads: the check-and-take is atomic; reentrant, as a garbage
# collection inside it may run a finalizer that makes an array
_lock = threading.RLock()
_bins: dict = {}  # size class (bytes) -> blocks (uint8 arrays), oldest first
_held = 0  # bytes of all blocks in the bins


def _size_class(nbytes: int) -> int:
    """``nbytes`` rounded up to one of 8 sizes per power of two (at most 12.5% unused), so
    that arrays of nearly the same size share blocks."""
    step = 1 << max(nbytes.bit_length() - 4, 0)
    return -(-nbytes // step) * step


def _uses(blocks) -> list:
    """The reference count of each block, as counted when no array uses it: ``_IDLE``."""
    return [sys.getrefcount(block) for block in blocks]


# Measured, not assumed: the list, the loop's name and getrefcount's argument, whatever
# this interpreter counts of them.
_IDLE = _uses([numpy.empty(1, numpy.uint8)])[0]


def _evict(needed: int) -> None:
    """Free idle blocks until the blocks held and ``needed`` more bytes fit the limit (or
    no idle block is left)."""
    global _held
    for size in list(_bins):
        if _held + needed <= _pool_limit:
            return
        blocks = _bins[size]
        kept = []
        for block, uses in zip(blocks, _uses(blocks)):
            if uses == _IDLE and _held + needed > _pool_limit:
                _held -= size
            else:
                kept.append(block)
        _bins[size] = kept


def empty(shape, dtype=numpy.float32):
    """An uninitialized C-contiguous NumPy array, from the pool when it is large (see the
    module docstring); it is the caller's until it dies, like ``numpy.empty``'s."""
    global _held
    dtype = numpy.dtype(dtype)
    shape = (shape,) if isinstance(shape, (int, numpy.integer)) else tuple(shape)
    nbytes = dtype.itemsize
    for n in shape:
        nbytes *= int(n)
    if nbytes < POOL_MIN_BYTES:
        return numpy.empty(shape, dtype)
    size = _size_class(nbytes)
    if size > _pool_limit and _held <= _pool_limit:  # never pooled: leave the idle blocks
        return numpy.empty(shape, dtype)
    with _lock:
        blocks = _bins.setdefault(size, [])
        uses = _uses(blocks)
        if _IDLE in uses and _held <= _pool_limit:
            block = blocks[uses.index(_IDLE)]
        else:  # (over a lowered limit: idle blocks are freed, not handed out again)
            _evict(size)
            if _held + size > _pool_limit:  # the pool is full of blocks in use
                return numpy.empty(shape, dtype)
            block = numpy.empty(size, numpy.uint8)
            _bins[size].append(block)
            _held += size
        return block[:nbytes].view(dtype).reshape(shape)


def empty_like(a, dtype=None):
    """An uninitialized array of ``a``'s shape in ``a``'s memory order (a (C, N, H, W)
    array seen as (N, C, H, W) gets the same), of ``a``'s dtype or ``dtype``."""
    dtype = a.dtype if dtype is None else numpy.dtype(dtype)
    if a.size * dtype.itemsize < POOL_MIN_BYTES:
        return numpy.empty_like(a, dtype)
    order = sorted(range(a.ndim), key=lambda axis: -abs(a.strides[axis]))
    inverse = [0] * a.ndim
    for position, axis in enumerate(order):
        inverse[axis] = position
    return empty([a.shape[axis] for axis in order], dtype).transpose(inverse)


def pooled_like(a):
    """:func:`empty_like` of ``a`` when it is large enough to pool, else None (for an
    ``out=`` argument: NumPy then makes the array itself)."""
    return empty_like(a) if a.nbytes >= POOL_MIN_BYTES else None


def pool_limit() -> int:
    """The most bytes of blocks the pool holds (in use or idle)."""
    return _pool_limit


def pool_bytes() -> int:
    """The bytes of blocks the pool holds now, in use or idle."""
    return _held


def set_pool_limit(nbytes: int) -> int:
    """Hold at most ``nbytes`` of blocks (0: pool nothing); idle blocks over the new limit
    are freed at once, blocks in use once they are idle and a new one is needed.  Returns
    the previous limit."""
    global _pool_limit
    if nbytes < 0:
        raise ValueError(f"the pool limit must be >= 0 bytes, got {nbytes}")
    with _lock:
        previous, _pool_limit = _pool_limit, int(nbytes)
        _evict(0)
    return previous


def release_pool() -> int:
    """Free the pool's idle blocks (a block in use is freed when its last array dies);
    returns how many bytes were freed."""
    global _held
    freed = 0
    with _lock:
        for size, blocks in _bins.items():
            kept = [block for block, uses in zip(blocks, _uses(blocks)) if uses != _IDLE]
            freed += size * (len(blocks) - len(kept))
            _bins[size] = kept
        _held -= freed
    return freed
