"""Activation modules (``nn.ReLU``, ``nn.LeakyReLU(negative_slope)``, ...), one per record of
``gpugrad.ops.activation.ACTIVATIONS``: the class name, the constructor's keyword and its
default, the docstring and ``extra_repr`` all come from the record."""

from __future__ import annotations

import inspect

from ..ops.activation import ACTIVATIONS, ActivationSpec, activate
from .module import Module


def activation_module(spec: ActivationSpec) -> type:
    """The Module class applying ``spec``; its constructor takes PyTorch's keyword for the
    activation's parameter (none for sigmoid, tanh, relu, softplus)."""
    params = [inspect.Parameter("self", inspect.Parameter.POSITIONAL_ONLY)]
    if spec.param is not None:
        kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
        params.append(inspect.Parameter(spec.param, kind, default=spec.default))
    signature = inspect.Signature(params)

    def __init__(self, *args, **kwargs):
        Module.__init__(self)
        bound = signature.bind(self, *args, **kwargs)
        bound.apply_defaults()
        if spec.param is not None:
            value = bound.arguments[spec.param]
            spec.parameter(value)  # a bad value fails here, not at the first forward
            setattr(self, spec.param, value)

    def forward(self, x):
        return activate(spec.name, x, None if spec.param is None else getattr(self, spec.param))

    def extra_repr(self):
        return "" if spec.param is None else f"{spec.param}={getattr(self, spec.param)}"

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
