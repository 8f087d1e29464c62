"""Adam and AdamW: one update rule, with the weight decay in the gradient (Adam) or applied
to the parameter before the step (AdamW, ``decoupled``)."""

from __future__ import annotations

import numpy

from .. import backend, kernels
from .optimizer import Optimizer, check_real, scratch_like


class Adam(Optimizer):
    """Adam (Kingma & Ba) with PyTorch's bias corrections, per parameter p at step t:

    - g = grad + weight_decay·p (Adam: L2 in the gradient), or instead
      p = p·(1 - lr·weight_decay) (AdamW: decoupled)
    - m = lerp(m, g, 1 - β1);  v = β2·v + (1 - β2)·g²
    - p = p - (lr / (1 - β1^t)) · m / (sqrt(v) / sqrt(1 - β2^t) + eps)
    """

    _state_names = ("exp_avg", "exp_avg_sq")
    decoupled = False

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ):
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay))

    def _validate(self, hyper):
        hyper = super()._validate(hyper)
        betas = hyper.get("betas", (0.9, 0.999))
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"invalid betas={betas!r}: it must be a pair (beta1, beta2)")
        hyper["betas"] = (
            check_real("betas[0]", betas[0], 0.0, 1.0, high_open=True),
            check_real("betas[1]", betas[1], 0.0, 1.0, high_open=True),
        )
        hyper["eps"] = check_real("eps", hyper.get("eps", 1e-8))
        return hyper

    def _checked_state(self, index, entry, p):
        out = super()._checked_state(index, entry, p)
        if ("exp_avg" in out) != ("exp_avg_sq" in out):
            raise ValueError(
                f"optimizer state_dict: parameter {index} has only one of exp_avg and exp_avg_sq"
            )
        return out

    @staticmethod
    def _moments(p, state, xp):
        if "exp_avg" not in state:
            state["exp_avg"] = xp.zeros(p.shape, p.dtype)
            state["exp_avg_sq"] = xp.zeros(p.shape, p.dtype)
        return state["exp_avg"], state["exp_avg_sq"]

    def _update_cpu(self, group, p, grad, state):
        lr, (b1, b2), eps, wd = group["lr"], group["betas"], group["eps"], group["weight_decay"]
        m, v = self._moments(p, state, numpy)
        g = grad.astype(p.dtype, copy=False)
        owned = False  # whether g is a temporary of ours
        if wd != 0 and self.decoupled:
            p *= 1 - lr * wd
        elif wd != 0:
            g = numpy.multiply(p, wd, out=scratch_like(p))  # grad + wd·p, a fresh array
            g += grad
            owned = True
        # m = lerp(m, g, w) in torch's two-sided form (exact at both ends); the weight is
        # rounded to the compute type first, as PyTorch does.
        scratch = numpy.subtract(g, m, out=scratch_like(p))
        w = p.dtype.type(1 - b1)
        if abs(w) < 0.5:
            scratch *= w
            m += scratch
        else:
            scratch *= p.dtype.type(1) - w
            numpy.subtract(g, scratch, out=m)
        # v = β2·v + ((1 - β2)·g)·g   (addcmul's order)
        numpy.multiply(g, 1 - b2, out=scratch)
        scratch *= g
        v *= b2
        v += scratch
        t = state["step"]
        step_size = lr / (1 - b1**t)
        bias_correction2_sqrt = (1 - b2**t) ** 0.5
        denom = scratch  # g·g is no longer needed
        numpy.sqrt(v, out=denom)
        denom /= bias_correction2_sqrt
        denom += eps
        # p = p + ((-step_size)·m) / denom   (addcdiv's order)
        update = g if owned else scratch_like(p)
        numpy.multiply(m, -step_size, out=update)
        update /= denom
        p += update

    def _update_cuda(self, group, p, g, state):
        (b1, b2), t = group["betas"], state["step"]
        m, v = self._moments(p, state, backend.get_array_module(p))
        kernels.optimizer.adam_update(
            p,
            g,
            m,
            v,
            lr=group["lr"],
            beta1=b1,
            beta2=b2,
            eps=group["eps"],
            weight_decay=group["weight_decay"],
            decoupled=self.decoupled,
            bias_correction1=1 - b1**t,
            bias_correction2=1 - b2**t,
        )


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``p *= 1 - lr·weight_decay``
    before the Adam step, instead of adding ``weight_decay·p`` to the gradient."""

    decoupled = True

    # Adam's signature with PyTorch's AdamW default weight_decay=1e-2, the only difference;
    # restated (not **kwargs) so that help() and positional arguments work as in PyTorch.
    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(params, lr, betas, eps, weight_decay)
