"""Layers as Modules; each calls its function in ``gpugrad.functional``."""

from __future__ import annotations

import math

from .. import functional as F
from ..creation import empty, ones, zeros
from . import init
from .module import Module, Parameter


def _uniform_bias(bias, fan_in):
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
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.bias = Parameter(empty(out_features, device=device, dtype=dtype)) if bias else None
        if bias:
            _uniform_bias(self.bias, in_features)

    def forward(self, x):
        return F.linear(x, self.weight, self.bias)

    def extra_repr(self):
        return (
            f"in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}"
        )


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
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        self.bias = Parameter(empty(out_channels, device=device, dtype=dtype)) if bias else None
        if bias:
            _uniform_bias(self.bias, in_channels * kh * kw)

    def forward(self, x):
        return F.conv2d(x, self.weight, self.bias, self.stride, self.padding)

    def extra_repr(self):
        return (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}"
        )


class MaxPool2d(Module):
    def __init__(self, kernel_size, stride=None):
        super().__init__()
        self.kernel_size, self.stride = kernel_size, stride

    def forward(self, x):
        return F.max_pool2d(x, self.kernel_size, self.stride)

    def extra_repr(self):
        return f"kernel_size={self.kernel_size}, stride={self.stride}"


class AvgPool2d(MaxPool2d):
    def forward(self, x):
        return F.avg_pool2d(x, self.kernel_size, self.stride)


class Flatten(Module):
    """(N, ...) -> (N, prod(...))."""

    def __init__(self, start_axis: int = 1, end_axis: int = -1):
        super().__init__()
        self.start_axis, self.end_axis = start_axis, end_axis

    def forward(self, x):
        return x.flatten(self.start_axis, self.end_axis)


class Maxout(Module):
    """A linear map to out·pieces features, then the max over each group of pieces."""

    def __init__(self, in_features: int, out_features: int, pieces: int, device=None, dtype=None):
        super().__init__()
        self.pieces = pieces
        self.linear = Linear(in_features, out_features * pieces, device=device, dtype=dtype)

    def forward(self, x):
        return F.maxout(self.linear(x), self.pieces)


class Dropout(Module):
    """Inverted dropout in training; the identity in eval mode."""

    def __init__(self, p: float = 0.5):
        super().__init__()
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability must be in [0, 1], got {p}")
        self.p = p

    def forward(self, x):
        return F.dropout(x, self.p, self.training)

    def extra_repr(self):
        return f"p={self.p}"


class _BatchNorm(Module):
    expected_ndim = (2, 3)

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float = 0.1,
        affine: bool = True,
        device=None,
        dtype=None,
    ):
        super().__init__()
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.weight = Parameter(ones(num_features, device=device, dtype=dtype)) if affine else None
        self.bias = Parameter(zeros(num_features, device=device, dtype=dtype)) if affine else None
        self.register_buffer("running_mean", zeros(num_features, device=device, dtype=dtype))
        self.register_buffer("running_var", ones(num_features, device=device, dtype=dtype))

    def forward(self, x):
        if x.ndim not in self.expected_ndim or x.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}({self.num_features}) got input of shape {x.shape}"
            )
        return F.batch_norm(
            x,
            self.running_mean,
            self.running_var,
            self.weight,
            self.bias,
            self.training,
            self.momentum,
            self.eps,
        )

    def extra_repr(self):
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    expected_ndim = (2, 3)


class BatchNorm2d(_BatchNorm):
    expected_ndim = (4,)


class _Loss(Module):
    def __init__(self, reduction: str = "mean"):
        super().__init__()
        self.reduction = reduction


class CrossEntropyLoss(_Loss):
    def forward(self, logits, labels):
        return F.cross_entropy(logits, labels, self.reduction)


class MSELoss(_Loss):
    def forward(self, input, target):
        return F.mse_loss(input, target, self.reduction)


class L1Loss(_Loss):
    def forward(self, input, target):
        return F.l1_loss(input, target, self.reduction)


class MultiMarginLoss(_Loss):
    """Multiclass SVM (hinge) loss, margin 1."""

    def forward(self, scores, labels):
        return F.multi_margin_loss(scores, labels, self.reduction)
