"""Tensor's operators and methods, bound to the class in one place.

``tensor.py`` holds the Tensor class without maths; the ops are written on top of it in
``gpugrad.ops``.  :func:`bind` attaches them as methods (``x + y``, ``x.sum()``,
``x.reshape(2, 3)``, ``x += y`` ...) and is called once, by ``gpugrad/__init__.py``.
"""

from __future__ import annotations

from . import backend
from .creation import as_tensor
from .ops import activation, arithmetic, inplace, reduce, shape, softmax, unary
from .ops.indexing import getitem
from .ops.matmul import matmul
from .tensor import Tensor


def _shape_args(args):
    """reshape(2, 3) and reshape((2, 3)) alike."""
    return args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args


def reshape(self, *shape_):
    """This tensor with another shape: ``x.reshape(2, 3)`` or ``x.reshape((2, -1))``."""
    return shape.reshape(self, _shape_args(shape_))


def transpose(self, *axes):
    """Axes permuted (``x.transpose(1, 0, 2)``); all reversed when none are given."""
    return shape.transpose(self, _shape_args(axes) or None)


def to(self, device):
    """This tensor on ``device`` (itself if already there); differentiable."""
    return unary.to_device(self, backend.device(device))


def cpu(self):
    """This tensor on the CPU (itself if already there)."""
    return to(self, "cpu")


def cuda(self, index: int = 0):
    """This tensor on CUDA device ``index``."""
    return to(self, f"cuda:{index}")


def clip_(self, min=None, max=None):
    """Clip in place to [min, max]."""
    return inplace.apply(self, lambda t, _: unary.clip(t, min, max), None)


def zero_(self):
    """Fill with zeros in place."""
    return inplace.fill(self, 0)


def _compare(name):
    return lambda self, other: arithmetic.compare(self, other, name)


def _in_place(op):
    return lambda self, other: inplace.apply(self, op, other)


def _from_array(method):
    """A method answered by the raw array, outside the graph (argmax, any ...)."""
    return lambda self, *args, **kwargs: Tensor.wrap(getattr(self.data, method)(*args, **kwargs))


OPERATORS = {
    "__add__": arithmetic.add,
    "__radd__": arithmetic.add,
    "__sub__": arithmetic.sub,
    "__rsub__": arithmetic.rsub,
    "__mul__": arithmetic.mul,
    "__rmul__": arithmetic.mul,
    "__truediv__": arithmetic.div,
    "__rtruediv__": arithmetic.rdiv,
    "__pow__": arithmetic.pow,
    "__rpow__": arithmetic.rpow,
    "__neg__": arithmetic.neg,
    "__pos__": lambda self: self,
    "__abs__": unary.abs,
    "__matmul__": matmul,
    "__rmatmul__": lambda self, other: matmul(as_tensor(other, like=self), self),
    "__lt__": _compare("less"),
    "__le__": _compare("less_equal"),
    "__gt__": _compare("greater"),
    "__ge__": _compare("greater_equal"),
    "__eq__": _compare("equal"),
    "__ne__": _compare("not_equal"),
    "__getitem__": getitem,
    "__setitem__": inplace.setitem,
}

IN_PLACE = {  # each writes the tensor's buffer and bumps its version counter
    "__iadd__": _in_place(arithmetic.add),
    "__isub__": _in_place(arithmetic.sub),
    "__imul__": _in_place(arithmetic.mul),
    "__itruediv__": _in_place(arithmetic.div),
    "add_": _in_place(arithmetic.add),
    "sub_": _in_place(arithmetic.sub),
    "mul_": _in_place(arithmetic.mul),
    "div_": _in_place(arithmetic.div),
    "clip_": clip_,
    "fill_": inplace.fill,
    "zero_": zero_,
}

METHODS = {
    "exp": unary.exp,
    "log": unary.log,
    "sqrt": unary.sqrt,
    "abs": unary.abs,
    "clip": unary.clip,
    "clamp": unary.clip,
    "tanh": activation.tanh,
    "sigmoid": activation.sigmoid,
    "relu": activation.relu,
    "sum": reduce.sum,
    "mean": reduce.mean,
    "max": reduce.max,
    "min": reduce.min,
    "var": reduce.var,
    "logsumexp": softmax.logsumexp,
    "argmax": _from_array("argmax"),
    "argmin": _from_array("argmin"),
    "any": _from_array("any"),
    "all": _from_array("all"),
    "reshape": reshape,
    "transpose": transpose,
    "flatten": shape.flatten,
    "squeeze": shape.squeeze,
    "unsqueeze": shape.unsqueeze,
    "broadcast_to": shape.broadcast_to,
    "astype": unary.astype,
    "to": to,
    "cpu": cpu,
    "cuda": cuda,
}

PROPERTIES = {"T": shape.transpose}


def bind(cls=Tensor) -> None:
    """Attach the operators, in-place ops, methods and properties above to ``cls``."""
    for table in (OPERATORS, IN_PLACE, METHODS):
        for name, fn in table.items():
            setattr(cls, name, fn)
    for name, fn in PROPERTIES.items():
        setattr(cls, name, property(fn))
