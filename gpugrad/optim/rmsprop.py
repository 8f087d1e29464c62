"""RMSprop (Hinton's lecture 6e), with PyTorch's momentum and centered variants."""

from __future__ import annotations

from .. import backend
from . import arithmetic, optimizer as base


class RMSprop(base.Optimizer):
    """RMSprop, PyTorch's rule and state names, per parameter p:

    - g = grad + weight_decay·p
    - square_avg = alpha·square_avg + (1 - alpha)·g²
    - centered: grad_avg = lerp(grad_avg, g, 1 - alpha), avg = sqrt(square_avg - grad_avg²)
      + eps; otherwise avg = sqrt(square_avg) + eps
    - momentum > 0: momentum_buffer = momentum·momentum_buffer + g / avg,
      p = p - lr·momentum_buffer; otherwise p = p - lr·g / avg

    The step is array operations (NumPy, or CuPy on CUDA: several launches per parameter).

        opt = gg.optim.RMSprop(model.parameters(), lr=1e-2, momentum=0.9)
    """

    _state_names = ("square_avg", "momentum_buffer", "grad_avg")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False):  # fmt: skip
        super().__init__(params, base.hyper_parameters(locals()))

    def _validate(self, hyper):
        hyper = super()._validate(hyper)
        hyper["alpha"] = base.check_real("alpha", hyper.get("alpha", 0.99), 0.0, 1.0)
        hyper["eps"] = base.check_real("eps", hyper.get("eps", 1e-8))
        hyper["momentum"] = base.check_real("momentum", hyper.get("momentum", 0.0))
        hyper["centered"] = base.check_bool("centered", hyper.get("centered", False))
        return hyper

    def _update_cpu(self, group, p, grad, state):
        xp = backend.get_array_module(p)
        alpha, momentum = group["alpha"], group["momentum"]
        g, _ = arithmetic.decayed_gradient(p, grad, group["weight_decay"])
        square_avg = arithmetic.state_buffer(state, "square_avg", p)
        scratch = arithmetic.scratch_like(p)
        arithmetic.average_square_(square_avg, alpha, g, scratch)
        if group["centered"]:
            grad_avg = arithmetic.state_buffer(state, "grad_avg", p)
            arithmetic.lerp_(grad_avg, g, 1 - alpha, scratch)
            avg = xp.multiply(grad_avg, -1, out=scratch)  # square_avg + (-grad_avg)·grad_avg
            avg *= grad_avg
            avg += square_avg
            xp.sqrt(avg, out=avg)
        else:
            avg = xp.sqrt(square_avg, out=scratch)
        avg += group["eps"]
        step = xp.divide(g, avg, out=arithmetic.scratch_like(p))
        if momentum > 0:
            buf = arithmetic.state_buffer(state, "momentum_buffer", p)
            buf *= momentum
            buf += step  # buf + g / avg   (addcdiv's order)
            xp.multiply(buf, -group["lr"], out=step)
        else:
            xp.multiply(g, -group["lr"], out=step)  # (-lr·g) / avg   (addcdiv's order)
            step /= avg
        p += step

    _update_cuda = _update_cpu
