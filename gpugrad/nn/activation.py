"""Activation modules (``nn.ReLU``, ``nn.LeakyReLU(negative_slope)``, ...), one per record of
``gpugrad.ops.activation.ACTIVATIONS``: the class name, the constructor's keyword and its
default, the docstring and ``extra_repr`` all come from the record.  ``inplace=True``
writes the input as PyTorch's does (ReLU, LeakyReLU, ELU); SiLU accepts it and returns a new
tensor.  Then the composite ones:
``GELU``, ``SiLU``, ``Softmax``, ``LogSoftmax``."""

from __future__ import annotations

import inspect

from .. import functional as F
from ..ops.activation import ACTIVATIONS, ActivationSpec, activate
from .module import Module

HAS_INPLACE = ("relu", "leaky_relu", "elu")  # PyTorch's modules with an inplace flag


def activation_module(spec: ActivationSpec) -> type:
    """The Module class applying ``spec``; its constructor takes PyTorch's keyword for the
    activation's parameter (none for sigmoid, tanh, relu, softplus)."""
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)]
    if spec.param is not None:
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        params.append(inspect.Parameter(spec.param, kind, default=spec.default))
    if spec.name in HAS_INPLACE:
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        params.append(inspect.Parameter("inplace", kind, default=False))
    signature = inspect.Signature(params)

    def __init__(self, *args, **kwargs):
        Module.__init__(self)
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        if spec.param is not None:
            value = bound.arguments[spec.param]
            spec.parameter(value)  # a bad value fails here, not at the first forward
            setattr(self, spec.param, value)
        self.inplace = bound.arguments.get("inplace", False)

    def forward(self, x):
        p = None if spec.param is None else getattr(self, spec.param)
        return activate(spec.name, x, p, inplace=self.inplace)

    def extra_repr(self):
        parts = [] if spec.param is None else [f"{spec.param}={getattr(self, spec.param)}"]
        return ", ".join(parts + ["inplace=True"] if self.inplace else parts)

    __init__.__signature__ = signature
    namespace = {
        "__init__": __init__,
        "forward": forward,
        "extra_repr": extra_repr,
        "__doc__": f"{spec.formula}.",
        "__module__": __name__,
        "__qualname__": spec.module,
    }
    return type(spec.module, (Module,), namespace)


# One line per record (a test checks that every record has its module here).
Sigmoid = activation_module(ACTIVATIONS["sigmoid"])
Tanh = activation_module(ACTIVATIONS["tanh"])
ReLU = activation_module(ACTIVATIONS["relu"])
LeakyReLU = activation_module(ACTIVATIONS["leaky_relu"])
ELU = activation_module(ACTIVATIONS["elu"])
Softplus = activation_module(ACTIVATIONS["softplus"])


class GELU(Module):
    """x·Φ(x) (``approximate='none'``, exact erf) or its tanh approximation."""

    def __init__(self, approximate: str = "none"):
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, x):
        return F.gelu(x, approximate=self.approximate)

    def extra_repr(self):
        return f"approximate={self.approximate!r}"


class SiLU(Module):
    """x · sigmoid(x)."""

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        return F.silu(x)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


def implicit_dim(ndim: int) -> int:
    """PyTorch's legacy choice when Softmax gets no dim: 0 for 0-, 1- and 3-d input, else 1."""
    return 0 if ndim in (0, 1, 3) else 1


class Softmax(Module):
    """exp(x) / sum(exp(x)) along ``dim``."""

    function = staticmethod(F.softmax)

    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return self.function(x, implicit_dim(x.ndim) if self.dim is None else self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class LogSoftmax(Softmax):
    """log(softmax(x)) along ``dim``, computed stably."""

    function = staticmethod(F.log_softmax)
