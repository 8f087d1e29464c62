"""Learning-rate schedules with PyTorch's semantics and numbers (``torch.optim.lr_scheduler``).

opt = gg.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
sched = gg.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=100)
for epoch in range(100):
    train(...)          # opt.step() inside
    sched.step()        # after the optimizer's step, as in PyTorch >= 1.1

scheduler   LRScheduler, the base class (step, get_last_lr, state dicts)
here        StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LambdaLR
one_cycle   OneCycleLR
plateau     ReduceLROnPlateau
"""

from __future__ import annotations

import math
from bisect import bisect_right
from collections import Counter

from .one_cycle import OneCycleLR
from .optimizer import check_real
from .plateau import ReduceLROnPlateau
from .scheduler import LRScheduler, check_int, check_optimizer

__all__ = [
    "CosineAnnealingLR",
    "ExponentialLR",
    "LRScheduler",
    "LambdaLR",
    "MultiStepLR",
    "OneCycleLR",
    "ReduceLROnPlateau",
    "StepLR",
]


class StepLR(LRScheduler):
    """Multiplies the lr by ``gamma`` every ``step_size`` epochs.

    sched = StepLR(opt, step_size=30, gamma=0.1)  # 0.1, 0.01 from epoch 30, ...
    """

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1):
        self.step_size = check_int("step_size", step_size, 1)
        self.gamma = check_real("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _get_closed_form_lr(self):
        return [b * self.gamma ** (self.last_epoch // self.step_size) for b in self.base_lrs]


class MultiStepLR(LRScheduler):
    """Multiplies the lr by ``gamma`` at each milestone (an epoch listed twice: gamma²).

    sched = MultiStepLR(opt, milestones=[30, 80], gamma=0.1)
    """

    def __init__(self, optimizer, milestones, gamma: float = 0.1, last_epoch: int = -1):
        try:
            milestones = list(milestones)
        except TypeError:
            raise ValueError(f"invalid milestones={milestones!r}: a list of epochs") from None
        self.milestones = Counter(
            check_int(f"milestones[{i}]", m, 0) for i, m in enumerate(milestones)
        )
        self.gamma = check_real("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if self.last_epoch not in self.milestones:
            return self._current_lrs()
        factor = self.gamma ** self.milestones[self.last_epoch]
        return [lr * factor for lr in self._current_lrs()]

    def _get_closed_form_lr(self):
        milestones = sorted(self.milestones.elements())
        return [b * self.gamma ** bisect_right(milestones, self.last_epoch) for b in self.base_lrs]

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self.milestones = Counter({int(k): v for k, v in dict(self.milestones).items()})


class ExponentialLR(LRScheduler):
    """Multiplies the lr by ``gamma`` every epoch.

    sched = ExponentialLR(opt, gamma=0.95)
    """

    def __init__(self, optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = check_real("gamma", gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        if getattr(self, "_initial", False):
            return self._current_lrs()
        return [lr * self.gamma for lr in self._current_lrs()]

    def _get_closed_form_lr(self):
        return [b * self.gamma**self.last_epoch for b in self.base_lrs]


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from the initial lr to ``eta_min`` over ``T_max`` epochs (then back
    up, periodically), SGDR without restarts.  PyTorch's recursive form,
    lr_t = eta_min + (lr_{t-1} - eta_min)·(1 + cos(πt/T)) / (1 + cos(π(t-1)/T)), so the
    numbers are PyTorch's, and it follows lrs changed by hand in between.

        sched = CosineAnnealingLR(opt, T_max=100, eta_min=1e-5)
    """

    def __init__(self, optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1):
        self.T_max = check_int("T_max", T_max, 1)
        self.eta_min = check_real("eta_min", eta_min)
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        t, period, eta_min = self.last_epoch, self.T_max, self.eta_min
        lrs = self._current_lrs()
        if getattr(self, "_initial", False):
            return lrs
        if self._step_count == 1 and t > 0:  # resumed with last_epoch >= 0
            return [
                eta_min + (b - eta_min) * (1 + math.cos(t * math.pi / period)) / 2
                for b in self.base_lrs
            ]
        if (t - 1 - period) % (2 * period) == 0:  # the bottom of the cosine: climb again
            return [
                lr + (b - eta_min) * (1 - math.cos(math.pi / period)) / 2
                for b, lr in zip(self.base_lrs, lrs)
            ]
        ratio = (1 + math.cos(math.pi * t / period)) / (1 + math.cos(math.pi * (t - 1) / period))
        return [ratio * (lr - eta_min) + eta_min for lr in lrs]

    def _get_closed_form_lr(self):
        cos = math.cos(math.pi * self.last_epoch / self.T_max)
        return [self.eta_min + (b - self.eta_min) * (1 + cos) / 2 for b in self.base_lrs]


class LambdaLR(LRScheduler):
    """lr = initial lr × ``lr_lambda(epoch)``; one function, or one per parameter group.
    The functions are not in the state dict (a callable object's ``__dict__`` is).

        sched = LambdaLR(opt, lr_lambda=lambda epoch: 0.95**epoch)
    """

    _not_state = ("optimizer", "lr_lambdas")

    def __init__(self, optimizer, lr_lambda, last_epoch: int = -1):
        check_optimizer(optimizer)
        n = len(optimizer.param_groups)
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else [lr_lambda] * n
        if len(lambdas) != n:
            raise ValueError(f"invalid lr_lambda: {len(lambdas)} functions for {n} groups")
        for fn in lambdas:
            if not callable(fn):
                raise TypeError(f"invalid lr_lambda: a {type(fn).__name__} is not callable")
        self.lr_lambdas = lambdas
        super().__init__(optimizer, last_epoch)

    def get_lr(self):
        return [b * fn(self.last_epoch) for fn, b in zip(self.lr_lambdas, self.base_lrs)]

    def state_dict(self):
        state = super().state_dict()
        state["lr_lambdas"] = [
            None if _is_plain_function(fn) else dict(fn.__dict__) for fn in self.lr_lambdas
        ]
        return state

    def load_state_dict(self, state_dict):
        state = dict(state_dict)
        saved = state.pop("lr_lambdas", [None] * len(self.lr_lambdas))
        if len(saved) != len(self.lr_lambdas):
            raise ValueError(
                f"LambdaLR state_dict has {len(saved)} lr_lambdas, this one {len(self.lr_lambdas)}"
            )
        super().load_state_dict(state)
        for fn, attributes in zip(self.lr_lambdas, saved):
            if attributes is not None:
                fn.__dict__.update(attributes)


def _is_plain_function(fn) -> bool:
    return type(fn).__name__ in ("function", "builtin_function_or_method", "method")
