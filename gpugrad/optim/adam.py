"""Adam and AdamW: one update rule, with the weight decay in the gradient (Adam) or applied
to the parameter before the step (AdamW, ``decoupled``), and the AMSGrad variant."""

from __future__ import annotations

from .. import backend, kernels
from .arithmetic import average_square_, decayed_gradient, lerp_, scratch_like, state_buffer
from .optimizer import Optimizer, check_bool, check_real


class Adam(Optimizer):
    """Adam (Kingma & Ba) with PyTorch's bias corrections, per parameter p at step t:

    - g = grad + weight_decay·p (Adam: L2 in the gradient), or instead
      p = p·(1 - lr·weight_decay) (AdamW: decoupled)
    - m = lerp(m, g, 1 - β1);  v = β2·v + (1 - β2)·g²
    - p = p - (lr / (1 - β1^t)) · m / (sqrt(v) / sqrt(1 - β2^t) + eps)

    ``amsgrad=True`` (Reddi et al.) keeps ``max_exp_avg_sq = max(max_exp_avg_sq, v)`` and
    divides by its root instead of v's.  On CUDA the parameters of a group that share a
    dtype are updated by TWO multi-tensor launches per step (the step counts, then the
    update; lr, betas, eps and weight decay read from device memory, the bias corrections
    computed there from the device step count: see :mod:`gpugrad.optim.multi_tensor`).  That
    kernel has no AMSGrad: with ``amsgrad=True`` the step runs as CuPy array operations
    (several launches per parameter), the same operations in the same order as on the CPU.

        opt = gg.optim.Adam(model.parameters(), lr=1e-3, amsgrad=True)
    """

    _state_names = ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
    _added_hyper = ("amsgrad",)
    decoupled = False

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        betas=(0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ):
        hyper = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad)
        super().__init__(params, hyper)

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
        hyper["amsgrad"] = check_bool("amsgrad", hyper.get("amsgrad", False))
        return hyper

    def _checked_state(self, index, entry, p):
        out = super()._checked_state(index, entry, p)
        if ("exp_avg" in out) != ("exp_avg_sq" in out):
            raise ValueError(
                f"optimizer state_dict: parameter {index} has only one of exp_avg and exp_avg_sq"
            )
        return out

    def _update_cpu(self, group, p, grad, state):
        """The step as array operations in PyTorch's order: NumPy on the CPU, CuPy for
        AMSGrad on CUDA."""
        lr, (b1, b2), eps = group["lr"], group["betas"], group["eps"]
        xp = backend.get_array_module(p)
        m, v = state_buffer(state, "exp_avg", p), state_buffer(state, "exp_avg_sq", p)
        if group["weight_decay"] != 0 and self.decoupled:
            p *= 1 - lr * group["weight_decay"]
            g, owned = decayed_gradient(p, grad, 0.0)
        else:
            g, owned = decayed_gradient(p, grad, group["weight_decay"])
        scratch = scratch_like(p)
        lerp_(m, g, 1 - b1, scratch)
        average_square_(v, b2, g, scratch)
        t = state["step"]
        step_size = lr / (1 - b1**t)
        bias_correction2_sqrt = (1 - b2**t) ** 0.5
        if group["amsgrad"]:
            v = xp.maximum(v, state_buffer(state, "max_exp_avg_sq", p), out=state["max_exp_avg_sq"])
        denom = xp.sqrt(v, out=scratch)
        denom /= bias_correction2_sqrt
        denom += eps
        # p = p + ((-step_size)·m) / denom   (addcdiv's order)
        update = xp.multiply(m, -step_size, out=g if owned else scratch_like(p))
        update /= denom
        p += update

    def _uses_multi_tensor(self, group) -> bool:
        return not group["amsgrad"]  # the multi-tensor kernel has no AMSGrad

    _device_keys = ("lr", "betas", "eps", "weight_decay")  # ADAM_SCALARS, betas as a pair

    def _device_scalars(self, group) -> tuple:
        (b1, b2) = group["betas"]
        return group["lr"], b1, b2, group["eps"], group["weight_decay"]  # ADAM_SCALARS

    def _update_multi_tensor(self, group, params, grads, states, bucket):
        ms = [state_buffer(s, "exp_avg", p) for p, s in zip(params, states)]
        vs = [state_buffer(s, "exp_avg_sq", p) for p, s in zip(params, states)]
        steps = self._multi_tensor.step_counts(params, states)
        kernels.optimizer.adam_multi_update(
            params, grads, ms, vs, steps, bucket.scalars.array, bucket.table,
            decoupled=self.decoupled,
        )  # fmt: skip
        self._multi_tensor.counted(params, states)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter): ``p *= 1 - lr·weight_decay``
    before the Adam step, instead of adding ``weight_decay·p`` to the gradient."""

    decoupled = True

    # Adam's signature with PyTorch's AdamW default weight_decay=1e-2, the only difference;
    # restated (not **kwargs) so that help() and positional arguments work as in PyTorch.
    def __init__(
        self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False
    ):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
