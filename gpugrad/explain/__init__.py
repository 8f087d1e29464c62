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

records.py holds the records and the graph walk, render.py the table and the DOT/SVG graph,
expression.py the expression language, cli.py the command.
"""

from .cli import main
from .expression import ExprError, evaluate, parse
from .records import Record, explain
from .render import format_table, to_dot

__all__ = ["Record", "evaluate", "explain", "format_table", "main", "parse", "to_dot"]
