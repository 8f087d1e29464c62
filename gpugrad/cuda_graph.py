"""A compiled step's plan captured as one CUDA graph: ``gg.compile(step, cuda_graph=True)``.

NOT YET RUN ON A GPU (no GPU was lent to the session that wrote it): it is opt-in until
``bench/gpu_acceptance.sh`` has run its tests (tests/test_compile.py, the CUDA ones).

How (PyTorch's whole-network capture, in CuPy terms):

* A private memory pool serves everything the plan allocates while it is warmed up and
  captured, so no block of the graph is ever handed to other code, and the capture finds
  every block cached (no cudaMalloc inside a capture).
* The tensor inputs get static device buffers; a call copies the new batch into them,
  uploads the optimizers' hyper-parameters where a scheduler changed them
  (``refresh_device_scalars``), launches the graph on the current stream and returns the
  step's outputs: static buffers too, overwritten by the next call.
* The first two calls after the recording replay the plan plainly on a private stream
  (the pool caches its blocks, the optimizers build their pointer tables and upload their
  scalars, cuBLAS sets up its workspace for that stream); the third captures it and
  launches the graph; every call is one real step.
* Checks the kernels defer to the next host read (label flags) are registered again after
  every launch, as the captured Python would have.
* Dropout draws from the device's counter-based Philox generator
  (``gpugrad.random.PhiloxGenerator``, PyTorch's CUDA-graph-safe RNG): for the capture the
  generator is put in capture mode, so each dropout launch reads its (seed, offset) from a
  device buffer of this step plus an offset inside the graph fixed at the capture; before
  every launch of the graph the host writes the generator's current (seed, offset) into
  that buffer and advances the generator past the graph's draws.  Every launch draws fresh
  masks, and eager dropout never draws the same numbers.  Other random draws (``rand``,
  ``randn``: CuPy's generator, whose offset the host advances) are refused while capturing.

Parameters, gradients and optimizer state are the live objects, written by the graph;
a step's Python (``.grad = None``, ``zero_grad``) ran once, at the capture.  After every
launch each parameter's ``.grad`` is the tensor the captured step left it (the graph's
array), even if another graph's capture or an eager step gave it another one meanwhile.
"""

from __future__ import annotations

import contextlib

from . import backend, kernels, random
from .autograd import recording
from .autograd.recording import CompileError
from .plan import Backward, Call
from .tensor import Tensor

WARMUP_REPLAYS = 2  # plain replays on the private pool and stream before the capture


def _steps(event, optimizer) -> bool:
    """Whether ``event`` is ``optimizer.step()``."""
    return (
        optimizer is not None
        and isinstance(event, Call)
        and getattr(event.method, "__self__", None) is optimizer
        and event.method.__name__ == "step"
    )


class GraphStep:
    """The plan of a compiled step on one GPU, captured as a CUDA graph after
    ``WARMUP_REPLAYS`` plain replays; the same interface as :class:`gpugrad.plan.Plan`
    (``still_holds``, ``replay``).  Every call is one real step: the warm-up replays run
    the step, and the call that captures launches the graph it captured (a capture records
    the work without running it)."""

    def __init__(self, plan, device, tensors: list):
        cupy = backend.cupy_or_none()
        if cupy is None:
            raise CompileError("gg.compile(cuda_graph=True) needs CUDA")
        if any(t.requires_grad for t in tensors):
            raise CompileError(
                "gg.compile(cuda_graph=True): an argument requires grad (its gradient would "
                "go to the graph's input buffer); compile the step with cuda_graph=False"
            )
        nodes = [getattr(e, "node", None) for e in plan.events]
        draws = [n.label() for n in nodes if getattr(n, "draws", False)]
        if draws:  # refused when it records, not at the capture two calls later
            raise CompileError(
                f"gg.compile(cuda_graph=True): a random draw (gg.{draws[0]}) cannot be "
                f"captured in a CUDA graph yet (CuPy's generator advances on the host); "
                f"compile the step with cuda_graph=False, or make the tensor outside the step"
            )
        self.plan, self.cupy, self.device = plan, cupy, device
        self.inputs = self.graph = self.output = None
        self.warm, self.flags = 0, {}
        # the device (seed, offset) of the graph's dropout launches, and what a launch draws
        self.philox_base, self.philox_increment = None, 0
        # the optimizers whose step is in the plan: a scheduler's new lr is uploaded per call
        owners = [getattr(e.method, "__self__", None) for e in plan.events if isinstance(e, Call)]
        self.optimizers = list(
            {id(o): o for o in owners if hasattr(o, "refresh_device_scalars")}.values()
        )
        # calls with no device work (a scheduler's step): run again at each launch, where
        # eager runs them relative to what they change: before the launch a scheduler whose
        # optimizer steps after it in the step (that step reads the lr it sets), after the
        # launch the others
        self.host_calls_before, self.host_calls = [], []
        for k, event in enumerate(plan.events):
            if isinstance(event, Call) and event.host_only:
                target = getattr(getattr(event.method, "__self__", None), "optimizer", None)
                later = any(_steps(e, target) for e in plan.events[k + 1 :])
                (self.host_calls_before if later else self.host_calls).append(event)
        # the tensors the step's backwards give a .grad (parameters: an argument that
        # requires grad is refused above), and the .grad the captured step left each one
        refs = [r for e in plan.events if isinstance(e, Backward) for r in e.leaf_refs()]
        self.leaves = list({id(t): t for t in refs}.values())
        self.grads: list = []
        self.live_arrays: list = []  # (Live, its array) as captured
        self.optimizer_states: list = []  # (optimizer, state dict, settings) as captured
        with device:
            self.pool = cupy.cuda.MemoryPool()
            self.stream = cupy.cuda.Stream(non_blocking=True)

    def still_holds(self) -> bool:
        """The plan's checks, and once captured, that the graph's memory is still the
        live objects': the parameters' arrays and the optimizers' state (a
        ``load_state_dict`` replaces it) are those it captured, and the optimizers'
        settings its launches baked in (nesterov, momentum on or off...) are unchanged."""
        if self.graph is not None and not (
            all(ref.tensor.array is array for ref, array in self.live_arrays)
            and all(
                opt.state is state and opt.captured_settings() == settings
                for opt, state, settings in self.optimizer_states
            )
        ):
            return False
        return self.plan.still_holds()

    def replay(self, tensors: list):
        with self.device:
            if self.graph is None:
                return self._warm_up_or_capture(tensors)
            self._copy_in(tensors)  # on the current stream, as the launch
            for call in self.host_calls_before:
                call.run(self.plan.arrays)
            for opt in self.optimizers:
                opt.refresh_device_scalars()
            self._advance_philox()
            self.graph.launch()
            kernels.defer_flags(self.flags)
            self._restore_grads()
            for call in self.host_calls:
                call.run(self.plan.arrays)
            return self.output

    def _restore_grads(self) -> None:
        """After a launch, each leaf's ``.grad`` is the tensor the captured step left it
        (the array the graph writes), as the step's Python would have set it: another
        graph's capture or an eager step in between may have given it another one."""
        for leaf, grad in self.grads:
            if leaf.grad is not grad:
                leaf.grad = grad

    def _copy_in(self, tensors: list) -> None:
        for buffer, t in zip(self.inputs, tensors):
            self.cupy.copyto(buffer, t.array)

    def _warm_up_or_capture(self, tensors: list):
        cupy = self.cupy
        caller = cupy.cuda.get_current_stream()
        self.stream.wait_event(caller.record())  # the inputs were made on the caller's stream
        with cupy.cuda.using_allocator(self.pool.malloc), self.stream:
            if self.inputs is None:
                self.inputs = [cupy.empty_like(t.array) for t in tensors]
                self.philox_base = cupy.zeros(2, dtype="int64")  # (seed, offset), see _capture
            self._copy_in(tensors)
            static = [Tensor.wrap(a) for a in self.inputs]
            if self.warm < WARMUP_REPLAYS:
                self.warm += 1
                output = self.plan.replay(static)
            else:
                # nothing deferred before the capture (an error of an earlier step surfaces
                # here), so that every flag pending after it was registered by it
                kernels.check_deferred_flags()
                for opt in self.optimizers:  # no upload inside the capture
                    opt.refresh_device_scalars()
                output = self.output = self._capture(static)
                self.grads = [(leaf, leaf.grad) for leaf in self.leaves]
                self.live_arrays = [(ref, ref.tensor.array) for ref in self.plan.live]
                self.optimizer_states = [
                    (opt, opt.state, opt.captured_settings()) for opt in self.optimizers
                ]
                self.flags = kernels.pending_flags()
                self._advance_philox()  # on this stream, before the launch
                self.graph.launch(stream=self.stream)  # this call's step
        caller.wait_event(self.stream.record())
        return output

    def _advance_philox(self) -> None:
        """Before a launch of the graph (PyTorch's replay_prologue): upload the device
        generator's (seed, offset) to the base buffer its dropout launches read, on the
        current stream (after the previous launch has read it), and advance the generator
        past what the launch draws.  Nothing when the graph draws nothing."""
        if self.philox_increment:
            generator = random.philox_generator(self.device)  # reseeded since? that one
            self.philox_base.set(generator.replay_base(self.philox_increment))

    def _capture(self, static: list):
        # the dropout launches read (seed, offset) from philox_base at each launch, at
        # offsets inside the graph counted from 0 (PyTorch's capture_prologue/epilogue)
        generator = random.philox_generator(self.device)
        generator.begin_capture(self.philox_base)
        try:
            return self._record_graph(static)
        finally:
            self.philox_increment = generator.end_capture()

    def _record_graph(self, static: list):
        self.stream.begin_capture()
        capture = None
        try:
            with recording.capturing_graph() as capture:
                output = self.plan.replay(static)
            graph = self.stream.end_capture()
        except BaseException as e:  # Ctrl-C too: the stream must not stay capturing
            # a capture must end on its stream (the graph is dropped); an invalidated one
            # raises again here: the error that caused it is the one to report.  The
            # device caches forget what the capture assumed (a failure inside the with
            # block has already told them)
            with contextlib.suppress(Exception):
                if self.stream.is_capturing():
                    self.stream.end_capture()
            if capture is not None:
                capture.failed()
            if isinstance(e, CompileError) or not isinstance(e, Exception):
                raise
            raise CompileError(
                f"gg.compile: the step could not be captured as a CUDA graph ({e}); compile "
                f"it with cuda_graph=False"
            ) from e
        capture.finish()  # what the graph reads and no copy inside it could write
        self.graph = graph
        return output
