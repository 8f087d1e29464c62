"""Philox4x32-10 in NumPy, written from Random123's definition (include/Random123/philox.h:
ten rounds, multipliers 0xD2511F53 and 0xCD9E8D57, key increments 0x9E3779B9 and
0xBB67AE85), and the dropout masks the kernel (kernels/dropout.cu) draws from it: the
reference of tests/kernels/test_dropout_kernels.py and tests/test_philox_dropout.py.

``KNOWN_ANSWERS`` are Random123's own test vectors, the three ``philox4x32 10`` lines of
tests/kat_vectors (github.com/DEShawResearch/random123 at 9545ff6, lines 27-29): counter
(4 words), key (2 words), expected output (4 words).
"""

from __future__ import annotations

import math

import numpy as np

KNOWN_ANSWERS = [
    # counter                                         key                       output
    (
        (0x00000000, 0x00000000, 0x00000000, 0x00000000),
        (0x00000000, 0x00000000),
        (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8),
    ),
    (
        (0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF, 0xFFFFFFFF),
        (0xFFFFFFFF, 0xFFFFFFFF),
        (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD),
    ),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]

M0, M1 = np.uint64(0xD2511F53), np.uint64(0xCD9E8D57)
W0, W1 = 0x9E3779B9, 0xBB67AE85
LOW = np.uint64(0xFFFFFFFF)


def philox4x32_10(counter, key) -> np.ndarray:
    """Philox4x32-10 of each row: ``counter`` (n, 4) and ``key`` (n, 2) uint32 -> (n, 4)."""
    c = [np.asarray(counter, np.uint64)[:, i].copy() for i in range(4)]
    k0, k1 = (np.asarray(key, np.uint64)[:, i].copy() for i in range(2))
    for r in range(10):
        if r:
            k0, k1 = (k0 + W0) & LOW, (k1 + W1) & LOW
        p0, p1 = M0 * c[0], M1 * c[2]  # < 2^64: exact in uint64
        c = [
            (p1 >> np.uint64(32)) ^ c[1] ^ k0,
            p1 & LOW,
            (p0 >> np.uint64(32)) ^ c[3] ^ k1,
            p0 & LOW,
        ]
    return np.stack(c, axis=1).astype(np.uint32)


def stream(seed: int, offset: int, n: int) -> np.ndarray:
    """The 32-bit numbers at positions offset .. offset + n - 1 of ``seed``'s stream (offset a
    multiple of 4): counter offset/4 + i/4 in the low 64 bits, key = the seed."""
    assert offset % 4 == 0
    groups = np.arange(-(-n // 4), dtype=np.uint64) + np.uint64(offset // 4)
    counter = np.zeros((groups.size, 4), np.uint64)
    counter[:, 0], counter[:, 1] = groups & LOW, groups >> np.uint64(32)
    key = np.tile(
        np.array([seed & 0xFFFFFFFF, (seed >> 32) & 0xFFFFFFFF], np.uint64), (groups.size, 1)
    )
    return philox4x32_10(counter, key).reshape(-1)[:n]


def keep(seed: int, offset: int, n: int, p: float) -> np.ndarray:
    """Which of n elements a dropout of probability p keeps: number / 2^32 >= p."""
    return stream(seed, offset, n).astype(np.int64) >= math.ceil(p * 2.0**32)


def mask(seed: int, offset: int, shape, p: float, dtype) -> np.ndarray:
    """The dropout mask of ``shape``: 1/(1-p) rounded to ``dtype`` where kept, else 0."""
    n = math.prod(shape)
    scale = np.dtype(dtype).type(1.0 / (1.0 - p))
    return np.where(keep(seed, offset, n, p), scale, np.dtype(dtype).type(0)).reshape(shape)
