"""``nn.LayerNorm``: normalization over the trailing ``normalized_shape`` of each sample."""

from __future__ import annotations

from .. import functional as F
from ..creation import ones, zeros
from .module import Module, Parameter


class LayerNorm(Module):
    """(x - mean) / sqrt(var + eps) over the last dims, then (if ``elementwise_affine``) a
    learnt per-element scale and shift, as PyTorch's."""

    def __init__(
        self,
        normalized_shape,
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        self.normalized_shape, self.eps = tuple(normalized_shape), eps
        self.elementwise_affine = elementwise_affine
        shape = self.normalized_shape
        affine = elementwise_affine
        self.weight = Parameter(ones(*shape, device=device, dtype=dtype)) if affine else None
        with_bias = affine and bias
        self.bias = Parameter(zeros(*shape, device=device, dtype=dtype)) if with_bias else None

    def forward(self, x):
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self):
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )
