"""Random numbers: one generator per device, seeded by ``gg.manual_seed``, its state
(``get_rng_state`` / ``set_rng_state``), and the random factories ``randn`` and ``rand``.

Every random draw in gpugrad (the factories, dropout masks, ``nn.init``) goes through
:func:`sample_uniform` or :func:`sample_normal`, so that the choice of generator and of
sampling precision is made in one place.  NumPy's and CuPy's global generators are never
touched.
"""

from __future__ import annotations

import numbers

import numpy

from . import backend, dtypes
from .autograd import recording
from .creation import build
from .tensor import Tensor

__all__ = [
    "get_rng_state",
    "manual_seed",
    "rand",
    "rand_like",
    "randint",
    "randn",
    "randn_like",
    "randperm",
    "set_rng_state",
]

_generators: dict = {}  # Device -> generator (numpy Generator / cupy RandomState)
_seed = None


def manual_seed(seed: int) -> None:
    """Seed every device's random generator (gpugrad's own; NumPy's global one is untouched)."""
    global _seed
    if not isinstance(seed, numbers.Integral) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    _seed = int(seed)
    _generators.clear()


def generator(dev: backend.Device):
    """The random generator of a device (created from the manual seed, if any)."""
    g = _generators.get(dev)
    if g is None:
        if dev.kind == "cpu":
            g = numpy.random.default_rng(_seed)
        else:
            with dev:  # one generator per device, its state on that device
                g = dev.xp.random.RandomState(_seed)
        _generators[dev] = g
    return g


def get_rng_state(device="cpu") -> dict:
    """The state of ``device``'s generator, as a JSON-serializable dict (CPU only)."""
    dev = backend.device(device)
    if dev.kind != "cpu":
        raise NotImplementedError(f"get_rng_state supports the cpu generator, not {dev}'s")
    return generator(dev).bit_generator.state


def set_rng_state(state: dict, device="cpu") -> None:
    """Restore a state returned by :func:`get_rng_state` (CPU only)."""
    dev = backend.device(device)
    if dev.kind != "cpu":
        raise NotImplementedError(f"set_rng_state supports the cpu generator, not {dev}'s")
    g = numpy.random.default_rng()
    try:
        g.bit_generator.state = state
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(f"set_rng_state: not a state from get_rng_state ({e})") from None
    _generators[dev] = g


def _sample_dtype(dtype):
    """Samples are drawn in the requested precision, but never below float32."""
    dtype = numpy.dtype(dtype)
    return dtype if dtype.itemsize >= 4 else numpy.dtype(numpy.float32)


def sample_uniform(dev: backend.Device, shape, dtype=numpy.float64):
    """An array of ``dtype`` on ``dev`` with uniform samples in [0, 1)."""
    recording.refuse_in_capture("a random draw (dropout, rand)")
    g = generator(dev)
    sample_dtype = _sample_dtype(dtype)
    with dev:  # on that device, not on cupy's current one
        if dev.kind == "cpu":
            out = g.random(shape, dtype=sample_dtype)
        else:
            out = g.random_sample(size=shape, dtype=sample_dtype)
        return out.astype(dtype, copy=False)


def sample_normal(dev: backend.Device, shape, dtype=numpy.float64):
    """An array of ``dtype`` on ``dev`` with standard normal samples."""
    recording.refuse_in_capture("a random draw (randn)")
    g = generator(dev)
    with dev:
        return g.standard_normal(shape, dtype=_sample_dtype(dtype)).astype(dtype, copy=False)


def randn(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples of ``shape`` (default dtype float32)."""
    dev = backend.device(device)
    return build(
        lambda xp, s, dt: sample_normal(dev, s, dt), shape, dtype, dev, requires_grad, False
    )


def rand(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform samples in [0, 1) of ``shape`` (default dtype float32)."""
    dev = backend.device(device)
    return build(
        lambda xp, s, dt: sample_uniform(dev, s, dt), shape, dtype, dev, requires_grad, False
    )


def rand_like(t: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform samples in [0, 1) of ``t``'s shape (and dtype and device unless given)."""
    return rand(
        t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad
    )


def randn_like(t: Tensor, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples of ``t``'s shape (and dtype and device unless given)."""
    return randn(
        t.shape, dtype=dtype or t.dtype, device=device or t.device, requires_grad=requires_grad
    )


def randint(low, high=None, size=None, dtype=None, device=None) -> Tensor:
    """Integers uniform in [low, high) of shape ``size`` (``randint(high, size)`` too);
    int64 by default, as PyTorch."""
    if size is None:  # randint(high, size)
        low, high, size = 0, low, high
    dev = backend.device(device)
    dt = dtypes.int64 if dtype is None else dtypes.to_dtype(dtype)
    g = generator(dev)
    shape = (size,) if isinstance(size, numbers.Integral) else tuple(size)
    if dev.kind == "cpu":
        out = g.integers(low, high, size=shape, dtype=numpy.int64)
    else:
        out = g.randint(low, high, size=shape, dtype=numpy.int64)
    return Tensor(out.astype(dt, copy=False))


def randperm(n: int, dtype=None, device=None) -> Tensor:
    """A random permutation of 0 .. n-1 (int64 by default)."""
    dev = backend.device(device)
    dt = dtypes.int64 if dtype is None else dtypes.to_dtype(dtype)
    return Tensor(generator(dev).permutation(n).astype(dt, copy=False))
