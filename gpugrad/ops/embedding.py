"""Embedding lookup, as ``torch.nn.functional.embedding``: rows of a weight matrix picked by
integer indices.  Its backward adds each upstream row into the row it came from (repeated
indices accumulate; the ``padding_idx`` row gets none), and that scatter's backward is the
lookup again, so embedding is differentiable to any order."""

from __future__ import annotations

from .. import backend
from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor
from .indexing import IndexAdd

__all__ = ["embedding"]


class EmbeddingLookup(Function):
    """weight (V, D), indices (...) -> (..., D).  The indices are a raw integer array."""

    def __init__(self, indices, padding_idx):
        self.indices, self.padding_idx = indices, padding_idx

    def forward(self, weight):
        self.num_rows = weight.shape[0]
        return weight[self.indices]

    def backward(self, ns, gy):
        indices = self.indices
        if self.padding_idx is not None:  # the padding row's upstream goes nowhere
            keep = (indices != self.padding_idx)[..., None]
            gy = ns.where(keep, gy, ns.zeros_like(gy))
        shape = (self.num_rows, gy.shape[-1])
        flat = ns.reshape(gy, (-1, shape[1]))
        return ns.apply(IndexAdd(shape, indices.reshape(-1)), flat)


def embedding(input, weight, padding_idx=None, max_norm=None) -> Tensor:
    """Rows of ``weight`` (V, D) at the integer ``input`` (any shape) -> input.shape + (D,)."""
    if max_norm is not None:
        raise NotImplementedError("embedding(max_norm=...) is not supported")
    weight = as_tensor(weight)
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be 2-d (num_embeddings, dim), got {weight.shape}")
    indices = input.array if isinstance(input, Tensor) else input
    indices = backend.to_device(backend.get_array_module(indices).asarray(indices), weight.device)
    if indices.dtype.kind not in "iu":
        raise TypeError(f"embedding: indices must be integers, got {indices.dtype}")
    if padding_idx is not None and padding_idx < 0:
        padding_idx += weight.shape[0]
    return EmbeddingLookup(indices, padding_idx)(weight)
