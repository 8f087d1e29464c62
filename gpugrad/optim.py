"""Optimizers with PyTorch's update rules: SGD (momentum, Nesterov, weight decay), Adam,
AdamW.

Updates are written into ``p.data`` in place (other code holds references to it) and
never touch ``p.grad`` (gradients may share memory with other arrays).  On CUDA each
parameter is updated by one fused kernel; on the CPU by NumPy in place.  ``step()`` reads
nothing back from the device, so it never synchronizes.
"""
from __future__ import annotations

import math

import numpy

from . import backend
from .tensor import Tensor

__all__ = ["Optimizer", "SGD", "Adam", "AdamW"]


class Optimizer:
    """Holds parameter groups (dicts with "params" and hyper-parameters) and per-parameter
    state.  ``state_dict()`` / ``load_state_dict()`` save and restore both."""

    defaults: dict = {}

    def __init__(self, params, defaults: dict):
        self._check(defaults)
        params = list(params)
        if not params:
            raise ValueError(f"{type(self).__name__} got an empty parameter list")
        groups = params if isinstance(params[0], dict) else [{"params": params}]
        self.param_groups = []
        for g in groups:
            group = {**defaults, **g, "params": list(g["params"])}
            self._check(group)
            for p in group["params"]:
                if not isinstance(p, Tensor):
                    raise TypeError(f"optimizers take Tensors, got {type(p).__name__}")
                if not p.requires_grad:
                    raise ValueError("an optimized tensor must require grad")
            self.param_groups.append(group)
        self.state: dict = {}          # id(param) -> {"step": int, buffers...}

    def _check(self, hp):
        lr = hp.get("lr")
        if lr is not None and not lr >= 0:
            raise ValueError(f"invalid learning rate lr={lr}: it must be >= 0")
        wd = hp.get("weight_decay", 0)
        if not wd >= 0:
            raise ValueError(f"invalid weight_decay={wd}: it must be >= 0")

    def _params(self):
        for group in self.param_groups:
            for p in group["params"]:
                yield group, p

    def zero_grad(self):
        for _, p in self._params():
            p.grad = None

    def step(self):
        for group, p in self._params():
            if p.grad is None:
                continue
            if p.grad.shape != p.shape:
                raise ValueError(f"gradient of shape {p.grad.shape} for a parameter of shape {p.shape}")
            state = self.state.setdefault(id(p), {"step": 0})
            state["step"] += 1
            if backend.is_cuda_array(p.data):
                self._update_cuda(group, p.data, p.grad.data, state)
            else:
                self._update_cpu(group, p.data, p.grad.data, state)

    # -- state ------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """{"state": {index: {"step": int, name: Tensor}}, "param_groups": [hyper-parameters
        with "params" as indices]} — PyTorch's layout."""
        index = {}
        groups = []
        for group in self.param_groups:
            ids = []
            for p in group["params"]:
                index[id(p)] = len(index)
                ids.append(index[id(p)])
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
        state = {}
        for pid, s in self.state.items():
            state[index[pid]] = {k: (Tensor._from_op(v) if hasattr(v, "shape") else v)
                                 for k, v in s.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore state saved by ``state_dict()``; everything is checked first."""
        try:
            groups = state_dict["param_groups"]
            saved_state = state_dict["state"]
        except (KeyError, TypeError):
            raise ValueError("optimizer state_dict needs 'state' and 'param_groups'") from None
        if len(groups) != len(self.param_groups):
            raise ValueError(f"optimizer state has {len(groups)} parameter groups, this optimizer "
                             f"{len(self.param_groups)}")
        params = [p for _, p in self._params()]
        for mine, saved in zip(self.param_groups, groups):
            if len(saved["params"]) != len(mine["params"]):
                raise ValueError("optimizer state: a parameter group has a different size")
        new_state = {}
        for key, s in saved_state.items():
            i = int(key)
            if not 0 <= i < len(params):
                raise ValueError(f"optimizer state names parameter {i}, there are {len(params)}")
            p = params[i]
            entry = {}
            for name, v in s.items():
                if hasattr(v, "shape") or isinstance(v, Tensor):
                    arr = v.data if isinstance(v, Tensor) else v
                    if tuple(arr.shape) != p.shape:
                        raise ValueError(f"optimizer state {name} of parameter {i} has shape "
                                         f"{tuple(arr.shape)}, the parameter {p.shape}")
                    entry[name] = backend.to_device(arr, p.device).astype(p.dtype, copy=True)
                else:
                    entry[name] = int(v) if name == "step" else v
            new_state[id(p)] = entry
        updates = []
        for saved in groups:
            hyper = {k: (tuple(v) if k == "betas" else v) for k, v in saved.items() if k != "params"}
            self._check(hyper)
            updates.append(hyper)
        for mine, hyper in zip(self.param_groups, updates):   # all checked: now assign
            mine.update(hyper)
        self.state = new_state


class SGD(Optimizer):
    """p -= lr * v with v = momentum·v + (g + wd·p) (v starts at the first gradient);
    Nesterov uses g + momentum·v instead of v."""

    def __init__(self, params, lr: float, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, momentum=momentum, nesterov=nesterov,
                                      weight_decay=weight_decay))

    def _check(self, hp):
        super()._check(hp)
        m = hp.get("momentum", 0)
        if not 0 <= m < 1:
            raise ValueError(f"invalid momentum={m}: it must be in [0, 1)")
        if hp.get("nesterov") and m == 0:
            raise ValueError("nesterov=True needs momentum > 0")

    def _update_cpu(self, group, p, g, state):
        lr, m, wd = group["lr"], group["momentum"], group["weight_decay"]
        if wd:
            g = g + wd * p                          # a new array: p.grad stays untouched
        if m:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = numpy.array(g, dtype=p.dtype, copy=True)
            else:
                buf *= m
                buf += g
            g = g + m * buf if group["nesterov"] else buf
        p -= lr * g if p.dtype == g.dtype else (lr * g).astype(p.dtype)

    def _update_cuda(self, group, p, g, state):
        from . import kernels
        first = "momentum_buffer" not in state
        if group["momentum"] and first:
            state["momentum_buffer"] = backend.get_array_module(p).empty_like(p)
        kernels.sgd_update(p, g, state.get("momentum_buffer"), lr=group["lr"],
                           momentum=group["momentum"], nesterov=group["nesterov"],
                           weight_decay=group["weight_decay"], first_step=first)


class Adam(Optimizer):
    """Adam (Kingma & Ba) with PyTorch's bias corrections; ``weight_decay`` adds wd·p to
    the gradient (L2), unlike AdamW."""
    decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0.0):
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps, weight_decay=weight_decay))

    def _check(self, hp):
        super()._check(hp)
        b1, b2 = hp.get("betas", (0.9, 0.999))
        if not (0 <= b1 < 1 and 0 <= b2 < 1):
            raise ValueError(f"invalid betas={(b1, b2)}: each must be in [0, 1)")
        if not hp.get("eps", 1e-8) >= 0:
            raise ValueError(f"invalid eps={hp.get('eps')}: it must be >= 0")

    def _moments(self, p, state, xp):
        if "exp_avg" not in state:
            state["exp_avg"] = xp.zeros_like(p)
            state["exp_avg_sq"] = xp.zeros_like(p)
        return state["exp_avg"], state["exp_avg_sq"]

    def _update_cpu(self, group, p, g, state):
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        m, v = self._moments(p, state, numpy)
        if wd and self.decoupled:
            p *= 1 - lr * wd
        elif wd:
            g = g + wd * p
        m *= b1
        m += (1 - b1) * g
        v *= b2
        v += (1 - b2) * g * g
        t = state["step"]
        bias1 = 1 - b1 ** t
        bias2_sqrt = math.sqrt(1 - b2 ** t)
        denom = numpy.sqrt(v)
        denom /= bias2_sqrt
        denom += eps
        p -= (lr / bias1) * m / denom

    def _update_cuda(self, group, p, g, state):
        from . import kernels
        (b1, b2), t = group["betas"], state["step"]
        m, v = self._moments(p, state, backend.get_array_module(p))
        kernels.adam_update(p, g, m, v, lr=group["lr"], beta1=b1, beta2=b2, eps=group["eps"],
                            weight_decay=group["weight_decay"], decoupled=self.decoupled,
                            bias_correction1=1 - b1 ** t, bias_correction2=1 - b2 ** t)


class AdamW(Adam):
    """Adam with decoupled weight decay: p *= 1 - lr·wd before the Adam step."""
    decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)
