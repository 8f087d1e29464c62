"""``F.one_hot``: class indices to one-hot rows, as PyTorch's (int64, outside the graph)."""

from __future__ import annotations

from .. import backend
from ..creation import as_tensor
from ..tensor import Tensor

__all__ = ["one_hot"]


def one_hot(tensor, num_classes: int = -1) -> Tensor:
    """(*) integer class indices -> (*, num_classes) int64 with a 1 at each index.  With
    ``num_classes=-1`` the number of classes is the largest index plus one (a host read, as
    in PyTorch)."""
    t = as_tensor(tensor)
    labels = t.array
    if labels.dtype.kind not in "iu":
        raise RuntimeError(f"one_hot is only applicable to index tensors, got {labels.dtype}")
    xp = backend.get_array_module(labels)
    if labels.size and int(labels.min()) < 0:
        raise RuntimeError("one_hot: class values must be non-negative")
    if num_classes == -1:
        if not labels.size:
            raise RuntimeError("one_hot: cannot infer the number of classes from an empty tensor")
        num_classes = int(labels.max()) + 1
    elif labels.size and int(labels.max()) >= num_classes:
        raise RuntimeError("one_hot: class values must be smaller than num_classes")
    return Tensor.wrap((labels[..., None] == xp.arange(num_classes)).astype(xp.int64))
