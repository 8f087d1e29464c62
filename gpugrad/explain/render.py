"""How ``explain``'s records are shown: a fixed-width table, a one-line summary of the
gradients, Graphviz DOT text in the notes' style, and SVG rendered from it by Graphviz."""

from __future__ import annotations

import html


class RenderError(RuntimeError):
    """Graphviz is missing: one line for the user that says what to install."""


def format_value(v) -> str:
    """A record's field as text: "-" for none, six significant digits for a float."""
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.6g}"
    return str(v)


def _join(values) -> str:
    return ", ".join(map(format_value, values)) or "-"


def format_table(records) -> str:
    """A fixed-width table: one line per value, upstream × local = downstream per input."""
    header = ["#", "value", "op", "inputs", "forward", "upstream", "local", "downstream", "gate"]
    rows = [
        [
            str(r.index),
            r.name,
            r.op,
            _join(r.inputs),
            format_value(r.value),
            format_value(r.upstream),
            _join(r.local),
            _join(r.downstream),
            r.gate or "",
        ]
        for r in records
    ]
    widths = [max(len(row[i]) for row in [*rows, header]) for i in range(len(header))]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in rows]
    return "\n".join(lines)


def format_gradients(records) -> str:
    """The output's value and d output / d input for every input, on one line."""
    last = records[-1]
    grads = ", ".join(
        f"d/d{r.name} = {format_value(r.upstream)}" for r in records if r.op == "input"
    )
    return f"output {last.name} = {format_value(last.value)}; gradients: {grads}"


def _dot_escape(s) -> str:
    return str(s).replace("\\", "\\\\").replace('"', '\\"')


def _edge_label(forward, gradient) -> str:
    """An HTML-like edge label: the forward value (green) above the gradient (red)."""
    return (
        f'<<font color="darkgreen">{html.escape(format_value(forward))}</font><br/>'
        f'<font color="red">{html.escape(format_value(gradient))}</font>>'
    )


def _node_line(r) -> str:
    name = _dot_escape(r.name)
    if r.op == "input":
        return f'  "{name}" [shape=plaintext, label="{name}"];'
    # Only the gate's name ("add gate") fits beside a node; its description is in the table.
    gate = r.gate.split(":")[0] if r.gate and ":" in r.gate else ""
    xlabel = (
        f', xlabel=<<font point-size="9" color="gray30">{html.escape(gate)}</font>>' if gate else ""
    )
    return f'  "{name}" [shape=circle, label="{_dot_escape(r.op)}"{xlabel}];'


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
    lines += [_node_line(r) for r in records]
    for r in records:
        target = _dot_escape(r.name)
        for i, src in enumerate(r.inputs):
            if src not in by_name:  # a constant
                const = f"const_{r.index}_{i}"
                lines.append(
                    f'  "{const}" [shape=plaintext, label="{_dot_escape(format_value(src))}"];'
                )
                lines.append(f'  "{const}" -> "{target}" [color=gray];')
                continue
            gradient = r.downstream[i] if i < len(r.downstream) else None
            label = _edge_label(by_name[src].value, gradient)
            lines.append(f'  "{_dot_escape(src)}" -> "{target}" [label={label}];')
    last = records[-1]
    lines.append('  "output" [shape=plaintext, label=""];')
    label = _edge_label(last.value, last.upstream)
    lines.append(f'  "{_dot_escape(last.name)}" -> "output" [label={label}];')
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_svg(dot: str) -> bytes:
    """``dot`` rendered to SVG by Graphviz; RenderError if the graphviz package or the dot
    program is missing."""
    try:
        import graphviz  # optional: pip install 'gpugrad[viz]'
    except ImportError:
        raise RenderError(
            "--svg needs the graphviz Python package: "
            "pip install 'gpugrad[viz]' (and Graphviz's dot program)"
        ) from None
    try:
        return graphviz.Source(dot).pipe(format="svg")
    except Exception as e:  # graphviz.ExecutableNotFound and friends
        raise RenderError(
            f"--svg needs Graphviz's dot program (apt-get install graphviz): {type(e).__name__}"
        ) from None
