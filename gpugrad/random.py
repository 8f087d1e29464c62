"""Random numbers: one generator per device, seeded by ``gg.manual_seed``, its state
(``get_rng_state`` / ``set_rng_state``), and the random factories ``randn`` and ``rand``.

Every random draw in gpugrad (the factories, the CPU's dropout masks, ``nn.init``) goes
through :func:`sample_uniform` or :func:`sample_normal`, so that the choice of generator and
of sampling precision is made in one place.  NumPy's and CuPy's global generators are never
touched.

Dropout on a GPU draws instead from that GPU's :class:`PhiloxGenerator` (its kernel,
``kernels/dropout.cu``, computes the numbers itself): a counter-based generator whose state
is a (seed, offset) pair on the host, which a CUDA graph can read from device memory at
each replay (PyTorch's design, see the class), so a captured step draws fresh masks.
"""

from __future__ import annotations

import functools
import numbers
import secrets

import numpy

from . import backend, dtypes
from .autograd import recording
from .creation import build
from .ops.nondifferentiable import NonDifferentiable
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

_generators: dict = {}  # Device -> generator (numpy Generator / cupy RandomState);
# ("philox", Device) -> that GPU's PhiloxGenerator
_seed = None


def manual_seed(seed: int) -> None:
    """Seed every device's random generator (gpugrad's own; NumPy's global one is untouched)."""
    global _seed
    recording.refuse("gg.manual_seed (a replay would not seed the generator again)")
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
    recording.refuse("gg.set_rng_state (a replay would not restore the generator again)")
    dev = backend.device(device)
    if dev.kind != "cpu":
        raise NotImplementedError(f"set_rng_state supports the cpu generator, not {dev}'s")
    g = numpy.random.default_rng()
    try:
        g.bit_generator.state = state
    except (TypeError, ValueError, KeyError) as e:
        raise ValueError(f"set_rng_state: not a state from get_rng_state ({e})") from None
    _generators[dev] = g


# -- the counter-based generator of a GPU (dropout) ---------------------------------------------
MASK64 = (1 << 64) - 1


class PhiloxDraw:
    """Where one launch finds its random numbers (PyTorch's PhiloxCudaState): ``seed`` and
    ``offset`` (a count of 32-bit numbers, a multiple of 4) as values; or, for a launch
    captured in a CUDA graph, ``base`` (a device int64 array of 2 that holds the generator's
    (seed, offset) at each replay) and ``offset``, the launch's offset inside the graph."""

    __slots__ = ("base", "offset", "seed")

    def __init__(self, seed: int, offset: int, base=None):
        self.seed, self.offset, self.base = seed, offset, base

    def __repr__(self):
        where = "values" if self.base is None else "a graph's base buffer"
        return f"PhiloxDraw(seed={self.seed}, offset={self.offset}, from {where})"


class PhiloxGenerator:
    """The counter-based generator of one GPU: Philox4x32-10 (``kernels/philox.cuh``) keyed
    by ``seed``, with ``offset`` counting the 32-bit numbers handed out so far (a multiple of
    4).  The kernels compute the numbers; the host only hands out disjoint ranges.  This is
    PyTorch's CUDAGeneratorImpl:

    * eagerly, :meth:`draw` gives a launch (seed, offset) as values and advances ``offset``
      past the numbers it uses, rounded up to a multiple of 4 (PyTorch's rule: every launch
      starts on a fresh counter);
    * while a CUDA graph is captured (:meth:`begin_capture` ... :meth:`end_capture`,
      PyTorch's capture_prologue/epilogue), a launch gets the graph's device buffer and its
      offset inside the graph instead, and ``offset`` does not move; the offsets inside the
      graph add up to the graph's whole increment;
    * before each replay, :meth:`replay_base` (PyTorch's replay_prologue) gives the (seed,
      offset) to write into that buffer and advances ``offset`` by the graph's increment, so
      every replay draws new numbers and no eager launch draws them again.
    """

    def __init__(self, seed: int):
        self.seed = int(seed) & MASK64  # as torch.manual_seed: the low 64 bits
        self.offset = 0
        self.base = None  # the device buffer of the graph being captured, if any
        self.offset_in_graph = 0

    @property
    def capturing(self) -> bool:
        return self.base is not None

    def draw(self, count: int) -> PhiloxDraw:
        """The numbers of a launch that uses ``count`` of them (``count`` >= 0)."""
        increment = -(-int(count) // 4) * 4
        if self.base is not None:
            draw = PhiloxDraw(0, self.offset_in_graph, self.base)
            self.offset_in_graph += increment
        else:
            draw = PhiloxDraw(self.seed, self.offset)
            self.offset += increment
        return draw

    def begin_capture(self, base) -> None:
        """Launches from now on read (seed, offset) from ``base`` (a device int64 array of 2)
        plus an offset inside the graph, counted from 0."""
        if self.base is not None:
            raise RuntimeError("this Philox generator is already capturing a CUDA graph")
        self.base, self.offset_in_graph = base, 0

    def end_capture(self) -> int:
        """Back to eager launches; returns the graph's whole increment (what its launches
        use together)."""
        increment, self.base, self.offset_in_graph = self.offset_in_graph, None, 0
        return increment

    def replay_base(self, increment: int) -> numpy.ndarray:
        """The host values of a graph's base buffer for its next replay, int64 (seed,
        offset); advances ``offset`` past the ``increment`` numbers the replay uses."""
        if self.base is not None:
            raise RuntimeError("a CUDA graph cannot be replayed while one is being captured")
        values = numpy.array([self.seed, self.offset], numpy.uint64).view(numpy.int64)
        self.offset += int(increment)
        return values


def philox_generator(dev: backend.Device) -> PhiloxGenerator:
    """The Philox generator of GPU ``dev``, made from the manual seed (as torch.manual_seed
    seeds its CUDA generators; without one, from fresh entropy)."""
    key = ("philox", dev)
    g = _generators.get(key)
    if g is None:
        g = _generators[key] = PhiloxGenerator(secrets.randbits(64) if _seed is None else _seed)
    return g


def philox_draw(dev: backend.Device, count: int) -> PhiloxDraw:
    """The numbers of a launch on GPU ``dev`` that uses ``count`` of them (see
    :class:`PhiloxGenerator`).  Inside a CUDA graph capture that did not put this device's
    generator into capture mode, raises CompileError: its values would be frozen."""
    g = philox_generator(dev)
    if recording.capturing and not g.capturing:
        raise recording.CompileError(
            f"gg.compile: a dropout on {dev} inside a CUDA graph capture that did not prepare "
            f"{dev}'s Philox generator (a graph captured for another device); compile the "
            f"step with cuda_graph=False"
        )
    return g.draw(count)


def _sample_dtype(dtype):
    """Samples are drawn in the requested precision, but never below float32."""
    dtype = numpy.dtype(dtype)
    return dtype if dtype.itemsize >= 4 else numpy.dtype(numpy.float32)


def sample_uniform(dev: backend.Device, shape, dtype=numpy.float64):
    """An array of ``dtype`` on ``dev`` with uniform samples in [0, 1)."""
    recording.refuse_in_capture("a random draw (rand, or dropout off the GPU)")
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


def _drawn(out: Tensor, factory, *args, **kwargs) -> Tensor:
    """``out``, a random tensor ``factory(*args, **kwargs)`` drew.  While a step is
    recorded (``gg.compile``) the plan replays it as that call again, so every replay draws
    afresh from the same generator, in the eager step's order, as dropout does; nothing is
    made otherwise (the eager path pays one test).  Returns ``out``."""
    if recording.active is not None:
        op, again = factory.__name__, functools.partial(factory, *args, **kwargs)
        node = NonDifferentiable(op, _draw_again, (op, again))
        node.draws = True  # gg.compile(cuda_graph=True) refuses it when it records
        recording.forward(node, (), out)
    return out


def _draw_again(op: str, again):
    """A replay's draw of ``gg.<op>``; refused in a CUDA graph capture (the generator's
    offset advances on the host: a graph would repeat one draw)."""
    recording.refuse_in_capture(f"a random draw (gg.{op})")
    return again().array


def randn(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples of ``shape`` (default dtype float32)."""
    dev = backend.device(device)
    t = build(lambda xp, s, dt: sample_normal(dev, s, dt), shape, dtype, dev, requires_grad, False)
    return _drawn(t, randn, t.shape, dtype=t.dtype, device=dev)


def rand(*shape, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Uniform samples in [0, 1) of ``shape`` (default dtype float32)."""
    dev = backend.device(device)
    t = build(lambda xp, s, dt: sample_uniform(dev, s, dt), shape, dtype, dev, requires_grad, False)
    return _drawn(t, rand, t.shape, dtype=t.dtype, device=dev)


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
    return _drawn(Tensor(out.astype(dt, copy=False)), randint, low, high, shape, dt, dev)


def randperm(n: int, dtype=None, device=None) -> Tensor:
    """A random permutation of 0 .. n-1 (int64 by default)."""
    dev = backend.device(device)
    dt = dtypes.int64 if dtype is None else dtypes.to_dtype(dtype)
    out = Tensor(generator(dev).permutation(n).astype(dt, copy=False))
    return _drawn(out, randperm, n, dt, dev)
