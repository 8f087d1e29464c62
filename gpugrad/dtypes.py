"""Dtype names and the default floating dtype.

``gg.float32`` and friends name NumPy dtypes (CuPy uses the same ones); Python floats and
float factories without a ``dtype`` take :data:`default_float`, float32 as in PyTorch.
"""

from __future__ import annotations

import numpy

__all__ = ["default_float", "float16", "float32", "float64", "int64"]

float16 = "float16"
float32 = "float32"
float64 = "float64"
int64 = "int64"

default_float = numpy.dtype(numpy.float32)
