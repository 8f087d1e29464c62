"""Tensor: a thin wrapper over a backend array, its gradient and the node that made it.

This module holds the class only.  A Tensor has no maths of its own: its operators and
methods (``+``, ``@``, ``sum``, ``reshape`` ...) call Functions in ``gpugrad.ops`` and are
bound to the class in one place, ``gpugrad/methods.py``.  Factories (``gg.tensor``,
``gg.zeros`` ...) are in ``creation.py``, random ones in ``random.py``.
"""

from __future__ import annotations

from array import array

import numpy

from . import backend, dtypes
from .autograd import engine, recording
from .autograd.backward import seed_gradient

__all__ = ["Tensor"]

# A version counter: one int in an array.array (copied in ~0.1 us; views share it).  The
# garbage collector tracks it on CPython 3.11 (gc.is_tracked), one of the five tracked
# objects of each op that make the collector's full passes cost a long graph time.
_NEW_VERSION = array("q", [0]).__copy__


class Tensor:
    """An n-dimensional array on a device, with optional gradient tracking.

    Attributes: ``array`` (the backend array, numpy.ndarray or cupy.ndarray; a 0-d tensor
    holds a 0-d array, never a NumPy scalar), ``data`` (PyTorch's: a Tensor sharing the
    memory, outside the graph), ``grad`` (Tensor or None), ``requires_grad``, ``creator``
    (the Function that produced it, None for leaves; also ``grad_fn``).  A view (``x[0]``,
    ``x.T`` ...) shares its base's memory and version counter; ``_view`` says how it was
    taken (``ops/view.py``).
    Use :func:`gpugrad.tensor` to build one from Python data.
    """

    __slots__ = (
        "__weakref__",
        "_version",
        "_view",
        "array",
        "creator",
        "grad",
        "name",
        "requires_grad",
    )
    # Make NumPy defer to our reflected operators: np_array + tensor -> Tensor.__radd__.
    __array_ufunc__ = None
    __array_priority__ = 1000

    def __init__(self, data, requires_grad: bool = False, name: str | None = None):
        if isinstance(data, Tensor):
            data = data.array
        elif not isinstance(data, numpy.ndarray) and not backend.is_cuda_array(data):
            data = numpy.asarray(data)
        self.array = data
        self.grad = self.creator = self._view = None
        self._version = _NEW_VERSION()
        self.name = name
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def wrap(cls, data):
        """A Tensor around the backend array ``data`` as it is: no copy, no check, no
        conversion, outside the graph.  How ops return their results (the fast path);
        :func:`gpugrad.tensor` is the checked, copying factory for users."""
        # __init__'s fields, set inline rather than by a helper both call: every op's
        # result comes through here, and a second call would slow each one
        t = object.__new__(cls)
        # NumPy turns 0-d results into scalars, which cannot be written in place
        t.array = numpy.asarray(data) if isinstance(data, numpy.generic) else data
        t.grad = t.creator = t._view = t.name = None
        t._version = _NEW_VERSION()
        t.requires_grad = False
        return t

    # -- properties ---------------------------------------------------------------
    @property
    def data(self) -> Tensor:
        """PyTorch's ``.data``: a Tensor sharing this one's memory, cut from the graph, whose
        in-place changes autograd does not see (its own version counter: prefer
        ``detach()``, which shares it).  ``w.grad.data.zero_()`` works.  The backend array
        itself is ``.array``."""
        t = Tensor.wrap(self.array)
        if recording.active is not None:
            recording.active.shares(t, self)
        return t

    @data.setter
    def data(self, value) -> None:
        """``x.data = y``: x now holds y's array (shape and dtype may change), as PyTorch."""
        self.array = value.array if isinstance(value, Tensor) else value

    @property
    def shape(self) -> tuple:
        return self.array.shape

    @property
    def ndim(self) -> int:
        return self.array.ndim

    def size(self, dim: int | None = None):
        """The shape (``x.size()``), or the length of dimension ``dim`` (``x.size(0)``)."""
        return self.array.shape if dim is None else self.array.shape[dim]

    def numel(self) -> int:
        """The number of elements."""
        return self.array.size

    def dim(self) -> int:
        """The number of dimensions (``ndim``)."""
        return self.array.ndim

    def is_floating_point(self) -> bool:
        return self.array.dtype.kind == "f"

    @property
    def dtype(self):
        return self.array.dtype

    @property
    def device(self) -> backend.Device:
        return backend.device_of(self.array)

    @property
    def is_leaf(self) -> bool:
        return self.creator is None

    @property
    def grad_fn(self):
        """The Function that produced this tensor (None for a leaf), as PyTorch's."""
        return self.creator

    @property
    def is_cuda(self) -> bool:
        return backend.is_cuda_array(self.array)

    def __len__(self):
        if self.array.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.array.shape[0]

    def __hash__(self):  # __eq__ is elementwise; identity hashing keeps dict/set use working
        return id(self)

    def __repr__(self):
        body = numpy.array2string(self.numpy(), separator=", ", prefix="tensor(")
        extra = ""
        if (
            self.dtype != dtypes.get_default_dtype()
            and self.dtype.kind != "i"
            and self.dtype.kind != "b"
        ):
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
        recording.refuse("a host read of a tensor (.numpy(), .tolist(), print)")
        if backend.is_cuda_array(self.array):
            return self.array.get()
        return self.array

    def __array__(self, dtype=None, copy=None):
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def item(self):
        """The value of a one-element tensor as a Python number (synchronizes the GPU)."""
        if self.array.size != 1:
            raise ValueError(
                f"item() needs a tensor with one element, this one has shape {self.shape}"
            )
        recording.refuse("a host read of a tensor (.item(), float(), bool(), an if on a value)")
        if backend.is_cuda_array(self.array):
            backend.run_deferred_checks()  # errors flagged on the device surface here
        return self.array.item()

    def tolist(self):
        return self.numpy().tolist()

    def __float__(self):
        return float(self.item())

    def __int__(self):
        return int(self.item())

    def __bool__(self):
        if self.array.size != 1:
            raise ValueError(
                f"the truth value of a tensor with {self.array.size} elements is "
                f"ambiguous; use .any() or .all()"
            )
        return bool(self.item())

    def detach(self) -> Tensor:
        """The same data, cut from the graph (shares memory and version counter)."""
        t = Tensor.wrap(self.array)
        t._version = self._version
        if recording.active is not None:
            recording.active.shares(t, self)
        return t

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.array.dtype.kind not in "fc":
            raise TypeError(
                f"only floating-point tensors can require gradients, this one is {self.array.dtype}"
            )
        if not requires_grad and self.creator is not None:
            raise RuntimeError("requires_grad can only be turned off on a leaf; use detach()")
        if bool(requires_grad) != self.requires_grad and recording.active is not None:
            recording.active.requires_grad_changed(self)
        self.requires_grad = bool(requires_grad)
        return self

    # -- autograd -----------------------------------------------------------------
    def retain_grad(self) -> None:
        """Keep this non-leaf tensor's gradient in ``.grad`` after backward (a no-op on a
        leaf that requires grad)."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on a tensor that does not require grad")
        if self.creator is not None:
            engine.retain_grad(self)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) into ``leaf.grad`` for every leaf requiring grad (or
        only for ``inputs``, Tensors, when given).

        ``gradient`` is the upstream gradient, of this tensor's shape; it may be omitted
        only for a one-element tensor.  ``retain_graph`` (default: ``create_graph``) keeps
        the saved values for another backward.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward() on a tensor that does not require grad (no input "
                "of its computation had requires_grad=True)"
            )
        seed = seed_gradient(self, gradient, create_graph)
        retain = create_graph if retain_graph is None else retain_graph
        if inputs is None:
            engine.run_backward([self], [seed], retain_graph=retain, create_graph=create_graph)
            return
        inputs = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        grads = engine.run_backward(
            [self], [seed], retain, create_graph, inputs=inputs, allow_unused=True
        )
        for t, g in zip(inputs, grads):
            if g is not None:
                t.grad = g if t.grad is None else t.grad + g
