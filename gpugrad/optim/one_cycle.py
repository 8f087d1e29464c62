"""OneCycleLR: Smith's 1cycle policy with PyTorch's phases, numbers and state names."""

from __future__ import annotations

import math

from .optimizer import check_bool, check_real
from .scheduler import LRScheduler, check_int, check_optimizer, per_group

__all__ = ["OneCycleLR"]


class OneCycleLR(LRScheduler):
    """The 1cycle policy, stepped once per batch: the lr climbs from ``max_lr/div_factor``
    to ``max_lr`` over the first ``pct_start`` of ``total_steps``, then anneals to
    ``initial_lr/final_div_factor`` (``three_phase``: back to the initial lr first), by a
    cosine (``anneal_strategy="cos"``) or a line (``"linear"``).  With ``cycle_momentum``
    the momentum (SGD's ``momentum``, Adam's ``betas[0]``) moves the opposite way between
    ``max_momentum`` and ``base_momentum``.  ``max_lr``, ``max_momentum`` and
    ``base_momentum`` may be lists, one per parameter group.

        sched = OneCycleLR(opt, max_lr=0.1, epochs=10, steps_per_epoch=len(loader))
    """

    def __init__(
        self,
        optimizer,
        max_lr,
        total_steps: int | None = None,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
        pct_start: float = 0.3,
        anneal_strategy: str = "cos",
        cycle_momentum: bool = True,
        base_momentum=0.85,
        max_momentum=0.95,
        div_factor: float = 25.0,
        final_div_factor: float = 1e4,
        three_phase: bool = False,
        last_epoch: int = -1,
    ):
        check_optimizer(optimizer)
        if total_steps is not None:
            self.total_steps = check_int("total_steps", total_steps, 1)
        elif epochs is not None and steps_per_epoch is not None:
            epochs = check_int("epochs", epochs, 1)
            self.total_steps = epochs * check_int("steps_per_epoch", steps_per_epoch, 1)
        else:
            raise ValueError("give total_steps, or epochs and steps_per_epoch")
        pct_start = check_real("pct_start", pct_start, 0.0, 1.0)
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(
                f"invalid anneal_strategy={anneal_strategy!r}: it must be 'cos' or 'linear'"
            )
        self._anneal_func_type = anneal_strategy
        div_factor = _positive("div_factor", div_factor)
        final_div_factor = _positive("final_div_factor", final_div_factor)
        self._schedule_phases = _phases(
            pct_start, self.total_steps, check_bool("three_phase", three_phase)
        )
        max_lrs = per_group("max_lr", optimizer, max_lr)
        self.cycle_momentum = check_bool("cycle_momentum", cycle_momentum)
        if self.cycle_momentum:  # every check before any group is written
            if "momentum" not in optimizer.defaults and "betas" not in optimizer.defaults:
                raise ValueError(
                    f"cycle_momentum=True needs an optimizer with momentum or betas, not "
                    f"{type(optimizer).__name__}: pass cycle_momentum=False"
                )
            self.use_beta1 = "betas" in optimizer.defaults
            highs = per_group("max_momentum", optimizer, max_momentum, 0.0, 1.0)
            lows = per_group("base_momentum", optimizer, base_momentum, 0.0, 1.0)
        if last_epoch == -1:
            for group, top in zip(optimizer.param_groups, max_lrs):
                group["initial_lr"] = top / div_factor
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor
        if self.cycle_momentum and last_epoch == -1:
            for group, high, low in zip(optimizer.param_groups, highs, lows):
                _set_momentum(group, high, self.use_beta1)
                group["max_momentum"], group["base_momentum"] = high, low
        super().__init__(optimizer, last_epoch)

    def _anneal(self, start, end, pct):
        if self._anneal_func_type == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self):
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(
                f"OneCycleLR stepped {step} times, more than total_steps={self.total_steps}"
            )
        lrs = []
        for group in self.optimizer.param_groups:
            start = 0.0
            for i, phase in enumerate(self._schedule_phases):
                end = phase["end_step"]
                if step <= end or i == len(self._schedule_phases) - 1:
                    pct = (step - start) / (end - start)
                    lrs.append(self._anneal(group[phase["start_lr"]], group[phase["end_lr"]], pct))
                    if self.cycle_momentum:
                        momentum = self._anneal(
                            group[phase["start_momentum"]], group[phase["end_momentum"]], pct
                        )
                        _set_momentum(group, momentum, self.use_beta1)
                    break
                start = phase["end_step"]
        return lrs


def _positive(name, value):
    value = check_real(name, value)
    if value == 0:
        raise ValueError(f"invalid {name}={value!r}: it must be > 0")
    return value


def _set_momentum(group, value, use_beta1):
    if use_beta1:
        group["betas"] = (value, *group["betas"][1:])
    else:
        group["momentum"] = value


def _phase(end_step, lrs, momenta):
    return dict(
        end_step=end_step, start_lr=lrs[0], end_lr=lrs[1],
        start_momentum=momenta[0], end_momentum=momenta[1],
    )  # fmt: skip


def _phases(pct_start: float, total_steps: int, three_phase: bool) -> list:
    """PyTorch's phases: each ends at a step and names the group entries it anneals between."""
    up = _phase(float(pct_start * total_steps) - 1, ("initial_lr", "max_lr"),
                ("max_momentum", "base_momentum"))  # fmt: skip
    if not three_phase:
        return [
            up,
            _phase(total_steps - 1, ("max_lr", "min_lr"), ("base_momentum", "max_momentum")),
        ]
    return [
        up,
        _phase(float(2 * pct_start * total_steps) - 2, ("max_lr", "initial_lr"),
               ("base_momentum", "max_momentum")),
        _phase(total_steps - 1, ("initial_lr", "min_lr"), ("max_momentum", "max_momentum")),
    ]  # fmt: skip
