"""``python -m gpugrad explain EXPR --vars ...``: parse the expression, print the table of
forward values and gradients, and write the graph as DOT or SVG if asked."""

from __future__ import annotations

import argparse
import sys

from ..cli import parse_args
from .expression import ExprError, evaluate, parse, parse_vars, variables_of
from .records import explain
from .render import RenderError, format_gradients, format_table, to_dot, to_svg


def _fail(message) -> int:
    print(f"gpugrad explain: {message}", file=sys.stderr)
    return 2


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gpugrad explain",
        description="Show forward values and gradients of every node.",
    )
    parser.add_argument("expression", help='e.g. "(x+y)*z" or "1/(1+exp(-(w0*x0+w1*x1+w2)))"')
    parser.add_argument("--vars", default="", help="values, e.g. x=-2,y=5,z=-4")
    parser.add_argument("--dot", help="write the graph as Graphviz DOT text to this file")
    parser.add_argument("--svg", help="render the graph to SVG (needs Graphviz)")
    args = parse_args(parser, argv)
    if isinstance(args, int):
        return args
    try:
        tree = parse(args.expression)
        values = parse_vars(args.vars)
        names = variables_of(tree)
        unknown = [n for n in values if n not in names]
        if unknown:
            raise ExprError(
                f"unknown variable {unknown[0]!r}: the expression uses "
                f"{', '.join(names) or 'no variables'}"
            )
        out, _ = evaluate(tree, values, device="cpu")
        records = explain(out)
    except ExprError as e:
        return _fail(e)
    print(format_table(records))
    print("\n" + format_gradients(records))
    dot = to_dot(records)
    if args.dot:
        with open(args.dot, "w") as f:
            f.write(dot)
    if args.svg:
        try:
            svg = to_svg(dot)
        except RenderError as e:
            return _fail(e)
        with open(args.svg, "wb") as f:
            f.write(svg)
    return 0
