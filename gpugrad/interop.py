"""Zero-copy exchange with other array libraries, as PyTorch's.

DLPack both ways: a Tensor exports its backend array (``torch.from_dlpack(t)``,
``numpy.from_dlpack(t)``, ``cupy.from_dlpack(t)``) and :func:`from_dlpack` imports any
object with ``__dlpack__``; CUDA tensors also show ``__cuda_array_interface__`` (Numba,
CuPy). Memory is shared, never copied: a write through one side is seen by the other.

>>> import numpy as np, gpugrad as gg
>>> a = np.zeros(3, dtype=np.float32)
>>> t = gg.from_dlpack(a)
>>> a[0] = 5
>>> t
tensor([5., 0., 0.])
"""

from __future__ import annotations

import numpy

from . import backend
from .tensor import Tensor

# DLPack's device types (DLDeviceType): the ones a backend array can live on
_DL_CPU = 1
_DL_CUDA = (2, 13)  # kDLCUDA, kDLCUDAManaged


def dlpack(self: Tensor, *, stream=None, max_version=None, dl_device=None, copy=None):
    """``Tensor.__dlpack__``: a DLPack capsule of the backend array (no copy unless
    ``copy=True``). On CUDA, ``stream`` is the consumer's stream, synchronised by CuPy;
    on the CPU it must be None. Refused for a tensor that requires grad, as PyTorch's."""
    if self.requires_grad:
        raise BufferError("Can't export tensors that require gradient, use tensor.detach()")
    given = {"stream": stream, "max_version": max_version, "dl_device": dl_device, "copy": copy}
    # only what the caller set: older NumPy/CuPy take fewer keywords, and consumers such as
    # torch.from_dlpack retry without the newer ones on a TypeError
    return self.array.__dlpack__(**{k: v for k, v in given.items() if v is not None})


def dlpack_device(self: Tensor):
    """``Tensor.__dlpack_device__``: ``(device_type, index)``; (1, 0) on the CPU, (2, i)
    on ``cuda:i``."""
    return self.array.__dlpack_device__()


def cuda_array_interface(self: Tensor) -> dict:
    """``Tensor.__cuda_array_interface__``: the CUDA array interface of a CUDA tensor's
    memory; an AttributeError on a CPU tensor (so ``hasattr`` is False), as PyTorch's."""
    if not backend.is_cuda_array(self.array):
        raise AttributeError(
            "Can't get __cuda_array_interface__ on non-CUDA tensor; "
            "use tensor.cuda() to copy it to device memory"
        )
    if self.requires_grad:
        raise RuntimeError(
            "Can't get __cuda_array_interface__ on a tensor that requires grad; use tensor.detach()"
        )
    return self.array.__cuda_array_interface__


def from_dlpack(obj) -> Tensor:
    """A Tensor sharing memory with ``obj``, any object with ``__dlpack__`` (a torch
    tensor, a NumPy or CuPy array, a Tensor): CPU memory becomes a NumPy array, CUDA
    memory a CuPy array on the same device. Outside the graph, as ``torch.from_dlpack``.

    >>> import torch, gpugrad as gg
    >>> x = torch.arange(3)
    >>> t = gg.from_dlpack(x)
    >>> t += 10
    >>> x
    tensor([10, 11, 12])
    """
    if not hasattr(obj, "__dlpack__"):
        raise TypeError(f"from_dlpack expects an object with __dlpack__, got {type(obj).__name__}")
    kind, index = obj.__dlpack_device__()
    if kind == _DL_CPU:
        return Tensor.wrap(numpy.from_dlpack(obj))
    if kind in _DL_CUDA:
        cupy = backend.device(f"cuda:{index}").xp
        with cupy.cuda.Device(index):  # the consumer's stream: this device's current one
            return Tensor.wrap(cupy.from_dlpack(obj))
    raise BufferError(f"from_dlpack: memory on DLPack device type {int(kind)} is not supported")
