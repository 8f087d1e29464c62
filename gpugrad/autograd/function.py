"""Custom ops PyTorch's way: ``class Exp(gg.autograd.Function)`` with static ``forward(ctx,
...)`` and ``backward(ctx, *grad_outputs)``, called as ``Exp.apply(x)``.

>>> import gpugrad as gg
>>> class Exp(gg.autograd.Function):
...     @staticmethod
...     def forward(ctx, x):
...         y = x.exp()
...         ctx.save_for_backward(y)
...         return y
...     @staticmethod
...     def backward(ctx, grad_output):
...         (y,) = ctx.saved_tensors
...         return grad_output * y
>>> x = gg.tensor([0.0, 0.0], requires_grad=True)
>>> Exp.apply(x).sum().backward()
>>> x.grad
tensor([1., 1.])

``apply`` runs ``forward`` under ``no_grad`` (keyword arguments count as inputs after the
positional ones, as in PyTorch), then records ONE engine node, :class:`CustomFunctionBackward`,
whose ``backward`` calls the user's: with Tensors wrapping the raw gradients in an ordinary
backward (grad mode off), with the recorded gradients and the saved Tensors with their
history under ``create_graph`` (grad mode on), so a backward written with gpugrad ops is
itself differentiable.  Its gradients are checked as PyTorch checks them: one per input
(trailing Nones allowed), None for non-Tensors, a shape that broadcasts to the input's.

Several outputs
---------------
The engine's node has one output and receives one gradient.  A forward that returns a tuple
is recorded as the node plus one small :class:`OutputSelect` node per differentiable output:

    inputs -> CustomFunctionBackward -> carrier (a hidden 0-d Tensor) -> OutputSelect k -> output k

``OutputSelect k`` turns output k's gradient into an :class:`OutputGradients`: a tuple with
it in slot k, None elsewhere.  The engine sums what reaches the carrier with ``+`` like any
gradient, so the node gets all its outputs' gradients at once; recorded after the node, the
selectors run first (decreasing sequence numbers).  Empty slots are zeros (None after
``ctx.set_materialize_grads(False)``); non-differentiable outputs get no selector.  A single
Tensor output needs no carrier: the node is its creator.  No engine change:
``OutputGradients`` only has to look like a gradient to the engine (``+``, the carrier's
``shape``, not a floating array for anomaly mode).

Saved tensors keep their version when forward returned, checked when read; a saved output
is held weakly (as the engine saves an op's output): the graph makes no reference cycle.
"""

from __future__ import annotations

import functools
import inspect
import itertools
import warnings
import weakref

import numpy

from .. import backend
from . import engine, grad_mode
from .accumulate import unshared


class SavedTensor:
    """One argument of ``save_for_backward``: the Tensor (an output weakly, with its array)
    and its version when forward returned."""

    __slots__ = ("array", "counter", "output", "recorded", "ref", "tensor")

    def __init__(self, t, output: int | None):
        self.counter, self.recorded, self.output = t._version, t._version[0], output
        self.tensor = t if output is None else None
        self.ref, self.array = (None, None) if output is None else (weakref.ref(t), t.array)

    def unpack(self, graph: bool, owner: str):
        if self.counter[0] != self.recorded:
            kind = "" if self.output is None else f", which is output {self.output} of {owner},"
            shape = list(self.array.shape if self.tensor is None else self.tensor.shape)
            raise RuntimeError(
                f"one of the variables needed for gradient computation has been modified by "
                f"an inplace operation: [{shape}]{kind} is at version {self.counter[0]}; "
                f"expected version {self.recorded} instead. Use an out-of-place operation."
            )
        if self.tensor is not None:
            return self.tensor
        t = self.ref()
        if t is None:
            if graph:
                raise RuntimeError(
                    f"create_graph needs an output of {owner}, which no longer exists"
                )
            t = engine.tensor_type().wrap(self.array)
        return t


class FunctionCtx:
    """The ``ctx`` of a custom Function: what forward leaves for backward.  Any attribute
    may be set on it; the methods are PyTorch's."""

    def __init__(self, owner: str, needs_input_grad: tuple):
        self.needs_input_grad, self.to_save, self._owner = needs_input_grad, (), owner
        self._saved = None  # the SavedTensors, once forward returned
        self._graph = False  # set by the node before backward runs
        self._non_differentiable, self._materialize = set(), True

    def save_for_backward(self, *tensors) -> None:
        """Keep Tensors (or None) for backward; read them back as ``ctx.saved_tensors``."""
        Tensor = engine.tensor_type()
        for k, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(
                    f"save_for_backward can only save variables, but argument {k} is of "
                    f"type {type(t).__name__}"
                )
        self.to_save = tensors

    @property
    def saved_tensors(self) -> tuple:
        """The Tensors given to ``save_for_backward``, checked for in-place changes since."""
        if self._saved is None:
            raise RuntimeError("saved_tensors is available in backward, after forward returned")
        return tuple(None if s is None else s.unpack(self._graph, self._owner) for s in self._saved)

    def mark_non_differentiable(self, *tensors) -> None:
        """These outputs get no gradient function (their gradient in backward is zeros)."""
        self._non_differentiable.update(id(t) for t in tensors)

    def set_materialize_grads(self, value: bool) -> None:
        """False: backward receives None (not zeros) for outputs that got no gradient."""
        self._materialize = bool(value)

    def mark_dirty(self, *tensors) -> None:
        raise NotImplementedError(
            "mark_dirty: custom Functions that modify their inputs in place are not "
            "supported; return a new Tensor instead"
        )

    def freeze(self, outputs, originals) -> None:
        """Forward returned: take the saved tensors with their versions now (an output by
        its index, held weakly)."""
        index = {id(o): k for k, o in enumerate(originals)}
        kept = [(t, index.get(id(t))) for t in self.to_save if t is not None]
        saved = iter([SavedTensor(t if k is None else outputs[k], k) for t, k in kept])
        self._saved = [None if t is None else next(saved) for t in self.to_save]
        self.to_save = ()


class OutputGradients:
    """The gradients of a custom Function's outputs, one slot each (None: none arrived), as
    ONE value that the engine holds and sums like a gradient.  ``shape`` is the hidden
    carrier's; the dtype is not floating, so anomaly mode leaves it alone (each part was
    checked by the node that made it)."""

    __slots__ = ("parts",)
    shape = ()
    dtype = numpy.dtype(object)

    def __init__(self, parts: tuple):
        self.parts = parts

    @property
    def array(self):
        return self  # what the engine's anomaly check reads under create_graph

    def __add__(self, other):
        return OutputGradients(tuple(map(_plus, self.parts, other.parts)))


def _plus(a, b):
    return b if a is None else a if b is None else a + b


class OutputSelect(engine.Function):
    """Output ``index`` of a custom Function with several outputs (see the module doc)."""

    def __init__(self, index: int, count: int):
        self.index, self.count = index, count

    def label(self) -> str:
        return f"output {self.index}"

    def backward(self, ns, gy):
        return OutputGradients(tuple(gy if k == self.index else None for k in range(self.count)))


class OnceDifferentiated(engine.Function):
    """Stands for a gradient made by a ``@once_differentiable`` backward under create_graph
    from gradients that require grad: differentiating it raises, as in PyTorch."""

    def __init__(self, value):
        self.value = value

    def forward(self, *grad_outputs):
        return self.value

    def backward(self, ns, gy):
        raise RuntimeError(
            "trying to differentiate twice a function that was marked with @once_differentiable"
        )


def once_differentiable(backward):
    """Decorator of a custom Function's ``backward`` (PyTorch's): it runs without recording;
    a second derivative through it raises instead of being silently zero."""

    @functools.wraps(backward)
    def wrapper(ctx, *grad_outputs):
        with grad_mode.no_grad():
            result = backward(ctx, *grad_outputs)
        depends = tuple(g for g in grad_outputs if _is_tensor(g) and g.requires_grad)
        if not (grad_mode.grad_enabled and depends):
            return result
        out = [
            OnceDifferentiated(g.array)(*depends) if _is_tensor(g) and g.dtype.kind in "fc" else g
            for g in (result if isinstance(result, tuple) else (result,))
        ]
        return tuple(out) if isinstance(result, tuple) else out[0]

    return wrapper


def _expandable(shape: tuple, to: tuple) -> bool:
    """PyTorch's is_expandable_to: ``shape`` broadcasts to ``to``."""
    return len(shape) <= len(to) and all(n in (1, m) for n, m in zip(shape[::-1], to[::-1]))


class CustomFunctionBackward(engine.Function):
    """The recorded node of one ``apply``: runs the user's backward."""

    def __init__(self, fn_cls, ctx: FunctionCtx, arg_is_tensor: tuple, outputs: list):
        self.fn_cls, self.ctx, self.arg_is_tensor = fn_cls, ctx, arg_is_tensor
        # what a missing output gradient is made of: (xp, shape, dtype), None for non-Tensors
        self.output_meta = [
            (backend.get_array_module(o.array), o.shape, o.dtype) if _is_tensor(o) else None
            for o in outputs
        ]

    @property
    def name(self) -> str:
        return f"{self.fn_cls.__name__}Backward"

    def label(self) -> str:
        return self.fn_cls.__name__

    def backward(self, ns, gy):
        graph = ns.graph
        Tensor = engine.tensor_type()
        parts = gy.parts if isinstance(gy, OutputGradients) else (gy,)
        ctx = self.ctx
        grads = []
        for g, meta in zip(parts, self.output_meta):
            if g is None and meta is not None and ctx._materialize:
                xp, shape, dtype = meta
                g = Tensor.wrap(xp.zeros(shape, dtype))
            elif g is not None and not graph:
                g = Tensor.wrap(unshared(g))  # the user's backward may write into it
            grads.append(g)
        ctx._graph = graph
        result = self.fn_cls.backward(ctx, *grads)
        return self.check(result if isinstance(result, tuple) else (result,), graph)

    def check(self, result: tuple, graph: bool) -> tuple:
        """The user's gradients as the engine takes them (one per Tensor input), checked."""
        n = len(self.arg_is_tensor)
        if len(result) > n and all(g is None for g in result[n:]):
            result = result[:n]
        if len(result) != n:
            raise RuntimeError(
                f"function {self.name} returned an incorrect number of gradients "
                f"(expected {n}, got {len(result)})"
            )
        out = []
        for i, (g, is_tensor) in enumerate(zip(result, self.arg_is_tensor)):
            if not is_tensor:
                if g is not None:
                    raise RuntimeError(
                        f"function {self.name} returned a gradient different than None at "
                        f"position {i + 1}, but the corresponding forward input was not a "
                        f"Variable"
                    )
                continue
            k = len(out)
            if g is None or self.next_edges[k] is None:
                out.append(None)
                continue
            if not _is_tensor(g):
                raise RuntimeError(f"expected Variable or None (got {type(g).__name__})")
            t = self.inputs[k]
            if g.shape != t.shape and not _expandable(t.shape, g.shape):
                raise RuntimeError(
                    f"Function {self.name} returned an invalid gradient at index {i} - got "
                    f"{list(g.shape)} but expected shape compatible with {list(t.shape)}"
                )
            if g.dtype != t.dtype:
                g = g.astype(t.dtype)
            # a copy: the user's backward may return an array someone holds (a saved
            # tensor), and a leaf's .grad made of it would later be added into in place
            out.append(g if graph else g.array.copy())
        return tuple(out)


def _is_tensor(x) -> bool:
    return isinstance(x, engine.tensor_type())


class Function:
    """Base class of custom ops written PyTorch's way (see the module doc): subclass it with
    static ``forward(ctx, *args)`` and ``backward(ctx, *grad_outputs)`` (or ``forward(*args)``
    plus ``setup_context(ctx, inputs, output)``) and call ``YourFunction.apply(*args)``."""

    def __init__(self, *args, **kwargs):
        message = f"{type(self)} should not be instantiated: its methods are static, use the class"
        warnings.warn(message, DeprecationWarning, stacklevel=2)

    def __call__(self, *args, **kwargs):
        raise RuntimeError(
            "Legacy autograd function with non-static forward method is deprecated. Please "
            "use new-style autograd function with static forward method: call apply."
        )

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError(
            "You must implement the forward function for custom autograd.Function."
        )

    @staticmethod
    def setup_context(ctx, inputs, output):
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError(
            "You must implement either the backward or vjp method for your custom "
            "autograd.Function to use it with backward mode AD."
        )

    @classmethod
    def apply(cls, *args, **kwargs):
        """Run ``forward`` without recording, then record one node for the outputs."""
        separate = cls.setup_context is not Function.setup_context
        if separate:  # PyTorch binds the defaults so that setup_context sees every input
            bound = inspect.signature(cls.forward).bind(*args, **kwargs)
            bound.apply_defaults()
            args, kwargs = bound.args, bound.kwargs
        inputs = args + tuple(kwargs.values())
        record = grad_mode.grad_enabled
        is_tensor = tuple(_is_tensor(a) for a in inputs)
        if record:  # a view whose base was written since gets its history first
            for a in itertools.compress(inputs, is_tensor):
                engine.edge(a)
        needs = tuple(t and a.requires_grad for a, t in zip(inputs, is_tensor))
        ctx = FunctionCtx(f"{cls.__name__}Backward", needs)
        with grad_mode.no_grad():
            if separate:
                output = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, inputs, output)
            else:
                output = cls.forward(ctx, *args, **kwargs)
        single = not isinstance(output, tuple)
        originals = [output] if single else list(output)
        outputs = _own_outputs(originals, inputs)
        if record and any(needs):
            tensor_inputs = tuple(a for a, t in zip(inputs, is_tensor) if t)
            node = CustomFunctionBackward(cls, ctx, is_tensor, outputs)
            node.needs_grad = tuple(a.requires_grad for a in tensor_inputs)
            ctx.freeze(outputs, originals)
            _record(node, tensor_inputs, outputs, originals, single)
        return outputs[0] if single else tuple(outputs)


def _own_outputs(originals: list, inputs: tuple) -> list:
    """The outputs as this call's own Tensors: one that is an input, a view or already in a
    graph is replaced by an alias (same memory and version) that the node can own."""
    input_ids = {id(a) for a in inputs}
    return [
        o.detach()
        if _is_tensor(o) and (id(o) in input_ids or o.requires_grad or o._view is not None)
        else o
        for o in originals
    ]


def _record(node, tensor_inputs, outputs, originals, single: bool) -> None:
    skip = node.ctx._non_differentiable
    differentiable = [
        k
        for k, (o, orig) in enumerate(zip(outputs, originals))
        if _is_tensor(o) and o.dtype.kind in "fc" and id(orig) not in skip
    ]
    if not differentiable:
        return
    if single:
        node.record(tensor_inputs, outputs[0])
        return
    carrier = engine.tensor_type().wrap(numpy.zeros(()))
    node.record(tensor_inputs, carrier)
    for k in differentiable:
        select = OutputSelect(k, len(outputs))
        select.needs_grad = (True,)
        select.record((carrier,), outputs[k])
