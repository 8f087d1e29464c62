"""Splitting a tensor into pieces along a dim: ``split`` (by sizes) and ``chunk`` (by a
count), as PyTorch's; each piece is a view (basic indexing), differentiable."""

from __future__ import annotations

import numbers

from ..creation import as_tensor
from .indexing import getitem


def split(x, split_size_or_sections, dim: int = 0) -> tuple:
    """Pieces of length ``split_size`` (the last may be shorter), or of the given lengths."""
    x = as_tensor(x)
    d = dim % x.ndim
    n = x.shape[d]
    if isinstance(split_size_or_sections, numbers.Integral):
        size = int(split_size_or_sections)
        if size <= 0 and n:
            raise ValueError(f"split size must be positive, got {size}")
        sizes = [min(size, n - i) for i in range(0, n, size)] if n else [0]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if sum(sizes) != n:
            raise ValueError(f"split sizes {sizes} do not add up to {n} (dim {dim})")
    pieces, start = [], 0
    for s in sizes:
        pieces.append(getitem(x, (slice(None),) * d + (slice(start, start + s),)))
        start += s
    return tuple(pieces)


def chunk(x, chunks: int, dim: int = 0) -> tuple:
    """At most ``chunks`` pieces of equal length (ceil(n / chunks); the last may be shorter)."""
    x = as_tensor(x)
    if chunks <= 0:
        raise ValueError(f"chunk expects a positive number of chunks, got {chunks}")
    n = x.shape[dim % x.ndim]
    return split(x, max(-(-n // chunks), 1), dim)
