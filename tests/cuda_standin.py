"""A counting stand-in for CuPy: the library's CUDA code path, run and counted on the CPU.

``install(monkeypatch, library)`` makes gpugrad see one CUDA device whose arrays are
:class:`DeviceArray` (a NumPy ndarray subclass) and whose kernels (``cupy.RawModule``) are the
``kernels/*.cu`` sources compiled with g++ (``library``, built by :func:`build_kernels` with
the kernel tests' machinery, ``tests/kernels/conftest.py``).  ``backend.is_cuda_array``,
``get_array_module``, ``device_of``, ``Device("cuda")``, the launchers
(``kernels._build.cupy_module``), ``with device``, streams and the memory pool all take the
CUDA branches.  Every device operation is recorded in :class:`Counts`:

  kernel   a launch of one of our kernels (RawModule functions);
  op       a CuPy array operation that computes or writes device memory: ufunc calls and
           their reductions (``sum``, ``max``...), matmul, copies, casts, fills, gathers,
           scatters.  Views (``reshape`` without a copy, ``.T``, ``broadcast_to``, basic
           slicing) and metadata launch nothing;
  alloc    a new device buffer of more than 0 bytes (what CuPy takes from its memory pool):
           an operation's new output, ``empty``/``zeros``..., an upload's destination;
  upload   a host-to-device copy (``cupy.asarray`` of host data, ``ndarray.set``);
  read     a device-to-host read (``.item()``, ``float()``, ``asnumpy``, ``.get()``): each
           synchronizes on a real GPU;
  sync     a stream or device synchronize.

Each event carries where in gpugrad it came from (``ops/linear.py:forward``).  What it fakes
rather than checks: CuPy's exact kernel count for compound functions (``einsum``,
``tensordot``, ``var``: one op each here) and for cuBLAS (a GEMM counts one launch), the
dtype rules where CuPy differs from NumPy (CuPy keeps 0-d results as arrays: so does the
stand-in), asynchrony and streams (everything runs at once, in order), the memory pool's
caching (an allocation is counted, never reused), and ``numpy.asarray(device_array)``, which
CuPy refuses and an ndarray subclass cannot (a host array passed to a device operation *is*
refused, with CuPy's TypeError).
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import hashlib
import importlib.util
import os
import shutil
import sys
import tempfile
import types
from collections import Counter, namedtuple
from pathlib import Path

import numpy

import gpugrad
from gpugrad import backend, kernels
from gpugrad.kernels import _build

# modules whose names their packages reuse for a function
random = importlib.import_module("gpugrad.random")
raw_namespace = importlib.import_module("gpugrad.autograd.raw_namespace")

KERNEL_TESTS = Path(__file__).resolve().parent / "kernels" / "conftest.py"
EMULATOR_HEADER = KERNEL_TESTS.parent / "cpp" / "cuda_on_cpu.h"  # the CUDA built-ins for g++
PACKAGE = Path(gpugrad.__file__).resolve().parent
CXX = shutil.which("g++") or shutil.which("c++")

Record = namedtuple("Record", "kind name where")


class Counts:
    """The events recorded since the stand-in was installed, in order."""

    def __init__(self):
        self.events: list = []

    def record(self, kind: str, name: str) -> None:
        self.events.append(Record(kind, name, _caller()))

    def since(self, mark: int) -> list:
        return self.events[mark:]

    def mark(self) -> int:
        return len(self.events)


def tally(events) -> dict:
    """{kind: count} of ``events``, with ``launches`` = kernels + ops."""
    kinds = Counter(e.kind for e in events)
    return {
        "launches": kinds["kernel"] + kinds["op"],
        **{k: kinds[k] for k in ("kernel", "op", "alloc", "upload", "read", "sync")},
    }


def describe(events) -> str:
    """One line per distinct (kind, name, where) with its count, launches first."""
    order = {"kernel": 0, "op": 1, "alloc": 2, "upload": 3, "read": 4, "sync": 5}
    counted = Counter(events)
    lines = [
        f"{n:3d} x {e.kind:6s} {e.name:34s} {e.where}"
        for e, n in sorted(counted.items(), key=lambda item: order[item[0].kind])
    ]
    return "\n".join(lines)


_counts: Counts | None = None  # the installed stand-in's


def _record(kind: str, name: str) -> None:
    if _counts is not None:
        _counts.record(kind, name)


def _caller() -> str:
    """The innermost gpugrad frame outside the kernels' shared plumbing, as
    ``ops/linear.py:forward``."""
    frame = sys._getframe(1)
    fallback = None
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if PACKAGE in path.parents:
            where = f"{path.relative_to(PACKAGE).as_posix()}:{frame.f_code.co_name}"
            if path.name not in ("_build.py", "backend.py"):
                return where
            fallback = fallback or where
        frame = frame.f_back
    return fallback or "(test)"


# -- device arrays -----------------------------------------------------------------------
def _plain(x):
    """DeviceArrays (also inside lists and tuples) as plain ndarrays over the same memory."""
    if isinstance(x, DeviceArray):
        return x.view(numpy.ndarray)
    if isinstance(x, (list, tuple)):
        return type(x)(_plain(v) for v in x)
    return x


def _arrays(x):
    if isinstance(x, numpy.ndarray):
        yield x
    elif isinstance(x, (list, tuple)):
        for v in x:
            yield from _arrays(v)


def _refuse_host_arrays(name: str, values) -> None:
    """CuPy's TypeError for a NumPy array given to a device operation."""
    for a in _arrays(values):
        if not isinstance(a, DeviceArray):
            raise TypeError(
                f"Unsupported type {type(a)} (the CuPy stand-in: {name} got a host NumPy "
                "array where CuPy takes device arrays)"
            )


def _wrap(result, inputs, name: str, writes: bool = False, launches: bool = True):
    """Record ``name`` (an op when it wrote or made a new buffer) and its new buffers, and
    return ``result`` with every array as a DeviceArray (scalars as 0-d arrays, as CuPy's)."""
    sources = [_plain(a) for a in _arrays(inputs)]
    fresh = []

    def convert(r):
        if isinstance(r, numpy.generic):
            r = numpy.asarray(r)
        if isinstance(r, numpy.ndarray):
            if not any(numpy.may_share_memory(r, s) for s in sources):
                fresh.append(r)
            return r if isinstance(r, DeviceArray) else r.view(DeviceArray)
        if isinstance(r, (list, tuple)):
            return type(r)(convert(v) for v in r)
        return r

    result = convert(result)
    if writes or (fresh and launches):
        _record("op", name)
    for r in fresh:
        if r.nbytes:
            _record("alloc", name)
    return result


def _ufunc(ufunc, method: str, inputs, kwargs):
    out = kwargs.get("out")
    if out is not None and not isinstance(out, tuple):
        out = kwargs["out"] = (out,)
    name = ufunc.__name__ if method == "__call__" else f"{ufunc.__name__}.{method}"
    _refuse_host_arrays(name, (inputs, out or ()))
    _refuse_host_arrays(name, kwargs.get("where"))
    kwargs = {k: _plain(v) for k, v in kwargs.items()}  # out, where
    result = getattr(ufunc, method)(*_plain(inputs), **kwargs)
    if method == "at":
        _record("op", name)
        return None
    if out is not None:
        _record("op", name)
        return out[0] if len(out) == 1 else out
    return _wrap(result, inputs, name)


# functions that write an argument in place (the others write only what they return)
WRITERS = {"copyto", "put_along_axis", "place", "putmask", "fill_diagonal", "put"}


def _function(func, args, kwargs):
    name = func.__name__
    _refuse_host_arrays(name, (args, tuple(kwargs.values())))
    result = func(*_plain(args), **{k: _plain(v) for k, v in kwargs.items()})
    inputs = (args, tuple(kwargs.values()))
    # empty_like allocates without a launch
    return _wrap(result, inputs, name, writes=name in WRITERS, launches=name != "empty_like")


def _host_read(name: str):
    def read(self, *args, **kwargs):
        _record("read", name)
        return getattr(numpy.ndarray, name)(self.view(numpy.ndarray), *args, **kwargs)

    return read


def _method(name: str):
    def method(self, *args, **kwargs):
        _refuse_host_arrays(name, (args, tuple(kwargs.values())))
        fn = getattr(numpy.ndarray, name)
        result = fn(
            self.view(numpy.ndarray), *_plain(args), **{k: _plain(v) for k, v in kwargs.items()}
        )
        return _wrap(result, (self, args, tuple(kwargs.values())), name)

    method.__name__ = name
    return method


class _DeviceId:
    id = 0

    def __repr__(self):
        return "<CUDA Device 0 (stand-in)>"


def _wrapped(index, shape):
    """``index`` with its integer arrays taken modulo their axes' lengths, as CuPy's gather
    treats out-of-range indices (leading axes; no Ellipsis or None)."""
    parts = index if isinstance(index, tuple) else (index,)
    return tuple(
        p % shape[k] if isinstance(p, numpy.ndarray) and p.dtype.kind in "iu" else p
        for k, p in enumerate(parts)
    )


class DeviceArray(numpy.ndarray):
    """A NumPy array that says it lives on CUDA device 0; its operations are recorded."""

    def __array_finalize__(self, obj):
        # a new buffer that no recorded path made (a method not listed below): still counted
        if self.base is None and self.nbytes and _counts is not None:
            _record("op", "untracked ndarray method")
            _record("alloc", "untracked ndarray method")

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        return _ufunc(ufunc, method, inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        return _function(func, args, kwargs)

    @property
    def device(self):
        return _DeviceId()

    def get(self, stream=None, order="C", out=None):
        """CuPy's device-to-host copy."""
        _record("read", "get")
        return numpy.array(self.view(numpy.ndarray), order=order)

    def set(self, arr, stream=None):
        """CuPy's host-to-device copy into this array."""
        _record("upload", "set")
        self.view(numpy.ndarray)[...] = arr

    def __getitem__(self, index):
        plain = self.view(numpy.ndarray)
        index = _plain(index)
        try:
            result = plain[index]
        except IndexError:  # CuPy wraps out-of-range integer array indices, never raises
            result = plain[_wrapped(index, plain.shape)]
        return _wrap(result, (self,), "getitem")

    def __setitem__(self, index, value):
        plain, index = self.view(numpy.ndarray), _plain(index)
        try:
            plain[index] = _plain(value)
        except IndexError:  # CuPy's scatter wraps out-of-range indices too
            plain[_wrapped(index, plain.shape)] = _plain(value)
        host = isinstance(value, (list, tuple)) or (
            isinstance(value, numpy.ndarray) and not isinstance(value, DeviceArray)
        )
        _record("upload" if host else "op", "setitem")

    def fill(self, value):
        self.view(numpy.ndarray).fill(value)
        _record("op", "fill")

    def scatter_add(self, slices, value):
        """What ``cupyx.scatter_add(a, slices, value)`` calls: an unbuffered add."""
        numpy.add.at(self.view(numpy.ndarray), _plain(slices), _plain(value))
        _record("op", "scatter_add")


METHODS = (  # computed on the device: a launch when they write or return a new buffer
    "copy", "astype", "reshape", "ravel", "flatten", "sum", "mean", "max", "min", "prod", "any",
    "all", "argmax", "argmin", "var", "std", "cumsum", "cumprod", "dot", "take", "repeat",
    "clip", "round", "nonzero", "sort", "argsort", "squeeze", "transpose", "swapaxes", "conj",
)  # fmt: skip
HOST_READS = (
    "item",
    "tolist",
    "__float__",
    "__int__",
    "__bool__",
    "__index__",
    "__repr__",
    "__str__",
)
for _name in METHODS:
    setattr(DeviceArray, _name, _method(_name))
for _name in HOST_READS:
    setattr(DeviceArray, _name, _host_read(_name))


# -- the module --------------------------------------------------------------------------
CREATORS = {"empty", "zeros", "ones", "full", "arange", "eye", "linspace", "identity", "tri"}
FROM_DATA = {"array", "asarray", "ascontiguousarray", "asfortranarray", "asanyarray"}


def _creator(func):
    """``cupy.zeros`` and friends: a new buffer, filled by a launch (``empty``: none)."""

    @functools.wraps(func)
    def create(*args, **kwargs):
        result = numpy.asarray(func(*args, **kwargs)).view(DeviceArray)
        if func.__name__ != "empty":
            _record("op", func.__name__)
        if result.nbytes:
            _record("alloc", func.__name__)
        return result

    return create


def _from_data(func):
    """``cupy.asarray`` and friends: device arrays as ``func`` treats them, host data
    uploaded into a new buffer."""

    @functools.wraps(func)
    def convert(data, *args, **kwargs):
        if isinstance(data, DeviceArray):
            return _function(func, (data, *args), kwargs)
        result = numpy.array(func(data, *args, **kwargs), copy=True).view(DeviceArray)
        _record("upload", func.__name__)
        if result.nbytes:
            _record("alloc", func.__name__)
        return result

    return convert


class _Ufunc:
    """A ufunc of the stand-in module: recorded even when no argument is a DeviceArray."""

    def __init__(self, ufunc):
        self.ufunc = ufunc
        self.__name__ = ufunc.__name__

    def __call__(self, *inputs, **kwargs):
        return _ufunc(self.ufunc, "__call__", inputs, kwargs)

    def __getattr__(self, method):
        if method in ("reduce", "accumulate", "reduceat", "outer", "at"):
            return lambda *inputs, **kwargs: _ufunc(self.ufunc, method, inputs, kwargs)
        return getattr(self.ufunc, method)


class _RandomState:
    """CuPy's RandomState on NumPy's (whose samplers take no dtype: the draws are cast)."""

    def __init__(self, seed=None):
        self.state = numpy.random.RandomState(seed)

    def __getattr__(self, name):
        method = getattr(self.state, name)

        def sample(*args, dtype=None, **kwargs):
            out = numpy.asarray(method(*args, **kwargs))
            return _wrap(out if dtype is None else out.astype(dtype), (), f"random.{name}")

        return sample


class Stream:
    null = None

    def __init__(self, null=False, non_blocking=False, ptds=False):
        self.ptr = 0

    def synchronize(self):
        _record("sync", "stream")

    def use(self):
        return self

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class CudaEvent:
    def __init__(self, *args, **kwargs):
        pass

    def record(self, stream=None):
        pass

    def synchronize(self):
        _record("sync", "event")

    @property
    def done(self):
        return True


class Device:
    """``cupy.cuda.Device``: a context making the device current (there is one, 0)."""

    def __init__(self, device=None):
        self.id = 0 if device is None else int(device)
        if self.id != 0:
            raise ValueError(f"the CuPy stand-in has one device, not {self.id}")
        self.attributes = {"MultiProcessorCount": 1}  # as the kernel tests' pretend GPU

    def synchronize(self):
        _record("sync", "device")

    def use(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


class MemoryPool:
    def used_bytes(self):
        return 0

    def total_bytes(self):
        return 0

    def free_all_blocks(self):
        pass


class StandInCupy(types.ModuleType):
    """The module: numpy's names, recorded and returning DeviceArrays."""

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        value = getattr(numpy, name)
        if isinstance(value, numpy.ufunc):
            value = _Ufunc(value)
        elif name in CREATORS:
            value = _creator(value)
        elif name in FROM_DATA:
            value = _from_data(value)
        elif callable(value) and not isinstance(value, type):
            value = functools.partial(_call_function, value)
        setattr(self, name, value)  # looked up once
        return value


def _call_function(func, *args, **kwargs):
    return _function(func, args, kwargs)


def _asnumpy(a, stream=None, order="C", out=None):
    if isinstance(a, DeviceArray):
        _record("read", "asnumpy")
        return numpy.array(a.view(numpy.ndarray), order=order)
    return numpy.asarray(a)


def make_cupy(library) -> StandInCupy:
    """The stand-in module; ``library`` is the g++ build of every .cu file."""
    conftest = _kernel_tests()
    sources = {kernels.module_source(file) for file in kernels.KERNELS}
    launches = _LaunchLog()

    class RawModule:
        def __init__(self, code, options=()):
            assert code in sources and tuple(options) == kernels.COMPILE_OPTIONS

        def get_function(self, name):
            return conftest.EmulatedKernel(library, name, launches)

    cupy = StandInCupy("cupy")
    cupy.__dict__.update(
        ndarray=DeviceArray,
        RawModule=RawModule,
        asnumpy=_asnumpy,
        random=types.SimpleNamespace(RandomState=_RandomState),
        get_default_memory_pool=MemoryPool,
        cuda=types.SimpleNamespace(
            Device=Device,
            Stream=Stream,
            Event=CudaEvent,
            get_current_stream=Stream,
            get_default_memory_pool=MemoryPool,
            runtime=types.SimpleNamespace(
                getDevice=lambda: 0,
                getDeviceCount=lambda: 1,
                runtimeGetVersion=lambda: 12080,
                getDeviceProperties=lambda i: {"name": b"CuPy stand-in", "multiProcessorCount": 1},
            ),
        ),
    )
    return cupy


class _LaunchLog(list):
    """Where EmulatedKernel appends its launches: recorded as kernel events."""

    def append(self, launch):
        _record("kernel", launch[0])


# -- building and installing --------------------------------------------------------------
@functools.cache
def _kernel_tests():
    """tests/kernels/conftest.py as a module (its compile helper and EmulatedKernel)."""
    spec = importlib.util.spec_from_file_location("kernel_tests_conftest", KERNEL_TESTS)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def build_kernels(directory: Path):
    """Every .cu file in one g++ translation unit, as the kernel tests' ``host_libraries``
    builds it, into ``directory/kernels.so``; the CDLL.  Call only where CXX is set."""
    unit = _kernel_tests().write_emulated_unit(directory)
    flags = ["-include", str(EMULATOR_HEADER)]
    return _kernel_tests()._compile({"kernels": (unit, flags)}, directory)["kernels"]


def load(path: Path):
    """A library that :func:`build_kernels` built (``kernels.so`` in its directory)."""
    return ctypes.CDLL(str(path))


def cached_kernels(config, tmp_path_factory):
    """The kernels compiled with g++ for the stand-in, kept in pytest's cache under a hash
    of everything that goes into them (the compile takes seconds); skips the test without
    a host C++ compiler."""
    import pytest

    if CXX is None:
        pytest.skip("needs a host C++ compiler (g++)")
    inputs = [CXX, KERNEL_TESTS.read_text()]  # its compile flags
    inputs += [kernels.module_source(file) for file in sorted(kernels.KERNELS)]
    inputs += [repr(kernels.KERNELS), EMULATOR_HEADER.read_text()]
    key = hashlib.sha256("\0".join(inputs).encode()).hexdigest()[:16]
    cache = getattr(config, "cache", None)
    if cache is None:  # -p no:cacheprovider (the GPU acceptance run)
        return build_kernels(tmp_path_factory.mktemp("standin_kernels"))
    directory = cache.mkdir(f"cuda-standin-{key}")
    library = directory / "kernels.so"
    if not library.is_file():
        building = Path(tempfile.mkdtemp(dir=directory))
        build_kernels(building)
        os.replace(building / "kernels.so", library)  # atomic: a parallel run sees all or none
        shutil.rmtree(building, ignore_errors=True)
    return load(library)


def install(monkeypatch, library) -> Counts:
    """Make gpugrad see the stand-in as CuPy until ``monkeypatch`` undoes it; its Counts."""
    counts = Counts()
    cupy = make_cupy(library)
    monkeypatch.setattr(sys.modules[__name__], "_counts", counts)
    monkeypatch.setitem(sys.modules, "cupy", cupy)
    for name, value in (("_cupy", cupy), ("_cupy_probed", True), ("_cupy_error", None)):
        monkeypatch.setattr(backend, name, value)
    monkeypatch.setattr(backend, "_device_cache", {})  # "cuda" parsed afresh, onto the stand-in
    # new tensors still go to the CPU unless told otherwise (models are built there, then
    # moved, as on a machine without CUDA); a test may set another default
    monkeypatch.setattr(backend, "_default", backend.CPU)
    monkeypatch.setattr(_build, "cupy_module", lambda: cupy)
    for cache in ("_modules", "_functions", "_max_blocks", "_pending_flags", "_standing_flags"):
        monkeypatch.setattr(_build, cache, {})
    monkeypatch.setattr(random, "_generators", {})  # no stand-in generator outlives the test
    monkeypatch.setattr(raw_namespace, "_raw_namespaces", {})
    return counts


@contextlib.contextmanager
def recording(counts: Counts):
    """``with recording(counts) as events:`` the events recorded inside the block."""
    events: list = []
    mark = counts.mark()
    yield events
    events.extend(counts.since(mark))
