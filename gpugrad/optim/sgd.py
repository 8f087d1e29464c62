"""Stochastic gradient descent with momentum, dampening, Nesterov momentum and weight decay."""

from __future__ import annotations

from .. import backend, kernels
from .arithmetic import decayed_gradient, scratch_like, state_buffer
from .optimizer import Optimizer, check_bool, check_real


class SGD(Optimizer):
    """Stochastic gradient descent, PyTorch's rule, per parameter p:

    - g = grad + weight_decay·p
    - buf = g on the first step (momentum > 0), buf = momentum·buf + (1 - dampening)·g after
    - g = g + momentum·buf (nesterov), or g = buf
    - p = p - lr·g

    The arguments and their order are PyTorch 2.x's, ``lr=1e-3`` by default.  On CUDA the
    parameters of a group that share a dtype are updated by ONE multi-tensor launch per
    step (lr, momentum and weight decay read from device memory; see
    :mod:`gpugrad.optim.multi_tensor`); a new momentum buffer starts at zero there, and
    momentum·0 + g is PyTorch's first-step buf = g (exactly; a -0 gradient gives +0).  That
    kernel has no dampening:
    with ``dampening != 0`` the step runs as CuPy array operations, a few launches per
    parameter.

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
        """The step as array operations (NumPy; CuPy on CUDA with dampening)."""
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

    def _uses_multi_tensor(self, group) -> bool:
        return group["dampening"] == 0  # the multi-tensor kernel has no dampening

    _device_keys = kernels.optimizer.SGD_SCALARS

    def _device_scalars(self, group) -> tuple:
        return tuple(group[name] for name in kernels.optimizer.SGD_SCALARS)

    def _baked(self, group) -> tuple:
        return (("momentum on", group["momentum"] != 0),)

    def _update_multi_tensor(self, group, params, grads, states, bucket):
        bufs = None
        if group["momentum"] != 0:  # new buffers zero-filled: the kernel's first step is g
            bufs = [state_buffer(s, "momentum_buffer", p) for p, s in zip(params, states)]
        kernels.optimizer.sgd_multi_update(
            params, grads, bufs, bucket.scalars.array, bucket.table, nesterov=group["nesterov"]
        )
