"""Grad mode and anomaly mode: two switches the engine reads, and the context managers
(also decorators) that set them — ``no_grad``, ``enable_grad``, ``inference_mode``,
``set_grad_enabled``, ``detect_anomaly``."""

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


class inference_mode(_ModeSwitch):
    """Context manager (and decorator): no recording, as :class:`no_grad` (PyTorch's
    inference mode; ``inference_mode(False)`` changes nothing)."""

    flag = "grad_enabled"

    def __new__(cls, mode=True):
        if callable(mode):  # @inference_mode without parentheses
            return cls()(mode)
        return super().__new__(cls)

    def __init__(self, mode: bool = True):
        self.mode = mode

    def __enter__(self):
        self._previous = grad_enabled
        if self.mode:
            set_grad_enabled_flag(False)


class set_grad_enabled(_ModeSwitch):
    """Set grad mode to ``mode``: at once when called (``gg.set_grad_enabled(False)``),
    for a ``with`` block, or around a decorated function; the previous mode comes back at
    the end of the block or function."""

    flag = "grad_enabled"

    def __init__(self, mode: bool):
        self._previous, self.value = grad_enabled, bool(mode)
        self._entered_at_init = True
        set_grad_enabled_flag(mode)

    def __enter__(self):
        if not self._entered_at_init:
            self._previous = grad_enabled
        self._entered_at_init = False
        set_grad_enabled_flag(self.value)

    def __call__(self, fn):
        set_grad_enabled_flag(self._previous)  # as a decorator it changes nothing now
        self._entered_at_init = False
        return super().__call__(fn)


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
