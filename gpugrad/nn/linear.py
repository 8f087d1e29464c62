"""``nn.Linear`` and ``nn.Maxout`` (a linear map, then the max over groups of pieces), and
PyTorch's default initialisation, which ``nn.Conv2d`` shares."""

from __future__ import annotations

import math

from .. import functional as F
from ..creation import empty
from . import init
from .module import Module, Parameter


def reset_parameters(weight, bias) -> None:
    """PyTorch's default for Linear and Conv layers: ``weight`` by kaiming_uniform(a=√5),
    i.e. U(-1/√fan_in, 1/√fan_in), then ``bias`` (if not None) by U(-1/√fan_in, 1/√fan_in),
    where fan_in is the inputs per output (in_features, or in_channels × kernel area)."""
    init.kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        fan_in = math.prod(weight.shape[1:])
        bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
        init.uniform_(bias, -bound, bound)


class Linear(Module):
    """y = x Wᵀ + b; W (out, in) initialised like PyTorch: kaiming_uniform(a=√5), i.e.
    U(-1/√in, 1/√in), and b ~ U(-1/√in, 1/√in)."""

    def __init__(
        self, in_features: int, out_features: int, bias: bool = True, device=None, dtype=None
    ):
        super().__init__()
        self.in_features, self.out_features = in_features, out_features
        self.weight = Parameter(empty(out_features, in_features, device=device, dtype=dtype))
        self.bias = Parameter(empty(out_features, device=device, dtype=dtype)) if bias else None
        reset_parameters(self.weight, self.bias)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


class Maxout(Module):
    """A linear map to out·pieces features, then the max over each group of pieces."""

    def __init__(self, in_features: int, out_features: int, pieces: int, device=None, dtype=None):
        super().__init__()
        self.pieces = pieces
        self.linear = Linear(in_features, out_features * pieces, device=device, dtype=dtype)

    def forward(self, x):
        return F.maxout(self.linear(x), self.pieces)
