"""A plan's backward pass written as Python source (see ``gpugrad/plan_source.py``): the
engine's loop over the nodes, unrolled.

Each node is a call of its ``backward`` and, for each input, a route: a leaf's gradient
goes to :func:`~gpugrad.autograd.accumulate.accumulate_leaf` (as the engine delivers it),
a node's into that node's pending sum, summed as the engine sums (the first sum out of
place, a fresh buffer; later ones in place into it), so a replay gives the engine's
numbers bit for bit.  A node no gradient reached is skipped, as the engine never queues it.

The nodes are written in functions of at most ``NODES_PER_FUNCTION`` (CPython compiles a
long function more slowly per line): a node's pending sum is a local of the function that
runs it, and travels in the list ``pending`` (with its ``owned`` flag) when a node of an
earlier function sends it.  ``backward(arrays)`` starts the pass from the seed and calls
them in order.
"""

from __future__ import annotations

from . import backend
from .autograd.accumulate import accumulate_leaf, seed_owners
from .autograd.raw_namespace import raw_namespace
from .plan_source import Source

NODES_PER_FUNCTION = 100
PARAMETERS = ("arrays", "ns", "handed", "made", "pending", "owned")


def namespace_of(array):
    """The array namespace a backward gets (``ns``) for arrays like ``array``."""
    return raw_namespace(backend.get_array_module(array))


def routes_of(gxs, count: int) -> tuple:
    """A backward's result as ``count`` gradients, one per input: a lone array is the
    first; inputs past those it returned get None."""
    if type(gxs) is not tuple:
        gxs = (gxs,)
    return gxs + (None,) * (count - len(gxs))


def functions_of(program) -> tuple:
    """``(backward, text)``: the :class:`~gpugrad.plan.Backward` ``program`` as a function
    of the plan's ``arrays``, and its source."""
    steps = program.steps  # step k is node k's (the engine's order)
    senders = [0] * program.nodes  # how many routes lead to each node
    earliest = [program.nodes] * program.nodes  # the first node sending to each node
    for index, _, _, routes in steps:
        for route in routes:
            if route is not None and route[0]:
                senders[route[1]] += 1
                earliest[route[1]] = min(earliest[route[1]], index)
    start = Source()
    seed = start.read(program.seed)
    start.line(f"ns = {start.name(namespace_of, 'namespace_of')}({seed})")
    start.line(f"handed, made = {start.name(seed_owners, 'seed_owners')}([{seed}]), {{}}")
    start.line(f"pending, owned = [None] * {program.nodes}, [False] * {program.nodes}")
    start.line(f"pending[{program.root}] = {seed}")
    texts = []
    for first in range(0, len(steps), NODES_PER_FUNCTION):
        part = _Part(program, senders, earliest, first, first + NODES_PER_FUNCTION)
        function, text = part.function(f"backward_{len(texts)}")
        texts.append(text)
        start.line(
            f"{start.define(f'backward_{len(texts) - 1}', function)}({', '.join(PARAMETERS)})"
        )
    function, text = start.function("backward")
    return function, "\n".join([text, *texts])


class _Part:
    """The nodes ``first`` to ``end`` (excluded) as one function."""

    def __init__(self, program, senders: list, earliest: list, first: int, end: int):
        self.program, self.senders, self.earliest = program, senders, earliest
        self.first, self.end = first, min(end, len(program.steps))
        self.source = Source()

    def function(self, name: str):
        source, senders = self.source, self.senders
        steps = self.program.steps[self.first : self.end]
        for k in range(self.first, self.end):
            # its sum so far, if a node of an earlier function sent it something
            if self.earliest[k] < self.first or k == self.program.root:
                source.line(f"g{k}, pending[{k}] = pending[{k}], None")
                if senders[k] > 1:
                    source.line(f"g{k}_owned = owned[{k}]")
            else:
                source.line(f"g{k} = None")
                if senders[k] > 1:
                    source.line(f"g{k}_owned = False")
        for index, backward, saved, routes in steps:
            self._node(index, backward, saved, routes)
        return source.function(name, PARAMETERS)

    def _node(self, index: int, backward, saved: tuple, routes: tuple) -> None:
        source, gy = self.source, f"g{index}"
        args = ", ".join(["ns", gy, *[source.read(k) for k in saved]])
        with source.block(f"if {gy} is not None:"):
            call = f"{source.op(backward, backward.__self__, '_backward')}({args})"
            if len(routes) == 1:  # one input: a backward returns its gradient alone
                source.line(f"gx = {call}")
                source.line(f"{gy} = None")
                source.line("if type(gx) is tuple: gx = gx[0] if gx else None")
            else:
                source.line(f"gxs = {call}")
                source.line(f"{gy} = None")
                count = len(routes)
                source.line(
                    f"if type(gxs) is not tuple or len(gxs) < {count}: "
                    f"gxs = {source.name(routes_of, 'routes_of')}(gxs, {count})"
                )
            for k, route in enumerate(routes):
                if route is not None:
                    if len(routes) > 1:
                        source.line(f"gx = gxs[{k}]")
                    with source.block("if gx is not None:"):
                        self._route(*route)

    def _route(self, to_node: bool, target, shape: tuple) -> None:
        source = self.source
        source.line(f"if gx.shape != {shape!r}: gx = ns.sum_to(gx, {shape!r})")
        if not to_node:  # a leaf: a live tensor, or the index of an argument
            leaf = source.tensor(target, self.program.call_inputs)
            source.line(
                f"{source.name(accumulate_leaf, 'accumulate_leaf')}({leaf}, gx, handed, made)"
            )
            return
        if target < self.end:  # a node of this function: its local
            total, flag = f"g{target}", f"g{target}_owned"
        else:  # a node of a later function: through the lists
            total, flag = f"pending[{target}]", f"owned[{target}]"
        if self.senders[target] == 1:
            source.line(f"{total} = gx")
            return
        source.line(f"if {total} is None: {total} = gx")
        source.line(f"elif {flag}: {total} += gx")
        # the first sum: a fresh buffer, ours from now on
        source.line(f"else: {total}, {flag} = {total} + gx, True")
