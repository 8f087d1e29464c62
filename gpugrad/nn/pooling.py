"""``nn.MaxPool2d``, ``nn.AvgPool2d`` and ``nn.AdaptiveAvgPool2d`` over NCHW input."""

from __future__ import annotations

from .. import functional as F
from .module import Module


class _Pool2d(Module):
    """A pooling window moved by ``stride`` (default: the window); the constructor's
    arguments are kept as attributes and passed to ``pool`` by name."""

    pool = None  # the function in gpugrad.functional
    shown = ("kernel_size", "stride", "padding")  # what extra_repr prints

    def __init__(self, kernel_size, stride=None, **options):
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.options = tuple(options)
        for name, value in options.items():
            setattr(self, name, value)

    def forward(self, x):
        options = {name: getattr(self, name) for name in self.options}
        return self.pool(x, self.kernel_size, self.stride, **options)

    def extra_repr(self):
        return ", ".join(f"{name}={getattr(self, name)}" for name in self.shown)


class MaxPool2d(_Pool2d):
    """The maximum over each window (the padding is -inf)."""

    pool = staticmethod(F.max_pool2d)
    shown = _Pool2d.shown + ("dilation", "ceil_mode")

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, return_indices=False,
                 ceil_mode=False):  # fmt: skip
        super().__init__(kernel_size, stride, padding=padding, dilation=dilation,
                         return_indices=return_indices, ceil_mode=ceil_mode)  # fmt: skip


class AvgPool2d(_Pool2d):
    """The mean over each window (the zero padding counts unless count_include_pad=False)."""

    pool = staticmethod(F.avg_pool2d)

    def __init__(self, kernel_size, stride=None, padding=0, ceil_mode=False,
                 count_include_pad=True, divisor_override=None):  # fmt: skip
        super().__init__(kernel_size, stride, padding=padding, ceil_mode=ceil_mode,
                         count_include_pad=count_include_pad,
                         divisor_override=divisor_override)  # fmt: skip


class AdaptiveAvgPool2d(Module):
    """The mean over windows chosen so that the output has ``output_size`` (an int or a
    pair, None keeping the input's size), PyTorch's window bounds."""

    def __init__(self, output_size):
        super().__init__()
        self.output_size = output_size

    def forward(self, x):
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self):
        return f"output_size={self.output_size}"
