"""Stochastic gradient descent with momentum, Nesterov momentum and weight decay."""

from __future__ import annotations

import numpy

from .. import backend, kernels
from .optimizer import Optimizer, check_real, scratch_like


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's rule (dampening 0), per parameter p:

    - g = grad + weight_decay·p
    - buf = g on the first step (momentum > 0), buf = momentum·buf + g afterwards
    - g = g + momentum·buf (nesterov), or g = buf
    - p = p - lr·g
    """

    _state_names = ("momentum_buffer",)

    def __init__(
        self,
        params,
        lr: float,
        momentum: float = 0.0,
        nesterov: bool = False,
        weight_decay: float = 0.0,
    ):
        super().__init__(
            params, dict(lr=lr, momentum=momentum, nesterov=nesterov, weight_decay=weight_decay)
        )

    def _validate(self, hyper):
        hyper = super()._validate(hyper)
        hyper["momentum"] = check_real(
            "momentum", hyper.get("momentum", 0.0), 0.0, 1.0, high_open=True
        )
        nesterov = hyper.get("nesterov", False)
        if not isinstance(nesterov, (bool, numpy.bool_)):
            raise ValueError(f"invalid nesterov={nesterov!r}: it must be True or False")
        if nesterov and hyper["momentum"] == 0:
            raise ValueError("nesterov=True needs momentum > 0")
        hyper["nesterov"] = bool(nesterov)
        return hyper

    def _update_cpu(self, group, p, grad, state):
        lr, momentum, wd = group["lr"], group["momentum"], group["weight_decay"]
        g = grad.astype(p.dtype, copy=False)
        owned = False  # whether g is a temporary we may overwrite
        if wd != 0:
            g = numpy.multiply(p, wd, out=scratch_like(p))  # grad + wd·p: grad is never written
            g += grad
            owned = True
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = numpy.array(g, order="C", copy=True)
            else:
                buf *= momentum
                buf += g
            if group["nesterov"]:
                look_ahead = numpy.multiply(buf, momentum, out=scratch_like(p))
                look_ahead += g
                g, owned = look_ahead, True
            else:
                g, owned = buf, False
        if owned:
            g *= -lr
            p += g
        else:
            p += numpy.multiply(g, -lr, out=scratch_like(p))

    def _update_cuda(self, group, p, g, state):
        first = group["momentum"] != 0 and "momentum_buffer" not in state
        if first:  # the kernel writes buf = g on the first step
            state["momentum_buffer"] = backend.get_array_module(p).empty(p.shape, p.dtype)
        kernels.optimizer.sgd_update(
            p,
            g,
            state.get("momentum_buffer") if group["momentum"] != 0 else None,
            lr=group["lr"],
            momentum=group["momentum"],
            nesterov=group["nesterov"],
            weight_decay=group["weight_decay"],
            first_step=first,
        )
