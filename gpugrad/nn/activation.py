"""Activation modules (``nn.ReLU``, ``nn.LeakyReLU(negative_slope)``, ...), one per record of
``gpugrad.ops.activation.ACTIVATIONS``: the class name, the constructor's keyword and its
default, the docstring and ``extra_repr`` all come from the record.  ``inplace=True``
writes the input as PyTorch's does (ReLU, LeakyReLU, ELU); SiLU accepts it and returns a new
tensor.  Then the composite ones:
``GELU``, ``SiLU``, ``Softmax``, ``LogSoftmax``, and the piecewise and smooth ones of
``ops/piecewise_activations`` and ``ops/smooth_activations`` (``Hardtanh`` ... ``PReLU``),
with torch's signatures, reprs and ``inplace=``."""

from __future__ import annotations

import inspect
import warnings

from .. import functional as F
from ..autograd import no_grad
from ..creation import empty
from ..ops.activation import ACTIVATIONS, ActivationSpec, activate
from .module import Module, Parameter

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
# The registry's Softplus (no beta/threshold), the type Sequential fuses after a Linear or
# Conv2d (nn/container.py); the public nn.Softplus is nn/softplus.py's.
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


class _Simple(Module):
    """A module applying ``function`` (F.<name>) with no parameter; torch's ``inplace=`` if
    ``takes_inplace``, shown in the repr if ``shows_inplace``."""

    function = None
    takes_inplace = shows_inplace = True

    def __init__(self, inplace: bool = False):
        super().__init__()
        self.inplace = inplace

    def forward(self, x):
        fn = type(self).function
        return fn(x, inplace=self.inplace) if self.takes_inplace else fn(x)

    def extra_repr(self):
        return "inplace=True" if self.inplace and self.shows_inplace else ""


class Hardsigmoid(_Simple):
    """min(max(x + 3, 0), 6) / 6; gradient 1/6 strictly inside (-3, 3)."""

    function, shows_inplace = staticmethod(F.hardsigmoid), False


class Hardswish(_Simple):
    """x · hardsigmoid(x)."""

    function, shows_inplace = staticmethod(F.hardswish), False


class SELU(_Simple):
    """scale · elu(x, alpha), torch's constants."""

    function = staticmethod(F.selu)


class Mish(_Simple):
    """x · tanh(softplus(x))."""

    function = staticmethod(F.mish)


class Softsign(_Simple):
    """x / (1 + |x|)."""

    function, takes_inplace = staticmethod(F.softsign), False

    def __init__(self):
        super().__init__()


class LogSigmoid(Softsign):
    """log(sigmoid(x)), computed stably."""

    function = staticmethod(F.logsigmoid)


class Hardtanh(Module):
    """min(max(x, min_val), max_val); gradient 0 at both ends."""

    def __init__(self, min_val=-1.0, max_val=1.0, inplace=False, min_value=None, max_value=None):
        super().__init__()
        if min_value is not None:  # torch's deprecated spellings
            warnings.warn("keyword argument `min_value` is deprecated, use `min_val`", stacklevel=2)
            min_val = min_value
        if max_value is not None:
            warnings.warn("keyword argument `max_value` is deprecated, use `max_val`", stacklevel=2)
            max_val = max_value
        if not max_val > min_val:
            raise ValueError(f"max_val ({max_val}) must be greater than min_val ({min_val})")
        self.min_val, self.max_val, self.inplace = min_val, max_val, inplace

    def forward(self, x):
        return F.hardtanh(x, self.min_val, self.max_val, self.inplace)

    def extra_repr(self):
        inplace = ", inplace=True" if self.inplace else ""
        return f"min_val={self.min_val}, max_val={self.max_val}{inplace}"


class ReLU6(Hardtanh):
    """min(max(x, 0), 6) (a Hardtanh, as torch's); gradient 0 at 0 and 6."""

    def __init__(self, inplace: bool = False):
        super().__init__(0.0, 6.0, inplace)

    def extra_repr(self):
        return "inplace=True" if self.inplace else ""


class CELU(Module):
    """x if x > 0 else alpha·(exp(x/alpha) - 1)."""

    def __init__(self, alpha: float = 1.0, inplace: bool = False):
        super().__init__()
        self.alpha, self.inplace = alpha, inplace

    def forward(self, x):
        return F.celu(x, self.alpha, self.inplace)

    def extra_repr(self):
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Threshold(Module):
    """``value`` where x <= threshold, else x."""

    def __init__(self, threshold: float, value: float, inplace: bool = False):
        super().__init__()
        self.threshold, self.value, self.inplace = threshold, value, inplace

    def forward(self, x):
        return F.threshold(x, self.threshold, self.value, self.inplace)

    def extra_repr(self):
        inplace = ", inplace=True" if self.inplace else ""
        return f"threshold={self.threshold}, value={self.value}{inplace}"


class PReLU(Module):
    """x if x > 0 else weight·x, ``weight`` learnable: one value, or one per channel
    (dim 1 of the input), initialised to ``init``."""

    def __init__(self, num_parameters: int = 1, init: float = 0.25, device=None, dtype=None):
        super().__init__()
        self.num_parameters, self.init = num_parameters, init
        self.weight = Parameter(empty(num_parameters, device=device, dtype=dtype))
        self.reset_parameters()

    def reset_parameters(self):
        with no_grad():
            self.weight.fill_(self.init)

    def forward(self, x):
        return F.prelu(x, self.weight)

    def extra_repr(self):
        return f"num_parameters={self.num_parameters}"
