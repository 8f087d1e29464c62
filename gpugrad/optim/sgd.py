"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay."""

from __future__ import annotations

from .. import backend, kernels
from .optimizer import Optimizer, check_bool, check_real, decayed_gradient, scratch_like


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's rule, per parameter p:

    - g = grad + weight_decay·p
    - buf = g on the first step (momentum > 0), buf = momentum·buf + (1 - dampening)·g after
    - g = g + momentum·buf (nesterov), or g = buf
    - p = p - lr·g

    The arguments and their order are PyTorch 2.x's, ``lr=1e-3`` by default.  On CUDA the
    fused kernel has no dampening: with ``dampening != 0`` the step runs as array operations.

        opt = gg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    """

    _state_names = ("momentum_buffer",)
    _added_hyper = ("dampening",)

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ):
        hyper = dict(
            lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
            nesterov=nesterov,
        )  # fmt: skip
        super().__init__(params, hyper)

    def _validate(self, hyper):
        hyper = super()._validate(hyper)
        hyper["momentum"] = check_real(
            "momentum", hyper.get("momentum", 0.0), 0.0, 1.0, high_open=True
        )
        hyper["dampening"] = check_real("dampening", hyper.get("dampening", 0.0), 0.0, 1.0)
        hyper["nesterov"] = check_bool("nesterov", hyper.get("nesterov", False))
        if hyper["nesterov"] and (hyper["momentum"] == 0 or hyper["dampening"] != 0):
            raise ValueError("nesterov=True needs momentum > 0 and dampening=0")
        return hyper

    def _update_cpu(self, group, p, grad, state):
        """The step as array operations (NumPy, or CuPy on CUDA with dampening)."""
        lr, momentum = group["lr"], group["momentum"]
        xp = backend.get_array_module(p)
        g, owned = decayed_gradient(
            p, grad, group["weight_decay"]
        )  # owned: a temporary we may overwrite
        if momentum != 0:
            buf = state.get("momentum_buffer")
            if buf is None:
                buf = state["momentum_buffer"] = xp.array(g, order="C", copy=True)
            else:
                buf *= momentum
                if group["dampening"] != 0:
                    buf += xp.multiply(g, 1 - group["dampening"], out=scratch_like(p))
                else:
                    buf += g
            if group["nesterov"]:
                look_ahead = xp.multiply(buf, momentum, out=scratch_like(p))
                look_ahead += g
                g, owned = look_ahead, True
            else:
                g, owned = buf, False
        if owned:
            g *= -lr
            p += g
        else:
            p += xp.multiply(g, -lr, out=scratch_like(p))

    def _update_cuda(self, group, p, g, state):
        if group["dampening"] != 0:  # the fused kernel has no dampening
            return self._update_cpu(group, p, g, state)
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
