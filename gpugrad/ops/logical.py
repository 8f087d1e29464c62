"""Logical and bitwise ops: ``logical_and logical_or logical_xor logical_not`` (boolean
results for any dtype: nonzero is True) and ``bitwise_and bitwise_or bitwise_xor
bitwise_not``, the operators ``& | ^ ~`` (bool and integer tensors only; bool stays bool,
integers keep their promoted dtype, as PyTorch's).  Results are outside the graph; a
compiled step replays them (``ops/nondifferentiable.py``)."""

from __future__ import annotations

import numbers

import numpy

from .. import backend, dtypes
from ..autograd import recording
from ..creation import as_tensor
from ..tensor import Tensor
from .nondifferentiable import apply, note
from .promotion import check_device, operands


def _pair(a, b) -> tuple:
    """Both as Tensors: a Python value or array takes the other operand's device."""
    if not isinstance(a, Tensor):
        if not isinstance(b, Tensor):
            a = as_tensor(a)
        else:
            return as_tensor(a, like=b), b
    return a, (b if isinstance(b, Tensor) else as_tensor(b, like=a))


def _logical(a, b, name: str) -> Tensor:
    a, b = _pair(a, b)
    check_device(a, b, name)
    return apply(name, getattr(backend.get_array_module(a.array), name), (a, b))


def logical_and(input, other) -> Tensor:
    """Elementwise ``input and other`` (nonzero is True): a boolean Tensor."""
    return _logical(input, other, "logical_and")


def logical_or(input, other) -> Tensor:
    """Elementwise ``input or other`` (nonzero is True): a boolean Tensor."""
    return _logical(input, other, "logical_or")


def logical_xor(input, other) -> Tensor:
    """Elementwise ``bool(input) != bool(other)``: a boolean Tensor."""
    return _logical(input, other, "logical_xor")


def logical_not(input) -> Tensor:
    """Elementwise ``not input`` (nonzero is True): a boolean Tensor."""
    x = as_tensor(input)
    return apply("logical_not", backend.get_array_module(x.array).logical_not, (x,))


# -- bitwise ---------------------------------------------------------------------------------
def _refuse_float(dtype, name: str) -> None:
    if numpy.dtype(dtype).kind not in "biu":
        raise NotImplementedError(
            f'"{name}" is not implemented for {numpy.dtype(dtype)}: bitwise ops take bool '
            f"and integer tensors (logical_{name[8:]} tests truth on any dtype)"
        )


def _with_scalar(x, value, dtype: str, name: str):
    """``xp.<name>(x in dtype, value)``; value is a Python number within dtype's range."""
    xp = backend.get_array_module(x)
    return getattr(xp, name)(x.astype(dtype, copy=False), numpy.dtype(dtype).type(value))


def _scalar(a: Tensor, b, name: str) -> Tensor:
    """``a <op> b`` with a Python bool or int ``b``: it never widens an integer tensor; an
    int with a bool tensor gives int64; a float is refused (as PyTorch)."""
    if isinstance(b, (bool, numpy.bool_)):
        dt = a.dtype
    elif isinstance(b, numbers.Integral):
        dt = numpy.dtype(numpy.int64) if a.dtype == numpy.bool_ else a.dtype
    else:
        dt = numpy.dtype(numpy.float32)  # a float scalar makes the result float
    _refuse_float(a.dtype if a.dtype.kind == "f" else dt, name)
    # PyTorch wraps an out-of-range int to the dtype (uint8 & -1 is uint8 & 255)
    value = numpy.array(int(b)).astype(dt).item()
    out = Tensor.wrap(_with_scalar(a.array, value, dt.name, name))
    if recording.active is not None:
        note(name, _with_scalar, (a,), out, value, dt.name, name)
    return out


def _bitwise(a, b, name: str) -> Tensor:
    if isinstance(a, Tensor) and not isinstance(b, Tensor) and _is_number(b):
        return _scalar(a, b, name)
    if isinstance(b, Tensor) and not isinstance(a, Tensor) and _is_number(a):
        return _scalar(b, a, name)  # and, or, xor commute
    a, b = _pair(a, b)
    check_device(a, b, name)
    _refuse_float(dtypes.promote(a.array, b.array), name)
    a, b = operands(a, b, name)
    return apply(name, getattr(backend.get_array_module(a.array), name), (a, b))


def _is_number(v) -> bool:
    return isinstance(v, (numbers.Number, numpy.bool_))


def bitwise_and(input, other) -> Tensor:
    """Elementwise ``input & other`` for bool and integer tensors."""
    return _bitwise(input, other, "bitwise_and")


def bitwise_or(input, other) -> Tensor:
    """Elementwise ``input | other`` for bool and integer tensors."""
    return _bitwise(input, other, "bitwise_or")


def bitwise_xor(input, other) -> Tensor:
    """Elementwise ``input ^ other`` for bool and integer tensors."""
    return _bitwise(input, other, "bitwise_xor")


def bitwise_not(input) -> Tensor:
    """Elementwise NOT: logical not on bool, two's complement on integers."""
    x = as_tensor(input)
    _refuse_float(x.dtype, "bitwise_not")
    return apply("bitwise_not", backend.get_array_module(x.array).invert, (x,))


def invert(x: Tensor) -> Tensor:
    """``~x``; a float tensor raises TypeError, as PyTorch's operator (its bitwise_not
    raises NotImplementedError)."""
    if x.dtype.kind not in "biu":
        raise TypeError(
            f"~ (operator.invert) is only implemented on integer and Boolean-type tensors, "
            f"not {x.dtype}"
        )
    return bitwise_not(x)
