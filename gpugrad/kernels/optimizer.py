"""Launchers of ``kernels/optimizer.cu``: in-place SGD and Adam/AdamW steps with PyTorch's
update rules (written out in ``optimizer.cu``): per parameter (:func:`sgd_update`,
:func:`adam_update`, one launch each) or multi-tensor (:func:`sgd_multi_update`: one
launch; :func:`adam_multi_update`: two launches, for every parameter of a group of one
dtype on one device, over a cached :class:`PointerTable`, with the hyper-parameters in
:class:`DeviceScalars`).

The parameter and its state are updated in place, so they must be C-contiguous CuPy arrays
of one dtype and shape (ValueError otherwise); the gradient is only read (cast and made
contiguous when needed).  An empty parameter launches nothing.
"""

from __future__ import annotations

import contextlib

import numpy

from .. import backend
from ..autograd import recording
from . import _build
from ._build import THREADS, Kernel, address, as_contiguous, check_float, grid, on_arrays_device

FILE = "optimizer.cu"
_sgd = Kernel(FILE, "sgd_update")
_adam = Kernel(FILE, "adam_update")
_sgd_multi = Kernel(FILE, "sgd_multi_update")
_adam_multi = Kernel(FILE, "adam_multi_update")
_adam_count = Kernel(FILE, "adam_multi_count")


def _check_state(p, *named):
    """p and its state: cupy, same dtype and shape, C-contiguous (updated in place)."""
    check_float(p, "parameter")
    for what, a in named:
        if a is None:
            continue
        check_float(a, what)
        if a.dtype != p.dtype or a.shape != p.shape:
            raise ValueError(
                f"the {what} ({a.dtype}, {a.shape}) does not match the parameter "
                f"({p.dtype}, {p.shape})"
            )
    for what, a in (("parameter", p), *named):
        if a is not None and not a.flags.c_contiguous:
            raise ValueError(
                f"optimizer kernels update the {what} in place: it must be C-contiguous"
            )


def _gradient(p, grad):
    check_float(grad, "gradient")
    if grad.shape != p.shape:
        raise ValueError(f"gradient of shape {grad.shape} for a parameter of shape {p.shape}")
    return as_contiguous(grad, p.dtype, "gradient")


def _doubles(*values) -> tuple:
    return tuple(numpy.float64(v) for v in values)


def _flags(*values) -> tuple:
    return tuple(numpy.int32(bool(v)) for v in values)


def _launch(kernel, arrays, scalars):
    """Launch ``kernel`` over the parameter ``arrays[0]``: the arrays, its size, then the
    scalars (already typed as the C signature wants: see _doubles and _flags)."""
    p = arrays[0]
    if p.size:
        kernel(p.dtype)(grid(p.size), (THREADS,), (*arrays, numpy.int64(p.size), *scalars))


@on_arrays_device
def sgd_update(
    p, grad, buf, *, lr, momentum=0.0, nesterov=False, weight_decay=0.0, first_step=False
):
    """One in-place SGD step on p (and the momentum buffer buf, p's shape; None only when
    momentum is 0), PyTorch's semantics with dampening 0.  ``first_step`` makes buf = g
    (PyTorch's fresh buffer) instead of reading it.  One launch."""
    if momentum != 0 and buf is None:
        raise ValueError("sgd_update with momentum needs a momentum buffer")
    _check_state(p, ("momentum buffer", buf))
    grad = _gradient(p, grad)
    _launch(
        _sgd,
        (p, grad, buf if buf is not None else p),  # buf is not read without momentum
        _doubles(lr, momentum, weight_decay) + _flags(nesterov, first_step),
    )


@on_arrays_device
def adam_update(
    p,
    grad,
    m,
    v,
    *,
    lr,
    beta1,
    beta2,
    eps,
    weight_decay,
    decoupled,
    bias_correction1,
    bias_correction2,
):
    """One in-place Adam (decoupled=False: g += wd·p) or AdamW (decoupled=True: p *= 1 - lr·wd)
    step on p, m, v (all p's shape), PyTorch's semantics.  The bias corrections 1 - β^t are
    computed by the caller from the step count t.  One launch."""
    if m is None or v is None:
        raise ValueError("adam_update needs both moment buffers")
    _check_state(p, ("first moment", m), ("second moment", v))
    grad = _gradient(p, grad)
    _launch(
        _adam,
        (p, grad, m, v),
        _doubles(lr, beta1, beta2, eps, weight_decay)
        + _flags(decoupled)
        + _doubles(bias_correction1, bias_correction2),
    )


# -- multi-tensor: every parameter of a group in one launch ----------------------------------
# The layout of the table is written out in optimizer.cu (PointerTable builds it): the
# addresses of each slot (parameter, gradient, state...) of every tensor, their sizes, and a
# block -> (tensor, chunk) map, as apex's multi_tensor_apply.  CHUNK elements per block: small
# enough that a model of a few hundred thousand parameters still fills the SMs, large enough
# that a block's setup (the map, Adam's bias corrections) is paid for.
CHUNK = 4096
SGD_SCALARS = ("lr", "momentum", "weight_decay")  # DeviceScalars of sgd_multi_update
ADAM_SCALARS = ("lr", "beta1", "beta2", "eps", "weight_decay")  # ... of adam_multi_update


def _upload(device_array, host: numpy.ndarray) -> None:
    """Copy ``host`` into ``device_array`` in place: its address stays, so a captured CUDA
    graph that reads it sees the new values (cupy's ``set`` queues the copy on the current
    stream, after the kernels that read the old values).  While a graph is captured (CuPy
    refuses a host-to-device copy on a capturing stream) the copy is made once the capture
    has ended, before the graph's first launch: the values that step would have used."""
    if recording.capturing:
        recording.after_capture(lambda: _upload(device_array, host), key=id(device_array))
    elif isinstance(device_array, numpy.ndarray):  # the CPU stand-in: device memory is host's
        device_array[...] = host
    else:
        device_array.set(host)


class DeviceScalars:
    """A few float64 values in device memory (an array of shape (k,)), uploaded in place only
    when they change: the hyper-parameters of a multi-tensor launch (lr that a scheduler
    changes), or one parameter's Adam step count.  ``uploads`` counts host-to-device copies."""

    def __init__(self):
        self.array = None  # created on the current device at the first update
        self.values = None  # what the device holds, as far as the host knows
        self.uploads = 0

    def update(self, values):
        """The device array, holding ``values`` (uploaded if they differ from what it holds)."""
        values = tuple(float(v) for v in values)
        if values != self.values:
            host = numpy.array(values, numpy.float64)
            if self.array is None or self.array.shape != host.shape:
                self.array = _build.cupy_module().empty(host.shape, numpy.float64)
            _upload(self.array, host)
            self.values = values
            self.uploads += 1
            recording.on_capture_failure(self.forget)
        return self.array

    def assume(self, values) -> None:
        """Record that a kernel changed the device values to ``values`` (no copy)."""
        self.values = tuple(float(v) for v in values)
        recording.on_capture_failure(self.forget)  # a failed capture ran no kernel

    def forget(self) -> None:
        """The device's values are unknown (a capture that failed): the next
        :meth:`update` uploads."""
        self.values = None


class PointerTable:
    """The device table of a multi-tensor launch (int64; layout in optimizer.cu), cached:
    :meth:`update` rebuilds it only when the arrays' addresses or sizes change (a new grad
    array, a new state buffer), so a steady-state step allocates nothing and copies nothing.
    ``builds`` counts the rebuilds.  The table holds addresses, not references: it is used
    only while the current arrays are the ones it was built from (the key says so)."""

    def __init__(self, chunk: int | None = None):
        chunk = CHUNK if chunk is None else chunk  # the module's, read now (tests shrink it)
        if not isinstance(chunk, int) or chunk < 1:
            raise ValueError(f"chunk={chunk!r}: it must be a positive int")
        self.chunk = chunk
        self.table = None
        self.tensors = self.blocks = self.builds = 0
        self._key = None
        self.read_by_graph = False  # the current table was read by a captured CUDA graph
        self.graph_tables: list = []  # tables captured graphs still read: kept alive

    def update(self, slots) -> None:
        """``slots``: lists of arrays, one list per slot (parameters first, whose sizes
        chunk the work), every list over the same non-empty tensors."""
        sizes = tuple(a.size for a in slots[0])
        key = (sizes, tuple(address(a) for slot in slots for a in slot))
        if key == self._key:
            self.read_by_graph |= recording.capturing
            return
        n = len(sizes)
        counts = -(-numpy.array(sizes, numpy.int64) // self.chunk)  # chunks per tensor
        first = numpy.cumsum(counts) - counts  # the first block of each tensor
        tensor_of_block = numpy.repeat(numpy.arange(n, dtype=numpy.int64), counts)
        chunk_of_block = numpy.arange(int(counts.sum()), dtype=numpy.int64) - first[tensor_of_block]
        host = numpy.concatenate(
            [
                numpy.array(key[1], numpy.int64).reshape(-1),
                numpy.array(sizes, numpy.int64),
                numpy.stack([tensor_of_block, chunk_of_block], axis=1).reshape(-1),
            ]
        )
        if self.read_by_graph:
            # a captured graph reads the current table at every launch: it must never be
            # written again, nor freed (its pool would hand the block to other arrays)
            self.graph_tables.append(self.table)
        if self.table is None or self.table.shape != host.shape or self.read_by_graph:
            self.table = _build.cupy_module().empty(host.shape, numpy.int64)
        # in place when the size is unchanged; inside a capture (set_to_none=True gave the
        # gradients new arrays) once it has ended: the graph's addresses never change
        _upload(self.table, host)
        self.read_by_graph = recording.capturing
        self.tensors, self.blocks, self._key = n, len(tensor_of_block), key
        self.builds += 1
        recording.on_capture_failure(self.forget)  # its deferred write never happens

    def forget(self) -> None:
        """The device table's content is unknown (a capture that failed before writing
        it): the next :meth:`update` rebuilds it."""
        self._key = None


def _device_id(a):
    return None if isinstance(a, numpy.ndarray) else a.device.id


def _checked_slots(params, grads, states: dict) -> list:
    """The slots of a multi-tensor launch, checked as the per-parameter launchers check
    theirs, all on params[0]'s device and dtype, empty tensors left out: [params, grads
    (cast to the parameters' dtype and made contiguous where needed), *states' lists]."""
    params, grads = list(params), list(grads)
    lists = {"gradients": grads, **{what: list(a) for what, a in states.items()}}
    for what, arrays in lists.items():
        if len(arrays) != len(params):
            raise ValueError(f"{len(params)} parameters but {len(arrays)} {what}")
    slots = [[] for _ in range(2 + len(states))]
    if not params:
        return slots
    check_float(params[0], "parameters[0]")
    dtype, device = params[0].dtype, _device_id(params[0])
    for i, p in enumerate(params):
        check_float(p, f"parameters[{i}]")
        named = [(f"{what}[{i}]", arrays[i]) for what, arrays in lists.items() if what in states]
        _check_state(p, *named)
        for what, a in ((f"parameters[{i}]", p), *named):
            if a.dtype != dtype or _device_id(a) != device:
                raise ValueError(
                    f"one multi-tensor launch updates arrays of one dtype on one device: "
                    f"{what} is {a.dtype} on device {_device_name(a)}, parameters[0] "
                    f"{dtype} on device {_device_name(params[0])}"
                )
        if not p.size:
            continue  # an empty parameter: nothing to update
        for slot, a in zip(slots, (p, _gradient(p, grads[i]), *(s for _, s in named))):
            slot.append(a)
    return slots


def _device_name(a) -> str:
    return "cpu" if _device_id(a) is None else f"cuda:{_device_id(a)}"


def _on_device(a):
    """A context making a's GPU current for allocations and launches (none for NumPy)."""
    return backend.device_of(a) if backend.is_cuda_array(a) else contextlib.nullcontext()


def _check_scalars(hyper, names: tuple, params) -> None:
    """hyper: a float64 device array of one value per name, on the parameters' device."""
    if (
        not isinstance(hyper, _build.cupy_module().ndarray)
        or hyper.dtype != numpy.float64
        or hyper.shape != (len(names),)
        or (params and _device_id(hyper) != _device_id(params[0]))
    ):
        raise ValueError(
            f"the hyper-parameters are a float64 device array of shape ({len(names)},) on "
            f"the parameters' device: [{', '.join(names)}] (DeviceScalars.update)"
        )


def sgd_multi_update(params, grads, bufs, hyper, table: PointerTable, *, nesterov=False):
    """One in-place SGD step (PyTorch's, dampening 0) on every tensor of ``params`` in ONE
    launch.  ``grads`` (and ``bufs``, the momentum buffers, or None without momentum) are
    lists beside ``params``, each array of its parameter's shape; all of one dtype on one
    device.  ``hyper`` is a float64 device array ``[lr, momentum, weight_decay]``
    (:class:`DeviceScalars`), read by the kernel: with no buffers momentum counts as 0.  A
    new buffer must be zero-filled: momentum·0 + g is PyTorch's first step, buf = g.
    ``table`` is the caller's cache for these lists (rebuilt only when the arrays change).
    Empty tensors are skipped; nothing at all launches nothing."""
    states = {} if bufs is None else {"momentum buffers": bufs}
    slots = _checked_slots(params, grads, states)
    _check_scalars(hyper, SGD_SCALARS, slots[0])
    if not slots[0]:
        return
    with _on_device(slots[0][0]):
        table.update(slots)
        _sgd_multi(slots[0][0].dtype)(
            (table.blocks,),
            (THREADS,),
            (table.table, numpy.int64(table.tensors), numpy.int64(table.chunk), hyper)
            + _flags(nesterov, bufs is not None),
        )


def adam_multi_update(params, grads, ms, vs, steps, hyper, table: PointerTable, *, decoupled):
    """One in-place Adam (decoupled=False) or AdamW (True) step, PyTorch's, on every tensor
    of ``params`` in TWO launches: the step counts + 1, then the update.  ``grads``, ``ms``,
    ``vs`` (the moments, each its parameter's shape) and ``steps`` (one float64 device array
    of shape (1,) per parameter: the steps taken before this one; incremented on the device)
    are lists beside ``params``, all of one dtype (steps excepted) on one device.  ``hyper``
    is a float64 device array ``[lr, beta1, beta2, eps, weight_decay]`` (:class:`DeviceScalars`);
    the bias corrections 1 - beta^t are computed on the device.  ``table``: as in
    :func:`sgd_multi_update`.  Empty tensors are skipped (their step counts too)."""
    params, steps = list(params), list(steps)
    slots = _checked_slots(params, grads, {"first moments": ms, "second moments": vs})
    _check_scalars(hyper, ADAM_SCALARS, slots[0])
    if len(steps) != len(params):
        raise ValueError(f"{len(params)} parameters but {len(steps)} step counts")
    for i, (p, s) in enumerate(zip(params, steps)):
        if (
            not isinstance(s, _build.cupy_module().ndarray)
            or s.dtype != numpy.float64
            or s.shape != (1,)
            or _device_id(s) != _device_id(p)
        ):
            raise ValueError(
                f"step count {i} must be a float64 device array of shape (1,) on its "
                f"parameter's device"
            )
    if not slots[0]:
        return
    slots.append([s for p, s in zip(params, steps) if p.size])  # beside the kept tensors
    with _on_device(slots[0][0]):
        table.update(slots)
        dtype, n = slots[0][0].dtype, numpy.int64(table.tensors)
        _adam_count(dtype)(grid(table.tensors), (THREADS,), (table.table, n))
        _adam_multi(dtype)(
            (table.blocks,),
            (THREADS,),
            (table.table, n, numpy.int64(table.chunk), hyper) + _flags(decoupled),
        )
