"""Ops without a gradient (comparisons, ``isnan``, ``//``, ``argmax`` ...) that
``gg.compile`` replays.

Such an op computes its result straight from its inputs' arrays and wraps it
(``Tensor.wrap``), outside the graph: no Function call, no tape, which keeps the eager
path as cheap as the array call itself.  While a step is recorded, it also hands the
recorder a :class:`NonDifferentiable` node (``recording.forward``): the plan gets an
ordinary ``Forward`` event, and every replay computes the op again from the new inputs,
with the same function on the same arguments, so its result is the eager one bit for bit.

The pattern (the eager cost it adds is one ``recording.active`` test)::

    fn = xp.greater
    out = Tensor.wrap(fn(a.array, 0))
    if recording.active is not None:
        note("gt", fn, (a,), out, 0)

or :func:`apply`, which does all three.  ``fn(*arrays, *constants)`` must compute the
result from the inputs' arrays alone: the constants are Python values (an array among
them is refused by the recorder, as it would not be computed again).
"""

from __future__ import annotations

import numpy

from ..autograd import recording
from ..autograd.engine import Function
from ..tensor import Tensor


class NonDifferentiable(Function):
    """``fn(*arrays, *constants)``: a recorded op with no gradient (``label``: its name)."""

    def __init__(self, op: str, fn, constants: tuple = ()):
        self.op, self.fn, self.constants = op, fn, constants

    @property
    def name(self) -> str:  # as errors and a plan's source name it: "gt", "randn"
        return self.op

    def label(self) -> str:
        return self.op

    def forward(self, *arrays):
        y = self.fn(*arrays, *self.constants)
        # NumPy gives 0-d results as scalars; the eager path's Tensor.wrap makes them arrays
        return numpy.asarray(y) if isinstance(y, numpy.generic) else y


def note(op: str, fn, inputs: tuple, out: Tensor, *constants) -> Tensor:
    """Tell the step being recorded that ``out`` is ``fn(*arrays of inputs, *constants)``;
    returns ``out``.  Call it only when ``recording.active is not None``."""
    recording.forward(NonDifferentiable(op, fn, constants), inputs, out)
    return out


def apply(op: str, fn, inputs: tuple, *constants) -> Tensor:
    """``fn(*arrays of inputs, *constants)`` as a Tensor outside the graph, replayed by a
    compiled step that records it."""
    if len(inputs) == 1:  # spelled out: a comprehension costs more than a small op
        out = Tensor.wrap(fn(inputs[0].array, *constants))
    else:
        out = Tensor.wrap(fn(*[t.array for t in inputs], *constants))
    if recording.active is not None:
        recording.forward(NonDifferentiable(op, fn, constants), inputs, out)
    return out
