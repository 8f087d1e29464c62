"""The loss modules (gpugrad/nn/loss.py) against torch.nn's, constructed with the same
arguments (weights, ignore_index, label smoothing, pos_weight, beta, delta, the deprecated
size_average/reduce flags): the same value and input gradient.  The functions themselves:
tests/ops/test_loss.py and tests/ops/test_softmax_cross_entropy.py."""

import numpy as np
import pytest
import torch

import gpugrad as gg
from gpugrad import nn

W = np.array([0.5, 2.0, 1.5])
LABELS = np.array([0, 2, -100, 1])
PROBS = np.random.default_rng(7).uniform(0.1, 0.9, (4, 3))

# (module name, constructor keyword arguments (arrays become tensors), target, input kind)
CASES = [
    ("CrossEntropyLoss", dict(weight=W, label_smoothing=0.1), LABELS, "scores"),
    ("CrossEntropyLoss", dict(ignore_index=1, reduction="sum"), np.array([0, 1, 2, 1]), "scores"),
    ("CrossEntropyLoss", dict(reduce=False), np.array([0, 1, 2, 1]), "scores"),
    ("NLLLoss", dict(weight=W), LABELS, "scores"),
    ("NLLLoss", dict(size_average=False), np.array([0, 1, 2, 1]), "scores"),
    ("BCELoss", dict(weight=W), PROBS, "probabilities"),
    ("BCEWithLogitsLoss", dict(pos_weight=W, reduction="none"), PROBS, "scores"),
    ("MSELoss", dict(), PROBS, "scores"),
    ("L1Loss", dict(reduction="sum"), PROBS, "scores"),
    ("SmoothL1Loss", dict(beta=0.5), PROBS, "scores"),
    ("HuberLoss", dict(delta=0.3), PROBS, "scores"),
    ("MultiMarginLoss", dict(p=2, margin=0.5, weight=W), np.array([0, 1, 2, 1]), "scores"),
]


def _args(lib, kwargs):
    return {k: lib.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}


@pytest.mark.parametrize("name, kwargs, target, kind", CASES, ids=[c[0] for c in CASES])
def test_module_matches_torch(name, kwargs, target, kind, device):
    rng = np.random.default_rng(8)
    x = rng.uniform(0.05, 0.95, (4, 3)) if kind == "probabilities" else rng.normal(size=(4, 3))
    module = getattr(nn, name)(**_args(gg, kwargs)).to(device)
    reference = getattr(torch.nn, name)(**_args(torch, kwargs))
    a = gg.tensor(x, device=device, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    y, ty = module(a, gg.tensor(target, device=device)), reference(t, torch.tensor(target))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10)
    y.sum().backward()
    ty.sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_weights_are_buffers():
    loss = nn.CrossEntropyLoss(weight=gg.tensor(W))
    assert "weight" in loss.state_dict()
    assert "pos_weight" in nn.BCEWithLogitsLoss(pos_weight=gg.tensor(W)).state_dict()
    assert loss.ignore_index == -100 and loss.label_smoothing == 0.0


def test_module_losses(device):
    logits = gg.randn(4, 3, device=device)
    labels = gg.tensor([0, 1, 2, 0], device=device)
    assert nn.CrossEntropyLoss()(logits, labels).shape == ()
    assert nn.MultiMarginLoss(reduction="none")(logits, labels).shape == (4,)
    assert nn.MSELoss()(logits, logits).item() == 0
    with pytest.raises(ValueError, match="reduction"):
        nn.L1Loss(reduction="avg")
