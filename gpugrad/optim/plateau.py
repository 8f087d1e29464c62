"""ReduceLROnPlateau: lower the lr when a metric stops improving, PyTorch's rule and names."""

from __future__ import annotations

import math

from ..autograd import recording
from .optimizer import check_real
from .scheduler import LRScheduler, check_int, check_optimizer, per_group

__all__ = ["ReduceLROnPlateau"]


class ReduceLROnPlateau(LRScheduler):
    """Multiplies each lr by ``factor`` (not below ``min_lr``; changes smaller than ``eps``
    are skipped) once the metric given to ``step(metric)`` has not improved for more than
    ``patience`` epochs, then waits ``cooldown`` epochs.  Improving means beating the best
    value so far by ``threshold``: relatively (``threshold_mode="rel"``: below
    best·(1 - threshold) in ``mode="min"``, above best·(1 + threshold) in ``"max"``) or
    absolutely (``"abs"``: below best - threshold, above best + threshold).

        sched = ReduceLROnPlateau(opt, mode="min", factor=0.5, patience=3)
        sched.step(val_loss)
    """

    def __init__(
        self,
        optimizer,
        mode: str = "min",
        factor: float = 0.1,
        patience: int = 10,
        threshold: float = 1e-4,
        threshold_mode: str = "rel",
        cooldown: int = 0,
        min_lr=0,
        eps: float = 1e-8,
    ):
        check_optimizer(optimizer)
        self.factor = check_real("factor", factor, 0.0, 1.0, high_open=True)
        self.optimizer = optimizer
        self.min_lrs = per_group("min_lr", optimizer, min_lr)
        self.default_min_lr = None if isinstance(min_lr, (list, tuple)) else self.min_lrs[0]
        self.patience = check_int("patience", patience, 0)
        self.cooldown = check_int("cooldown", cooldown, 0)
        self.eps = check_real("eps", eps)
        self.last_epoch = 0
        self._last_lr = self._current_lrs()
        self._init_is_better(mode, check_real("threshold", threshold), threshold_mode)
        self.best = self.mode_worse
        self.cooldown_counter = 0
        self.num_bad_epochs = 0

    def _init_is_better(self, mode, threshold, threshold_mode):
        if mode not in ("min", "max"):
            raise ValueError(f"invalid mode={mode!r}: it must be 'min' or 'max'")
        if threshold_mode not in ("rel", "abs"):
            raise ValueError(f"invalid threshold_mode={threshold_mode!r}: 'rel' or 'abs'")
        self.mode_worse = math.inf if mode == "min" else -math.inf
        self.mode, self.threshold, self.threshold_mode = mode, threshold, threshold_mode

    def _is_better(self, a, best):
        if self.mode == "min" and self.threshold_mode == "rel":
            return a < best * (1.0 - self.threshold)
        if self.mode == "min":
            return a < best - self.threshold
        if self.threshold_mode == "rel":
            return a > best * (self.threshold + 1.0)
        return a > best + self.threshold

    @property
    def in_cooldown(self) -> bool:
        return self.cooldown_counter > 0

    def step(self, metrics, epoch=None) -> None:
        """Record this epoch's metric (a number or a one-element tensor: read on the host)
        and lower the lrs if it has stopped improving."""
        recording.refuse("ReduceLROnPlateau.step (it reads the metric on the host)")
        current = float(metrics)
        self.last_epoch = self.last_epoch + 1 if epoch is None else check_int("epoch", epoch, 0)
        if self._is_better(current, self.best):
            self.best = current
            self.num_bad_epochs = 0
        else:
            self.num_bad_epochs += 1
        if self.in_cooldown:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0  # bad epochs in the cooldown do not count
        if self.num_bad_epochs > self.patience:
            self._reduce_lr()
            self.cooldown_counter = self.cooldown
            self.num_bad_epochs = 0
        self._last_lr = self._current_lrs()

    def _reduce_lr(self):
        groups = self.optimizer.param_groups
        if len(groups) != len(self.min_lrs):
            if self.default_min_lr is None:
                raise RuntimeError(
                    f"the optimizer has {len(groups)} parameter groups, {len(self.min_lrs)} "
                    f"when ReduceLROnPlateau was built with a min_lr per group: set min_lrs"
                )
            self.min_lrs = [self.default_min_lr] * len(groups)
        for group, min_lr in zip(groups, self.min_lrs):
            old = float(group["lr"])
            new = max(old * self.factor, min_lr)
            if old - new > self.eps:
                group["lr"] = new

    def load_state_dict(self, state_dict):
        super().load_state_dict(state_dict)
        self._init_is_better(self.mode, self.threshold, self.threshold_mode)
