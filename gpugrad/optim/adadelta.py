"""Adadelta (Zeiler), PyTorch's form with a learning rate."""

from __future__ import annotations

from .. import backend
from . import arithmetic, optimizer as base


class Adadelta(base.Optimizer):
    """Adadelta, PyTorch's rule and state names, per parameter p:

    - g = grad + weight_decay·p
    - square_avg = rho·square_avg + (1 - rho)·g²
    - delta = sqrt(acc_delta + eps) / sqrt(square_avg + eps) · g
    - acc_delta = rho·acc_delta + (1 - rho)·delta²
    - p = p - lr·delta

    The step is array operations (NumPy, or CuPy on CUDA: several launches per parameter).

        opt = gg.optim.Adadelta(model.parameters())  # lr=1.0
    """

    _state_names = ("square_avg", "acc_delta")

    def __init__(self, params, lr=1.0, rho=0.9, eps=1e-6, weight_decay=0.0):
        super().__init__(params, base.hyper_parameters(locals()))

    def _validate(self, hyper):
        hyper = super()._validate(hyper)
        hyper["rho"] = base.check_real("rho", hyper.get("rho", 0.9), 0.0, 1.0)
        hyper["eps"] = base.check_real("eps", hyper.get("eps", 1e-6))
        return hyper

    def _update_cpu(self, group, p, grad, state):
        xp = backend.get_array_module(p)
        rho, eps = group["rho"], group["eps"]
        g, _ = arithmetic.decayed_gradient(p, grad, group["weight_decay"])
        square_avg = arithmetic.state_buffer(state, "square_avg", p)
        acc_delta = arithmetic.state_buffer(state, "acc_delta", p)
        scratch = arithmetic.scratch_like(p)
        arithmetic.average_square_(square_avg, rho, g, scratch)
        std = xp.add(square_avg, eps, out=scratch)
        xp.sqrt(std, out=std)
        delta = xp.add(acc_delta, eps, out=arithmetic.scratch_like(p))
        xp.sqrt(delta, out=delta)
        delta /= std
        delta *= g
        arithmetic.average_square_(acc_delta, rho, delta, scratch)
        delta *= -group["lr"]
        p += delta

    _update_cuda = _update_cpu
