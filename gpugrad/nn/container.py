"""Containers: ``Sequential`` (from modules or an OrderedDict; a slice is a Sequential),
``ModuleList`` and ``ModuleDict``, as PyTorch's."""

from __future__ import annotations

import operator
from collections import OrderedDict

from .. import functional as F
from ..ops.activation import ACTIVATIONS
from ..ops.conv import conv2d_activation
from ..ops.smooth_activations import is_registry_softplus
from . import activation as activation_modules
from .conv import Conv2d
from .linear import Linear
from .module import Module
from .softplus import Softplus

# the nn module class of each registry activation -> its record
ACTIVATIONS_BY_MODULE = {
    getattr(activation_modules, spec.module): spec for spec in ACTIVATIONS.values()
}


class _Indexed(Module):
    """Modules registered under the names "0", "1", ...: length, iteration, indexing (an
    int or a slice, a slice giving a container of the same type)."""

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules.values())

    def _key(self, idx) -> str:
        idx = operator.index(idx)
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f"index {idx} is out of range for {type(self).__name__} of {n}")
        return list(self._modules)[idx % n]

    def __getitem__(self, idx):
        if isinstance(idx, slice):
            return self._sliced(list(self._modules.items())[idx])
        return self._modules[self._key(idx)]

    def append(self, module: Module):
        self.add_module(str(len(self)), module)
        return self

    def __setitem__(self, idx, module):
        self.add_module(self._key(idx), module)

    def __delitem__(self, idx):
        keys = list(self._modules)[idx] if isinstance(idx, slice) else [self._key(idx)]
        for key in keys:
            del self._modules[key]
            object.__delattr__(self, key)
        self._renumber(list(self._modules.values()))

    def _renumber(self, modules):
        for key in list(self._modules):
            self._forget(key)
            object.__delattr__(self, key)
        for i, m in enumerate(modules):
            self.add_module(str(i), m)

    def __dir__(self):
        return [k for k in super().__dir__() if not k.isdigit()]


class Sequential(_Indexed):
    """Modules applied one after the other: ``Sequential(m0, m1, ...)`` or
    ``Sequential(OrderedDict([("name", m), ...]))``."""

    def __init__(self, *modules):
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], OrderedDict):
            for name, m in modules[0].items():
                self.add_module(name, m)
        else:
            for i, m in enumerate(modules):
                if not isinstance(m, Module):
                    raise TypeError(f"Sequential takes Modules, argument {i} is {type(m).__name__}")
                self.add_module(str(i), m)

    @staticmethod
    def _sliced(items):
        return Sequential(OrderedDict(items))  # the names are kept, as in PyTorch

    def forward(self, x):
        modules = list(self._modules.values())
        i = 0
        while i < len(modules):
            m = modules[i]
            after = modules[i + 1] if i + 1 < len(modules) else None
            spec = _fused_activation(m, after)
            if spec is not None:
                p = {} if spec.param is None else {spec.param: getattr(after, spec.param)}
                if type(m) is Linear:  # one GEMM, one bias-activation kernel each way
                    x = F.bias_activation(F.linear(x, m.weight), m.bias, spec.name, **p)
                else:  # Conv2d: on CUDA the GEMM, one channel bias-activation kernel
                    args = (m.stride, m.padding, m.dilation, m.groups)
                    x = conv2d_activation(x, m.weight, m.bias, spec.name, *args, **p)
                i += 2
                continue
            x = m(x)
            i += 1
        return x


def _fused_activation(layer, activation):
    """The registry activation (ops/activation.py) that ``layer`` runs fused with, or
    None: a plain ``nn.Linear`` or ``nn.Conv2d`` (zero padding) with a bias followed by a
    registry activation module (or ``nn.Softplus`` with torch's defaults, the registry's
    softplus), neither with hooks (calling the modules would run them) nor in-place: they
    run as fused nodes (ops/activation.py, ops/conv.py), with the same numbers."""
    spec = ACTIVATIONS_BY_MODULE.get(type(activation))
    if type(activation) is Softplus and is_registry_softplus(activation.beta, activation.threshold):
        spec = ACTIVATIONS["softplus"]
    fusable = (
        spec is not None
        and (type(layer) is Linear or (type(layer) is Conv2d and layer.padding_mode == "zeros"))
        and layer.bias is not None
        and not getattr(activation, "inplace", False)
        and not any(m._forward_hooks or m._forward_pre_hooks for m in (layer, activation))
    )
    return spec if fusable else None


class ModuleList(_Indexed):
    """A list of modules, registered (their parameters are the list owner's)."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.extend(modules)

    @staticmethod
    def _sliced(items):
        return ModuleList(m for _, m in items)

    def extend(self, modules):
        for m in modules:
            self.append(m)
        return self

    def insert(self, index: int, module: Module) -> None:
        self.append(module)
        modules = list(self._modules.values())
        modules.insert(index, modules.pop())
        self._renumber(modules)

    def __iadd__(self, modules):
        return self.extend(modules)

    def __add__(self, other):
        return ModuleList(list(self) + list(other))


class ModuleDict(Module):
    """A dict of modules by name, registered in insertion order."""

    def __init__(self, modules=None):
        super().__init__()
        if modules is not None:
            self.update(modules)

    def __getitem__(self, key: str) -> Module:
        return self._modules[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self.add_module(key, module)

    def __delitem__(self, key: str) -> None:
        delattr(self, key)

    def __len__(self):
        return len(self._modules)

    def __iter__(self):
        return iter(self._modules)

    def __contains__(self, key):
        return key in self._modules

    def keys(self):
        return self._modules.keys()

    def items(self):
        return self._modules.items()

    def values(self):
        return self._modules.values()

    def pop(self, key: str) -> Module:
        m = self._modules[key]
        delattr(self, key)
        return m

    def clear(self) -> None:
        for key in list(self._modules):
            delattr(self, key)

    def update(self, modules) -> None:
        pairs = modules.items() if hasattr(modules, "items") else modules
        for key, m in pairs:
            self[key] = m
