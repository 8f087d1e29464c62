"""``select(on, a, off)``: a where ``on`` else ``off`` (or 0), the gradient router of every
piecewise op (ReLU and its kin, the max gate), on raw arrays.

A SELECT, not a · mask: an infinite or NaN ``a`` where ``on`` is False must give 0 (as
PyTorch's threshold_backward), not inf · 0 = NaN.  On the CPU it is done with integer bit
masks (-1 = all bits where on, 0 where off), because NumPy's ``where`` and masked
``copyto`` branch per element and run 3-6x slower than these three to five branch-free
passes on a random mask such as a ReLU layer's or a pooling window's.  On the GPU
``where`` is already one branch-free pass.
"""

from __future__ import annotations

import numpy

from .. import backend

_SMALL = 4096  # elements; below this, call overhead outweighs branch mispredictions
_SAME_SIZE_INT = {1: numpy.int8, 2: numpy.int16, 4: numpy.int32, 8: numpy.int64}


def select(on, a, off=None):
    """A new array of ``on``'s shape (``a`` and ``off`` broadcast to it): ``a`` where ``on``
    (a bool array), else ``off`` (an array of a's dtype and ``on``'s shape that this call
    may overwrite and return) or 0."""
    if on.size <= _SMALL or backend.is_cuda_array(a):
        # On the GPU, and for small arrays where one call beats five, a plain where().
        xp = backend.get_array_module(a)
        return xp.where(on, a, xp.zeros((), a.dtype) if off is None else off)
    ints = _SAME_SIZE_INT[a.dtype.itemsize]
    bits = numpy.negative(on.view(numpy.int8), dtype=ints)  # -1 where on, 0 where off
    if off is None:
        numpy.bitwise_and(a.view(ints), bits, out=bits)
        return bits.view(a.dtype)
    off_bits = off.view(ints)
    kept = numpy.bitwise_and(a.view(ints), bits)
    numpy.invert(bits, out=bits)
    numpy.bitwise_and(off_bits, bits, out=off_bits)
    numpy.bitwise_or(off_bits, kept, out=off_bits)
    return off
