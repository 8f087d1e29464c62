"""``nn.Conv2d``: 2-d convolution over NCHW input."""

from __future__ import annotations

from .. import functional as F
from ..creation import empty
from .linear import reset_parameters
from .module import Module, Parameter


class Conv2d(Module):
    """2-d convolution over NCHW input, PyTorch's default initialisation."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        bias: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else kernel_size
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride, self.padding = (kh, kw), stride, padding
        self.weight = Parameter(
            empty(out_channels, in_channels, kh, kw, device=device, dtype=dtype)
        )
        self.bias = Parameter(empty(out_channels, device=device, dtype=dtype)) if bias else None
        reset_parameters(self.weight, self.bias)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self):
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}"
        )
