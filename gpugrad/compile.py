"""``gg.compile(step)``: a training step recorded once, then replayed as a static plan.

The first call for a given signature (see :func:`_signature`; grad mode too) runs ``step``
eagerly (a warm-up: optimizer state and lazy buffers come to exist); the next one runs it
eagerly too while a :class:`Recorder` watches: every op's forward, the backward (which the
recorder runs itself, as the replays will), the calls a replay makes again (an optimizer's
``zero_grad``/``step``, a scheduler's ``step``, gradient clipping) and ``.grad = None``
resets.  Later calls replay that plan (``gpugrad/plan.py``): the recorded forwards on the
new arguments' arrays, the backward as the engine ran it, the calls; no Tensor, tape or
heap is built.  The numbers are the eager step's, bit for bit.

What a replay could not repeat is refused while recording, with a :class:`CompileError`
naming it (docs/compile.md has the list): host reads, in-place writes, custom
``autograd.Function``s, ``gg.grad``/``create_graph``, ops holding arrays computed outside
the graph, tensors computed outside the recorded ops.  A replayed op whose result changes
shape (a shape that depends on the data) raises too.  Python code inside ``step`` runs only
while it is recorded: other side effects (appending to a list, ``model.eval()``) are not
repeated.  A parameter frozen, resized or retyped since the recording makes the next call
record again.
"""

from __future__ import annotations

import contextlib

import numpy

from . import backend
from .autograd import grad_mode, recording
from .autograd.engine import RELEASED_MESSAGE, Function
from .autograd.recording import CompileError
from .cuda_graph import GraphStep
from .plan import Backward, Call, Forward, GradSlot, Live, Plan, ResetGrad, tensor_of
from .plan_fusion import fuse_linear_activations
from .tensor import Tensor

__all__ = ["CompileError", "CompiledStep", "compile"]


def compile(step=None, *, warmup: int = 1, cuda_graph: bool = False):
    """Compile a training step: ``step(*args)`` (tensors and hashable values) returns
    tensors (the loss), ``None``, or a tuple/list of them.

        step = gg.compile(train_step)   # or @gg.compile
        for x, y in loader:
            loss = step(x, y)           # replayed from the third call on

    ``warmup`` eager calls per signature come before the recorded one.  Returned tensors
    are plain values outside any graph; a replay returns new ones.  ``cuda_graph=True``
    captures the plan of a step on a GPU as one CUDA graph (``gpugrad/cuda_graph.py``; not
    yet run on a GPU, hence opt-in); it changes nothing on the CPU.
    """
    if step is None:
        return lambda fn: CompiledStep(fn, warmup, cuda_graph)
    return CompiledStep(step, warmup, cuda_graph)


def _signature(args: tuple) -> tuple:
    """What a plan depends on in the arguments: each tensor's shape, dtype, strides, device,
    requires_grad and which earlier argument it is (``step(x, x)`` is not ``step(x, y)``);
    each other argument's value.  Tensors inside containers are refused: they would make
    every call a new signature."""
    key, seen = [], {}
    for k, a in enumerate(args):
        if isinstance(a, Tensor):
            array = a.array
            same = seen.setdefault(id(array), k)
            key.append(
                (array.shape, array.dtype.str, array.strides, str(a.device), a.requires_grad, same)
            )
            continue
        if isinstance(a, (tuple, list, dict)) and any(
            isinstance(v, Tensor) for v in (a.values() if isinstance(a, dict) else a)
        ):
            raise TypeError(
                f"gg.compile: argument {k} is a {type(a).__name__} holding tensors; pass the "
                f"tensors as arguments of their own"
            )
        try:
            hash(a)
        except TypeError:
            raise TypeError(
                f"gg.compile: a step takes tensors and hashable values, got a {type(a).__name__}"
            ) from None
        key.append((type(a), a))
    return tuple(key)


class CompiledStep:
    """A step function with its plans, one per signature (see :func:`compile`)."""

    def __init__(self, step, warmup: int = 1, cuda_graph: bool = False):
        if not callable(step):
            raise TypeError(f"gg.compile needs a function, got a {type(step).__name__}")
        if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
            raise ValueError(f"gg.compile: warmup must be an int >= 0, got {warmup!r}")
        self.step, self.warmup, self.cuda_graph = step, warmup, bool(cuda_graph)
        self.plans: dict = {}
        self._eager_calls: dict = {}

    def __call__(self, *args):
        if recording.active is not None:
            raise CompileError(
                "gg.compile: a compiled step cannot run inside another step being recorded "
                "(its replay would be invisible to the recording); compile the outer step only"
            )
        key = (grad_mode.grad_enabled, *_signature(args))
        plan = self.plans.get(key)
        tensors = [a for a in args if isinstance(a, Tensor)]
        if plan is not None:
            if plan.still_holds():
                return plan.replay(tensors)
            del self.plans[key]  # a parameter was frozen or resized: record again
            self._eager_calls[key] = self.warmup
        done = self._eager_calls.get(key, 0)
        self._eager_calls[key] = done + 1
        if done < self.warmup:
            return self.step(*args)
        recorder = Recorder(tensors)
        with recorder.watching():
            result = self.step(*args)
        plan = recorder.plan(result)
        if self.cuda_graph:
            plan = _on_a_graph(plan, tensors)
        self.plans[key] = plan
        return result


def _on_a_graph(plan, tensors: list):
    """``plan`` as a CUDA graph (:class:`GraphStep`) where the step works on a GPU: one of
    its tensor arguments or of the tensors it reads (parameters) is on CUDA.  A step on the
    CPU keeps its plan.  A tensor argument on the CPU beside CUDA work is refused: the
    copy to the device inside the step could not be captured."""
    devices = [t.device for t in [*tensors, *(ref.tensor for ref in plan.live)]]
    cuda = [d for d in devices if d.kind == "cuda"]
    if not cuda:
        return plan
    on_host = [k for k, t in enumerate(tensors) if t.device.kind != "cuda"]
    if on_host:
        raise CompileError(
            f"gg.compile(cuda_graph=True): argument {on_host[0]} is on the CPU while the step "
            f"works on {cuda[0]} (a copy to the device cannot be captured in a CUDA graph); "
            f"move the batch to the GPU before calling the step"
        )
    return GraphStep(plan, cuda[0], tensors)


def _holds_array(value) -> bool:
    if isinstance(value, (tuple, list)):
        return any(_holds_array(v) for v in value)
    return isinstance(value, numpy.ndarray) or backend.is_cuda_array(value)


class Recorder:
    """Watches one eager run of a step and builds its :class:`~gpugrad.plan.Plan`."""

    def __init__(self, inputs: list):
        self.events: list = []
        self.arrays: list = []  # slot -> array (kept alive: ids stay unique)
        self.slot_of: dict = {}  # id(array) -> slot
        self.born: dict = {}  # id -> tensor made during the step (kept alive)
        self.constants: set = set()  # ids of the born tensors made from Python numbers
        self.nodes: dict = {}  # id(node) -> (node, its Forward event)
        self.live: dict = {}  # id(tensor) -> Live
        self.seeds: dict = {}  # id(array) -> the tensor given as backward(gradient=...)
        self.sharing: dict = {}  # id(t) -> the tensor t was detached from (shares())
        self.released: set = set()  # nodes whose backward ran without retain_graph
        self.running_backward = False
        self.inputs = {id(t): k for k, t in enumerate(inputs)}
        self.call_inputs = list(inputs)  # the current call's tensors, for the replays
        self.input_slots = tuple(self._new_slot(t.array) for t in inputs)

    def _new_slot(self, array) -> int:
        self.slot_of[id(array)] = len(self.arrays)
        self.arrays.append(array)
        return len(self.arrays) - 1

    # -- the hooks (gpugrad.autograd.recording) -----------------------------------------
    def refuse(self, what: str):
        raise CompileError(f"gg.compile: cannot record {what} inside a compiled step")

    def constant(self, t) -> None:
        self.constants.add(id(t))

    def ref(self, t, what: str) -> int:
        """The slot a replay finds the tensor ``t`` in (a new one for a Live tensor or a
        constant)."""
        slot = self.slot_of.get(id(t.array))
        if slot is not None:
            if slot in self.input_slots and id(t) not in self.inputs and id(t) not in self.born:
                self.refuse(
                    f"{what}: a tensor from outside the step that is also one of its arguments "
                    f"(it would be read as the next call's argument)"
                )
            return slot
        if id(t) not in self.born:
            live = self.live.get(id(t))
            if live is None:
                live = self.live[id(t)] = Live(t, len(self.arrays))
                self.slot_of[id(t.array)] = live.slot  # detach()/.data share it: same slot
                self.arrays.append(t.array)
            return live.slot
        if id(t) in self.constants:
            return self._new_slot(t.array)
        if id(t) in self.sharing:  # a detach() or .data of a tensor: where that one is
            return self.ref(self.sharing[id(t)], what)
        self.refuse(
            f"{what}: a {t.dtype} tensor of shape {t.shape} computed outside the recorded "
            f"operations (a copy of data, or library code working on raw arrays); "
            f"make it outside the step and pass it in"
        )

    def requires_grad_changed(self, t) -> None:
        """``t.requires_grad_()`` changed it: fine for a tensor made in the step (a backward
        into it is refused), not for one a replay would not change again (an argument)."""
        if id(t) not in self.born:
            self.refuse("requires_grad_() on a tensor from outside the step")

    def seed(self, array, tensor) -> None:
        """``tensor`` was given as ``backward(gradient=...)``; its array is ``array``."""
        self.seeds[id(array)] = tensor

    def forward(self, node, inputs, out, constructed: tuple) -> None:
        for name in constructed:
            if _holds_array(node.__dict__[name]):
                self.refuse(
                    f"{node.label()}: it holds an array ({name}) given when it was made, which "
                    f"a replay would not compute again"
                )
        refs = tuple(self.ref(t, f"input {i} of {node.label()}") for i, t in enumerate(inputs))
        event = Forward(node, refs, self._new_slot(out.array), out.shape)
        self.events.append(event)
        self.nodes[id(node)] = (node, event)

    def call(self, method, *args, host_only: bool = False):
        """Record and run a call a replay makes again (``plan.Call``; not watched inside)."""
        event = Call(method, args, host_only)
        self.events.append(event)
        recording.stop()
        try:
            result = method(*args)
        finally:
            recording.start(self)
        if isinstance(result, Tensor):  # returned or used later in the step: a slot
            event.out = self._new_slot(result.array)
        return result

    def shares(self, t, source) -> None:
        """``t`` (``source.detach()``, ``source.data``) shares ``source``'s array."""
        self.sharing[id(t)] = source

    def backward(self, roots, seeds, retain_graph, create_graph, inputs):
        if create_graph or inputs is not None:
            self.refuse("gg.grad, backward(inputs=...) or create_graph=True")
        if len(roots) != 1:
            self.refuse("a backward from several outputs at once")
        event, nodes = self._backward_program(roots[0], seeds[0])
        self.events.append(event)
        self.running_backward = True
        try:
            event.compiled()[0](self.arrays)
        finally:
            self.running_backward = False
        if not retain_graph:  # as the engine frees them: a second backward raises
            self.released.update(id(n) for n in nodes)
        # each leaf's .grad array as it is now, in a slot: returned or used later in the step
        for ref in event.leaf_refs():
            leaf = tensor_of(ref, self.call_inputs)
            if leaf.grad is not None:
                slot = self._new_slot(leaf.grad.array)
                self.events.append(GradSlot(ref, slot, self.call_inputs))

    def _backward_program(self, root, seed):
        node = root.creator
        if node is None or id(node) not in self.nodes:
            self.refuse("a backward from a tensor not computed inside the step")
        order, stack = {}, [node]
        while stack:  # every node reachable from the root
            n = stack.pop()
            if id(n) in order:
                continue
            if id(n) in self.released:
                raise RuntimeError(RELEASED_MESSAGE)
            if id(n) not in self.nodes:
                self.refuse(f"a backward reaching {n.label()}, computed before the step")
            if n.retained is not None:
                self.refuse("retain_grad()")
            order[id(n)] = n
            stack.extend(e for e in n.next_edges if isinstance(e, Function))
        ranked = sorted(order.values(), key=lambda n: -n.seq)  # the engine's heap order
        index = {id(n): k for k, n in enumerate(ranked)}
        steps = []
        for n in ranked:
            forward = self.nodes[id(n)][1]
            saved = [forward.refs[i] for i in n.save_inputs]
            if n.save_output:
                saved.append(forward.out)
            routes = tuple(
                None
                if e is None
                else (True, index[id(e)], t.shape)
                if isinstance(e, Function)
                else (False, self._leaf(e), t.shape)
                for e, t in zip(n.next_edges, n.inputs)
            )
            steps.append((index[id(n)], n.backward, tuple(saved), routes))
        seed_ref = self.slot_of.get(id(seed))
        if seed_ref is None and id(seed) in self.seeds:  # backward(gradient=a tensor)
            seed_ref = self.ref(self.seeds[id(seed)], "the gradient given to backward()")
        if seed_ref is None:  # ones (gradient=None), or numbers given to backward()
            seed_ref = self._new_slot(seed.copy())
        program = Backward(steps, len(ranked), index[id(node)], seed_ref, self.call_inputs)
        return program, ranked

    def _leaf(self, t):
        """Where a replay delivers a leaf's gradient: the live tensor, or the index of the
        step's argument it is (the next call's tensor gets it)."""
        if id(t) in self.inputs:
            return self.inputs[id(t)]
        if id(t) in self.born:
            self.refuse(
                "a backward into a tensor made inside the step that requires grad (a replay "
                "would add into the same tensor every time); make it outside or pass it in"
            )
        return t

    # -- watching and the plan --------------------------------------------------------------
    @contextlib.contextmanager
    def watching(self):
        """Route the hooks here, and note every tensor made and every ``.grad`` written
        (the Tensor class is patched for the duration: the eager path pays nothing)."""
        wrap, init, grad = Tensor.__dict__["wrap"], Tensor.__init__, Tensor.__dict__["grad"]
        recorder = self

        def noted_wrap(cls, data):
            t = wrap.__func__(cls, data)
            recorder.born[id(t)] = t
            return t

        def noted_init(t, *args, **kwargs):
            recorder.born[id(t)] = t  # first: __init__ may call requires_grad_()
            init(t, *args, **kwargs)

        def set_grad(t, value):
            try:
                grad.__get__(t)
            except AttributeError:  # a tensor being made: not a reset
                return grad.__set__(t, value)
            if recording.active is recorder and not recorder.running_backward:
                if value is not None:
                    recorder.refuse("an assignment of a tensor to .grad")
                target = recorder.inputs.get(id(t), t)  # an argument: the next call's one
                recorder.events.append(ResetGrad(target, recorder.call_inputs))
            grad.__set__(t, value)

        Tensor.wrap = classmethod(noted_wrap)
        Tensor.__init__ = noted_init
        Tensor.grad = property(grad.__get__, set_grad)
        recording.start(self)
        try:
            yield
        finally:
            recording.stop()
            Tensor.wrap, Tensor.__init__, Tensor.grad = wrap, init, grad

    def plan(self, result) -> Plan:
        """The plan, once the recorded run has returned ``result``."""
        for node, _ in self.nodes.values():
            # the eager run's tape: a replay needs only the node's own attributes
            node.inputs = node.next_edges = node._out_data = node._out_ref = None
        returned: list = []  # the slots of the returned tensors
        output = self._output(result, returned)
        fuse_linear_activations(self.events, returned)
        plan = Plan(
            self.events, self.arrays, self.input_slots, list(self.live.values()), output,
            self.call_inputs,
        )  # fmt: skip
        self.__dict__.clear()  # the recorded run's tensors are not kept
        return plan

    def _output(self, result, returned: list):
        if result is None:
            return lambda arrays: None
        if isinstance(result, Tensor):
            slot = self.ref(result, "the returned tensor")
            returned.append(slot)
            return lambda arrays: Tensor.wrap(arrays[slot])
        if isinstance(result, (tuple, list)):
            parts = [self._output(r, returned) for r in result]
            kind = type(result)
            return lambda arrays: kind(p(arrays) for p in parts)
        raise CompileError(
            f"gg.compile: a step returns tensors, None, or a tuple/list of them, not a "
            f"{type(result).__name__}"
        )
