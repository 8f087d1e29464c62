"""The records of ``explain``: one per input value and per node of a graph, with its forward
value, upstream gradient, local gradient(s) and downstream gradient(s), computed by walking the
graph and running every node's own backward."""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy

from .. import autograd, backend


@dataclass
class Record:
    """One node of the graph (an op) or one input value (op == "input")."""

    index: int
    name: str  # the label of the value this record produces
    op: str  # "input", "+", "*", "exp", "sigmoid", "+ 1", ...
    gate: str | None  # the notes' gate, if the node is one
    inputs: list = field(default_factory=list)  # labels of the input values
    value: object = None  # forward value (float, or a summary string)
    upstream: object = None  # d output / d this value
    local: list = field(default_factory=list)  # per input: d value / d input
    downstream: list = field(default_factory=list)  # per input: upstream × local

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def _summary(a):
    """A float for one-element arrays; 'shape (..) mean m [lo, hi]' otherwise."""
    if a is None:
        return None
    a = a.get() if backend.is_cuda_array(a) else numpy.asarray(a)
    if a.size == 1:
        return float(a.reshape(()))
    if a.size == 0:
        return f"shape {a.shape} (empty)"
    return f"shape {a.shape} mean {a.mean():.4g} in [{a.min():.4g}, {a.max():.4g}]"


def _collect(output):
    """The nodes reachable from ``output`` and, for each, the Tensor it produced."""
    if output.creator is None:
        raise ValueError("explain needs the result of a computation on tensors that require grad")
    nodes, produced = {}, {id(output.creator): output}
    stack = [output.creator]
    while stack:
        node = stack.pop()
        if id(node) in nodes:
            continue
        if node.inputs is None:
            raise ValueError(
                "this graph was freed by a backward(); call explain before "
                "backward, or backward with retain_graph=True"
            )
        nodes[id(node)] = node
        # the edges recorded with the node, not the inputs' current history (an in-place
        # op since may have given an input a new one)
        for t, e in zip(node.inputs, node.next_edges):
            if isinstance(e, autograd.engine.Function):
                produced.setdefault(id(e), t)
                stack.append(e)
    return nodes, produced


def _label_values(order, produced):
    """Labels by Tensor id (named leaves keep their names; other values are numbered in
    forward order), how often each value is used, and the leaves in order of first use."""
    labels, uses, leaves = {}, {}, []
    for node in order:
        for t, e in zip(node.inputs, node.next_edges):
            uses[id(t)] = uses.get(id(t), 0) + 1
            if not isinstance(e, autograd.engine.Function) and id(t) not in labels:
                labels[id(t)] = t.name or f"in{len(leaves)}"
                leaves.append(t)
    for k, node in enumerate(order):
        t = produced[id(node)]
        labels[id(t)] = t.name or f"v{k}"
    return labels, uses, leaves


def _input_gradients(node, ns, gy, saved) -> list:
    """``node``'s backward for upstream ``gy``: one gradient per input, broadcasting undone."""
    gxs = node.backward(ns, gy, *saved)
    gxs = gxs if type(gxs) is tuple else (gxs,)
    return [
        None if g is None else autograd.sum_to_array(g, t.shape) for g, t in zip(gxs, node.inputs)
    ]


def explain(output) -> list:
    """Records for every input and node of the graph behind ``output``, in forward order.

    Example: for ``(x + y) * z`` with x=-2, y=5, z=-4 the records are x, y, z, then the "+"
    node (value 3, upstream -4, local [1, 1], downstream [-4, -4]) and the "*" node."""
    nodes, produced = _collect(output)
    xp = backend.get_array_module(output.array)
    ns = autograd.raw_namespace(xp)
    order = sorted(nodes.values(), key=lambda n: n.seq)
    labels, uses, leaves = _label_values(order, produced)

    # Gradients: every node's backward, newest first, so that a value's fan-out is summed
    # before the node that produced it runs (the heap backward's order).  Own dict, not .grad.
    grads = {id(output): xp.ones_like(output.array)}
    records = {}
    heap = [(-node.seq, id(node), node) for node in order]
    heapq.heapify(heap)
    while heap:
        _, _, node = heapq.heappop(heap)
        out = produced[id(node)]
        gy = grads.get(id(out), xp.zeros_like(out.array))
        saved = node.saved_values(False)
        downstream = _input_gradients(node, ns, gy, saved)
        # The backward of an upstream of ones is the local gradient (no Jacobian is built).
        local = _input_gradients(node, ns, xp.ones_like(gy), saved)
        for t, g, need in zip(node.inputs, downstream, node.needs_grad):
            if need and g is not None:
                grads[id(t)] = grads[id(t)] + g if id(t) in grads else g
        records[id(node)] = Record(
            index=0,
            name=labels[id(out)],
            op=node.label(),
            gate=node.gate,
            inputs=[labels.get(id(t), _summary(t.array)) for t in node.inputs],
            value=_summary(out.array),
            upstream=_summary(gy),
            local=[_summary(g) for g in local],
            downstream=[_summary(g) for g in downstream],
        )

    result = [
        Record(
            index=0,
            name=labels[id(t)],
            op="input",
            gate=None,
            value=_summary(t.array),
            upstream=_summary(grads.get(id(t))),
        )
        for t in leaves
    ]
    result += [records[id(node)] for node in order]
    by_name = {r.name: r for r in result}
    for t_id, count in uses.items():
        if count > 1 and t_id in labels:
            r = by_name[labels[t_id]]
            r.gate = (r.gate + "; " if r.gate else "") + f"copy gate: adds ({count} uses)"
    for i, r in enumerate(result):
        r.index = i
    return result
