"""The engine: Function nodes, sequence numbers, and the backward pass.

How to write an op (the contract every file in ``gpugrad/ops`` follows)
-----------------------------------------------------------------------
Subclass :class:`Function` and write ``forward`` and ``backward`` side by side::

    class Mul(Function):
        save_inputs = (0, 1)              # indices of inputs backward needs
        def forward(self, a, b):          # raw backend arrays in, one array out
            return a * b
        def backward(self, ns, gy, a, b): # upstream gradient, then the saved values
            return gy * b, gy * a         # one downstream gradient per input (or None)

* ``forward`` receives the raw arrays (numpy or cupy) of the input Tensors and returns
  one array.  Non-differentiable context (masks, shapes, parameters) is stored on
  ``self`` as raw arrays or Python values.  ``self.needs_grad`` (a tuple of bools, one per
  input) is already set when forward runs, so it can skip saving what nobody needs.
* ``save_inputs`` names the inputs backward needs; ``save_output = True`` saves the output
  (sigmoid, tanh, relu keep their *output*).  They are passed to ``backward`` after ``gy``,
  inputs first, in order, then the output.
* ``backward`` is written ONCE and runs at two speeds.  In an ordinary backward, ``gy`` and
  the saved values are raw arrays and ``ns`` is a ``raw_namespace.RawNamespace`` over numpy/cupy: no
  Tensor is built.  With ``create_graph=True`` they are Tensors, ``ns`` is the gpugrad
  namespace (``gpugrad.ops.namespace``) and grad mode is on, so the backward is recorded.
  Use operators and ``ns.<fn>`` only: ``exp log sqrt tanh abs sign where maximum minimum
  sum sum_to broadcast_to reshape transpose swapaxes expand_dims matmul getitem zeros_like
  apply``.  Raw arrays stored on ``self`` may be mixed in as constants.
  ``ns.apply(SomeFunction(...), *args)`` runs another Function: its forward on arrays in the
  fast mode, recorded on Tensors in the graph mode (how a fused kernel's backward stays
  differentiable).
* Return a gradient of any broadcast-compatible shape: the engine sums it back to the
  input's shape (``sum_to``), the one place broadcasting is undone.

Call an op as ``Mul()(a, b)`` with Tensors.  Every Function recorded while grad mode is
on takes the next value of a global sequence counter and the EDGES to its inputs'
gradient functions as they are at that moment (``next_edges``: the node that made each
input, the input itself for a leaf that requires grad, or None), as PyTorch's
``next_functions``; an in-place op that later gives an input a new history does not
change them.  ``backward`` runs the reachable nodes in decreasing sequence order from a
heap, iteratively, along those edges.
"""

from __future__ import annotations

import heapq
import itertools
import weakref

from .. import backend
from . import grad_mode, recording
from .accumulate import accumulate_leaf, seed_owners, unshared
from .raw_namespace import raw_namespace

# The engine sits below the Tensor class and the ops in the layering; both are handed to
# it once, by gpugrad/__init__.py, through setup().
_Tensor = None  # the Tensor class: outputs of Functions are made with Tensor.wrap
_graph_namespace = None  # gpugrad.ops.namespace: backward formulas under create_graph
_refresh_view = None  # gpugrad.ops.view.refresh: a view's history after its base changed
_counter = itertools.count()


def tensor_type():
    """The Tensor class handed to :func:`setup` (gradcheck builds its float64 copies with it)."""
    return _Tensor


def increment_version(t) -> None:
    """Record that ``t``'s data was changed in place (PyTorch's
    ``torch.autograd.graph.increment_version``): a backward that saved the old value
    raises instead of using the new one.  Every in-place write outside the ops calls it."""
    recording.refuse("an in-place write to a tensor")
    t._version[0] += 1


def setup(tensor_class, graph_namespace, refresh_view) -> None:
    """Give the engine the Tensor class, the namespace of recorded backward formulas and the
    function that records a stale view's history again."""
    global _Tensor, _graph_namespace, _refresh_view
    _Tensor, _graph_namespace, _refresh_view = tensor_class, graph_namespace, refresh_view


def _fresh(t) -> bool:
    """``t.requires_grad`` once a stale view (its base written since) got its history."""
    if t._view.version != t._version[0]:
        _refresh_view(t)
    return t.requires_grad


def edge(t):
    """Where a gradient for ``t`` goes: the node that made it, the leaf itself when it is a
    leaf that requires grad, or None.  A view whose base was written since its history was
    recorded gets its history again first."""
    if t._view is not None:
        _fresh(t)
    c = t.creator
    if c is not None:
        return c
    return t if t.requires_grad else None


RELEASED_MESSAGE = (
    "Trying to backward through the graph a second time (or to use saved values after "
    "they were freed): saved intermediate values are freed by .backward() and gg.grad(). "
    "Pass retain_graph=True to the first backward if you need to backward through the "
    "graph again."
)


class Function:
    """A node of the graph: one differentiable operation with one output."""

    __slots__ = (
        "__dict__",
        "__weakref__",
        "_out_data",
        "_out_ref",
        "_out_version",
        "_versions",
        "inputs",
        "needs_grad",
        "next_edges",
        "seq",
    )
    save_inputs: tuple = ()
    save_output: bool = False
    # How ``explain`` shows the node: its symbol ("+", "exp"; None: the class name in lower
    # case) and the notes' gate it is, if any ("add gate: distributes").
    symbol: str | None = None
    gate: str | None = None
    # A weak reference to the output whose .grad the backward keeps (Tensor.retain_grad).
    retained = None

    @property
    def name(self) -> str:
        return type(self).__name__

    def label(self) -> str:
        """The op as ``explain`` prints it; parameterized ops add their constant."""
        return self.symbol or self.name.lower()

    def forward(self, *xs):
        raise NotImplementedError

    def backward(self, ns, gy, *saved):
        raise NotImplementedError(f"{self.name} is not differentiable")

    def __call__(self, *inputs):
        """Run forward on Tensors; record the node if any input requires grad."""
        # One and two inputs are spelled out: comprehensions cost more than the op's maths
        # on small tensors.  (A view whose base was written since gets its history first.)
        record = grad_mode.grad_enabled
        one = len(inputs) == 1
        if record:
            if one:  # constant tuples: nothing allocated
                a = inputs[0]
                needs = (True,) if (a.requires_grad if a._view is None else _fresh(a)) else (False,)
            else:
                needs = tuple([t.requires_grad if t._view is None else _fresh(t) for t in inputs])
            record = True in needs
            self.needs_grad = needs
        else:
            self.needs_grad = (False,) * len(inputs)
        recorder = recording.active
        if recorder is not None:
            constructed = tuple(self.__dict__)  # what forward adds is recomputed by a replay
        y = self.forward(inputs[0].array) if one else self.forward(*[t.array for t in inputs])
        out = _Tensor.wrap(y)
        if recorder is not None:
            recorder.forward(self, inputs, out, constructed)
        if grad_mode.anomaly_enabled:
            _check_finite(out.array, f"the forward of {self.name}")
        if record:  # record(inputs, out), inlined: this is the hot path of every op
            self.seq = next(_counter)
            self.inputs = inputs
            if one:
                self.next_edges = (a.creator or (a if a.requires_grad else None),)
            else:
                self.next_edges = tuple(
                    [t.creator or (t if t.requires_grad else None) for t in inputs]
                )
            if self.save_inputs:
                self._versions = tuple([inputs[i]._version[0] for i in self.save_inputs])
            if self.save_output:
                self._out_data, self._out_version, self._out_ref = y, out._version, weakref.ref(out)
            out.requires_grad, out.creator = True, self
        return out

    def record(self, inputs, out) -> None:
        """Put this node on the tape as the creator of ``out`` (``needs_grad`` set): the
        edges to its inputs' gradient functions are taken now, so an in-place op that later
        gives an input a new history does not change where this node's gradients go."""
        # The in-place ops and PyTorch-style custom Functions record this way; a compiled
        # step replays forwards only
        recording.refuse(f"{self.label()} (an in-place operation or a custom Function)")
        self.seq = next(_counter)
        self.inputs = inputs
        self.next_edges = tuple([t.creator or (t if t.requires_grad else None) for t in inputs])
        if self.save_inputs:
            self._versions = tuple([inputs[i]._version[0] for i in self.save_inputs])
        if self.save_output:
            self._out_data = out.array
            self._out_version = out._version
            self._out_ref = weakref.ref(out)
        out.requires_grad = True
        out.creator = self

    # -- used by the engine ------------------------------------------------------
    def saved_values(self, graph: bool) -> list:
        """The values backward needs: arrays (fast mode) or Tensors (graph mode)."""
        inputs = self.inputs
        values = []
        for i, recorded in zip(self.save_inputs, self._versions) if self.save_inputs else ():
            t = inputs[i]
            if t._version[0] != recorded:
                raise RuntimeError(
                    f"one of the values needed by the backward of {self.name} (input {i}, "
                    f"shape {t.shape}) was modified by an in-place operation: its version is "
                    f"{t._version[0]}, it was {recorded} when saved. Use an out-of-place "
                    f"operation (x = x + y instead of x += y)."
                )
            values.append(t if graph else t.array)
        if self.save_output:
            if self._out_version[0] != 0:
                raise RuntimeError(
                    f"the output of {self.name}, needed by its backward, was modified by an "
                    f"in-place operation (version {self._out_version[0]}). Use an "
                    f"out-of-place operation."
                )
            if graph:
                out = self._out_ref()
                if out is None:
                    raise RuntimeError(
                        f"create_graph needs the output of {self.name}, which no longer exists"
                    )
                values.append(out)
            else:
                values.append(self._out_data)
        return values

    def _release(self):
        """Drop everything backward needed, keeping the node as a marker."""
        self.inputs = None
        self.next_edges = None
        self._out_data = None
        self._out_ref = None
        self.__dict__.clear()


def retain_grad(t) -> None:
    """Keep the gradient of the non-leaf ``t`` in ``t.grad`` in later backward passes."""
    t.creator.retained = weakref.ref(t)


def _keep_grad(t, gy, graph: bool) -> None:
    if t is None:
        return
    g = gy if graph else _Tensor.wrap(gy.copy())
    t.grad = g if t.grad is None else t.grad + g


def _check_finite(a, where: str):
    xp = backend.get_array_module(a)
    if a.dtype.kind == "f" and a.size and not bool(xp.isfinite(a).all()):
        raise FloatingPointError(f"anomaly detected: {where} produced NaN or Inf")


# -- the engine ----------------------------------------------------------------------
def run_backward(
    roots, root_grads, retain_graph=False, create_graph=False, inputs=None, allow_unused=False
):
    """Backpropagate from ``roots`` (Tensors) seeded with ``root_grads``.

    Without ``inputs``: accumulate into ``.grad`` of the leaves that require grad.
    With ``inputs`` (a sequence of Tensors): return their gradients (None if unused and
    ``allow_unused``), leaving ``.grad`` untouched.
    """
    if recording.active is not None:  # gg.compile runs it, as its replays will
        return recording.active.backward(roots, root_grads, retain_graph, create_graph, inputs)
    graph = create_graph
    if graph:
        ns = _graph_namespace
    else:
        ns = raw_namespace(backend.get_array_module(root_grads[0]))
    # Where a requested input's gradient is collected: by its creator, or by the leaf.
    wanted_nodes = {}
    wanted_leaves = {}
    if inputs is not None:
        for k, t in enumerate(inputs):
            e = edge(t)
            if isinstance(e, Function):
                wanted_nodes.setdefault(id(e), []).append(k)
            else:
                wanted_leaves.setdefault(id(t), []).append(k)
        results = [None] * len(inputs)

    # The nodes waiting, by sequence number (unique): their summed gradient, whether that sum
    # is a buffer we allocated (then summed into in place), the node; the heap holds -seq.
    # Plain ints and dict entries: no object per node for the garbage collector to track.
    pending, owned, waiting = {}, set(), {}
    heap = []
    # Buffers already visible to the user (the seeds, leaf gradients): a second leaf
    # gets its own copy, so that x.grad and y.grad never share memory (Add hands the
    # same upstream array to both of its inputs).
    handed = set() if graph else seed_owners(root_grads)
    made = {}  # the leaves whose .grad this backward set (accumulate_leaf)

    def deliver(node, g):
        """Hand ``g`` to an edge: a node (summed with what it already has) or a leaf."""
        if not isinstance(node, Function):
            t = node
            if inputs is not None:
                for k in wanted_leaves.get(id(t), ()):
                    results[k] = g if results[k] is None else results[k] + g
            elif t.requires_grad:
                if graph:  # its own dense memory, in the graph (torch clones it too)
                    t.grad = g.clone() if t.grad is None else t.grad + g
                else:
                    accumulate_leaf(t, g, handed, made)
            return
        seq = node.seq
        if seq not in pending:
            pending[seq], waiting[seq] = g, node
            heapq.heappush(heap, -seq)
        elif graph or seq not in owned:
            pending[seq] = pending[seq] + g  # a fresh buffer we own from now on
            owned.add(seq)
        else:
            pending[seq] += g  # in place: only into a buffer we allocated

    previous_mode = grad_mode.set_grad_enabled_flag(graph)
    heappush, heappop = heapq.heappush, heapq.heappop
    try:
        for t, g in zip(roots, root_grads):
            e = edge(t)
            if e is None:
                raise RuntimeError(
                    "element of the outputs does not require grad and has no "
                    "creator: nothing to differentiate"
                )
            deliver(e, g)
        while heap:
            seq = -heappop(heap)
            gy, node = pending.pop(seq), waiting.pop(seq)
            key = id(node)
            node_inputs = node.inputs
            if node_inputs is None:
                raise RuntimeError(RELEASED_MESSAGE)
            if inputs is not None and key in wanted_nodes:
                for k in wanted_nodes[key]:
                    results[k] = gy
            elif node.retained is not None:
                _keep_grad(node.retained(), gy, graph)
            if node.save_inputs or node.save_output:
                gxs = node.backward(ns, gy, *node.saved_values(graph))
            else:
                gxs = node.backward(ns, gy)
            if type(gxs) is not tuple:
                gxs = (gxs,)
            for e, gx, t in zip(node.next_edges, gxs, node_inputs):
                if e is None or gx is None:
                    continue
                if gx.shape != t.shape:
                    gx = ns.sum_to(gx, t.shape)
                if grad_mode.anomaly_enabled:
                    _check_finite(
                        gx.array if graph else gx,
                        f"the backward of {node.name} (created at sequence {node.seq})",
                    )
                if not isinstance(e, Function):
                    deliver(e, gx)  # a leaf
                    continue
                # The common case inline: a gradient for an inner node.
                seq = e.seq
                if seq not in pending:
                    pending[seq], waiting[seq] = gx, e
                    heappush(heap, -seq)
                elif graph or seq not in owned:
                    pending[seq] = pending[seq] + gx  # a fresh buffer we own from now on
                    owned.add(seq)
                else:
                    pending[seq] += gx  # in place: only into a buffer we allocated
            if not retain_graph:
                node._release()
    finally:
        grad_mode.set_grad_enabled_flag(previous_mode)

    if inputs is None:
        return None
    for k, r in enumerate(results):
        if r is None and not allow_unused:
            raise RuntimeError(
                f"input {k} of gg.grad was not used to compute the outputs; "
                f"pass allow_unused=True to get None for it"
            )
        if r is not None and not graph:
            results[k] = _Tensor.wrap(unshared(r))  # the user's to write into
    return tuple(results)
