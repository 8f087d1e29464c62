"""The optimizers' multi-tensor path on CUDA: the parameters of a group that share a dtype
and a device (a *bucket*) are updated together by the multi-tensor kernels of
:mod:`gpugrad.kernels.optimizer`, in a number of launches that does not depend on how many
parameters there are: per bucket and step, SGD 1 launch, Adam/AdamW 2 (the step counts,
then the update).

What lives where, and why:

* The hyper-parameters (lr, momentum, betas, eps, weight decay) are a float64 device array
  per bucket (:class:`~gpugrad.kernels.optimizer.DeviceScalars`) that the kernels read.  It
  is uploaded in place, before the launch, only when a group's values changed (a scheduler's
  new lr), so a step captured in a CUDA graph reads the new lr when
  ``Optimizer.refresh_device_scalars()`` runs before the replay.
* Adam's step count lives on the device too: one float64 counter per parameter, advanced by
  the launch, from which the kernel computes the bias corrections.  ``state["step"]`` stays a
  host int (PyTorch's state-dict layout), a mirror that ``step()`` increments: reading it
  never synchronizes, and in eager use it is always right.  A step replayed from a CUDA graph
  advances only the device counter (Python does not run), so ``state_dict()`` reads the
  counters back (one copy per device, which synchronizes) before it reports the steps.  A
  host count changed since the last launch (by hand; ``load_state_dict`` starts afresh) wins
  and is uploaded at the next step.
* The pointer table (:class:`~gpugrad.kernels.optimizer.PointerTable`) is cached per bucket,
  keyed by the arrays' addresses: rebuilt only when a gradient or state array is replaced
  (``zero_grad()`` sets gradients to None by default, so each backward brings new arrays;
  ``zero_grad(set_to_none=False)`` keeps them, and then a steady-state step allocates nothing
  and copies nothing to the device, unless a hyper-parameter changed).

A bucket holds device arrays only, never the parameters: a stale bucket (a group replaced) is
harmless, as its table is used only for the very arrays it was built from.
"""

from __future__ import annotations

import numpy

from .. import backend
from ..kernels import optimizer as kernels


def runs_on_kernels(array) -> bool:
    """Whether the multi-tensor kernels update a parameter held in ``array`` (a CUDA array).
    The tests point this at NumPy arrays to run the kernels emulated on the CPU."""
    return backend.is_cuda_array(array)


class Bucket:
    """What one (group, device, dtype) keeps between steps: its pointer table and the device
    copy of its hyper-parameters."""

    def __init__(self):
        self.table = kernels.PointerTable()
        self.scalars = kernels.DeviceScalars()


class MultiTensorState:
    """An optimizer's buckets and its parameters' device step counters."""

    def __init__(self):
        self.buckets: dict = {}  # (group index, device, dtype) -> Bucket
        # id(a parameter's state dict) -> DeviceScalars holding its step count (the state
        # dict, not the parameter: the kernels' callers hold arrays, and a loaded state
        # starts afresh anyway)
        self.steps: dict = {}

    def bucket(self, key) -> Bucket:
        bucket = self.buckets.get(key)
        if bucket is None:
            bucket = self.buckets[key] = Bucket()
        return bucket

    def step_counts(self, params, states) -> list:
        """Each parameter's device step counter (shape (1,), float64), holding the steps
        before this one (``state["step"] - 1``: step() has counted this one on the host).
        Created, or uploaded, only when the device does not already hold that."""
        counts = []
        for p, state in zip(params, states):
            counter = self.steps.get(id(state))
            if counter is None or not _on_device_of(counter.array, p):  # new, or p moved
                counter = self.steps[id(state)] = kernels.DeviceScalars()
            # counter.values is what the device held after the last launch, as far as the
            # host knows; a replayed graph may have advanced it further: the device wins
            counts.append(counter.update((state["step"] - 1,)))
        return counts

    def counted(self, params, states) -> None:
        """Record that the launch advanced each counter to ``state["step"]``."""
        for state in states:
            self.steps[id(state)].assume((state["step"],))

    def read_step_counts(self, states) -> None:
        """Set each of ``states``' ``"step"`` from its device counter, where the host count
        was not changed since the last launch: steps replayed from a CUDA graph count.  One
        copy per device; synchronizes.  Nothing to read, nothing done."""
        by_device: dict = {}
        for state in states:
            counter = self.steps.get(id(state))
            if counter is not None and counter.values == (float(state["step"]),):
                device = backend.device_of(counter.array)
                by_device.setdefault(device, []).append((state, counter))
        for device, entries in by_device.items():
            with device:
                arrays = [counter.array for _, counter in entries]
                both = backend.get_array_module(arrays[0]).concatenate(arrays)
                values = numpy.asarray(backend.to_device(both, backend.CPU)).tolist()
            for (state, counter), value in zip(entries, values):
                state["step"] = int(value)
                counter.assume((value,))


def _on_device_of(counter, p) -> bool:
    return counter is None or backend.device_of(counter) == backend.device_of(p)
