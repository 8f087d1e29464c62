"""The base class of the optimizers: parameter groups, per-parameter state, ``zero_grad``,
``step`` and the state dict, plus the checks and scratch arrays the subclasses share.

An optimizer holds ``param_groups`` (dicts with ``"params"`` and hyper-parameters, which
may be edited between steps, e.g. by a learning-rate schedule) and per-parameter
``state`` (step count and buffers).  ``state_dict()`` / ``load_state_dict()`` use
PyTorch's layout, so a checkpoint written by :func:`gpugrad.save` resumes exactly.

How a step runs, and why:

* The update is written into ``p.array`` in place (other code holds that array: modules,
  data-parallel buckets); ``p.grad`` is only read (it may share memory).
* On the CPU NumPy updates each parameter in place, in PyTorch's order of operations
  (``lerp`` for Adam's first moment, ``p + (-step)·m / denom``): trajectories agree to
  rounding.  On CUDA, SGD and Adam/AdamW update a group's parameters of one dtype in a
  constant number of launches (SGD 1, Adam 2; :mod:`.multi_tensor`); SGD's dampening,
  AMSGrad and the other optimizers run as CuPy array operations, parameter by parameter.
* ``step()`` never synchronizes with the GPU, and checks every parameter before it
  updates any: a bad gradient changes nothing.
"""

from __future__ import annotations

import contextlib
import math
import numbers

import numpy

from .. import autograd, backend
from ..autograd import increment_version, recording
from ..autograd.accumulate import zero_grads
from ..tensor import Tensor
from . import multi_tensor
from .multi_tensor import MultiTensorState


# -- for the subclasses: hyper-parameter checks ------------------------------------------
def check_real(name: str, value, low: float = 0.0, high: float = math.inf, high_open: bool = False):
    """``value`` as a float in [low, high] (or [low, high)); ValueError naming it otherwise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"invalid {name}={value!r}: it must be a real number")
    v = float(value)
    inside = low <= v < high if high_open else low <= v <= high
    if not inside or math.isnan(v) or math.isinf(v):
        bound = f"[{low:g}, {high:g})" if high_open else f">= {low:g} and finite"
        raise ValueError(f"invalid {name}={value!r}: it must be {bound}")
    return v


def check_bool(name: str, value) -> bool:
    """``value`` as a bool; ValueError naming it if it is not True or False."""
    if not isinstance(value, (bool, numpy.bool_)):
        raise ValueError(f"invalid {name}={value!r}: it must be True or False")
    return bool(value)


def hyper_parameters(arguments: dict) -> dict:
    """A constructor's hyper-parameters from its ``locals()``: all but self and params."""
    return {k: v for k, v in arguments.items() if k not in ("self", "params", "__class__")}


class Optimizer:
    """Base class: parameter groups, per-parameter state, ``zero_grad``, ``step`` and the
    state dict.  Subclasses define ``_validate(group)`` (checks and normalizes the
    hyper-parameters), ``_state_names`` (their buffers), ``_update_cpu`` and ``_update_cuda``
    (one parameter), and, to update a bucket of CUDA parameters in a few launches,
    ``_uses_multi_tensor``, ``_device_scalars`` and ``_update_multi_tensor``."""

    _state_names: tuple = ()  # names of the per-parameter buffers (besides "step")
    # hyper-parameters added after state dicts were first written: an older state dict
    # without them loads with their defaults (what _validate fills in)
    _added_hyper: tuple = ()

    def __init__(self, params, defaults: dict):
        self.defaults = self._validate(dict(defaults))
        self.param_groups: list = []
        self.state: dict = {}  # id(param) -> {"step": int, buffer name: backend array}
        self._multi_tensor = MultiTensorState()  # device tables, scalars and step counts
        if isinstance(params, Tensor):
            raise TypeError(
                "params must be an iterable of Tensors or of dicts (parameter "
                "groups), not a single Tensor: pass [tensor]"
            )
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        if not all(isinstance(g, dict) for g in groups):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict) -> None:
        """Add a group: a dict with "params" and any hyper-parameters that override the
        defaults.  A parameter may belong to one group only."""
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError("a parameter group is a dict with a 'params' entry")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizers take Tensors, got a {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(
                    "cannot optimize a non-leaf Tensor (one computed from "
                    "others); optimize the leaves it was computed from"
                )
        seen = {id(p) for _, p in self._params()}
        if len({id(p) for p in params}) != len(params) or seen & {id(p) for p in params}:
            raise ValueError("a parameter appears more than once in the parameter groups")
        merged = self._validate(
            {**self.defaults, **{k: v for k, v in group.items() if k != "params"}}
        )
        self.param_groups.append({"params": params, **merged})

    def _validate(self, hyper: dict) -> dict:
        hyper["lr"] = check_real("lr", hyper.get("lr"))
        hyper["weight_decay"] = check_real("weight_decay", hyper.get("weight_decay", 0.0))
        return hyper

    def _params(self):
        for group in self.param_groups:
            for p in group["params"]:
                yield group, p

    def __repr__(self):
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {v}" for k, v in sorted(group.items()) if k != "params"]
        return "\n".join(lines + [")"])

    # -- the step -----------------------------------------------------------------------
    def zero_grad(self, set_to_none: bool = True) -> None:
        """Forget the gradients (``set_to_none=True``, the default: the next backward brings
        new arrays), or zero them in place (``set_to_none=False``), as PyTorch: a gradient
        with a grad_fn (from ``create_graph=True``) is detached first, else it stops
        requiring grad; then ``zero_()``.  The same array is kept, so gradient buffers
        persist across steps: backward accumulates into them and the multi-tensor kernels'
        pointer tables stay valid (nothing allocated in a steady-state step).  Zeroing in
        place writes every array that shares the gradient's memory."""
        if recording.active is not None:  # inside gg.compile: replayed as a call
            return recording.active.call(self.zero_grad, set_to_none)
        zero_grads([p for _, p in self._params()], set_to_none)

    def step(self, closure=None):
        """Update every parameter that has a gradient (those with ``grad is None`` are
        skipped).  ``closure``, if given, recomputes and returns the loss, as in PyTorch."""
        if recording.active is not None:  # inside gg.compile: replayed as a call
            if closure is not None:
                recording.refuse("an optimizer step(closure) (the closure runs a forward)")
            return recording.active.call(self.step)
        self.step_called = True  # lr_scheduler warns when it is stepped before the optimizer
        loss = None
        if closure is not None:
            with autograd.enable_grad():
                loss = closure()
        work = [
            (index, group, p, self._checked_grad(p))
            for index, group in enumerate(self.param_groups)
            for p in group["params"]
            if p.grad is not None
        ]
        buckets = {}  # (group index, device, dtype) -> (group, [(p, grad, state)])
        for index, group, p, g in work:  # all checked: now update
            state = self.state.setdefault(id(p), {"step": 0})
            state["step"] += 1
            # an empty parameter takes the array path: nothing to launch, and its count
            # stays on the host (no device counter that no launch would advance)
            if (
                multi_tensor.runs_on_kernels(p.array)
                and p.numel()
                and self._uses_multi_tensor(group)
            ):
                key = (index, p.device, p.dtype)
                buckets.setdefault(key, (group, []))[1].append((p.array, g, state))
            elif backend.is_cuda_array(p.array):
                if p.numel():  # host-computed scalars: a graph would freeze the captured ones
                    recording.refuse_in_capture(
                        f"{type(self).__name__}.step with these settings (array operations "
                        f"with scalars the host computes; only SGD with dampening=0 and "
                        f"Adam/AdamW without amsgrad read theirs on the device)"
                    )
                with _current_gpu(p.array):  # launch on the parameter's GPU
                    self._update_cuda(group, p.array, g, state)
            else:
                self._update_cpu(group, p.array, g, state)
            increment_version(p)  # a graph that saved p's old value now refuses backward
        for key, (group, items) in buckets.items():
            params, grads, states = (list(column) for column in zip(*items))
            with _current_gpu(params[0]):
                bucket = self._multi_tensor.bucket(key)
                bucket.scalars.update(self._device_scalars(group))
                self._update_multi_tensor(group, params, grads, states, bucket)
        return loss

    def refresh_device_scalars(self) -> None:
        """Upload each group's hyper-parameters to the device scalars that its multi-tensor
        launches read, where they changed.  ``step()`` does this before its launches; a step
        replayed from a captured CUDA graph does not run ``step()``, so call this before the
        replay for it to see a scheduler's new lr."""
        for (index, _, _), bucket in self._multi_tensor.buckets.items():
            if bucket.scalars.array is not None and index < len(self.param_groups):
                with _current_gpu(bucket.scalars.array):
                    bucket.scalars.update(self._device_scalars(self.param_groups[index]))

    @staticmethod
    def _checked_grad(p: Tensor):
        """The raw gradient array of ``p`` after checking shape, dtype and device (metadata
        only: nothing is read from the device)."""
        g = p.grad.array if isinstance(p.grad, Tensor) else p.grad
        if tuple(g.shape) != p.shape:
            raise ValueError(
                f"gradient of shape {tuple(g.shape)} for a parameter of shape {p.shape}"
            )
        if p.dtype.kind != "f" or g.dtype.kind != "f":
            raise TypeError(
                f"optimizers update floating-point parameters with floating-point "
                f"gradients; got a {p.dtype} parameter with a {g.dtype} gradient"
            )
        if backend.device_of(g) != p.device:
            raise ValueError(f"gradient on {backend.device_of(g)} for a parameter on {p.device}")
        if p.device.kind == "cpu" and not p.array.flags.writeable:
            raise ValueError("the parameter's array is read-only; it cannot be updated in place")
        if p.device.kind == "cuda" and not p.array.flags.c_contiguous:
            raise ValueError(
                "on CUDA a parameter is updated in place by one kernel: its array "
                "must be C-contiguous"
            )
        return g

    def _update_cpu(self, group, p, g, state):
        raise NotImplementedError

    def _update_cuda(self, group, p, g, state):  # as CuPy array operations: the CPU code
        return self._update_cpu(group, p, g, state)

    def _uses_multi_tensor(self, group) -> bool:  # CUDA parameters to _update_multi_tensor?
        return False

    def _device_scalars(self, group) -> tuple:
        """The hyper-parameters the multi-tensor kernel reads from device memory, in its
        order (``gpugrad.kernels.optimizer.SGD_SCALARS``...)."""
        raise NotImplementedError

    _device_keys: tuple = ()  # the group keys _device_scalars reads

    def captured_settings(self) -> tuple:
        """Per group, what a step captured in a CUDA graph bakes into its launches: every
        setting but the parameters and the values read from device memory (lr...), and
        what ``_baked`` derives from those (SGD: momentum on or off).  A captured graph is
        replayed only while these are unchanged (gpugrad/cuda_graph.py)."""
        skip = {"params", *self._device_keys}
        return tuple(
            tuple((k, v) for k, v in sorted(g.items()) if k not in skip) + self._baked(g)
            for g in self.param_groups
        )

    def _baked(self, group) -> tuple:
        return ()

    def _update_multi_tensor(self, group, params, grads, states, bucket):
        """Update the CUDA arrays ``params`` (one dtype, one device; ``grads`` and
        ``states`` beside them, each state's step already counted) in a few launches;
        ``bucket.scalars`` holds ``_device_scalars(group)`` on the device."""
        raise NotImplementedError

    # -- state ----------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """``{"state": {index: {"step": int, name: Tensor}}, "param_groups": [hyper-parameters
        with "params" as indices]}``, PyTorch's layout.  Parameters are numbered in group
        order.  Like PyTorch's, the buffers are the optimizer's own arrays, not copies:
        save the dict (``gg.save``) before stepping again if you want a snapshot.  With
        Adam's multi-tensor path on CUDA the step counts are read back from the device
        (synchronizes: see :mod:`.multi_tensor`)."""
        self._multi_tensor.read_step_counts(self.state.values())
        groups, state, index = [], {}, 0
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                s = self.state.get(id(p))
                if s is not None:
                    state[index] = {k: (v if k == "step" else Tensor.wrap(v)) for k, v in s.items()}
                ids.append(index)
                index += 1
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what :meth:`state_dict` returned (possibly through ``gg.save``/``gg.load``).

        Buffers are copied to each parameter's device and dtype.  Everything — structure,
        hyper-parameters, buffer names, shapes — is checked before anything is assigned,
        so a failed load leaves the optimizer as it was (ValueError naming the problem)."""
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError("an optimizer state_dict is a dict with 'state' and 'param_groups'")
        saved_groups, saved_state = state_dict["param_groups"], state_dict["state"]
        if not isinstance(saved_groups, (list, tuple)) or not isinstance(saved_state, dict):
            raise ValueError("optimizer state_dict: 'param_groups' must be a list, 'state' a dict")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"optimizer state_dict has {len(saved_groups)} parameter groups, "
                f"this optimizer {len(self.param_groups)}"
            )
        by_index, hypers = {}, []
        for i, (mine, saved) in enumerate(zip(self.param_groups, saved_groups)):
            if not isinstance(saved, dict) or not isinstance(saved.get("params"), (list, tuple)):
                raise ValueError(f"optimizer state_dict: parameter group {i} has no 'params' list")
            if len(saved["params"]) != len(mine["params"]):
                raise ValueError(
                    f"optimizer state_dict: parameter group {i} has "
                    f"{len(saved['params'])} parameters, this optimizer's "
                    f"{len(mine['params'])}"
                )
            for index, p in zip(saved["params"], mine["params"]):
                if not _is_index(index) or index in by_index:
                    raise ValueError(
                        f"optimizer state_dict: bad or repeated parameter index {index!r}"
                    )
                by_index[index] = p
            missing = sorted(set(self.defaults) - set(saved) - set(self._added_hyper))
            if missing:
                raise ValueError(
                    f"optimizer state_dict: parameter group {i} lacks {missing} "
                    f"(a state_dict of another kind of optimizer?)"
                )
            hyper = {k: v for k, v in saved.items() if k != "params"}
            try:
                hypers.append(self._validate(hyper))
            except ValueError as e:
                raise ValueError(f"optimizer state_dict: parameter group {i}: {e}") from None
        new_state = {}
        for index, entry in saved_state.items():
            if index not in by_index or not isinstance(entry, dict):
                raise ValueError(f"optimizer state_dict: state for unknown parameter {index!r}")
            new_state[id(by_index[index])] = self._checked_state(index, entry, by_index[index])
        for group, hyper in zip(self.param_groups, hypers):  # all checked: assign
            params = group["params"]
            group.clear()  # in place: schedulers may hold the group dicts
            group.update({"params": params, **hyper})
        self.state = new_state
        self._multi_tensor = MultiTensorState()  # uploaded afresh from the loaded state

    def _checked_state(self, index, entry: dict, p: Tensor) -> dict:
        """One parameter's saved state, checked and converted to the parameter's device,
        dtype and (C) layout.  Arrays are copied: two optimizers never share buffers."""
        unknown = sorted(set(entry) - {"step", *self._state_names})
        if unknown:
            raise ValueError(
                f"optimizer state_dict: parameter {index} has unknown state {unknown} "
                f"for {type(self).__name__} (expected {['step', *self._state_names]})"
            )
        out = {}
        step = entry.get("step", 0)
        if isinstance(step, Tensor) and step.numel() == 1:  # tolerate a 0-d tensor step
            step = step.item()
        if isinstance(step, float) and step.is_integer():
            step = int(step)
        if isinstance(step, bool) or not isinstance(step, numbers.Integral) or step < 0:
            raise ValueError(
                f"optimizer state_dict: parameter {index} has step {step!r}, "
                f"expected a non-negative integer"
            )
        out["step"] = int(step)
        for name in self._state_names:
            if name not in entry:
                continue
            value = entry[name]
            array = value.array if isinstance(value, Tensor) else value
            if not hasattr(array, "shape") or not hasattr(array, "dtype"):
                raise ValueError(
                    f"optimizer state_dict: {name} of parameter {index} is a "
                    f"{type(value).__name__}, not a tensor"
                )
            if tuple(array.shape) != p.shape:
                raise ValueError(
                    f"optimizer state_dict: {name} of parameter {index} has shape "
                    f"{tuple(array.shape)}, the parameter {p.shape}"
                )
            if numpy.dtype(array.dtype).kind != "f":
                raise ValueError(
                    f"optimizer state_dict: {name} of parameter {index} has dtype "
                    f"{array.dtype}, expected floating point"
                )
            moved = backend.to_device(array, p.device)
            with _current_gpu(moved):
                out[name] = p.device.xp.array(moved, dtype=p.dtype, order="C", copy=True)
        return out


def _current_gpu(array):
    """A context making ``array``'s GPU the current device (a no-op for NumPy arrays).  A
    fresh cupy Device object each time, so that it nests inside a user's ``with``."""
    if backend.is_cuda_array(array):
        return backend.get_array_module(array).cuda.Device(array.device.id)
    return contextlib.nullcontext()


def _is_index(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
