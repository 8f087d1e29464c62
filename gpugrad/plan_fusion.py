"""Fusion of a recorded plan (``gg.compile``): ``act(linear(x, W, b))`` written in a user's
module (``F.relu(self.fc(x))``) replays as ``nn.Sequential`` runs Linear + activation —
one GEMM, then one bias+activation kernel forward and one backward kernel that also sums
the bias gradient (``ops/activation.py`` ``BiasActivation``) — instead of a GEMM, a bias
add and an activation forward, an activation backward and a bias sum.

Eager code cannot see this cheaply: when the activation is called the bias is already
added, and whether the linear's output has other readers is unknown.  A recorded plan
knows every reader of every slot, so the rewrite is exact:

* the linear's output slot is read by the activation's forward and by nothing else (not
  returned, not saved for a backward, not a seed), and only forwards run between the two
  (no optimizer step can change ``b`` in between);
* the output is 2-D, so that the fused backward's bias gradient (``sum_to`` over axis 0)
  is the linear's (``sum`` over axis 0) bit for bit on the CPU;
* the bias is read by this linear only, so the order in which gradients are added into
  ``b.grad`` does not change.

The numbers stay the eager step's: on the CPU the fused node computes the same
operations in the same order (x @ W.T, + b, act; the same activation gradient, the same
sums); on a GPU the fused kernels round as the unfused ones up to the bias sum's order.
"""

from __future__ import annotations

from collections import Counter

from .ops.activation import Activation, BiasActivation
from .ops.linear import LinearFunction
from .plan import Backward, Forward

__all__ = ["fuse_linear_activations"]


def fuse_linear_activations(events: list, kept_slots) -> int:
    """Rewrite, in ``events``, every linear-with-bias whose output only an activation reads
    (see the module's docstring) as a linear without bias and a fused bias+activation,
    forward and backward.  ``kept_slots``: slots read outside the events (the step's
    return value).  Returns the number of pairs fused."""
    reads = _slot_reads(events, kept_slots)
    producer = {e.out: k for k, e in enumerate(events) if isinstance(e, Forward)}
    fused = 0
    for j, act in enumerate(events):
        if not (isinstance(act, Forward) and type(act.node) is Activation):
            continue
        i = producer.get(act.refs[0])
        if i is None or not _fusable(events, i, j, reads):
            continue
        linear = events[i]
        x, W, b = linear.refs
        plain, bias_act = LinearFunction(), BiasActivation(act.node.spec, act.node.p)
        needs_x, needs_W, needs_b = linear.node.needs_grad
        plain.needs_grad, bias_act.needs_grad = (needs_x, needs_W), (True, needs_b)
        events[i] = Forward(plain, (x, W), linear.out, linear.shape)
        events[j] = Forward(bias_act, (linear.out, b), act.out, act.shape)
        for event in events:
            if isinstance(event, Backward):
                _fuse_backward(event, linear.node, act.node, plain, bias_act)
        fused += 1
    return fused


def _slot_reads(events: list, kept_slots) -> Counter:
    """How many times each slot is read: by forwards, as a saved value or a seed of a
    backward, or outside the events."""
    reads = Counter(kept_slots)
    for event in events:
        if isinstance(event, Forward):
            reads.update(event.refs)
        elif isinstance(event, Backward):
            reads[event.seed] += 1
            for _, _, saved, _ in event.steps:
                reads.update(saved)
    return reads


def _fusable(events: list, i: int, j: int, reads: Counter) -> bool:
    linear, act = events[i], events[j]
    return (
        type(linear.node) is LinearFunction
        and len(linear.refs) == 3  # a bias to fuse
        and len(linear.shape) == 2
        and reads[linear.out] == 1  # the activation's read
        and reads[linear.refs[2]] == 1  # the bias is this linear's alone
        and all(isinstance(e, Forward) for e in events[i + 1 : j])
        and act.shape == linear.shape
    )


def _fuse_backward(program: Backward, linear, act, plain, bias_act) -> None:
    """In one backward program: the activation's step becomes the fused node's (its
    gradient to the linear's node, the bias's to the bias), the linear's loses its bias."""
    steps = program.steps
    at = {getattr(backward, "__self__", None): k for k, (_, backward, _, _) in enumerate(steps)}
    if act not in at or linear not in at:
        return
    a, lin = at[act], at[linear]
    index, _, saved, (to_linear,) = steps[a]
    l_index, _, l_saved, (to_x, to_W, to_b) = steps[lin]
    program.replace_step(a, (index, bias_act.backward, saved, (to_linear, to_b)))
    program.replace_step(lin, (l_index, plain.backward, l_saved, (to_x, to_W)))
