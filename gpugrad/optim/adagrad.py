"""Adagrad (Duchi, Hazan & Singer) with PyTorch's learning-rate decay."""

from __future__ import annotations

from .. import backend
from .arithmetic import decayed_gradient, scratch_like, state_buffer
from .optimizer import Optimizer, check_real, hyper_parameters


class Adagrad(Optimizer):
    """Adagrad, PyTorch's rule and state names, per parameter p at step t:

    - g = grad + weight_decay·p
    - sum = sum + g²   (``sum`` starts at ``initial_accumulator_value``)
    - p = p - (lr / (1 + (t - 1)·lr_decay)) · g / (sqrt(sum) + eps)

    PyTorch fills ``sum`` when the optimizer is built; here it is filled at a parameter's
    first step, so a state dict written before any step has no entry for it.  The step is
    array operations (NumPy, or CuPy on CUDA: several launches per parameter).

        opt = gg.optim.Adagrad(model.parameters(), lr=1e-2)
    """

    _state_names = ("sum",)

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10):  # fmt: skip
        super().__init__(params, hyper_parameters(locals()))

    def _validate(self, hyper):
        hyper = super()._validate(hyper)
        hyper["lr_decay"] = check_real("lr_decay", hyper.get("lr_decay", 0.0))
        hyper["initial_accumulator_value"] = check_real(
            "initial_accumulator_value", hyper.get("initial_accumulator_value", 0.0)
        )
        hyper["eps"] = check_real("eps", hyper.get("eps", 1e-10))
        return hyper

    def _update_cpu(self, group, p, grad, state):
        xp = backend.get_array_module(p)
        g, _ = decayed_gradient(p, grad, group["weight_decay"])
        clr = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        total = state_buffer(state, "sum", p, group["initial_accumulator_value"])
        scratch = xp.multiply(g, g, out=scratch_like(p))  # sum + (1·g)·g   (addcmul)
        total += scratch
        std = xp.sqrt(total, out=scratch)
        std += group["eps"]
        step = xp.multiply(g, -clr, out=scratch_like(p))  # (-clr·g) / std   (addcdiv)
        step /= std
        p += step

    _update_cuda = _update_cpu
