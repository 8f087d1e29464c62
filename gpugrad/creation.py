"""Factories: ``gg.tensor`` from Python data or arrays, ``as_tensor``, ``zeros``, ``ones``,
``full``, ``empty``, the ``*_like`` forms, ``arange``, ``linspace`` and ``eye``.  Random
factories are in ``random.py``.  Python floats become the default float dtype (float32),
Python ints int64.

Inside a step being recorded by ``gg.compile``, what a factory makes from Python numbers,
a dtype, a device and (the ``*_like`` forms) another tensor's shape, dtype and device is
the same at every call of that plan: it is marked a constant (``recording.constant``).
"""

from __future__ import annotations

import numbers

import numpy

from . import backend, dtypes
from .autograd import recording
from .tensor import Tensor

__all__ = [
    "arange",
    "as_tensor",
    "empty",
    "empty_like",
    "eye",
    "from_numpy",
    "full",
    "full_like",
    "linspace",
    "ones",
    "ones_like",
    "tensor",
    "unwrap",
    "zeros",
    "zeros_like",
]


def unwrap(v):
    """The backend array of a Tensor; anything else unchanged."""
    return v.array if isinstance(v, Tensor) else v


def _infer_dtype(data, dtype):
    if dtype is not None:
        return dtypes.to_dtype(dtype)
    if isinstance(data, (bool, numpy.ndarray, numpy.generic)):
        return None  # arrays and NumPy scalars keep their dtype
    if isinstance(data, numbers.Integral):
        return numpy.dtype(numpy.int64)
    if isinstance(data, numbers.Real):
        return dtypes.get_default_dtype()
    if isinstance(data, (list, tuple)):
        a = numpy.asarray(data)
        if a.dtype.kind == "f":
            return dtypes.get_default_dtype()
        if a.dtype.kind in "iu":
            return numpy.dtype(numpy.int64)
    return None


def tensor(data, dtype=None, device=None, requires_grad: bool = False) -> Tensor:
    """Build a Tensor from a Python scalar, a (nested) list, a NumPy or CuPy array or a Tensor.

    Python floats become float32, Python ints int64; arrays keep their dtype unless
    ``dtype`` is given.  The data is copied.  ``device`` defaults to the array's own device
    for CuPy arrays and to :func:`gpugrad.default_device` otherwise.
    """
    if isinstance(data, Tensor):
        data = data.array
    if backend.is_cuda_array(data):
        dev = backend.device_of(data) if device is None else backend.device(device)
        arr = data if dtype is None else data.astype(dtype)
        arr = backend.to_device(arr, dev)
        if arr is data:
            arr = arr.copy()
    else:
        dev = backend.default_device() if device is None else backend.device(device)
        dt = _infer_dtype(data, dtype)
        try:
            host = numpy.array(data, dtype=dt)
        except (ValueError, TypeError) as e:
            raise TypeError(f"cannot make a tensor from {type(data).__name__}: {e}") from None
        if host.dtype == object:
            raise TypeError(f"cannot make a tensor from {type(data).__name__}: it is not numeric")
        arr = backend.to_device(host, dev)
        if not isinstance(data, numpy.ndarray):  # Python data: the same in every step
            return recording.constant(Tensor(arr, requires_grad=requires_grad))
    return Tensor(arr, requires_grad=requires_grad)


def as_tensor(value, like: Tensor | None = None) -> Tensor:
    """``value`` as a Tensor without copying when possible; Python scalars and lists take
    the dtype and device of ``like``."""
    if isinstance(value, Tensor):
        return value
    if like is None:
        return tensor(value)
    dev = like.device
    if isinstance(value, (numbers.Number, list, tuple)):
        host = numpy.asarray(value, dtype=like.dtype if like.dtype.kind == "f" else None)
        return recording.constant(Tensor.wrap(backend.to_device(host, dev)))
    if isinstance(value, numpy.ndarray) or backend.is_cuda_array(value):
        return Tensor.wrap(backend.to_device(value, dev))
    raise TypeError(f"expected a Tensor, a number or an array, got {type(value).__name__}")


def build(fill, shape, dtype, device, requires_grad, constant: bool = True) -> Tensor:
    """A Tensor of ``shape`` (ints, or one tuple) made by ``fill(xp, shape, dtype)`` on
    ``device``; the dtype defaults to the default float.  ``constant``: the fill gives the
    same values every time (not a random draw), so gg.compile may keep them."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for n in shape:
        if not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"shape must be non-negative integers, got {shape}")
    dev = backend.device(device)
    dt = dtypes.to_dtype(dtype)
    with dev:  # allocate on that device, not on cupy's current one
        array = fill(dev.xp, tuple(shape), dt)
    t = Tensor(array, requires_grad=requires_grad)
    return recording.constant(t) if constant else t


def zeros(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    return build(lambda xp, s, dt: xp.zeros(s, dt), shape, dtype, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    return build(lambda xp, s, dt: xp.ones(s, dt), shape, dtype, device, requires_grad)


def empty(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    return build(lambda xp, s, dt: xp.empty(s, dt), shape, dtype, device, requires_grad)


def full(shape, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
    return build(lambda xp, s, dt: xp.full(s, fill_value, dt), shape, dtype, device, requires_grad)


def _like(fill, t: Tensor, dtype, device, requires_grad):
    dev = t.device if device is None else backend.device(device)
    dt = t.dtype if dtype is None else dtypes.to_dtype(dtype)
    with dev:
        array = fill(dev.xp, t.shape, dt)
    out = Tensor(array, requires_grad=requires_grad)
    if recording.active is not None:  # t's shape, dtype and device are fixed for a plan
        recording.constant(out)
    return out


def zeros_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _like(lambda xp, s, dt: xp.zeros(s, dt), t, dtype, device, requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _like(lambda xp, s, dt: xp.ones(s, dt), t, dtype, device, requires_grad)


def empty_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _like(lambda xp, s, dt: xp.empty(s, dt), t, dtype, device, requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _like(lambda xp, s, dt: xp.full(s, fill_value, dt), t, dtype, device, requires_grad)


def arange(start, stop=None, step=1, dtype=None, device=None, requires_grad=False) -> Tensor:
    if stop is None:
        start, stop = 0, start
    ints = all(isinstance(v, numbers.Integral) for v in (start, stop, step))
    dt = (
        dtypes.to_dtype(dtype)
        if dtype is not None
        else (numpy.dtype(numpy.int64) if ints else dtypes.get_default_dtype())
    )
    dev = backend.device(device)
    with dev:
        array = dev.xp.arange(start, stop, step, dtype=dt)
    out = Tensor(array, requires_grad=requires_grad)
    if recording.active is not None:
        recording.constant(out)
    return out


def linspace(start, end, steps: int, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``steps`` evenly spaced values from ``start`` to ``end`` (both included)."""
    dt = dtypes.to_dtype(dtype)
    a = backend.device(device).xp.linspace(start, end, steps, dtype=numpy.float64)
    out = Tensor(a.astype(dt), requires_grad=requires_grad)
    if recording.active is not None:
        recording.constant(out)
    return out


def eye(n: int, m: int | None = None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """The n x m identity matrix (m defaults to n)."""
    dt = dtypes.to_dtype(dtype)
    out = Tensor(backend.device(device).xp.eye(n, m, dtype=dt), requires_grad=requires_grad)
    if recording.active is not None:
        recording.constant(out)
    return out


def from_numpy(a: numpy.ndarray) -> Tensor:
    """A CPU Tensor sharing memory with the NumPy array ``a`` (as PyTorch's)."""
    if not isinstance(a, numpy.ndarray):
        raise TypeError(f"expected a numpy.ndarray, got {type(a).__name__}")
    if recording.active is not None:
        recording.refuse(
            "gg.from_numpy (it shares a NumPy array's memory, which a replay would not read "
            "again); make the tensor outside the step and pass it in"
        )
    return Tensor(a)
