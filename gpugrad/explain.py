"""See backprop: for every node of a graph, its forward value, the upstream gradient, the
local gradient(s) and the downstream gradient(s) — downstream = upstream × local.

``gg.explain(output)`` walks the graph that produced ``output`` and computes every
gradient itself (each node's own backward, in decreasing sequence order, fan-out summed
first), without touching ``.grad`` or freeing the graph.  For tensors it reports shapes
and short summaries; a Jacobian is never built: the "local gradient" of a node is what
its backward returns for an upstream gradient of ones (for scalars, exactly the partial
derivative).

``python -m gpugrad explain "(x+y)*z" --vars x=-2,y=5,z=-4`` parses a small, safe
expression language (never Python's eval), prints the table, and writes a Graphviz graph
with values and gradients on the edges (``--dot FILE``, ``--svg FILE``).
"""

from __future__ import annotations

import argparse
import heapq
import sys
from dataclasses import dataclass, field

import numpy

from . import autograd, backend

__all__ = ["Record", "evaluate", "explain", "format_table", "main", "parse", "to_dot"]

# How each op is shown, and the notes' gates.
OP_SYMBOLS = {
    "Add": "+",
    "Sub": "-",
    "Mul": "*",
    "Div": "/",
    "Pow": "**",
    "Neg": "neg",
    "Exp": "exp",
    "Log": "log",
    "Sqrt": "sqrt",
    "Abs": "abs",
    "Maximum": "max",
    "Minimum": "min",
    "MatMul": "@",
    "Sum": "sum",
    "Mean": "mean",
    "Max": "max",
    "Min": "min",
}
GATES = {
    "Add": "add gate: distributes",
    "Sub": "add gate: distributes (with a sign)",
    "Mul": "mul gate: swaps",
    "Maximum": "max gate: routes",
    "Max": "max gate: routes",
    "Minimum": "min gate: routes",
    "Min": "min gate: routes",
}


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


def _op_label(node) -> str:
    name = node.name
    if name == "Activation":
        return node.kind
    if name in ("AddConst", "MulConst", "DivConst", "PowConst"):
        symbol = {"AddConst": "+", "MulConst": "*", "DivConst": "/", "PowConst": "**"}[name]
        return f"{symbol} {node.c if name != 'PowConst' else node.p:g}"
    if name == "RSubConst":
        return f"{node.c:g} -"
    if name == "RDivConst":
        return f"{node.c:g} /"
    if name == "RPowConst":
        return f"{node.c:g} **"
    return OP_SYMBOLS.get(name, name.lower())


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
        for t in node.inputs:
            if t.creator is not None:
                produced.setdefault(id(t.creator), t)
                stack.append(t.creator)
    return nodes, produced


def explain(output) -> list:
    """Records for every input and node of the graph behind ``output``, in forward order."""
    nodes, produced = _collect(output)
    xp = backend.get_array_module(output.data)
    ns = autograd.raw_namespace(xp)
    order = sorted(nodes.values(), key=lambda n: n.seq)

    # Labels: named leaves keep their names; other values are numbered in forward order.
    labels, uses, leaves = {}, {}, []
    for node in order:
        for t in node.inputs:
            uses[id(t)] = uses.get(id(t), 0) + 1
            if t.creator is None and id(t) not in labels:
                labels[id(t)] = t.name or f"in{len(leaves)}"
                leaves.append(t)
    for k, node in enumerate(order):
        t = produced[id(node)]
        labels[id(t)] = t.name or f"v{k}"

    # Gradients: every node's backward, newest first, fan-out summed before use.
    grads = {id(output): xp.ones_like(output.data)}
    records = {}
    heap = [(-node.seq, id(node), node) for node in order]
    heapq.heapify(heap)
    while heap:
        _, _, node = heapq.heappop(heap)
        out = produced[id(node)]
        gy = grads.get(id(out), xp.zeros_like(out.data))
        saved = node.saved_values(False)

        def run(upstream):
            gxs = node.backward(ns, upstream, *saved)
            gxs = gxs if type(gxs) is tuple else (gxs,)
            return [
                None if g is None else autograd.sum_to_array(g, t.shape)
                for g, t in zip(gxs, node.inputs)
            ]

        downstream = run(gy)
        local = run(xp.ones_like(gy))
        for t, g, need in zip(node.inputs, downstream, node.needs_grad):
            if need and g is not None:
                grads[id(t)] = grads[id(t)] + g if id(t) in grads else g
        records[id(node)] = Record(
            index=0,
            name=labels[id(out)],
            op=node.label(),
            gate=node.gate,
            inputs=[labels.get(id(t), _summary(t.data)) for t in node.inputs],
            value=_summary(out.data),
            upstream=_summary(gy),
            local=[_summary(g) for g in local],
            downstream=[_summary(g) for g in downstream],
        )

    result = []
    for t in leaves:
        result.append(
            Record(
                index=0,
                name=labels[id(t)],
                op="input",
                gate=None,
                value=_summary(t.data),
                upstream=_summary(grads.get(id(t))),
            )
        )
    result += [records[id(node)] for node in order]
    by_name = {r.name: r for r in result}
    for t_id, count in uses.items():
        if count > 1 and t_id in labels:
            r = by_name[labels[t_id]]
            r.gate = (r.gate + "; " if r.gate else "") + f"copy gate: adds ({count} uses)"
    for i, r in enumerate(result):
        r.index = i
    return result


# -- presentation ---------------------------------------------------------------------------
def _fmt(v) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def format_table(records) -> str:
    """A fixed-width table: one line per value, upstream × local = downstream per input."""
    header = ["#", "value", "op", "inputs", "forward", "upstream", "local", "downstream", "gate"]
    rows = []
    for r in records:
        rows.append(
            [
                str(r.index),
                r.name,
                r.op,
                ", ".join(map(_fmt, r.inputs)) or "-",
                _fmt(r.value),
                _fmt(r.upstream),
                ", ".join(map(_fmt, r.local)) or "-",
                ", ".join(map(_fmt, r.downstream)) or "-",
                r.gate or "",
            ]
        )
    widths = [max(len(row[i]) for row in rows + [header]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def _dot_escape(s: str) -> str:
    return str(s).replace("\\", "\\\\").replace('"', '\\"')


def _html(s) -> str:
    import html

    return html.escape(str(s))


def to_dot(records) -> str:
    """Graphviz DOT in the notes' style: values flow left to right; each edge carries the
    forward value (green, above) and the gradient flowing back (red, below)."""
    by_name = {r.name: r for r in records}
    lines = [
        "digraph backprop {",
        "  rankdir=LR;",
        '  node [fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=11];',
    ]
    for r in records:
        if r.op == "input":
            lines.append(
                f'  "{_dot_escape(r.name)}" [shape=plaintext, label="{_dot_escape(r.name)}"];'
            )
        else:
            gate = r.gate.split(":")[0] if r.gate and ":" in r.gate else ""
            xlabel = (
                f', xlabel=<<font point-size="9" color="gray30">{_html(gate)}</font>>'
                if gate
                else ""
            )
            lines.append(
                f'  "{_dot_escape(r.name)}" [shape=circle, label="{_dot_escape(r.op)}"{xlabel}];'
            )
    for r in records:
        for i, src in enumerate(r.inputs):
            if src not in by_name:  # a constant
                const = f"const_{r.index}_{i}"
                lines.append(f'  "{const}" [shape=plaintext, label="{_dot_escape(_fmt(src))}"];')
                lines.append(f'  "{const}" -> "{_dot_escape(r.name)}" [color=gray];')
                continue
            s = by_name[src]
            label = (
                f'<<font color="darkgreen">{_html(_fmt(s.value))}</font><br/>'
                f'<font color="red">{_html(_fmt(r.downstream[i] if i < len(r.downstream) else None))}</font>>'
            )
            lines.append(f'  "{_dot_escape(src)}" -> "{_dot_escape(r.name)}" [label={label}];')
    last = records[-1]
    lines.append('  "output" [shape=plaintext, label=""];')
    lines.append(
        f'  "{_dot_escape(last.name)}" -> "output" [label=<<font color="darkgreen">'
        f'{_html(_fmt(last.value))}</font><br/><font color="red">'
        f"{_html(_fmt(last.upstream))}</font>>];"
    )
    lines.append("}")
    return "\n".join(lines) + "\n"


# -- the expression language -------------------------------------------------------------------
class ExprError(ValueError):
    """A problem with the expression or the variables: one line for the user."""


FUNCTIONS = {"exp": 1, "log": 1, "sigmoid": 1, "tanh": 1, "relu": 1, "max": 2, "min": 2}


def _tokens(text: str):
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if text.startswith("**", i):
            yield ("op", "**", i)
            i += 2
            continue
        if c in "+-*/(),":
            yield ("op", c, i)
            i += 1
            continue
        if c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            j = i
            while j < n and (text[j].isdigit() or text[j] == "."):
                j += 1
            if j < n and text[j] in "eE":
                k = j + 1
                if k < n and text[k] in "+-":
                    k += 1
                if k < n and text[k].isdigit():
                    j = k
                    while j < n and text[j].isdigit():
                        j += 1
            try:
                yield ("num", float(text[i:j]), i)
            except ValueError:
                raise ExprError(f"bad number {text[i:j]!r} at column {i + 1}") from None
            i = j
            continue
        if c.isalpha() or c == "_":
            j = i
            while j < n and (text[j].isalnum() or text[j] == "_"):
                j += 1
            yield ("name", text[i:j], i)
            i = j
            continue
        raise ExprError(f"unexpected character {c!r} at column {i + 1}")
    yield ("end", None, n)


def parse(text: str):
    """Parse into a tree of tuples: ("num", v), ("var", name), ("neg", a),
    ("bin", op, a, b), ("call", name, [args]).  Errors name the column."""
    tokens = list(_tokens(text))
    pos = 0

    def peek():
        return tokens[pos]

    def error(message, at=None):
        col = at if at is not None else peek()[2]
        return ExprError(f"syntax error at column {col + 1} of {text!r}: {message}")

    def take(kind, value=None):
        nonlocal pos
        tok = tokens[pos]
        if tok[0] != kind or (value is not None and tok[1] != value):
            want = value or kind
            got = "end of input" if tok[0] == "end" else repr(tok[1])
            raise error(f"expected {want!r}, found {got}")
        pos += 1
        return tok

    def expr():
        node = term()
        while peek()[0] == "op" and peek()[1] in "+-":
            op = take("op")[1]
            node = ("bin", op, node, term())
        return node

    def term():
        node = unary()
        while peek()[0] == "op" and peek()[1] in ("*", "/"):
            op = take("op")[1]
            node = ("bin", op, node, unary())
        return node

    def unary():
        if peek()[0] == "op" and peek()[1] == "-":
            take("op", "-")
            return ("neg", unary())
        if peek()[0] == "op" and peek()[1] == "+":
            take("op", "+")
            return unary()
        return power()

    def power():
        base = atom()
        if peek()[0] == "op" and peek()[1] == "**":
            take("op", "**")
            return ("bin", "**", base, unary())  # right-associative, like Python
        return base

    def atom():
        kind, value, col = peek()
        if kind == "num":
            take("num")
            return ("num", value)
        if kind == "name":
            take("name")
            if peek()[0] == "op" and peek()[1] == "(":
                if value not in FUNCTIONS:
                    raise ExprError(
                        f"unknown function {value!r} at column {col + 1} "
                        f"(known: {', '.join(sorted(FUNCTIONS))})"
                    )
                take("op", "(")
                args = [expr()]
                while peek()[0] == "op" and peek()[1] == ",":
                    take("op", ",")
                    args.append(expr())
                take("op", ")")
                if len(args) != FUNCTIONS[value]:
                    raise ExprError(
                        f"{value}() takes {FUNCTIONS[value]} argument(s), got "
                        f"{len(args)} (column {col + 1})"
                    )
                return ("call", value, args)
            if value in FUNCTIONS:
                raise error(f"function {value!r} needs parentheses", col)
            return ("var", value)
        if kind == "op" and value == "(":
            take("op", "(")
            node = expr()
            take("op", ")")
            return node
        got = "end of input" if kind == "end" else repr(value)
        raise error(f"expected a number, a variable or '(', found {got}")

    tree = expr()
    if peek()[0] != "end":
        raise error(f"unexpected {peek()[1]!r}")
    return tree


def variables_of(tree) -> list:
    found = []

    def walk(n):
        if n[0] == "var":
            if n[1] not in found:
                found.append(n[1])
        elif n[0] == "neg":
            walk(n[1])
        elif n[0] == "bin":
            walk(n[2])
            walk(n[3])
        elif n[0] == "call":
            for a in n[2]:
                walk(a)

    walk(tree)
    return found


def evaluate(tree, values: dict, device=None):
    """Build the computation with float64 gpugrad tensors; returns (output, leaves)."""
    from . import functional as F
    from .ops import arithmetic
    from .tensor import tensor

    leaves = {}
    for name in variables_of(tree):
        if name not in values:
            raise ExprError(f"missing value for variable {name!r} (give it with --vars {name}=...)")
        t = tensor(values[name], dtype="float64", device=device, requires_grad=True)
        t.name = name
        leaves[name] = t

    def ev(n):
        kind = n[0]
        if kind == "num":
            return n[1]
        if kind == "var":
            return leaves[n[1]]
        if kind == "neg":
            v = ev(n[1])
            return -v
        if kind == "bin":
            a, b = ev(n[2]), ev(n[3])
            if not hasattr(a, "data") and not hasattr(b, "data"):
                return {
                    "+": a + b,
                    "-": a - b,
                    "*": a * b,
                    "/": a / b if b else float("nan"),
                    "**": a**b,
                }[n[1]]
            return {
                "+": lambda: a + b,
                "-": lambda: a - b,
                "*": lambda: a * b,
                "/": lambda: a / b,
                "**": lambda: a**b,
            }[n[1]]()
        args = [ev(a) for a in n[2]]
        if not any(hasattr(a, "data") for a in args):
            args[0] = tensor(args[0], dtype="float64", device=device)
        like = next(a for a in args if hasattr(a, "data"))
        args = [
            a if hasattr(a, "data") else tensor(a, dtype="float64", device=like.device)
            for a in args
        ]
        if n[1] == "max":
            return arithmetic.maximum(*args)
        if n[1] == "min":
            return arithmetic.minimum(*args)
        if n[1] in ("exp", "log"):
            return getattr(args[0], n[1])()
        return getattr(F, n[1])(args[0])

    out = ev(tree)
    if not hasattr(out, "data") or out.creator is None:
        raise ExprError("the expression does not depend on any variable through an operation")
    return out, leaves


def parse_vars(text: str) -> dict:
    values = {}
    if not text:
        return values
    for part in text.split(","):
        name, sep, number = part.partition("=")
        name = name.strip()
        if not sep or not name.isidentifier():
            raise ExprError(f"bad --vars entry {part!r}: expected NAME=NUMBER")
        try:
            values[name] = float(number)
        except ValueError:
            raise ExprError(
                f"bad --vars entry {part!r}: {number.strip()!r} is not a number"
            ) from None
    return values


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gpugrad explain",
        description="Show forward values and gradients of every node.",
    )
    parser.add_argument("expression", help='e.g. "(x+y)*z" or "1/(1+exp(-(w0*x0+w1*x1+w2)))"')
    parser.add_argument("--vars", default="", help="values, e.g. x=-2,y=5,z=-4")
    parser.add_argument("--dot", help="write the graph as Graphviz DOT text to this file")
    parser.add_argument("--svg", help="render the graph to SVG (needs Graphviz)")
    try:
        args = parser.parse_args(argv)
    except SystemExit as e:
        return 0 if e.code == 0 else 2
    try:
        tree = parse(args.expression)
        values = parse_vars(args.vars)
        unknown = [n for n in values if n not in variables_of(tree)]
        if unknown:
            raise ExprError(
                f"unknown variable {unknown[0]!r}: the expression uses "
                f"{', '.join(variables_of(tree)) or 'no variables'}"
            )
        out, _ = evaluate(tree, values, device="cpu")
        records = explain(out)
    except ExprError as e:
        print(f"gpugrad explain: {e}", file=sys.stderr)
        return 2
    print(format_table(records))
    print(
        f"\noutput {records[-1].name} = {_fmt(records[-1].value)}; gradients: "
        + ", ".join(f"d/d{r.name} = {_fmt(r.upstream)}" for r in records if r.op == "input")
    )
    dot = to_dot(records)
    if args.dot:
        with open(args.dot, "w") as f:
            f.write(dot)
    if args.svg:
        try:
            import graphviz

            svg = graphviz.Source(dot).pipe(format="svg")
        except ImportError:
            print(
                "gpugrad explain: --svg needs the graphviz Python package: "
                "pip install 'gpugrad[viz]' (and Graphviz's dot program)",
                file=sys.stderr,
            )
            return 2
        except Exception as e:  # graphviz.ExecutableNotFound and friends
            print(
                f"gpugrad explain: --svg needs Graphviz's dot program (apt-get install graphviz): "
                f"{type(e).__name__}",
                file=sys.stderr,
            )
            return 2
        with open(args.svg, "wb") as f:
            f.write(svg)
    return 0
