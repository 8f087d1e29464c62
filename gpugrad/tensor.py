"""Tensor: a thin wrapper over a backend array, its gradient and the node that made it.

A Tensor has no maths of its own: every operator calls a Function in ``gpugrad.ops``.
Factories (``tensor``, ``zeros``, ``randn``, ...) live at the bottom of this file.
"""

from __future__ import annotations

import numbers

import numpy

from . import autograd, backend

__all__ = [
    "Tensor",
    "arange",
    "as_tensor",
    "default_float",
    "empty",
    "full",
    "full_like",
    "manual_seed",
    "ones",
    "ones_like",
    "rand",
    "randn",
    "tensor",
    "unwrap",
    "zeros",
    "zeros_like",
]

default_float = numpy.dtype(numpy.float32)


class Tensor:
    """An n-dimensional array on a device, with optional gradient tracking.

    Attributes: ``data`` (numpy.ndarray or cupy.ndarray), ``grad`` (Tensor or None),
    ``requires_grad``, ``creator`` (the Function that produced it, None for leaves).
    Use :func:`gpugrad.tensor` to build one from Python data.
    """

    __slots__ = ("__weakref__", "_version", "creator", "data", "grad", "name", "requires_grad")
    # Make NumPy defer to our reflected operators: np_array + tensor -> Tensor.__radd__.
    __array_ufunc__ = None
    __array_priority__ = 1000

    def __init__(self, data, requires_grad: bool = False, name: str | None = None):
        if isinstance(data, Tensor):
            data = data.data
        elif not isinstance(data, numpy.ndarray) and not backend.is_cuda_array(data):
            data = numpy.asarray(data)
        self.data = data
        self.grad = None
        self.creator = None
        self._version = [0]
        self.name = name
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _from_op(cls, data):
        """Fast path for results of ops: no checks, no conversion."""
        t = object.__new__(cls)
        t.data = data
        t.grad = None
        t.requires_grad = False
        t.creator = None
        t._version = [0]
        t.name = None
        return t

    # -- properties ---------------------------------------------------------------
    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def dtype(self):
        return self.data.dtype

    @property
    def device(self) -> backend.Device:
        return backend.device_of(self.data)

    @property
    def is_leaf(self) -> bool:
        return self.creator is None

    @property
    def T(self) -> Tensor:
        return _shape.transpose(self)

    def __len__(self):
        if self.data.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.data.shape[0]

    def __hash__(self):  # __eq__ is elementwise; identity hashing keeps dict/set use working
        return id(self)

    def __repr__(self):
        body = numpy.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extra = ""
        if self.dtype != default_float and self.dtype.kind != "i" and self.dtype.kind != "b":
            extra += f", dtype={self.dtype}"
        if self.device.kind != "cpu":
            extra += f", device='{self.device}'"
        if self.creator is not None:
            extra += f", creator={self.creator.name}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"tensor({body}{extra})"

    # -- conversion ---------------------------------------------------------------
    def numpy(self) -> numpy.ndarray:
        """A NumPy array on the host (a copy for CUDA tensors; the data itself on CPU)."""
        if backend.is_cuda_array(self.data):
            return self.data.get()
        return self.data

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def item(self):
        """The value of a one-element tensor as a Python number (synchronizes the GPU)."""
        if self.data.size != 1:
            raise ValueError(
                f"item() needs a tensor with one element, this one has shape {self.shape}"
            )
        if backend.is_cuda_array(self.data):
            backend.run_deferred_checks()  # errors flagged on the device surface here
        return self.data.item()

    def tolist(self):
        return self.numpy().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.data.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self.data.size} elements is "
                f"ambiguous; use .any() or .all()"
            )
        return bool(self.item())

    def detach(self) -> Tensor:
        """The same data, cut from the graph (shares memory and version counter)."""
        t = Tensor._from_op(self.data)
        t._version = self._version
        return t

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.data.dtype.kind not in "fc":
            raise TypeError(
                f"only floating-point tensors can require gradients, this one is {self.data.dtype}"
            )
        if not requires_grad and self.creator is not None:
            raise RuntimeError("requires_grad can only be turned off on a leaf; use detach()")
        self.requires_grad = bool(requires_grad)
        return self

    def astype(self, dtype) -> Tensor:
        return _unary.astype(self, dtype)

    def to(self, dev) -> Tensor:
        """This tensor on ``dev`` (itself if already there); differentiable."""
        return _unary.to_device(self, backend.device(dev))

    def cpu(self) -> Tensor:
        return self.to("cpu")

    def cuda(self, index: int = 0) -> Tensor:
        return self.to(f"cuda:{index}")

    # -- autograd -----------------------------------------------------------------
    def backward(self, grad=None, retain_graph: bool = False, create_graph: bool = False):
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf requiring grad.

        ``grad`` is the upstream gradient, of this tensor's shape; it may be omitted only
        for a one-element tensor.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad (no input "
                "of its computation had requires_grad=True)"
            )
        seed = _seed_gradient(self, grad, create_graph)
        autograd.run_backward(
            [self], [seed], retain_graph=retain_graph or create_graph, create_graph=create_graph
        )

    # -- operators (all maths lives in gpugrad.ops) -------------------------------
    def __add__(self, other):
        return _arith.add(self, other)

    def __radd__(self, other):
        return _arith.add(self, other)

    def __sub__(self, other):
        return _arith.sub(self, other)

    def __rsub__(self, other):
        return _arith.rsub(self, other)

    def __mul__(self, other):
        return _arith.mul(self, other)

    def __rmul__(self, other):
        return _arith.mul(self, other)

    def __truediv__(self, other):
        return _arith.div(self, other)

    def __rtruediv__(self, other):
        return _arith.rdiv(self, other)

    def __pow__(self, other):
        return _arith.pow(self, other)

    def __rpow__(self, other):
        return _arith.rpow(self, other)

    def __neg__(self):
        return _arith.neg(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return _unary.abs(self)

    def __matmul__(self, other):
        return _linalg.matmul(self, other)

    def __rmatmul__(self, other):
        return _linalg.matmul(as_tensor(other, like=self), self)

    def __lt__(self, other):
        return _arith.compare(self, other, "less")

    def __le__(self, other):
        return _arith.compare(self, other, "less_equal")

    def __gt__(self, other):
        return _arith.compare(self, other, "greater")

    def __ge__(self, other):
        return _arith.compare(self, other, "greater_equal")

    def __eq__(self, other):
        return _arith.compare(self, other, "equal")

    def __ne__(self, other):
        return _arith.compare(self, other, "not_equal")

    def __getitem__(self, index):
        return _shape.getitem(self, index)

    # -- in place (each bumps the version counter) --------------------------------
    def __iadd__(self, other):
        return _inplace.apply(self, _arith.add, other)

    def __isub__(self, other):
        return _inplace.apply(self, _arith.sub, other)

    def __imul__(self, other):
        return _inplace.apply(self, _arith.mul, other)

    def __itruediv__(self, other):
        return _inplace.apply(self, _arith.div, other)

    def add_(self, other):
        return _inplace.apply(self, _arith.add, other)

    def sub_(self, other):
        return _inplace.apply(self, _arith.sub, other)

    def mul_(self, other):
        return _inplace.apply(self, _arith.mul, other)

    def div_(self, other):
        return _inplace.apply(self, _arith.div, other)

    def clip_(self, min=None, max=None):
        return _inplace.apply(self, lambda t, _: _unary.clip(t, min, max), None)

    def zero_(self):
        return self.fill_(0)

    def fill_(self, value):
        return _inplace.fill(self, value)

    def __setitem__(self, index, value):
        _inplace.setitem(self, index, value)

    # -- methods ------------------------------------------------------------------
    def exp(self):
        return _unary.exp(self)

    def log(self):
        return _unary.log(self)

    def sqrt(self):
        return _unary.sqrt(self)

    def abs(self):
        return _unary.abs(self)

    def tanh(self):
        return _activation().tanh(self)

    def sigmoid(self):
        return _activation().sigmoid(self)

    def relu(self):
        return _activation().relu(self)

    def clip(self, min=None, max=None):
        return _unary.clip(self, min, max)

    clamp = clip

    def sum(self, axis=None, keepdims=False):
        return _reduce.sum(self, axis, keepdims)

    def mean(self, axis=None, keepdims=False):
        return _reduce.mean(self, axis, keepdims)

    def max(self, axis=None, keepdims=False):
        return _reduce.max(self, axis, keepdims)

    def min(self, axis=None, keepdims=False):
        return _reduce.min(self, axis, keepdims)

    def var(self, axis=None, keepdims=False, ddof=0):
        return _reduce.var(self, axis, keepdims, ddof)

    def logsumexp(self, axis=None, keepdims=False):
        return _reduce.logsumexp(self, axis, keepdims)

    def argmax(self, axis=None):
        return Tensor._from_op(self.data.argmax(axis=axis))

    def argmin(self, axis=None):
        return Tensor._from_op(self.data.argmin(axis=axis))

    def any(self):
        return Tensor._from_op(self.data.any())

    def all(self):
        return Tensor._from_op(self.data.all())

    def reshape(self, *shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        return _shape.reshape(self, shape)

    def transpose(self, *axes):
        if len(axes) == 1 and isinstance(axes[0], (tuple, list)):
            axes = axes[0]
        return _shape.transpose(self, axes or None)

    def flatten(self, start_axis=0, end_axis=-1):
        return _shape.flatten(self, start_axis, end_axis)

    def squeeze(self, axis=None):
        return _shape.squeeze(self, axis)

    def unsqueeze(self, axis):
        return _shape.unsqueeze(self, axis)

    def broadcast_to(self, shape):
        return _shape.broadcast_to(self, shape)


def unwrap(v):
    """The raw array of a Tensor; anything else unchanged.  (Not getattr(v, "data"):
    NumPy arrays have a .data too, a memoryview.)"""
    return v.data if isinstance(v, Tensor) else v


def _seed_gradient(t: Tensor, grad, create_graph: bool):
    """The upstream gradient that starts a backward from ``t``."""
    xp = backend.get_array_module(t.data)
    if grad is None:
        if t.data.size != 1:
            raise RuntimeError(
                f"backward() without a gradient needs a one-element output; "
                f"this one has shape {t.shape}: pass grad= of that shape"
            )
        g = xp.ones_like(t.data)
        return Tensor._from_op(g) if create_graph else g
    g = grad if isinstance(grad, Tensor) else as_tensor(grad, like=t)
    if g.shape != t.shape:
        raise ValueError(f"grad has shape {g.shape} but the output has shape {t.shape}")
    _arith.check_same(t, g, "backward")
    return g if create_graph else g.data


# -- factories ------------------------------------------------------------------------
def _infer_dtype(data, dtype):
    if dtype is not None:
        return numpy.dtype(dtype)
    if isinstance(data, (bool, numpy.ndarray, numpy.generic)):
        return None  # arrays and NumPy scalars keep their dtype
    if isinstance(data, numbers.Integral):
        return numpy.dtype(numpy.int64)
    if isinstance(data, numbers.Real):
        return default_float
    if isinstance(data, (list, tuple)):
        a = numpy.asarray(data)
        if a.dtype.kind == "f":
            return default_float
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
        data = data.data
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
        return Tensor._from_op(backend.to_device(host, dev))
    if isinstance(value, numpy.ndarray) or backend.is_cuda_array(value):
        return Tensor._from_op(backend.to_device(value, dev))
    raise TypeError(f"expected a Tensor, a number or an array, got {type(value).__name__}")


def _factory(fill, shape, dtype, device, requires_grad):
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    for n in shape:
        if not isinstance(n, numbers.Integral) or n < 0:
            raise ValueError(f"shape must be non-negative integers, got {shape}")
    dev = backend.device(device)
    dt = default_float if dtype is None else numpy.dtype(dtype)
    return Tensor(fill(dev.xp, tuple(shape), dt), requires_grad=requires_grad)


def zeros(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _factory(lambda xp, s, dt: xp.zeros(s, dt), shape, dtype, device, requires_grad)


def ones(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _factory(lambda xp, s, dt: xp.ones(s, dt), shape, dtype, device, requires_grad)


def empty(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _factory(lambda xp, s, dt: xp.empty(s, dt), shape, dtype, device, requires_grad)


def full(shape, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
    return _factory(
        lambda xp, s, dt: xp.full(s, fill_value, dt), shape, dtype, device, requires_grad
    )


def _like(fill, t: Tensor, dtype, device, requires_grad):
    dev = t.device if device is None else backend.device(device)
    dt = t.dtype if dtype is None else numpy.dtype(dtype)
    return Tensor(fill(dev.xp, t.shape, dt), requires_grad=requires_grad)


def zeros_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _like(lambda xp, s, dt: xp.zeros(s, dt), t, dtype, device, requires_grad)


def ones_like(t, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _like(lambda xp, s, dt: xp.ones(s, dt), t, dtype, device, requires_grad)


def full_like(t, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    return _like(lambda xp, s, dt: xp.full(s, fill_value, dt), t, dtype, device, requires_grad)


def arange(start, stop=None, step=1, dtype=None, device=None, requires_grad=False) -> Tensor:
    if stop is None:
        start, stop = 0, start
    ints = all(isinstance(v, numbers.Integral) for v in (start, stop, step))
    dt = (
        numpy.dtype(dtype)
        if dtype is not None
        else (numpy.dtype(numpy.int64) if ints else default_float)
    )
    dev = backend.device(device)
    return Tensor(dev.xp.arange(start, stop, step, dtype=dt), requires_grad=requires_grad)


# -- random numbers --------------------------------------------------------------------
_generators: dict = {}  # Device -> generator (numpy Generator / cupy RandomState)
_seed = None


def manual_seed(seed: int) -> None:
    """Seed every device's random generator (gpugrad's own; NumPy's global one is untouched)."""
    global _seed
    if not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    _seed = int(seed)
    _generators.clear()


def generator(dev: backend.Device):
    """The random generator of a device (created from the manual seed, if any)."""
    g = _generators.get(dev)
    if g is None:
        if dev.kind == "cpu":
            g = numpy.random.default_rng(_seed)
        else:
            g = dev.xp.random.RandomState(_seed)
        _generators[dev] = g
    return g


def randn(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples."""

    def fill(xp, s, dt):
        g = generator(backend.device(device))
        sample_dtype = dt if dt.itemsize >= 4 else numpy.dtype(numpy.float32)
        return g.standard_normal(s, dtype=sample_dtype).astype(dt, copy=False)

    return _factory(fill, shape, dtype, device, requires_grad)


def rand(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform samples in [0, 1)."""

    def fill(xp, s, dt):
        dev = backend.device(device)
        g = generator(dev)
        sample_dtype = dt if dt.itemsize >= 4 else numpy.dtype(numpy.float32)
        if dev.kind == "cpu":
            out = g.random(s, dtype=sample_dtype)
        else:
            out = g.random_sample(size=s, dtype=sample_dtype)
        return out.astype(dt, copy=False)

    return _factory(fill, shape, dtype, device, requires_grad)


def _activation():
    from .ops import activation

    return activation


autograd._Tensor = Tensor

# The ops import Tensor from this module, so they are imported last.
from .ops import arithmetic as _arith  # noqa: E402
from .ops import inplace as _inplace  # noqa: E402
from .ops import linalg as _linalg  # noqa: E402
from .ops import reduce as _reduce  # noqa: E402
from .ops import shape as _shape  # noqa: E402
from .ops import unary as _unary  # noqa: E402
