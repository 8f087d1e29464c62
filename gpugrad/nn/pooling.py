"""``nn.MaxPool2d`` and ``nn.AvgPool2d`` over NCHW input."""

from __future__ import annotations

from .. import functional as F
from .module import Module


class _Pool2d(Module):
    """A pooling window of ``kernel_size`` moved by ``stride`` (default: the window), applying
    the subclass's ``pool`` function."""

    pool = None  # the function in gpugrad.functional

    def __init__(self, kernel_size, stride=None):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, x):
        return self.pool(x, self.kernel_size, self.stride)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class MaxPool2d(_Pool2d):
    """The maximum over each window."""

    pool = staticmethod(F.max_pool2d)


class AvgPool2d(_Pool2d):
    """The mean over each window."""

    pool = staticmethod(F.avg_pool2d)
