"""Tensor's operators and methods, bound to the class in one place.

``tensor.py`` holds the Tensor class without maths; the ops are written on top of it in
``gpugrad.ops``.  :func:`bind` attaches them as methods (``x + y``, ``x.sum()``,
``x.reshape(2, 3)``, ``x += y`` ...) and is called once, by ``gpugrad/__init__.py``.
"""

from __future__ import annotations

from . import backend, dtypes, interop
from .creation import as_tensor
from .ops import (
    activation,
    arithmetic,
    comparison,
    cumulative,
    inplace,
    logical,
    matmul,
    reduce,
    rounding,
    shape,
    softmax,
    sort,
    split,
    tile,
    trig,
    unary,
    where,
)
from .ops.indexing import getitem
from .tensor import Tensor


def _shape_args(args):
    """reshape(2, 3) and reshape((2, 3)) alike."""
    return args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args


def reshape(self, *shape_):
    """This tensor with another shape: ``x.reshape(2, 3)`` or ``x.reshape((2, -1))``."""
    return shape.reshape(self, _shape_args(shape_))


def view(self, *shape_):
    """This tensor's memory seen with another shape; an error when that needs a copy."""
    return shape.view(self, _shape_args(shape_))


def permute(self, *dims):
    """The dims reordered: ``x.permute(2, 0, 1)``."""
    return shape.permute(self, tuple(_shape_args(dims)))


def _split_to_args(args, kwargs):
    """(device, dtype) from ``to``'s forms: to(device), to(dtype), to(device, dtype),
    to(other_tensor), with ``device=``/``dtype=`` keywords."""
    dev, dt = kwargs.get("device"), kwargs.get("dtype")
    for a in args:
        if isinstance(a, Tensor):
            dev, dt = a.device, a.dtype
        elif isinstance(a, (str, backend.Device)):
            dev = a
        elif a is not None:
            dt = a
    return dev, dt


def to(self, *args, **kwargs):
    """This tensor on a device and/or in a dtype (itself when nothing changes);
    differentiable.  ``x.to("cuda")``, ``x.to(gg.float64)``, ``x.to("cpu", gg.float16)``,
    ``x.to(other)``."""
    dev, dt = _split_to_args(args, kwargs)
    out = self
    if dt is not None:
        out = unary.astype(out, dt)
    if dev is not None:
        out = unary.to_device(out, backend.device(dev))
    if kwargs.get("copy") and out is self:
        out = unary.clone(self)
    return out


def type_(self, dtype=None):
    """The dtype's name without an argument; else this tensor in ``dtype``."""
    if dtype is None:
        return str(self.dtype)
    return unary.astype(self, dtype)


def cpu(self):
    """This tensor on the CPU (itself if already there)."""
    return to(self, "cpu")


def cuda(self, index: int = 0):
    """This tensor on CUDA device ``index``."""
    return to(self, f"cuda:{index}")


def _cast(dtype):
    return lambda self: unary.astype(self, dtype)


def clip_(self, min=None, max=None):
    """Clip in place to [min, max]."""
    return inplace.apply(self, lambda t, _: unary.clip(t, min, max), None)


def masked_fill_(self, mask, value):
    """Fill with ``value`` in place where ``mask`` holds."""
    return inplace.apply(self, lambda t, _: where.masked_fill(t, mask, value), None)


def zero_(self):
    """Fill with zeros in place."""
    return inplace.fill(self, 0)


def _in_place(op):
    return lambda self, other: inplace.apply(self, op, other)


def _reflect(op):
    return lambda self, other: op(as_tensor(other, like=self), self)


def expand(self, *sizes):
    """This tensor broadcast to ``sizes`` (a view; -1 keeps a dim)."""
    return shape.expand(self, *sizes)


def t(self):
    """The transpose of a tensor of at most 2 dims."""
    if self.ndim > 2:
        raise ValueError(f"t() expects a tensor with <= 2 dimensions, got {self.ndim}")
    return shape.transpose(self)


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
    "__floordiv__": rounding.floor_divide,
    "__rfloordiv__": _reflect(rounding.floor_divide),
    "__mod__": rounding.remainder,
    "__rmod__": _reflect(rounding.remainder),
    "__matmul__": matmul.matmul,
    "__rmatmul__": _reflect(matmul.matmul),
    "__lt__": comparison.lt,
    "__le__": comparison.le,
    "__gt__": comparison.gt,
    "__ge__": comparison.ge,
    "__eq__": comparison.eq,
    "__ne__": comparison.ne,
    "__and__": logical.bitwise_and,
    "__rand__": logical.bitwise_and,
    "__or__": logical.bitwise_or,
    "__ror__": logical.bitwise_or,
    "__xor__": logical.bitwise_xor,
    "__rxor__": logical.bitwise_xor,
    "__invert__": logical.invert,
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
    "clamp_": clip_,
    "masked_fill_": masked_fill_,
    "fill_": inplace.fill,
    "zero_": zero_,
    "copy_": inplace.copy,
    "__iand__": _in_place(logical.bitwise_and),
    "__ior__": _in_place(logical.bitwise_or),
    "__ixor__": _in_place(logical.bitwise_xor),
}

METHODS = {
    "exp": unary.exp,
    "log": unary.log,
    "sqrt": unary.sqrt,
    "rsqrt": unary.rsqrt,
    "log1p": unary.log1p,
    "expm1": unary.expm1,
    "abs": unary.abs,
    "neg": arithmetic.neg,
    "reciprocal": lambda self: arithmetic.rdiv(self, 1.0),
    "pow": arithmetic.pow,
    "clip": unary.clip,
    "clamp": unary.clip,
    "sin": trig.sin,
    "cos": trig.cos,
    "floor": rounding.floor,
    "ceil": rounding.ceil,
    "round": rounding.round,
    "sign": rounding.sign,
    "remainder": rounding.remainder,
    "floor_divide": rounding.floor_divide,
    "tanh": activation.tanh,
    "sigmoid": activation.sigmoid,
    "relu": activation.relu,
    "add": arithmetic.add,
    "sub": arithmetic.sub,
    "mul": arithmetic.mul,
    "div": arithmetic.div,
    "eq": comparison.eq,
    "ne": comparison.ne,
    "lt": comparison.lt,
    "le": comparison.le,
    "gt": comparison.gt,
    "ge": comparison.ge,
    "logical_and": logical.logical_and,
    "logical_or": logical.logical_or,
    "logical_xor": logical.logical_xor,
    "logical_not": logical.logical_not,
    "bitwise_and": logical.bitwise_and,
    "bitwise_or": logical.bitwise_or,
    "bitwise_xor": logical.bitwise_xor,
    "bitwise_not": logical.bitwise_not,
    "isnan": comparison.isnan,
    "isinf": comparison.isinf,
    "isfinite": comparison.isfinite,
    "allclose": comparison.allclose,
    "equal": comparison.equal,
    "matmul": matmul.matmul,
    "mm": matmul.mm,
    "bmm": matmul.bmm,
    "mv": matmul.mv,
    "dot": matmul.dot,
    "outer": matmul.outer,
    "sum": reduce.sum,
    "mean": reduce.mean,
    "max": reduce.max,
    "min": reduce.min,
    "amax": reduce.amax,
    "amin": reduce.amin,
    "var": reduce.var,
    "std": reduce.std,
    "argmax": reduce.argmax,
    "argmin": reduce.argmin,
    "any": reduce.any,
    "all": reduce.all,
    "cumsum": cumulative.cumsum,
    "sort": sort.sort,
    "argsort": sort.argsort,
    "topk": sort.topk,
    "logsumexp": softmax.logsumexp,
    "softmax": softmax.softmax,
    "log_softmax": softmax.log_softmax,
    "prod": reduce.prod,
    "norm": reduce.norm,
    "reshape": reshape,
    "view": view,
    "view_as": lambda self, other: shape.view(self, other.shape),
    "reshape_as": lambda self, other: shape.reshape(self, other.shape),
    "transpose": shape.transpose_dims,
    "swapaxes": shape.swapaxes,
    "permute": permute,
    "t": t,
    "flatten": shape.flatten,
    "unflatten": shape.unflatten,
    "squeeze": shape.squeeze,
    "unsqueeze": shape.unsqueeze,
    "broadcast_to": shape.broadcast_to,
    "expand": expand,
    "expand_as": lambda self, other: shape.broadcast_to(self, other.shape),
    "repeat": tile.repeat,
    "flip": tile.flip,
    "chunk": split.chunk,
    "split": split.split,
    "masked_fill": where.masked_fill,
    "clone": unary.clone,
    "contiguous": unary.contiguous,
    "is_contiguous": lambda self: bool(self.array.flags.c_contiguous),
    "__dlpack__": interop.dlpack,
    "__dlpack_device__": interop.dlpack_device,
    "astype": unary.astype,
    "type": type_,
    "to": to,
    "cpu": cpu,
    "cuda": cuda,
    "float": _cast(dtypes.float32),
    "double": _cast(dtypes.float64),
    "half": _cast(dtypes.float16),
    "int": _cast(dtypes.int32),
    "long": _cast(dtypes.int64),
    "bool": _cast(dtypes.bool_),
}

PROPERTIES = {
    "T": shape.transpose,
    "mT": lambda self: shape.swapaxes(self, -2, -1),
    "__cuda_array_interface__": interop.cuda_array_interface,
}


def bind(cls=Tensor) -> None:
    """Attach the operators, in-place ops, methods and properties above to ``cls``."""
    for table in (OPERATORS, IN_PLACE, METHODS):
        for name, fn in table.items():
            setattr(cls, name, fn)
    for name, fn in PROPERTIES.items():
        setattr(cls, name, property(fn))
