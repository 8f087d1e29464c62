"""A compiled step's plan as Python source: its events written out as straight-line
functions, so that a replay runs no interpreter of its own.

Run event by event, a replay paid for its own bookkeeping at every op (a method call per
event, a list of arguments per forward, a loop over routes and a pending list per backward
node): on a chain of small ops that was as much as the NumPy calls themselves.  Written out
as source, each slot of the plan is a local variable, each forward one call, each backward
node one call followed by its routes as plain statements; what a replay does is the text
of a few functions (``Plan.source``), readable as any Python.

Each event writes its own statements (``emit`` in ``gpugrad/plan.py``) into a
:class:`Source`, which names the objects they call (a forward, a backward, a live tensor)
and keeps track of the slots: a slot the function reads before writing it is loaded from
the plan's ``arrays`` list at the start, and a slot it writes is stored there at once, so
the list holds what it held when the events ran one by one.
"""

from __future__ import annotations

import contextlib
import re


class Source:
    """The statements of one function being written, and the objects they name."""

    def __init__(self):
        self.lines: list = []
        self.scope: dict = {}  # name -> object, the function's globals
        self.names: dict = {}  # id(object) -> name (the object is kept alive by scope)
        self.loaded: dict = {}  # slots read before any write (ordered): loaded at the start
        self.written: set = set()  # slots written
        self.depth = 1

    def name(self, value, hint: str) -> str:
        """The name the function calls ``value`` by (one name per object): ``hint`` made
        an identifier, ``_`` and a number no other name here has (no local ends so: the
        slots are ``a3``, the pending gradients ``g3``, and the rest are plain words)."""
        name = self.names.get(id(value))
        if name is None:
            hint, number = re.sub(r"\W", "_", hint), len(self.scope)
            while f"{hint}_{number}" in self.scope:  # "log_2" + "1" is "log_21"
                number += 1
            name = f"{hint}_{number}"
            self.scope[name] = value
            self.names[id(value)] = name
        return name

    def op(self, method, node, suffix: str = "") -> str:
        """The name of a node's ``forward`` or ``backward``: its op's name, lower case
        (``mulconst_3``, ``relu_backward_7``)."""
        return self.name(method, node.name.lower() + suffix)

    def define(self, name: str, value) -> str:
        """``value`` under the name ``name`` (a function written before: its own name)."""
        self.scope[name] = value
        self.names[id(value)] = name
        return name

    def read(self, slot: int) -> str:
        """The local of slot ``slot``, read here."""
        if slot not in self.written and slot not in self.loaded:
            self.loaded[slot] = None
        return f"a{slot}"

    def assign(self, slot: int, value: str) -> str:
        """``a<slot> = value``, stored in ``arrays`` at once, as the events ran one by one
        did: the array the slot held (the last replay's) is freed now, not when the
        function returns (which would hold two of every activation at the peak)."""
        self.written.add(slot)
        self.line(f"a{slot} = {value}")
        self.line(f"arrays[{slot}] = a{slot}")
        return f"a{slot}"

    def line(self, text: str) -> None:
        self.lines.append("    " * self.depth + text)

    @contextlib.contextmanager
    def block(self, header: str):
        """Statements under ``header`` (an ``if``)."""
        self.line(header)
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1

    def tensor(self, ref, call_inputs: list) -> str:
        """The expression for a tensor a plan names: ``ref`` itself, or (an int) the
        replayed call's argument of that index (``call_inputs``)."""
        if type(ref) is int:
            return f"{self.name(call_inputs, 'arguments')}[{ref}]"
        return self.name(ref, "tensor")

    def function(self, name: str, parameters: tuple = ("arrays",)):
        """``(function, text)``: ``name(arrays, ...)`` running the statements written so
        far."""
        head = [f"def {name}({', '.join(parameters)}):"]
        head += [f"    a{k} = arrays[{k}]" for k in self.loaded]
        text = "\n".join([*head, *self.lines, "    return None", ""])
        scope = dict(self.scope)
        exec(compile(text, f"<gg.compile {name}>", "exec"), scope)
        return scope[name], text


EVENTS_PER_FUNCTION = 200  # CPython compiles a long function more slowly per line


def function_of(events: list, name: str = "replay"):
    """``(function, text)``: the events as one function of the plan's ``arrays``."""
    source = Source()
    for event in events:
        event.emit(source)
    return source.function(name)


def functions_of(events: list) -> list:
    """The events as ``(function, text)`` pairs to run one after the other: an event with
    a function of its own (a backward pass: ``compiled()``, built once, when the recording
    runs it) as that one, the others in runs of at most ``EVENTS_PER_FUNCTION``."""
    functions, run = [], []

    def close_run():
        if run:
            functions.append(function_of(run, f"replay_{len(functions)}"))
            run.clear()

    for event in events:
        compiled = getattr(event, "compiled", None)
        if compiled is not None:
            close_run()
            functions.append(compiled())
            continue
        if len(run) == EVENTS_PER_FUNCTION:
            close_run()
        run.append(event)
    close_run()
    return functions
