"""``nn.Flatten``: merge the axes of each sample into one."""

from __future__ import annotations

from .module import Module


class Flatten(Module):
    """(N, ...) -> (N, prod(...))."""

    def __init__(self, start_axis: int = 1, end_axis: int = -1):
        super().__init__()
        self.start_axis, self.end_axis = start_axis, end_axis

    def forward(self, x):
        return x.flatten(self.start_axis, self.end_axis)
