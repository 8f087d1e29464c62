"""Module, Parameter and Sequential: the containers every layer is built from."""

from __future__ import annotations

from collections import OrderedDict

import numpy

from .. import backend
from ..autograd import increment_version, no_grad
from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable (requires_grad=True by default)."""

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True):
        super().__init__(
            data.data if isinstance(data, Tensor) else data, requires_grad=requires_grad
        )

    def __repr__(self):
        return "Parameter(" + super().__repr__() + ")"


class Module:
    """Base class of layers and models.

    Assigning a Parameter, a Module or (through ``register_buffer``) a buffer Tensor to
    an attribute registers it; ``parameters()``, ``state_dict()`` and ``to()`` walk them
    in registration order.
    """

    def __init__(self):
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # -- registration ---------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(
                f"{type(self).__name__}.__init__ must call super().__init__() "
                f"before assigning attributes"
            )
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        if isinstance(value, Parameter):
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._modules[name] = value
        object.__setattr__(self, name, value)

    def register_buffer(self, name: str, tensor: Tensor) -> None:
        """A Tensor that is state but not trained (BatchNorm's running statistics)."""
        self.__setattr__(name, tensor)
        self._buffers[name] = tensor

    # -- traversal ------------------------------------------------------------------
    def named_modules(self, prefix: str = ""):
        yield prefix, self
        for name, m in self._modules.items():
            yield from m.named_modules(f"{prefix}{name}.")

    def children(self):
        return iter(self._modules.values())

    def named_parameters(self):
        for prefix, m in self.named_modules():
            for name, p in m._parameters.items():
                yield prefix + name, p

    def parameters(self):
        return (p for _, p in self.named_parameters())

    def named_buffers(self):
        for prefix, m in self.named_modules():
            for name, b in m._buffers.items():
                yield prefix + name, b

    # -- modes and devices --------------------------------------------------------------
    def train(self, mode: bool = True):
        for _, m in self.named_modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def to(self, device):
        """Move every parameter and buffer to ``device`` in place; returns self."""
        dev = backend.device(device)
        for _, m in self.named_modules():
            for registry in (m._parameters, m._buffers):
                for t in registry.values():
                    t.data = backend.to_device(t.data, dev)
                    if t.grad is not None:
                        t.grad = Tensor.wrap(backend.to_device(t.grad.data, dev))
        return self

    def zero_grad(self):
        for p in self.parameters():
            p.grad = None

    # -- state ------------------------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, Tensor]:
        """Parameters and buffers by dotted name (the tensors themselves, not copies)."""
        state = OrderedDict()
        for prefix, m in self.named_modules():
            for name, t in list(m._parameters.items()) + list(m._buffers.items()):
                state[prefix + name] = t
        return state

    def load_state_dict(self, state, strict: bool = True):
        """Copy ``state`` into this module's tensors.  Every key, shape and dtype is
        checked before anything is written, so a failed load changes nothing."""
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(f"load_state_dict: missing keys {missing}, unexpected keys {unexpected}")
        prepared = []
        for key, target in own.items():
            if key not in state:
                continue
            value = state[key]
            array = value.data if isinstance(value, Tensor) else value
            if not hasattr(array, "shape"):
                array = numpy.asarray(array)
            if tuple(array.shape) != target.shape:
                raise ValueError(
                    f"load_state_dict: {key} has shape {tuple(array.shape)} in the "
                    f"state, {target.shape} in the model"
                )
            if numpy.dtype(array.dtype) != target.dtype:
                raise TypeError(
                    f"load_state_dict: {key} has dtype {array.dtype} in the state, "
                    f"{target.dtype} in the model"
                )
            prepared.append((target, backend.to_device(array, target.device)))
        with no_grad():
            for target, array in prepared:
                target.data[...] = array
                increment_version(target)
        return missing, unexpected

    # -- calling ----------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args, **kwargs):
        return self.forward(*args, **kwargs)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        lines = [
            f"  ({name}): " + repr(m).replace("\n", "\n  ") for name, m in self._modules.items()
        ]
        head = f"{type(self).__name__}({self.extra_repr()}"
        return head + ("\n" + "\n".join(lines) + "\n)" if lines else ")")


class Sequential(Module):
    """Modules applied one after the other."""

    def __init__(self, *modules):
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential takes Modules, argument {i} is {type(m).__name__}")
            setattr(self, str(i), m)

    def forward(self, x):
        for m in self._modules.values():
            x = m(x)
        return x

    def __getitem__(self, i):
        return list(self._modules.values())[i]

    def __len__(self):
        return len(self._modules)
