"""``nn.Dropout``."""

from __future__ import annotations

from .. import functional as F
from .module import Module


class Dropout(Module):
    """Inverted dropout in training; the identity in eval mode."""

    def __init__(self, p: float = 0.5, inplace: bool = False):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p, self.inplace = p, inplace  # inplace is accepted; the result is a new tensor

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}, inplace={self.inplace}"
