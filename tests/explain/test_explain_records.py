"""explain's records: the notes' worked examples, gates, fan-out, tensor summaries."""

import numpy as np
import pytest
import torch

import gpugrad as gg
from gpugrad.explain.expression import evaluate, parse
from gpugrad.explain.records import Record


def _by_name(records):
    return {r.name: r for r in records}


def test_add_mul_circuit_from_the_notes():
    out, leaves = evaluate(parse("(x+y)*z"), {"x": -2, "y": 5, "z": -4})
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
    out, _ = evaluate(parse(expr), vals)
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
    out, _ = evaluate(parse("sigmoid(x)"), {"x": 1.0})
    node = gg.explain(out)[-1]
    s = 1 / (1 + np.exp(-1.0))
    assert node.op == "sigmoid" and node.local == [pytest.approx(s * (1 - s))]


def test_max_gate_routes():
    out, _ = evaluate(parse("max(x, y) * 2"), {"x": 4, "y": 2})
    r = gg.explain(out)
    node = next(x for x in r if x.op == "max")
    assert node.gate.startswith("max gate") and node.downstream == [2.0, 0.0]


def test_fan_out_copy_gate_adds():
    out, _ = evaluate(parse("x*x + x"), {"x": 3})
    r = _by_name(gg.explain(out))
    assert "copy gate: adds (3 uses)" in r["x"].gate
    assert r["x"].upstream == 7.0


def test_constant_ops_are_labelled_with_their_constant():
    out, _ = evaluate(parse("2 - x * 3"), {"x": 1})
    ops = [r.op for r in gg.explain(out)]
    assert ops == ["input", "* 3", "2 -"]


def test_records_are_indexed_in_forward_order_and_convert_to_dicts():
    x = gg.tensor(2.0, requires_grad=True)
    x.name = "x"
    records = gg.explain((x * x).exp())
    assert [r.index for r in records] == [0, 1, 2]
    assert all(isinstance(r, Record) for r in records)
    first = records[0].as_dict()
    assert first["name"] == "x" and first["op"] == "input" and first["inputs"] == []
    assert records[-1].upstream == 1.0


def test_tensors_are_summarised_not_jacobians():
    x = gg.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    w = gg.tensor(np.ones((3, 4)), requires_grad=True)
    records = gg.explain((x @ w).tanh().sum())
    matmul = next(r for r in records if r.op == "@")
    assert isinstance(matmul.value, str) and "shape (2, 4)" in matmul.value
    assert "shape (2, 3)" in matmul.downstream[0]


def test_broadcast_gradients_are_summed_to_the_input_shape():
    x = gg.tensor(np.ones((2, 3)), requires_grad=True)
    b = gg.tensor(np.ones(3), requires_grad=True)
    records = gg.explain((x + b).sum())
    add = next(r for r in records if r.op == "+")
    assert "shape (2, 3)" in add.downstream[0] and "shape (3,) mean 2" in add.downstream[1]


def test_explain_refuses_freed_graph():
    x = gg.tensor(1.0, requires_grad=True)
    y = x * 2
    y.backward()
    with pytest.raises(ValueError, match="freed"):
        gg.explain(y)


def test_explain_refuses_a_leaf():
    with pytest.raises(ValueError, match="require grad"):
        gg.explain(gg.tensor(1.0, requires_grad=True))
