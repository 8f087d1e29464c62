"""The base of the learning-rate schedules (:mod:`gpugrad.optim.lr_scheduler`): PyTorch's
``LRScheduler`` with ``step()``, ``get_last_lr()``, ``last_epoch``, ``base_lrs`` and the
state dict, and the argument checks the schedules share.

A scheduler writes ``lr`` into the optimizer's parameter groups.  As PyTorch's it steps
once when it is built (``last_epoch`` becomes 0), records ``initial_lr`` in the groups,
and computes each lr from the group's current one where PyTorch does (the "chainable"
forms), so the numbers are PyTorch's to the last bit.  ``state_dict()`` holds everything
but the optimizer (and LambdaLR's functions), with PyTorch's names.
"""

from __future__ import annotations

import copy
import math
import numbers
import warnings

from ..autograd import recording
from .optimizer import Optimizer, check_real

__all__ = ["LRScheduler", "check_int", "check_optimizer", "per_group"]

# PyTorch's state dicts also carry these flags of its implementation; loading ignores them
_TORCH_ONLY_STATE = ("_get_lr_called_within_step", "_is_initial", "verbose")


def check_int(name: str, value, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        raise ValueError(f"invalid {name}={value!r}: it must be an integer >= {low}")
    return int(value)


def per_group(name: str, optimizer, value, low: float = 0.0, high: float = math.inf) -> list:
    """One checked number per parameter group from a number or a list of them."""
    if isinstance(value, (list, tuple)):
        if len(value) != len(optimizer.param_groups):
            raise ValueError(
                f"invalid {name}: {len(value)} values for "
                f"{len(optimizer.param_groups)} parameter groups"
            )
        return [check_real(f"{name}[{i}]", v, low, high) for i, v in enumerate(value)]
    return [check_real(name, value, low, high)] * len(optimizer.param_groups)


def check_optimizer(optimizer) -> None:
    if not isinstance(optimizer, Optimizer):
        raise TypeError(f"optimizer: {type(optimizer).__name__} is not a gpugrad Optimizer")


class LRScheduler:
    """Base class: ``step()``, ``get_last_lr()``, ``last_epoch``, ``base_lrs`` and the
    state dict.  Subclasses define ``get_lr()`` (the chainable form, called after
    ``last_epoch`` moved) and may define ``_get_closed_form_lr()`` for ``step(epoch)``."""

    _not_state = ("optimizer",)  # attributes left out of the state dict

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        check_optimizer(optimizer)
        self.optimizer = optimizer
        last_epoch = check_int("last_epoch", last_epoch, -1)
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(
                    f"param 'initial_lr' is not specified in param_groups[{i}] when resuming "
                    f"a scheduler with last_epoch={last_epoch}: load the optimizer's state "
                    f"dict first"
                )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self._initial = True  # PyTorch's initial step keeps the current lr where it can
        self.step()
        del self._initial

    def get_lr(self) -> list:
        raise NotImplementedError

    def get_last_lr(self) -> list:
        """The learning rates the last ``step()`` set, one per parameter group."""
        return list(self._last_lr)

    def step(self, epoch=None) -> None:
        """Move to the next epoch (or to ``epoch``, deprecated in PyTorch: the closed form
        is used where there is one) and write the new learning rates."""
        if recording.active is not None:  # inside gg.compile: replayed as a call
            return recording.active.call(self.step, epoch, host_only=True)
        if self._step_count == 1 and not getattr(self.optimizer, "step_called", False):
            warnings.warn(
                "Detected call of `lr_scheduler.step()` before `optimizer.step()`: call "
                "them in the opposite order, or the first value of the schedule is skipped",
                UserWarning,
                stacklevel=2,
            )
        self._step_count += 1
        if epoch is None:
            self.last_epoch += 1
            values = self.get_lr()
        else:
            warnings.warn(
                "scheduler.step(epoch) is deprecated (as in PyTorch): call step()",
                UserWarning,
                stacklevel=2,
            )
            self.last_epoch = check_int("epoch", epoch, 0)
            closed_form = getattr(self, "_get_closed_form_lr", self.get_lr)
            values = closed_form()
        for group, lr in zip(self.optimizer.param_groups, values):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def _current_lrs(self) -> list:
        return [group["lr"] for group in self.optimizer.param_groups]

    def state_dict(self) -> dict:
        """Every attribute but the optimizer, PyTorch's layout (``gg.save`` stores it)."""
        return {k: v for k, v in self.__dict__.items() if k not in self._not_state}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore what :meth:`state_dict` returned (from this library or PyTorch); keys
        this scheduler does not have are refused before anything is assigned."""
        if not isinstance(state_dict, dict):
            raise ValueError("a scheduler state_dict is a dict")
        state = {k: v for k, v in state_dict.items() if k not in _TORCH_ONLY_STATE}
        unknown = sorted(set(state) - set(self.state_dict()))
        if unknown:
            raise ValueError(
                f"{type(self).__name__} state_dict has unknown entries {unknown} "
                f"(a state_dict of another scheduler?)"
            )
        self.__dict__.update(copy.deepcopy(state))
