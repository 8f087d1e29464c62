"""Activations: one registry record per activation, and the three Functions they share.

:data:`ACTIVATIONS` holds one :class:`ActivationSpec` per activation, as PyTorch's
``derivatives.yaml`` holds one entry per op: its name, its code in the CUDA enum
``GgActivation`` (``kernels/activation.cu``), its NumPy forward and backward, its local
gradient and that gradient's derivative (for double backward), its parameter and the check
on it.  The Functions, the public functions, the ``nn`` modules, the kernel launch
arguments and the test cases are all derived from it.

Every activation saves its OUTPUT (its local gradient is a function of y alone: one array
kept, not two).  On CUDA each direction is one fused kernel (``gpugrad.kernels.activation``);
on the CPU the NumPy twins (``activation_twins``) do the same maths with ``out=`` on
buffers they own (large ones from the host pool) in stable forms (exp only of non-positive
numbers).  NaN passes through every forward; at NaN, ±inf and the kinks each activation
takes PyTorch's side (the rules: ``activation_twins``), and the piecewise backwards SELECT,
so an infinite upstream where a unit is off gives 0, as in PyTorch.  Bias + activation
takes x (..., C), b (C,).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy

from .. import backend, host_memory, kernels
from ..autograd.engine import Function
from ..creation import as_tensor, unwrap
from ..tensor import Tensor
from . import activation_twins as twins, inplace as inplace_ops
from .arithmetic import check_same


@dataclass(frozen=True)
class ActivationSpec:
    """Everything about one activation.  ``numpy_forward(x, p, out)`` maps a 1-d NumPy
    array and returns y (``out``: None, or an array of x's shape it may write into, x itself
    when x may be overwritten); ``numpy_backward(y, gy, p)`` gives gx = gy · act'(x) from
    the output y in a new buffer; ``local_gradient(y, p, ns)`` is dy/dx from y (arrays, or
    Tensors through the namespace ``ns``) and ``local_gradient_derivative`` its derivative
    in y (None where it is zero).  ``param`` is PyTorch's keyword for the one parameter
    (None if none); ``check(p)`` an error, or None.
    """

    name: str
    code: int  # the GgActivation enum value in kernels/activation.cu
    formula: str
    numpy_forward: Callable
    numpy_backward: Callable
    local_gradient: Callable
    local_gradient_derivative: Callable | None = None
    param: str | None = None
    default: float = 0.0
    check: Callable = lambda p: None
    module: str = ""  # the nn class name (ReLU, LeakyReLU, ...)

    def parameter(self, value=None) -> float:
        """The parameter as a float (the default if ``value`` is None), checked."""
        p = float(self.default if value is None else value)
        error = self.check(p)
        if error:
            raise ValueError(f"{self.name} {error}, got {p}")
        return p

    def forward_numpy(self, x, p: float = 0.0, owned: bool = False):
        """y = act(x), any shape: into x if ``owned``, else a large y into a pooled array."""
        flat = _at_least_1d(x)
        out = flat if owned else host_memory.pooled_like(flat)
        return self.numpy_forward(flat, p, out).reshape(x.shape)

    def backward_numpy(self, y, gy, p: float = 0.0):
        """gx = gy · act'(x) from the output y and the upstream gy (y's shape), in one new
        buffer of y's dtype."""
        gy = numpy.broadcast_to(gy, y.shape).astype(y.dtype, copy=False)
        return self.numpy_backward(_at_least_1d(y), _at_least_1d(gy), p).reshape(y.shape)


def _at_least_1d(a):
    """A 0-d array as a (1,)-view: NumPy ufuncs turn 0-d results into unwritable scalars."""
    return a if a.ndim else a.reshape(1)


# -- local gradients of the piecewise ones: masks enter as constants of y's dtype ------------
# The same sides of the kinks as the twins' and kernels' backwards (NaN: activation_twins).
def _mask(y, test):
    yd = unwrap(y)
    return test(yd).astype(yd.dtype)


def _on(y):
    """1 where NOT y <= 0 (relu, elu: a NaN y is on, as in torch), else 0."""
    return _mask(y, lambda yd: ~(yd <= 0))


def _leaky_relu_local(y, slope, ns):
    yd = unwrap(y)
    return backend.get_array_module(yd).where(yd > 0, 1.0, slope).astype(yd.dtype)


def _elu_local(y, alpha, ns):  # a select, not on + (y + α)(1 - on): NaN · 0 is NaN
    yd = unwrap(y)
    return ns.where(~(yd <= 0), 1.0, y + alpha)


def _softplus_below(y):
    """1 where y <= softplus(20) (x under torch's threshold), else 0 (and at NaN)."""
    return _mask(y, lambda yd: yd <= yd.dtype.type(twins.SOFTPLUS_AT_THRESHOLD))


_NONNEGATIVE = "(its backward reads the sign of the output)"

# One record per activation, as derivatives.yaml has one entry per op.
ACTIVATIONS = {
    spec.name: spec
    for spec in (
        ActivationSpec(
            name="sigmoid", code=0, module="Sigmoid",
            formula="1 / (1 + exp(-x)); local gradient y(1 - y)",
            numpy_forward=twins.sigmoid, numpy_backward=twins.sigmoid_backward,
            local_gradient=lambda y, p, ns: y * (1 - y),
            local_gradient_derivative=lambda y, p, ns: 1 - 2 * y,
        ),
        ActivationSpec(
            name="tanh", code=1, module="Tanh",
            formula="tanh(x); local gradient 1 - y²",
            numpy_forward=lambda x, p, out: numpy.tanh(x, out=out),
            numpy_backward=twins.tanh_backward,
            local_gradient=lambda y, p, ns: 1 - y * y,
            local_gradient_derivative=lambda y, p, ns: -2 * y,
        ),
        ActivationSpec(
            name="relu", code=2, module="ReLU",
            formula="max(x, 0), NaN passes; local gradient [not y <= 0] (0 at 0, 1 at NaN)",
            numpy_forward=lambda x, p, out: numpy.maximum(x, 0, out=out),
            numpy_backward=twins.relu_backward,
            local_gradient=lambda y, p, ns: _on(y),
        ),
        ActivationSpec(
            name="leaky_relu", code=3, module="LeakyReLU",
            formula="x if x > 0 else negative_slope·x; local gradient 1 or negative_slope",
            numpy_forward=twins.leaky_relu, numpy_backward=twins.leaky_relu_backward,
            local_gradient=_leaky_relu_local,
            param="negative_slope", default=0.01,
            check=lambda p: None if p >= 0 else f"needs negative_slope >= 0 {_NONNEGATIVE}",
        ),
        ActivationSpec(
            name="elu", code=4, module="ELU",
            formula="x if x > 0 else alpha·(exp(x) - 1); local gradient 1 or y + alpha",
            numpy_forward=twins.elu, numpy_backward=twins.elu_backward,
            local_gradient=_elu_local, local_gradient_derivative=lambda y, p, ns: 1 - _on(y),
            param="alpha", default=1.0,
            check=lambda p: None if p > 0 else f"needs alpha > 0 {_NONNEGATIVE}",
        ),
        ActivationSpec(
            name="softplus", code=5, module="Softplus",
            formula="log(1 + exp(x)), stable; x above 20 (torch's threshold); local "
            "gradient 1 - exp(-y) = sigmoid(x), 1 above 20",
            numpy_forward=twins.softplus, numpy_backward=twins.softplus_backward,
            local_gradient=lambda y, p, ns: 1 - ns.exp(-y) * _softplus_below(y),
            local_gradient_derivative=lambda y, p, ns: ns.exp(-y) * _softplus_below(y),
        ),
    )
}  # fmt: skip


def spec_of(name: str) -> ActivationSpec:
    """The record of activation ``name``; ValueError naming the known ones otherwise."""
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}: expected one of {sorted(ACTIVATIONS)}")
    return ACTIVATIONS[name]


def spec_with_parameter(kind: str, params: dict, what: str):
    """(record, parameter) of activation ``kind``, the parameter by PyTorch's keyword in
    ``params`` (its default if absent); another keyword is a TypeError naming ``what``."""
    spec = spec_of(kind)
    if set(params) - {spec.param}:
        raise TypeError(
            f"{what}: unexpected keyword {sorted(set(params) - {spec.param})}; "
            f"{kind} takes {spec.param or 'no parameter'}"
        )
    return spec, spec.parameter(params.get(spec.param))


# -- the Functions ------------------------------------------------------------------------------
class ActivationNode(Function):
    """A node of activation ``spec`` with parameter ``p``; ``template`` shows it in explain."""

    template = "{}"

    def __init__(self, spec: ActivationSpec, p: float = 0.0):
        self.spec, self.p = spec, p

    def label(self) -> str:
        return self.template.format(self.spec.name)


class Activation(ActivationNode):
    """y = act(x), elementwise; saves y.  Named after its activation (ReLU, Sigmoid ...)."""

    save_output = True

    @property
    def name(self) -> str:
        return self.spec.module

    def forward(self, x):
        if backend.is_cuda_array(x):
            return kernels.activation.forward(self.spec.code, x, self.p)
        return self.spec.forward_numpy(x, self.p)

    def backward(self, ns, gy, y):
        return ns.apply(ActivationGrad(self.spec, self.p), y, gy)


class ActivationGrad(ActivationNode):
    """gx = gy · local(y): an activation's backward, one fused pass, differentiable again."""

    template = "{}'"
    save_inputs = (0, 1)

    def forward(self, y, gy):
        if backend.is_cuda_array(y):
            return kernels.activation.backward(self.spec.code, y, gy, self.p)
        return self.spec.backward_numpy(y, gy, self.p)

    def backward(self, ns, ggx, y, gy):
        need_y, need_gy = self.needs_grad
        spec, derivative = self.spec, self.spec.local_gradient_derivative
        g_gy = ggx * spec.local_gradient(y, self.p, ns) if need_gy else None
        g_y = ggx * gy * derivative(y, self.p, ns) if need_y and derivative else None
        return g_y, g_gy


class BiasActivation(ActivationNode):
    """y = act(x + b), x (..., C), b (C,) along the last axis; saves y.  One pass each way
    on the GPU (the backward also sums the bias gradient); on the CPU in place on x + b."""

    template = "bias_{}"
    save_output = True

    def forward(self, x, b):
        if backend.is_cuda_array(x):
            return kernels.activation.bias_forward(self.spec.code, x, b, self.p)
        return self.spec.forward_numpy(numpy.add(x, b), self.p, owned=True)

    def backward(self, ns, gy, y):
        need_x, need_b = self.needs_grad
        if not ns.graph and backend.is_cuda_array(y):
            gx, gb = kernels.activation.bias_backward(self.spec.code, y, gy, self.p)
        else:  # gb = gx: the engine sums it over the broadcast axes (sum_to)
            gx = gb = ns.apply(ActivationGrad(self.spec, self.p), y, gy)
        return (gx if need_x else None), (gb if need_b else None)


# -- the functions ------------------------------------------------------------------------------
def activate(name: str, x, p=None, inplace: bool = False) -> Tensor:
    """Activation ``name`` of x with parameter ``p`` (its default if None); ``inplace=True``
    writes the result into x and returns x (PyTorch's in-place rules: ops/inplace.py)."""
    spec = spec_of(name)
    x = as_tensor(x)
    if x.dtype.kind != "f":
        raise TypeError(f"{name} needs a floating-point tensor, got {x.dtype}")
    node = Activation(spec, spec.parameter(p))
    return inplace_ops.apply(x, lambda t, _: node(t), None) if inplace else node(x)


def sigmoid(x) -> Tensor:
    """1 / (1 + exp(-x)), any shape; never overflows."""
    return activate("sigmoid", x)


def tanh(x) -> Tensor:
    """tanh(x), any shape."""
    return activate("tanh", x)


def relu(x, inplace: bool = False) -> Tensor:
    """max(0, x), any shape; NaN passes through, and so does its gradient (as in torch);
    the gradient at 0 is 0."""
    return activate("relu", x, inplace=inplace)


def leaky_relu(x, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x if x > 0 else negative_slope·x, any shape; negative_slope >= 0."""
    return activate("leaky_relu", x, negative_slope, inplace)


def elu(x, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x if x > 0 else alpha·(exp(x) - 1), any shape; alpha > 0."""
    return activate("elu", x, alpha, inplace)


def softplus(x) -> Tensor:
    """log(1 + exp(x)), any shape, computed stably; x itself above 20 (torch's default
    threshold), where the gradient is 1."""
    return activate("softplus", x)


def bias_activation(x, b, kind: str, **params) -> Tensor:
    """act(x + b) for x (..., C) and b (C,), fused into one kernel each way on the GPU.
    ``kind`` is a key of :data:`ACTIVATIONS`; its parameter, if any, by PyTorch's keyword
    (``negative_slope=`` for leaky_relu, ``alpha=`` for elu)."""
    spec, p = spec_with_parameter(kind, params, f"bias_{kind}")
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
    return BiasActivation(spec, p)(x, b)


def bias_relu(x, b) -> Tensor:
    """relu(x + b), x (..., C), b (C,)."""
    return bias_activation(x, b, "relu")


def bias_sigmoid(x, b) -> Tensor:
    """sigmoid(x + b), x (..., C), b (C,)."""
    return bias_activation(x, b, "sigmoid")


# The public functions: the four below and one per activation, named as in the registry.
__all__ = ["activate", "bias_activation", "bias_relu", "bias_sigmoid", *ACTIVATIONS]  # noqa: PLE0604
