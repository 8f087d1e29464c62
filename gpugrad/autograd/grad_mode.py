"""Grad mode and anomaly mode: two switches the engine reads, and the context managers
(also decorators) that set them — ``no_grad``, ``enable_grad``, ``set_grad_enabled``,
``detect_anomaly``."""

from __future__ import annotations

import contextlib

grad_enabled = True  # record operations on the tape
anomaly_enabled = False  # check every forward output and backward gradient for NaN/Inf


class _ModeSwitch(contextlib.ContextDecorator):
    """Sets a module-level flag of this module inside a ``with`` block (or a decorated
    function) and restores the previous value on the way out."""

    flag: str
    value: bool

    def __enter__(self):
        self._previous = globals()[self.flag]
        globals()[self.flag] = self.value

    def __exit__(self, *exc):
        globals()[self.flag] = self._previous
        return False


class no_grad(_ModeSwitch):
    """Context manager (and decorator): operations inside are not recorded."""

    flag, value = "grad_enabled", False


class enable_grad(_ModeSwitch):
    """Context manager (and decorator): turn recording back on inside no_grad."""

    flag, value = "grad_enabled", True


def is_grad_enabled() -> bool:
    return grad_enabled


def set_grad_enabled_flag(enabled: bool) -> bool:
    """Set grad mode, returning the previous value (the engine's backward uses this)."""
    global grad_enabled
    previous, grad_enabled = grad_enabled, bool(enabled)
    return previous


class detect_anomaly(_ModeSwitch):
    """Inside, every forward output and backward gradient is checked for NaN/Inf, and
    the first op that produced one is named in a FloatingPointError.  Slow: it reads
    every array (and synchronizes the GPU)."""

    flag, value = "anomaly_enabled", True
