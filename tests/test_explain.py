"""explain: the notes' worked examples, gates, the CLI and its errors, the DOT graph."""

import importlib
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch

import gpugrad as gg
from gpugrad import cli

ex = importlib.import_module("gpugrad.explain")  # gg.explain is the function, this the module


def _by_name(records):
    return {r.name: r for r in records}


def test_add_mul_circuit_from_the_notes():
    out, leaves = ex.evaluate(ex.parse("(x+y)*z"), {"x": -2, "y": 5, "z": -4})
    records = gg.explain(out)
    r = _by_name(records)
    assert [r[n].upstream for n in "xyz"] == [-4.0, -4.0, 3.0]
    add, mul = records[3], records[4]
    assert add.op == "+" and add.gate.startswith("add gate") and add.value == 3.0
    assert add.upstream == -4.0 and add.local == [1.0, 1.0] and add.downstream == [-4.0, -4.0]
    assert mul.gate.startswith("mul gate") and mul.value == -12.0
    assert mul.local == [-4.0, 3.0]  # the mul gate swaps its inputs
    assert leaves["x"].grad is None  # explain leaves .grad alone


@pytest.mark.parametrize("expr", ["1/(1+exp(-(w0*x0+w1*x1+w2)))", "sigmoid(w0*x0+w1*x1+w2)"])
def test_sigmoid_neuron_from_the_notes(expr):
    vals = dict(w0=2, x0=-1, w1=-3, x1=-2, w2=-3)
    out, _ = ex.evaluate(ex.parse(expr), vals)
    r = _by_name(gg.explain(out))
    assert round(out.item(), 2) == 0.73
    got = {k: round(r[k].upstream, 2) for k in vals}
    assert got == dict(w0=-0.2, x0=0.39, w1=-0.39, x1=-0.59, w2=0.2)
    t = {
        k: torch.tensor(float(v), dtype=torch.float64, requires_grad=True) for k, v in vals.items()
    }
    torch.sigmoid(t["w0"] * t["x0"] + t["w1"] * t["x1"] + t["w2"]).backward()
    for k in vals:
        assert r[k].upstream == pytest.approx(t[k].grad.item(), rel=1e-12)


def test_sigmoid_gate_local_gradient_is_sigma_one_minus_sigma():
    out, _ = ex.evaluate(ex.parse("sigmoid(x)"), {"x": 1.0})
    node = gg.explain(out)[-1]
    s = 1 / (1 + np.exp(-1.0))
    assert node.op == "sigmoid" and node.local == [pytest.approx(s * (1 - s))]


def test_max_gate_routes():
    out, _ = ex.evaluate(ex.parse("max(x, y) * 2"), {"x": 4, "y": 2})
    r = gg.explain(out)
    node = next(x for x in r if x.op == "max")
    assert node.gate.startswith("max gate") and node.downstream == [2.0, 0.0]


def test_fan_out_copy_gate_adds():
    out, _ = ex.evaluate(ex.parse("x*x + x"), {"x": 3})
    r = _by_name(gg.explain(out))
    assert "copy gate: adds (3 uses)" in r["x"].gate
    assert r["x"].upstream == 7.0


def test_tensors_are_summarised_not_jacobians():
    x = gg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    w = gg.tensor(np.ones((3, 4)), requires_grad=True)
    records = gg.explain((x @ w).tanh().sum())
    matmul = next(r for r in records if r.op == "@")
    assert isinstance(matmul.value, str) and "shape (2, 4)" in matmul.value
    assert "shape (2, 3)" in matmul.downstream[0]


def test_explain_refuses_freed_graph():
    x = gg.tensor(1.0, requires_grad=True)
    y = x * 2
    y.backward()
    with pytest.raises(ValueError, match="freed"):
        gg.explain(y)


def test_cli_prints_the_notes_numbers(capsys, tmp_path):
    dot = tmp_path / "g.dot"
    assert cli.main(["explain", "(x+y)*z", "--vars", "x=-2,y=5,z=-4", "--dot", str(dot)]) == 0
    out = capsys.readouterr().out
    assert "d/dx = -4, d/dy = -4, d/dz = 3" in out and "output v1 = -12" in out
    text = dot.read_text()
    assert text.startswith("digraph") and "darkgreen" in text and "red" in text and "-12" in text


@pytest.mark.parametrize(
    "args, message",
    [
        (["(x+*y)", "--vars", "x=1,y=2"], "syntax error at column 4"),
        (["foo(x)", "--vars", "x=1"], "unknown function 'foo'"),
        (["x+y", "--vars", "x=1"], "missing value for variable 'y'"),
        (["x+1", "--vars", "x=1,q=3"], "unknown variable 'q'"),
        (["x+1", "--vars", "x:1"], "bad --vars entry"),
        (["max(x)", "--vars", "x=1"], "takes 2 argument"),
        (["x $ 2", "--vars", "x=1"], "unexpected character"),
        (["(x+1", "--vars", "x=1"], "expected ')'"),
    ],
)
def test_cli_errors_are_one_line_exit_2(capsys, args, message):
    assert cli.main(["explain", *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_parser_never_evaluates_python():
    with pytest.raises(ex.ExprError):
        ex.parse("__import__('os').system('true')")


def test_precedence_and_associativity():
    out, _ = ex.evaluate(ex.parse("-x**2 + 2**3**2 / 64"), {"x": 3})
    assert out.item() == pytest.approx(-9 + 512 / 64)


def test_cli_subprocess_and_svg(tmp_path):
    svg = tmp_path / "g.svg"
    r = subprocess.run(
        [sys.executable, "-m", "gpugrad", "explain", "x*y", "--vars", "x=2,y=3", "--svg", str(svg)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    have_dot = shutil.which("dot") is not None
    try:
        import graphviz  # noqa: F401

        have_pkg = True
    except ImportError:
        have_pkg = False
    if have_dot and have_pkg:
        assert r.returncode == 0, r.stderr
        assert svg.read_text().lstrip().startswith("<?xml") or "<svg" in svg.read_text()
    else:
        assert r.returncode == 2 and "graphviz" in r.stderr.lower()
