"""``F.one_hot``: class indices to one-hot rows, as PyTorch's (int64, outside the graph;
a compiled step replays it)."""

from __future__ import annotations

import numpy

from .. import backend, kernels
from ..autograd import recording
from ..creation import as_tensor
from ..tensor import Tensor
from .nondifferentiable import note

__all__ = ["one_hot"]


def _check_range(labels, num_classes: int) -> None:
    if labels.size and int(labels.min()) < 0:
        raise RuntimeError("one_hot: class values must be non-negative")
    if labels.size and int(labels.max()) >= num_classes:
        raise RuntimeError("one_hot: class values must be smaller than num_classes")


def _one_hot(labels, num_classes: int):
    """The one-hot rows of the array ``labels``; labels on the host are range-checked here,
    those on a GPU by :func:`one_hot` (a host read)."""
    xp = backend.get_array_module(labels)
    if xp is numpy:
        _check_range(labels, num_classes)
    return (labels[..., None] == xp.arange(num_classes)).astype(xp.int64)


def _replayed_one_hot(labels, num_classes: int):
    """:func:`_one_hot` as a compiled step replays it: a replay makes no host read, so
    labels on a GPU are checked on the device (the next host read raises)."""
    if labels.size and backend.is_cuda_array(labels):
        bad = ((labels < 0) | (labels >= num_classes)).any()
        kernels.defer_flag(bad.astype(numpy.int32).reshape(1), REPLAY_MESSAGE, num_classes)
    return _one_hot(labels, num_classes)


REPLAY_MESSAGE = (
    "one_hot: a class value in a compiled step's replay was negative or not smaller than "
    "num_classes"
)


def one_hot(tensor, num_classes: int = -1) -> Tensor:
    """(*) integer class indices -> (*, num_classes) int64 with a 1 at each index.  With
    ``num_classes=-1`` the number of classes is the largest index plus one (a host read, as
    in PyTorch; refused inside a compiled step)."""
    t = as_tensor(tensor)
    labels = t.array
    if labels.dtype.kind not in "iu":
        raise RuntimeError(f"one_hot is only applicable to index tensors, got {labels.dtype}")
    if num_classes == -1:
        recording.refuse("one_hot with num_classes=-1 (a host read of the largest label)")
        if labels.size and int(labels.min()) < 0:
            raise RuntimeError("one_hot: class values must be non-negative")
        if not labels.size:
            raise RuntimeError("one_hot: cannot infer the number of classes from an empty tensor")
        num_classes = int(labels.max()) + 1
    elif backend.is_cuda_array(labels):
        _check_range(labels, num_classes)
    out = Tensor.wrap(_one_hot(labels, num_classes))
    if recording.active is not None:
        note("one_hot", _replayed_one_hot, (t,), out, num_classes)
    return out
