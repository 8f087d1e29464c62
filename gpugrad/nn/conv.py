"""``nn.Conv2d``: 2-d convolution over NCHW input."""

from __future__ import annotations

from .. import functional as F
from ..creation import empty
from ..ops.im2col import pair
from .linear import reset_parameters
from .module import Module, Parameter


class Conv2d(Module):
    """2-d convolution over NCHW input (``padding``: an int, a pair, 'same' or 'valid';
    ``dilation``, ``groups``), PyTorch's default initialisation."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size,
        stride=1,
        padding=0,
        dilation=1,
        groups: int = 1,
        bias: bool = True,
        padding_mode: str = "zeros",
        device=None,
        dtype=None,
    ):
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError("in_channels and out_channels must be divisible by groups")
        if padding_mode != "zeros":
            raise NotImplementedError(f"padding_mode={padding_mode!r}: only 'zeros' is supported")
        kh, kw = pair(kernel_size, "kernel_size")
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = (kh, kw), pair(stride, "stride")
        self.padding = padding if isinstance(padding, str) else pair(padding, "padding")
        self.dilation, self.groups = pair(dilation, "dilation"), groups
        self.padding_mode = padding_mode
        shape = (out_channels, in_channels // groups, kh, kw)
        self.weight = Parameter(empty(*shape, device=device, dtype=dtype))
        self.bias = Parameter(empty(out_channels, device=device, dtype=dtype)) if bias else None
        reset_parameters(self.weight, self.bias)

    def forward(self, x):
        return F.conv2d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )

    def extra_repr(self):
        s = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0, 0):
            s += f", padding={self.padding}"  # PyTorch prints padding=same unquoted
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s
