"""Activations: sigmoid, tanh, ReLU, leaky ReLU, ELU, softplus, and bias + activation.

Each one saves its OUTPUT (never its input): the local gradient of every activation here
is a function of y alone — sigmoid y(1-y), tanh 1-y², ReLU [y>0], leaky ReLU 1 or slope,
ELU 1 or y+α, softplus 1-exp(-y) — so one array is kept instead of two.

On CUDA, forward and backward are one fused kernel each (``gpugrad.kernels``).  On the
CPU, the NumPy twin below does the same maths in place on the buffers it allocates, with
the stable forms: sigmoid takes exp of a non-positive number only, softplus is
max(x,0) + log1p(exp(-|x|)).  The backward is itself a Function (``ActivationGrad``), so
``create_graph=True`` gives second derivatives.
"""
from __future__ import annotations

import numpy

from .. import backend
from ..autograd import Function
from ..tensor import Tensor, as_tensor, unwrap

__all__ = ["sigmoid", "tanh", "relu", "leaky_relu", "elu", "softplus", "bias_relu",
           "bias_sigmoid", "bias_activation"]


# -- the NumPy twins: forward(x) -> y and local(y) -> dy/dx ------------------------------
def _sigmoid_cpu(x, p):
    e = numpy.abs(x)
    numpy.negative(e, out=e)
    numpy.exp(e, out=e)                     # e = exp(-|x|) in (0, 1]: never overflows
    y = numpy.add(e, 1.0)
    numpy.reciprocal(y, out=y)              # 1 / (1 + e): sigmoid(|x|)
    numpy.multiply(y, e, out=y, where=x < 0)  # e / (1 + e): sigmoid(-|x|)
    return y


def _relu_cpu(x, p):
    return numpy.maximum(x, 0)              # NaN passes through


def _leaky_relu_cpu(x, p):
    y = numpy.multiply(x, p["slope"])
    numpy.copyto(y, x, where=x > 0)
    return y


def _elu_cpu(x, p):
    y = numpy.minimum(x, 0)
    numpy.expm1(y, out=y)
    y *= p["alpha"]
    numpy.copyto(y, x, where=x > 0)
    return y


def _softplus_cpu(x, p):
    y = numpy.abs(x)
    numpy.negative(y, out=y)
    numpy.exp(y, out=y)
    numpy.log1p(y, out=y)
    y += numpy.maximum(x, 0)
    return y


def _tanh_cpu(x, p):
    return numpy.tanh(x)


CPU_FORWARD = {"sigmoid": _sigmoid_cpu, "tanh": _tanh_cpu, "relu": _relu_cpu,
               "leaky_relu": _leaky_relu_cpu, "elu": _elu_cpu, "softplus": _softplus_cpu}


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
    return None                             # relu, leaky relu: piecewise constant


def _cpu_backward(kind, y, gy, p):
    """gx = gy * local(y) on NumPy arrays, in one output buffer."""
    if kind == "sigmoid":
        gx = numpy.subtract(1, y)
        gx *= y
    elif kind == "tanh":
        gx = numpy.multiply(y, y)
        numpy.subtract(1, gx, out=gx)
    elif kind == "relu":
        return numpy.multiply(gy, y > 0)
    elif kind == "leaky_relu":
        gx = numpy.where(y > 0, 1.0, p["slope"]).astype(y.dtype, copy=False)
    elif kind == "elu":
        gx = numpy.add(y, p["alpha"])
        gx[y > 0] = 1
    elif kind == "softplus":
        gx = numpy.negative(y)
        numpy.expm1(gx, out=gx)
        numpy.negative(gx, out=gx)
    else:
        raise ValueError(f"unknown activation {kind!r}")
    gx *= gy
    return gx


def _on_cpu(twin, a, params):
    """Run a NumPy twin; 0-d arrays go through as 1-element arrays (NumPy ufuncs turn
    0-d results into scalars, which cannot be written in place)."""
    flat = a if a.ndim else a.reshape(1)
    return twin(flat, params).astype(a.dtype, copy=False).reshape(a.shape)


class Activation(Function):
    """y = act(x) for ``kind`` in sigmoid, tanh, relu, leaky_relu, elu, softplus."""
    save_output = True

    def __init__(self, kind: str, **params):
        self.kind = kind
        self.params = params

    def forward(self, x):
        if backend.is_cuda_array(x):
            from .. import kernels
            return kernels.activation_forward(self.kind, x, **self.params)
        return _on_cpu(CPU_FORWARD[self.kind], x, self.params)

    def backward(self, ns, gy, y):
        return ns.apply(ActivationGrad(self.kind, self.params), y, gy)


class ActivationGrad(Function):
    """gx = gy * local(y): the backward of an activation, itself differentiable."""
    save_inputs = (0, 1)

    def __init__(self, kind: str, params: dict):
        self.kind = kind
        self.params = params

    def forward(self, y, gy):
        if backend.is_cuda_array(y):
            from .. import kernels
            return kernels.activation_backward(self.kind, y, gy, **self.params)
        return _on_cpu(lambda y1, p: _cpu_backward(self.kind, y1, gy.reshape(y1.shape), p),
                       y, self.params)

    def backward(self, ns, ggx, y, gy):
        need_y, need_gy = self.needs_grad
        g_gy = ggx * local_gradient(self.kind, y, self.params, ns) if need_gy else None
        g_y = None
        if need_y:
            d = local_gradient_derivative(self.kind, y, self.params, ns)
            g_y = None if d is None else ggx * gy * d
        return g_y, g_gy


class BiasActivation(Function):
    """y = act(x + b) with b broadcast along the last axis: one pass on the GPU."""
    save_output = True

    def __init__(self, kind: str, **params):
        self.kind = kind
        self.params = params

    def forward(self, x, b):
        if backend.is_cuda_array(x):
            from .. import kernels
            return kernels.bias_activation_forward(self.kind, x, b, **self.params)
        return _on_cpu(CPU_FORWARD[self.kind], numpy.add(x, b), self.params)

    def backward(self, ns, gy, y):
        need_x, need_b = self.needs_grad
        if not ns.graph and backend.is_cuda_array(y):
            from .. import kernels
            gx, gb = kernels.bias_activation_backward(self.kind, y, gy, **self.params)
            return gx, (gb if need_b else None)
        gx = ns.apply(ActivationGrad(self.kind, self.params), y, gy)
        return gx, gx            # the engine sums the bias gradient over the broadcast axes


def _check_params(kind, params):
    if kind == "leaky_relu" and params["slope"] < 0:
        raise ValueError(f"leaky_relu needs negative_slope >= 0 (its backward reads the sign "
                         f"of the output), got {params['slope']}")
    if kind == "elu" and params["alpha"] <= 0:
        raise ValueError(f"elu needs alpha > 0, got {params['alpha']}")


def _activation(kind, x, **params):
    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{kind} needs a floating-point tensor, got {x.dtype}")
    _check_params(kind, params)
    return Activation(kind, **params)(x)


def sigmoid(x) -> Tensor:
    """1 / (1 + exp(-x)); local gradient σ(1 − σ)."""
    return _activation("sigmoid", x)


def tanh(x) -> Tensor:
    return _activation("tanh", x)


def relu(x) -> Tensor:
    """max(0, x); NaN passes through; the gradient at 0 is 0."""
    return _activation("relu", x)


def leaky_relu(x, negative_slope: float = 0.01) -> Tensor:
    return _activation("leaky_relu", x, slope=float(negative_slope))


def elu(x, alpha: float = 1.0) -> Tensor:
    return _activation("elu", x, alpha=float(alpha))


def softplus(x) -> Tensor:
    """log(1 + exp(x)), computed stably."""
    return _activation("softplus", x)


def bias_activation(x, b, kind: str, **params) -> Tensor:
    """act(x + b), b of shape (x.shape[-1],), fused into one kernel on the GPU."""
    from .arithmetic import check_same
    x = as_tensor(x)
    b = as_tensor(b, like=x)
    check_same(x, b, f"bias_{kind}")
    if b.ndim != 1 or x.ndim < 1 or b.shape[0] != x.shape[-1]:
        raise ValueError(f"bias_{kind}: bias of shape {b.shape} does not match the last axis of "
                         f"x with shape {x.shape}")
    _check_params(kind, params)
    return BiasActivation(kind, **params)(x, b)


def bias_relu(x, b) -> Tensor:
    return bias_activation(x, b, "relu")


def bias_sigmoid(x, b) -> Tensor:
    return bias_activation(x, b, "sigmoid")
