"""Activations: sigmoid, tanh, ReLU, leaky ReLU, ELU, softplus, and bias + activation.

Each one saves its OUTPUT (never its input): the local gradient of every activation here
is a function of y alone — sigmoid y(1-y), tanh 1-y², ReLU [y>0], leaky ReLU 1 or slope,
ELU 1 or y+α, softplus 1-exp(-y) — so one array is kept instead of two.

On CUDA, forward and backward are one fused kernel each (``gpugrad.kernels``; the same
formulas are in ``kernels/common.cuh``).  On the CPU the NumPy twins below do the same
maths with ``out=`` and ``where=`` on buffers they own (one output, at most one scratch
array and one mask), with the stable forms: sigmoid takes exp of a non-positive number
only, softplus is max(x, 0) + log1p(exp(-|x|)).  NaN passes through every forward.  The
piecewise backwards select (gy where y > 0) rather than multiply by a mask, so an
infinite upstream gradient where a unit is off gives 0, as in PyTorch.

The backward of each activation is itself a Function (``ActivationGrad``), so
``create_graph=True`` gives second derivatives.  Shapes: every activation maps any shape
to the same shape; bias + activation takes x (..., C) and b (C,).
"""

from __future__ import annotations

import numpy

from .. import backend
from ..autograd import Function
from ..tensor import Tensor, as_tensor, unwrap
from .select import select

__all__ = [
    "bias_activation",
    "bias_relu",
    "bias_sigmoid",
    "elu",
    "leaky_relu",
    "relu",
    "sigmoid",
    "softplus",
    "tanh",
]


# -- the NumPy twins: forward(x) -> y ----------------------------------------------------------
# Each takes x, the parameters, and ``out``: None (allocate the output) or x itself, when
# x is a buffer the caller owns and may be overwritten (bias + activation's x + b).
# Every pass is branch-free: NumPy's masked ``where=`` ufuncs branch per element and run
# several times slower on the random signs of a layer's pre-activations.
def _sigmoid_cpu(x, p, out):
    negative = numpy.less(x, 0)
    e = numpy.abs(x, out=out)
    numpy.negative(e, out=e)
    numpy.exp(e, out=e)  # e = exp(-|x|) in [0, 1]: never overflows
    y = numpy.add(e, 1)
    numpy.reciprocal(y, out=y)  # 1 / (1 + e) = sigmoid(|x|); NaN stays NaN
    e *= y  # e / (1 + e) = sigmoid(-|x|)
    return select(negative, e, y)  # into y


def _tanh_cpu(x, p, out):
    return numpy.tanh(x, out=out)


def _relu_cpu(x, p, out):
    return numpy.maximum(x, 0, out=out)  # NaN passes through


def _leaky_relu_cpu(x, p, out):
    # With 0 <= slope <= 1, slope·x <= x exactly where x >= 0, so the function is
    # max(x, slope·x); with slope > 1 it is the min.  NaN passes through both.
    scaled = numpy.multiply(x, p["slope"])
    pick = numpy.maximum if p["slope"] <= 1 else numpy.minimum
    return pick(x, scaled, out=scaled if out is None else out)


def _elu_cpu(x, p, out):
    # max(x, 0) + α·expm1(min(x, 0)): x where x > 0 (expm1(0) = 0 adds nothing), α(eˣ - 1)
    # elsewhere; expm1 never sees a positive number, so it never overflows.
    negative_part = numpy.minimum(x, 0)
    numpy.expm1(negative_part, out=negative_part)
    negative_part *= p["alpha"]
    y = numpy.maximum(x, 0, out=out)
    y += negative_part
    return y


def _softplus_cpu(x, p, out):
    positive_part = numpy.maximum(x, 0)  # NaN passes through
    a = numpy.abs(x, out=out)
    numpy.negative(a, out=a)  # a = -|x|
    numpy.exp(a, out=a)  # exp of a non-positive number: never overflows
    numpy.log1p(a, out=a)  # log1p(exp(-|x|))
    a += positive_part
    return a


CPU_FORWARD = {
    "sigmoid": _sigmoid_cpu,
    "tanh": _tanh_cpu,
    "relu": _relu_cpu,
    "leaky_relu": _leaky_relu_cpu,
    "elu": _elu_cpu,
    "softplus": _softplus_cpu,
}


def _at_least_1d(a):
    """NumPy ufuncs turn 0-d results into scalars, which cannot be written in place; a
    (1,)-view of a 0-d array goes through them as an array."""
    return a if a.ndim else a.reshape(1)


def forward_cpu(kind: str, x, params: dict, owned: bool = False):
    """y = act(x) on a NumPy array, any shape; with ``owned`` x is overwritten."""
    flat = _at_least_1d(x)
    y = CPU_FORWARD[kind](flat, params, flat if owned else None)
    return y.reshape(x.shape)


def cpu_backward(kind: str, y, gy, params: dict):
    """gx = gy · act'(x) from the output y and the upstream gy (y's shape), in one new
    buffer of y's dtype."""
    y1, gy1 = _at_least_1d(y), _at_least_1d(gy)
    if kind == "sigmoid":
        gx = numpy.subtract(1, y1)
        gx *= y1
        gx *= gy1
    elif kind == "tanh":
        gx = numpy.multiply(y1, y1)
        numpy.subtract(1, gx, out=gx)
        gx *= gy1
    elif kind == "softplus":
        gx = numpy.negative(y1)
        numpy.expm1(gx, out=gx)
        numpy.negative(gx, out=gx)  # 1 - exp(-y) = sigmoid(x)
        gx *= gy1
    elif kind == "relu":
        gx = select(y1 > 0, gy1.astype(y1.dtype, copy=False), None)
    elif kind in ("leaky_relu", "elu"):
        gy1 = gy1.astype(y1.dtype, copy=False)
        if kind == "leaky_relu":
            off = numpy.multiply(gy1, params["slope"])
        else:
            off = numpy.add(y1, params["alpha"])  # α·eˣ = y + α where x <= 0
            off *= gy1
        gx = select(y1 > 0, gy1, off)
    else:
        raise ValueError(f"unknown activation {kind!r}")
    return gx.reshape(y.shape)


# -- local gradients as formulas, for second derivatives -----------------------------------------
def local_gradient(kind: str, y, p: dict, ns):
    """dy/dx as a function of the output y (arrays, or Tensors through ``ns``).  Masks
    enter as constant arrays of y's dtype."""
    if kind == "sigmoid":
        return y * (1 - y)
    if kind == "tanh":
        return 1 - y * y
    if kind == "softplus":
        return 1 - ns.exp(-y)
    yd = unwrap(y)
    positive = yd > 0
    if kind == "relu":
        return positive.astype(yd.dtype)
    if kind == "leaky_relu":
        xp = backend.get_array_module(yd)
        return xp.where(positive, 1.0, p["slope"]).astype(yd.dtype)
    if kind == "elu":
        return (y + p["alpha"]) * (~positive).astype(yd.dtype) + positive.astype(yd.dtype)
    raise ValueError(f"unknown activation {kind!r}")


def local_gradient_derivative(kind: str, y, p: dict, ns):
    """d(local gradient)/dy, for second derivatives; None where it is zero."""
    if kind == "sigmoid":
        return 1 - 2 * y
    if kind == "tanh":
        return -2 * y
    if kind == "elu":
        yd = unwrap(y)
        return (yd <= 0).astype(yd.dtype)
    if kind == "softplus":
        return ns.exp(-y)
    return None  # relu, leaky relu: piecewise constant


# -- the Functions ------------------------------------------------------------------------------
class Activation(Function):
    """y = act(x), elementwise, for the ``kind`` of a subclass; saves y."""

    save_output = True
    kind = ""

    def __init__(self, **params):
        self.params = params

    def label(self) -> str:
        return self.kind

    def forward(self, x):
        if backend.is_cuda_array(x):
            from .. import kernels

            return kernels.activation_forward(self.kind, x, **self.params)
        return forward_cpu(self.kind, x, self.params)

    def backward(self, ns, gy, y):
        return ns.apply(ActivationGrad(self.kind, self.params), y, gy)


class Sigmoid(Activation):
    """1 / (1 + exp(-x)); local gradient y(1 - y)."""

    kind = "sigmoid"


class Tanh(Activation):
    """tanh(x); local gradient 1 - y²."""

    kind = "tanh"


class ReLU(Activation):
    """max(x, 0), NaN passes; local gradient [y > 0] (0 at 0)."""

    kind = "relu"


class LeakyReLU(Activation):
    """x if x > 0 else slope·x (slope >= 0, params: slope); local gradient 1 or slope."""

    kind = "leaky_relu"


class ELU(Activation):
    """x if x > 0 else α(eˣ - 1) (α > 0, params: alpha); local gradient 1 or y + α."""

    kind = "elu"


class Softplus(Activation):
    """log(1 + eˣ), stable; local gradient 1 - exp(-y) = sigmoid(x)."""

    kind = "softplus"


ACTIVATION_FUNCTIONS = {cls.kind: cls for cls in (Sigmoid, Tanh, ReLU, LeakyReLU, ELU, Softplus)}


class ActivationGrad(Function):
    """gx = gy · local(y): the backward of an activation, one fused pass, itself
    differentiable (in y and in gy)."""

    save_inputs = (0, 1)

    def __init__(self, kind: str, params: dict):
        self.kind = kind
        self.params = params

    def forward(self, y, gy):
        if backend.is_cuda_array(y):
            from .. import kernels

            return kernels.activation_backward(self.kind, y, gy, **self.params)
        return cpu_backward(self.kind, y, gy, self.params)

    def backward(self, ns, ggx, y, gy):
        need_y, need_gy = self.needs_grad
        g_gy = ggx * local_gradient(self.kind, y, self.params, ns) if need_gy else None
        g_y = None
        if need_y:
            d = local_gradient_derivative(self.kind, y, self.params, ns)
            g_y = None if d is None else ggx * gy * d
        return g_y, g_gy


class BiasActivation(Function):
    """y = act(x + b) with x (..., C) and b (C,) broadcast along the last axis; saves y.
    One pass each way on the GPU (the backward also sums the bias gradient); on the CPU
    the activation runs in place on the x + b buffer."""

    save_output = True

    def __init__(self, kind: str, **params):
        self.kind = kind
        self.params = params

    def forward(self, x, b):
        if backend.is_cuda_array(x):
            from .. import kernels

            return kernels.bias_activation_forward(self.kind, x, b, **self.params)
        return forward_cpu(self.kind, numpy.add(x, b), self.params, owned=True)

    def backward(self, ns, gy, y):
        need_x, need_b = self.needs_grad
        if not ns.graph and backend.is_cuda_array(y):
            from .. import kernels

            gx, gb = kernels.bias_activation_backward(self.kind, y, gy, **self.params)
            return (gx if need_x else None), (gb if need_b else None)
        gx = ns.apply(ActivationGrad(self.kind, self.params), y, gy)
        # the engine sums the bias's share over the broadcast axes (sum_to)
        return (gx if need_x else None), (gx if need_b else None)


# -- the functions ----------------------------------------------------------------------------
_DEFAULT_PARAMS = {"leaky_relu": {"slope": 0.01}, "elu": {"alpha": 1.0}}  # as leaky_relu(), elu()


def _check_params(kind, params):
    if kind == "leaky_relu" and not params["slope"] >= 0:
        raise ValueError(
            f"leaky_relu needs negative_slope >= 0 (its backward reads the sign "
            f"of the output), got {params['slope']}"
        )
    if kind == "elu" and not params["alpha"] > 0:
        raise ValueError(
            f"elu needs alpha > 0 (its backward reads the sign of the output), "
            f"got {params['alpha']}"
        )


def _activation(kind, x, **params):
    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{kind} needs a floating-point tensor, got {x.dtype}")
    _check_params(kind, params)
    return ACTIVATION_FUNCTIONS[kind](**params)(x)


def sigmoid(x) -> Tensor:
    """1 / (1 + exp(-x)), any shape; never overflows."""
    return _activation("sigmoid", x)


def tanh(x) -> Tensor:
    """tanh(x), any shape."""
    return _activation("tanh", x)


def relu(x) -> Tensor:
    """max(0, x), any shape; NaN passes through; the gradient at 0 is 0."""
    return _activation("relu", x)


def leaky_relu(x, negative_slope: float = 0.01) -> Tensor:
    """x if x > 0 else negative_slope·x, any shape; negative_slope >= 0."""
    return _activation("leaky_relu", x, slope=float(negative_slope))


def elu(x, alpha: float = 1.0) -> Tensor:
    """x if x > 0 else alpha·(exp(x) - 1), any shape; alpha > 0."""
    return _activation("elu", x, alpha=float(alpha))


def softplus(x) -> Tensor:
    """log(1 + exp(x)), any shape, computed stably."""
    return _activation("softplus", x)


def bias_activation(x, b, kind: str, **params) -> Tensor:
    """act(x + b) for x (..., C) and b (C,), fused into one kernel each way on the GPU.
    ``kind`` is one of sigmoid, tanh, relu, leaky_relu (slope=), elu (alpha=), softplus."""
    from .arithmetic import check_same

    if kind not in ACTIVATION_FUNCTIONS:
        raise ValueError(
            f"unknown activation {kind!r}: expected one of {sorted(ACTIVATION_FUNCTIONS)}"
        )
    x = as_tensor(x)
    b = as_tensor(b, like=x)
    check_same(x, b, f"bias_{kind}")
    if x.dtype.kind != "f":
        raise TypeError(f"bias_{kind} needs floating-point tensors, got {x.dtype}")
    if b.ndim != 1 or x.ndim < 1 or b.shape[0] != x.shape[-1]:
        raise ValueError(
            f"bias_{kind}: bias of shape {b.shape} does not match the last axis of "
            f"x with shape {x.shape}"
        )
    params = {**_DEFAULT_PARAMS.get(kind, {}), **params}
    _check_params(kind, params)
    return BiasActivation(kind, **params)(x, b)


def bias_relu(x, b) -> Tensor:
    """relu(x + b), x (..., C), b (C,)."""
    return bias_activation(x, b, "relu")


def bias_sigmoid(x, b) -> Tensor:
    """sigmoid(x + b), x (..., C), b (C,)."""
    return bias_activation(x, b, "sigmoid")
