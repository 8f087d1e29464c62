"""The static plan of a compiled step (``gg.compile``) and its replay.

A plan is the step as a list of events over numbered array slots, each holding the array
of a tensor argument of the step, of a recorded op's output, of a live tensor or of a
constant.

* ``Forward``: a recorded Function's ``forward`` on the arrays of its inputs, its output
  into its slot.  No Tensor is built and nothing goes on a tape.
* ``Backward``: the backward pass as it ran when recorded: the nodes in decreasing
  sequence order (the engine's heap order), each gradient routed to a node's pending sum
  or into a leaf's ``.grad`` (``autograd.accumulate``), summed in the engine's order, so
  replays give the engine's numbers bit for bit.
* ``Call``: a call made again: an optimizer's ``zero_grad``/``step`` (live objects: a
  changed lr is seen), a scheduler's ``step``, gradient clipping.
* ``ResetGrad``: ``t.grad = None`` written inside the step.
* ``GradSlot``: after a backward, a leaf's ``.grad`` array into a slot (returned, or used by
  later ops).

A leaf that is one of the step's arguments is named by its index: a replay finds the
call's tensor in ``call_inputs``, a list the plan and its events share.

Every input of an op is a slot: a step input, an op's output, a ``Live`` tensor (one that
existed before the step, such as a parameter: its array is read into its slot at each
replay) or a constant (made inside the step from Python numbers by a factory: its slot is
filled once).  The slots persist across replays.

Each event writes itself as Python statements (``emit``; the backward's in
``gpugrad/plan_backward.py``), and a replay runs the functions they make
(``gpugrad/plan_source.py``): ``plan.source`` is their text, the step as it replays.
"""

from __future__ import annotations

from . import plan_backward
from .autograd.recording import CompileError
from .plan_source import functions_of


def tensor_of(ref, call_inputs: list):
    """The tensor ``ref`` names: itself, or (an int) the call's argument of that index."""
    return call_inputs[ref] if type(ref) is int else ref


class Live:
    """A tensor from outside the step (a parameter, a buffer): its array is put in its slot
    at the start of each replay.  What the plan assumed of it (shape, dtype, requires_grad)
    is checked there too: a frozen layer or a resized parameter needs a new recording."""

    __slots__ = ("dtype", "requires_grad", "shape", "slot", "tensor")

    def __init__(self, tensor, slot: int):
        self.tensor, self.slot = tensor, slot
        self.shape, self.dtype, self.requires_grad = (
            tensor.shape,
            tensor.dtype,
            tensor.requires_grad,
        )

    def unchanged(self) -> bool:
        t = self.tensor
        a = t.array
        return (
            a.shape == self.shape
            and a.dtype == self.dtype
            and t.requires_grad == self.requires_grad
        )


class Forward:
    """One recorded op: ``node.forward`` on the arrays of slots ``refs``, its output into
    slot ``out``; a result of another shape than recorded raises (data-dependent)."""

    __slots__ = ("forward", "node", "out", "refs", "shape")

    def __init__(self, node, refs: tuple, out: int, shape: tuple):
        self.node, self.forward, self.refs, self.out, self.shape = (
            node, node.forward, refs, out, shape,
        )  # fmt: skip

    def emit(self, source) -> None:
        args = ", ".join([source.read(r) for r in self.refs])
        y = source.assign(self.out, f"{source.op(self.forward, self.node)}({args})")
        source.line(f"if {y}.shape != {self.shape!r}: {source.name(self, 'op')}.shape_error({y})")

    def shape_error(self, y):
        raise CompileError(
            f"gg.compile: {self.node.label()} gave a result of shape {y.shape} where "
            f"the recorded step had {self.shape}: a shape that depends on the data "
            f"cannot be replayed"
        )


class Call:
    """A call the step made that a replay makes again: an optimizer's ``step()`` or
    ``zero_grad()``, a scheduler's ``step()`` (``host_only``: no device work, so a CUDA
    graph runs it again after each launch), gradient clipping.  A tensor it returned is put
    in slot ``out`` (the step may return or use it)."""

    __slots__ = ("args", "host_only", "method", "out")

    def __init__(self, method, args: tuple, host_only: bool = False):
        self.method, self.args, self.host_only, self.out = method, args, host_only, None

    def run(self, arrays: list) -> None:
        result = self.method(*self.args)
        if self.out is not None:
            arrays[self.out] = result.array

    def emit(self, source) -> None:
        method = source.name(self.method, getattr(self.method, "__name__", "call"))
        call = f"{method}(*{source.name(self.args, 'args')})"
        if self.out is None:
            source.line(call)
        else:
            source.assign(self.out, f"{call}.array")


class ResetGrad:
    """``t.grad = None`` inside the step; ``t`` the tensor or the index of an argument."""

    __slots__ = ("call_inputs", "tensor")

    def __init__(self, tensor, call_inputs: list):
        self.tensor, self.call_inputs = tensor, call_inputs

    def emit(self, source) -> None:
        source.line(f"{source.tensor(self.tensor, self.call_inputs)}.grad = None")


class Backward:
    """The backward pass from one root, as the engine ran it.

    ``steps``: per node, ``(index, backward, saved slots or (), routes)``; a route is None (no
    gradient for that input), ``(True, node index, shape)`` or ``(False, leaf, shape)``.
    ``seed``: the slot of the root's upstream gradient (the ones of ``backward()`` without a
    gradient are a constant: never written, as the engine never writes a seed)."""

    __slots__ = ("call_inputs", "function", "nodes", "root", "seed", "steps")

    def __init__(self, steps: list, nodes: int, root: int, seed: int, call_inputs: list):
        self.steps, self.nodes, self.root, self.seed = steps, nodes, root, seed
        self.call_inputs = call_inputs  # the tensors of the call being replayed
        self.function = None

    def compiled(self):
        """``(function, text)``: this backward as a function of the plan's ``arrays``
        (written once: the recording runs it, and the plan's replays)."""
        if self.function is None:
            self.function = plan_backward.functions_of(self)
        return self.function

    def replace_step(self, k: int, step: tuple) -> None:
        """Step ``k`` becomes ``step`` (``plan_fusion``); the function is written again."""
        self.steps[k] = step
        self.function = None

    def leaf_refs(self) -> list:
        """The leaves this backward delivers gradients to, as the routes name them (a
        tensor, or the index of an argument), each once."""
        refs = {}
        for _, _, _, routes in self.steps:
            for r in routes:
                if r is not None and not r[0]:
                    refs[("argument", r[1]) if type(r[1]) is int else id(r[1])] = r[1]
        return list(refs.values())


class GradSlot:
    """After a backward: a leaf's ``.grad`` array into its slot (the step may return it or
    use it in later ops).  ``leaf``: the tensor, or the index of an argument."""

    __slots__ = ("call_inputs", "leaf", "slot")

    def __init__(self, leaf, slot: int, call_inputs: list):
        self.leaf, self.slot, self.call_inputs = leaf, slot, call_inputs

    def emit(self, source) -> None:
        source.line(f"grad = {source.tensor(self.leaf, self.call_inputs)}.grad")
        source.assign(self.slot, "None if grad is None else grad.array")


class Plan:
    """A recorded step: its events over ``arrays`` (the slots, kept across replays), the
    slots of its tensor inputs, the ``Live`` tensors, and how to build its return value."""

    def __init__(
        self, events: list, arrays: list, input_slots: tuple, live: list, output, call_inputs
    ):
        self.events, self.arrays, self.input_slots = events, arrays, input_slots
        self.live, self.output, self.call_inputs = live, output, call_inputs
        compiled = functions_of(events)
        self.functions = [function for function, _ in compiled]
        self.source = "\n".join([text for _, text in compiled])  # what a replay runs

    def still_holds(self) -> bool:
        """Whether the tensors from outside the step are as recorded (see ``Live``)."""
        return all([ref.unchanged() for ref in self.live])

    def replay(self, tensors: list):
        arrays = self.arrays
        self.call_inputs[:] = tensors
        for slot, t in zip(self.input_slots, tensors):
            arrays[slot] = t.array
        for ref in self.live:
            arrays[ref.slot] = ref.tensor.array
        for run in self.functions:
            run(arrays)
        return self.output(arrays)
