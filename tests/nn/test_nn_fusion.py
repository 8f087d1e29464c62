"""``nn.Sequential`` runs a Linear followed by an activation as one GEMM plus one fused
bias-activation node (issue 17): the same numbers as the modules one by one, in value and
gradient; hooks or ``inplace=True`` keep the modules separate."""

import numpy as np
import pytest

import gpugrad as gg
from gpugrad import nn
from gpugrad.ops.activation import BiasActivation


def _model():
    gg.manual_seed(0)
    return nn.Sequential(
        nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 5), nn.ELU(0.5), nn.Linear(5, 3), nn.Sigmoid()
    )


def _one_by_one(model, x):
    for m in model:
        x = m(x)
    return x


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_sequential_gives_the_same_values_and_gradients(dtype, device):
    model = _model().to(device=device, dtype=getattr(gg, dtype))
    x0 = np.random.default_rng(1).standard_normal((7, 4))
    outs, grads = [], []
    for run in (model, lambda x: _one_by_one(model, x)):
        model.zero_grad()
        x = gg.tensor(x0, dtype=dtype, device=device, requires_grad=True)
        y = run(x)
        (y * y).sum().backward()
        outs.append(y.numpy())
        grads.append([x.grad.numpy()] + [p.grad.numpy() for p in model.parameters()])
    np.testing.assert_array_equal(outs[0], outs[1])
    for fused, separate in zip(*grads):
        np.testing.assert_allclose(fused, separate, rtol=1e-6 if dtype == "float32" else 1e-14)


def _bias_activation_nodes(y) -> list:
    """The activations (by name) of the BiasActivation nodes in y's graph."""
    found, stack, seen = [], [y.creator], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen or not hasattr(node, "next_edges"):
            continue
        seen.add(id(node))
        if isinstance(node, BiasActivation):
            found.append(node.spec.name)
        stack.extend(node.next_edges)
    return sorted(found)


def test_fusion_records_one_bias_activation_node_per_pair(device):
    model = _model().to(device=device)
    y = model(gg.randn(2, 4, device=device))
    assert _bias_activation_nodes(y) == ["elu", "relu", "sigmoid"]


def test_hooks_and_inplace_keep_the_modules_separate(device):
    model = _model().to(device=device)
    calls = []
    model[1].register_forward_hook(lambda m, args, out: calls.append(type(m).__name__))
    model[3].inplace = True
    y = model(gg.randn(2, 4, device=device))
    assert calls == ["ReLU"]
    assert _bias_activation_nodes(y) == ["sigmoid"]
