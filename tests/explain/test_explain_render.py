"""explain's presentation: the table, the gradients line, the DOT graph, SVG errors."""

import pytest

import gpugrad as gg
from gpugrad.explain import render
from gpugrad.explain.expression import evaluate, parse


def _records(text="(x+y)*z", **values):
    out, _ = evaluate(parse(text), values or {"x": -2, "y": 5, "z": -4})
    return gg.explain(out)


def test_table_has_one_line_per_value_under_a_header():
    lines = render.format_table(_records()).splitlines()
    assert lines[0].split() == [
        "#",
        *("value", "op", "inputs", "forward", "upstream", "local", "downstream", "gate"),
    ]
    assert set(lines[1]) <= {"-", " "} and len(lines) == 2 + 5
    assert "add gate: distributes" in lines[5] and "-4, -4" in lines[5]
    assert lines[6].split()[:3] == ["4", "v1", "*"]


def test_gradients_line():
    line = render.format_gradients(_records())
    assert line == "output v1 = -12; gradients: d/dx = -4, d/dy = -4, d/dz = 3"


def test_format_value():
    assert render.format_value(None) == "-"
    assert render.format_value(1 / 3) == "0.333333"
    assert render.format_value("shape (2,)") == "shape (2,)"


def test_dot_has_values_and_gradients_on_the_edges():
    text = render.to_dot(_records())
    assert text.startswith("digraph backprop {") and text.endswith("}\n")
    assert '"x" -> "v0"' in text and '"v1" -> "output"' in text
    assert '<font color="darkgreen">-2</font><br/><font color="red">-4</font>' in text
    assert 'xlabel=<<font point-size="9" color="gray30">add gate</font>>' in text


def test_dot_escapes_quotes_in_names():
    x = gg.tensor(1.0, requires_grad=True)
    x.name = 'a"b'
    text = render.to_dot(gg.explain(x * 2))
    assert '"a\\"b" [shape=plaintext, label="a\\"b"];' in text


def test_svg_without_graphviz_says_what_to_install(monkeypatch):
    monkeypatch.setitem(__import__("sys").modules, "graphviz", None)  # import fails
    with pytest.raises(render.RenderError, match="graphviz Python package"):
        render.to_svg("digraph {}")
