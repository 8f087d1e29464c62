"""Module and Parameter: registration, traversal, modes, devices and dtypes, hooks and state
dicts, as ``torch.nn.Module``.  The containers (Sequential, ModuleList, ModuleDict) are in
``container.py``."""

from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy

from .. import backend
from ..autograd import increment_version, no_grad, recording
from ..autograd.accumulate import zero_grads
from ..tensor import Tensor
from .hooks import RemovableHandle


class Parameter(Tensor):
    """A Tensor that a Module registers as trainable (requires_grad=True by default)."""

    __slots__ = ()

    def __init__(self, data, requires_grad: bool = True):
        super().__init__(
            data.array if isinstance(data, Tensor) else data, requires_grad=requires_grad
        )

    def __repr__(self):
        return "Parameter containing:\n" + super().__repr__()


IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class StateDictKeyError(KeyError, RuntimeError):
    """Missing or unexpected keys in a strict ``load_state_dict`` (PyTorch raises a
    RuntimeError; the KeyError says what kind of mistake it is)."""

    def __str__(self):
        return str(self.args[0])


def _is_device(spec) -> bool:
    if isinstance(spec, backend.Device):
        return True
    if not isinstance(spec, str):
        return False
    try:
        backend.device(spec)
    except ValueError:
        return False
    return True


def _add_indent(text: str, spaces: int) -> str:
    return text.replace("\n", "\n" + " " * spaces)


class Module:
    """Base class of layers and models.

    Assigning a Parameter, a Module or (through ``register_buffer``) a buffer Tensor to
    an attribute registers it; ``parameters()``, ``state_dict()`` and ``to()`` walk them
    in registration order.
    """

    def __init__(self):
        for name in ("_parameters", "_buffers", "_modules"):
            object.__setattr__(self, name, OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_forward_hooks", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "training", True)

    # -- registration ---------------------------------------------------------------
    def __setattr__(self, name, value):
        if "_parameters" not in self.__dict__:
            raise RuntimeError(
                f"{type(self).__name__}.__init__ must call super().__init__() "
                f"before assigning attributes"
            )
        if isinstance(value, Parameter):
            self._forget(name)
            self._parameters[name] = value
        elif isinstance(value, Module):
            self._forget(name)
            self._modules[name] = value
        elif name in self._buffers and (value is None or isinstance(value, Tensor)):
            self._buffers[name] = value
        elif name in self._parameters and value is None:
            self._parameters[name] = None
        else:
            self._forget(name)
        object.__setattr__(self, name, value)

    def _forget(self, name):
        for registry in (self._parameters, self._buffers, self._modules):
            registry.pop(name, None)
        self._non_persistent.discard(name)

    def __delattr__(self, name):
        self._forget(name)
        object.__delattr__(self, name)

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """A Tensor that is state but not trained (BatchNorm's running statistics); a
        non-persistent one is left out of the state dict."""
        if "." in name or not name:
            raise KeyError(f"buffer name must be a non-empty name without '.', got {name!r}")
        self._forget(name)
        object.__setattr__(self, name, tensor)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"cannot assign {type(param).__name__} as parameter {name!r}")
        self._forget(name)
        self._parameters[name] = param
        object.__setattr__(self, name, param)

    def add_module(self, name: str, module: Module | None) -> None:
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        if "." in name or not name:
            raise KeyError(f"module name must be a non-empty name without '.', got {name!r}")
        self._forget(name)
        self._modules[name] = module
        object.__setattr__(self, name, module)

    register_module = add_module

    def get_submodule(self, target: str) -> Module:
        m = self
        for part in target.split(".") if target else ():
            if part not in m._modules:
                raise AttributeError(f"{type(m).__name__} has no submodule {part!r}")
            m = m._modules[part]
        return m

    # -- traversal ------------------------------------------------------------------
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        """``(name, module)`` for this module ("") and every submodule ("0", "0.conv")."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is not None:
                sub = prefix + ("." if prefix else "") + name
                yield from m.named_modules(memo, sub, remove_duplicate)

    def modules(self):
        return (m for _, m in self.named_modules())

    def named_children(self):
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        return (m for _, m in self.named_children())

    def _named_members(self, registry, prefix, recurse, remove_duplicate=True):
        seen = set()
        walk = self.named_modules(prefix=prefix) if recurse else [(prefix, self)]
        for module_prefix, m in walk:
            for name, t in getattr(m, registry).items():
                if t is None or (remove_duplicate and id(t) in seen):
                    continue
                seen.add(id(t))
                yield module_prefix + ("." if module_prefix else "") + name, t

    def named_parameters(self, prefix: str = "", recurse: bool = True, remove_duplicate=True):
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True):
        return (p for _, p in self.named_parameters(recurse=recurse))

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate=True):
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True):
        return (b for _, b in self.named_buffers(recurse=recurse))

    def apply(self, fn):
        """Call ``fn`` on every submodule (children first), then on self; returns self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # -- modes, gradients, devices and dtypes ---------------------------------------------
    def train(self, mode: bool = True):
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True):
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Drop every parameter's gradient (``set_to_none``) or zero it in place, as
        PyTorch (``autograd.accumulate.zero_grads``)."""
        if recording.active is not None:  # inside gg.compile: replayed as a call
            return recording.active.call(self.zero_grad, set_to_none)
        zero_grads(self.parameters(), set_to_none)

    def _convert(self, fn):
        """``fn(array, is_grad) -> array`` applied to every parameter, buffer and gradient,
        in place (the Parameter objects stay the same, as optimizers hold them)."""
        for m in self.modules():
            for registry in (m._parameters, m._buffers):
                for t in registry.values():
                    if t is None:
                        continue
                    t.array = fn(t.array)
                    if t.grad is not None:
                        t.grad = Tensor.wrap(fn(t.grad.array))
        return self

    def to(self, *args, device=None, dtype=None, non_blocking: bool = False):
        """``to(device)``, ``to(dtype)``, ``to(device, dtype)`` or ``to(tensor)``: moves
        every parameter and buffer in place; a dtype applies to floating ones only."""
        for a in args:
            if isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif _is_device(a):
                device = a
            else:
                dtype = a
        dev = None if device is None else backend.device(device)
        dt = None if dtype is None else numpy.dtype(dtype)
        if dt is not None and dt.kind not in "fc":
            raise TypeError(f"Module.to only accepts floating point dtypes, got {dt}")

        def convert(a):
            if dt is not None and a.dtype.kind == "f" and a.dtype != dt:
                a = a.astype(dt)
            return a if dev is None else backend.to_device(a, dev)

        return self._convert(convert)

    def cpu(self):
        return self.to("cpu")

    def cuda(self, device=None):
        return self.to("cuda" if device is None else backend.device(f"cuda:{device}"))

    def float(self):
        return self.to(numpy.float32)

    def double(self):
        return self.to(numpy.float64)

    def half(self):
        return self.to(numpy.float16)

    # -- state ------------------------------------------------------------------------
    def state_dict(self, destination=None, prefix: str = "", keep_vars: bool = False):
        """Parameters and persistent buffers by dotted name (the tensors themselves)."""
        state = OrderedDict() if destination is None else destination
        for module_prefix, m in self.named_modules(prefix=prefix.rstrip(".")):
            dot = module_prefix + ("." if module_prefix else "")
            for name, t in m._parameters.items():
                if t is not None:
                    state[dot + name] = t
            for name, t in m._buffers.items():
                if t is not None and name not in m._non_persistent:
                    state[dot + name] = t
        return state

    def load_state_dict(self, state, strict: bool = True):
        """Copy ``state`` (gpugrad or torch tensors, or arrays) into this module's tensors.
        Every key, shape and dtype is checked before anything is written, so a failed load
        changes nothing.  Returns ``(missing_keys, unexpected_keys)``."""
        own = self.state_dict()
        missing = [k for k in own if k not in state]
        unexpected = [k for k in state if k not in own]
        if strict and (missing or unexpected):
            raise StateDictKeyError(
                f"Error(s) in loading state_dict for {type(self).__name__}: "
                f"missing keys {missing}, unexpected keys {unexpected}"
            )
        prepared = []
        for key, target in own.items():
            if key not in state:
                continue
            array = _as_array(state[key])
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
                target.array[...] = array
                increment_version(target)
        return IncompatibleKeys(missing, unexpected)

    # -- calling and hooks -------------------------------------------------------------
    def forward(self, *args, **kwargs):
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def register_forward_pre_hook(self, hook) -> RemovableHandle:
        """``hook(module, args)`` before forward; a non-None result replaces the args (a
        single value is wrapped in a tuple)."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    def register_forward_hook(self, hook) -> RemovableHandle:
        """``hook(module, args, output)`` after forward; a non-None result replaces it."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    def __call__(self, *args, **kwargs):
        if not (self._forward_pre_hooks or self._forward_hooks):
            return self.forward(*args, **kwargs)
        for hook in list(self._forward_pre_hooks.values()):
            result = hook(self, args)
            if result is not None:
                args = result if isinstance(result, tuple) else (result,)
        out = self.forward(*args, **kwargs)
        for hook in list(self._forward_hooks.values()):
            result = hook(self, args, out)
            if result is not None:
                out = result
        return out

    # -- printing ---------------------------------------------------------------------
    def extra_repr(self) -> str:
        return ""

    def __repr__(self):
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({name}): " + _add_indent(repr(m), 2) for name, m in self._modules.items()]
        lines = extra_lines + child_lines
        body = ""
        if len(extra_lines) == 1 and not child_lines:
            body = extra_lines[0]
        elif lines:
            body = "\n  " + "\n  ".join(lines) + "\n"
        return f"{type(self).__name__}({body})"


def _as_array(value):
    """A state-dict value as a NumPy/CuPy array: a gpugrad Tensor's array, a torch tensor
    (detached, on the host) or anything NumPy can read."""
    if isinstance(value, Tensor):
        return value.array
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch.Tensor
        return value.detach().cpu().numpy()
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return value
    return numpy.asarray(value)
