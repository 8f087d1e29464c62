"""Comparisons and tests of values: ``eq ne lt le gt ge`` (and the operators), ``isnan
isinf isfinite``, ``allclose``, ``equal``.  Boolean results, outside the graph; a compiled
step replays the elementwise ones (``ops/nondifferentiable.py``), while ``allclose`` and
``equal`` return Python bools (host reads) and are refused there."""

from __future__ import annotations

from .. import backend
from ..autograd import recording
from ..creation import as_tensor
from ..tensor import Tensor
from .arithmetic import is_scalar
from .nondifferentiable import note
from .promotion import operands


def compare(a: Tensor, b, name: str) -> Tensor:
    """An elementwise comparison ``xp.<name>(a, b)``: a boolean Tensor, outside the graph."""
    a = as_tensor(a)
    if not isinstance(b, Tensor):
        if is_scalar(b):  # the common case: x > 0
            fn = getattr(backend.get_array_module(a.array), name)
            out = Tensor.wrap(fn(a.array, b))
            if recording.active is not None:
                note(name, fn, (a,), out, b)
            return out
        b = as_tensor(b, like=a)
    else:
        a, b = operands(a, b, name)
    fn = getattr(backend.get_array_module(a.array), name)
    out = Tensor.wrap(fn(a.array, b.array))
    if recording.active is not None:
        note(name, fn, (a, b), out)
    return out


def _comparison(name: str, xp_name: str):
    fn = lambda a, b: compare(a, b, xp_name)
    fn.__name__, fn.__doc__ = name, f"Elementwise ``a {name} b``: a boolean Tensor."
    return fn


eq, ne = _comparison("eq", "equal"), _comparison("ne", "not_equal")
lt, le = _comparison("lt", "less"), _comparison("le", "less_equal")
gt, ge = _comparison("gt", "greater"), _comparison("ge", "greater_equal")


def _test(x, name: str) -> Tensor:
    x = as_tensor(x)
    fn = getattr(backend.get_array_module(x.array), name)
    out = Tensor.wrap(fn(x.array))
    if recording.active is not None:
        note(name, fn, (x,), out)
    return out


def isnan(x) -> Tensor:
    return _test(x, "isnan")


def isinf(x) -> Tensor:
    return _test(x, "isinf")


def isfinite(x) -> Tensor:
    return _test(x, "isfinite")


def allclose(a, b, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> bool:
    """True when |a - b| <= atol + rtol * |b| everywhere (broadcast), as PyTorch's."""
    a = as_tensor(a)
    a, b = operands(a, b, "allclose")
    recording.refuse("gg.allclose (a host read: it returns a Python bool)")
    xp = backend.get_array_module(a.array)
    return bool(xp.allclose(a.array, b.array, rtol=rtol, atol=atol, equal_nan=equal_nan))


def equal(a, b) -> bool:
    """True when ``a`` and ``b`` have the same shape and elements."""
    a = as_tensor(a)
    a, b = operands(a, b, "equal")
    recording.refuse("gg.equal (a host read: it returns a Python bool)")
    return a.shape == b.shape and bool((a.array == b.array).all())
