"""``nn.Identity``: returns its input (a placeholder, as PyTorch's)."""

from __future__ import annotations

from .module import Module


class Identity(Module):
    """x -> x; any constructor arguments are ignored, as in PyTorch."""

    def __init__(self, *args, **kwargs):
        super().__init__()

    def forward(self, x):
        return x
