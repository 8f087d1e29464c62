"""nn.init against torch.nn.init: gains, fan modes, the bounds and spreads each initialiser
gives (same formulas, different random streams: compared by statistics), the deterministic
ones exactly; nn.utils (clipping, vectors) against torch.nn.utils."""

import math

import numpy as np
import pytest
import torch

import gpugrad as gg
from gpugrad import nn

NAMES = ["linear", "conv2d", "sigmoid", "tanh", "relu", "leaky_relu", "selu", "conv_transpose2d"]
GAINS = [(name, None) for name in NAMES] + [("leaky_relu", 0.2)]


@pytest.mark.parametrize("name, param", GAINS)
def test_calculate_gain_as_torch(name, param):
    assert nn.init.calculate_gain(name, param) == pytest.approx(
        torch.nn.init.calculate_gain(name, param)
    )


def _std_and_max(fn, shape, *args, **kwargs):
    gg.manual_seed(0), torch.manual_seed(0)
    ours, theirs = gg.zeros(*shape), torch.zeros(*shape)
    getattr(nn.init, fn)(ours, *args, **kwargs)
    getattr(torch.nn.init, fn)(theirs, *args, **kwargs)
    return (ours.numpy().std(), np.abs(ours.numpy()).max()), (
        theirs.std().item(),
        theirs.abs().max().item(),
    )


@pytest.mark.parametrize(
    "fn, args, kwargs",
    [
        ("uniform_", (-0.5, 0.25), {}),
        ("normal_", (0.0, 0.3), {}),
        ("trunc_normal_", (0.0, 1.0, -1.0, 1.5), {}),
        ("xavier_uniform_", (), {"gain": 2.0}),
        ("xavier_normal_", (), {}),
        ("kaiming_uniform_", (), {"mode": "fan_out", "nonlinearity": "relu"}),
        ("kaiming_normal_", (0.1,), {"mode": "fan_in"}),
        ("kaiming_normal_", (), {"mode": "fan_out", "nonlinearity": "tanh"}),
    ],
)
def test_random_initialisers_have_torch_spread(fn, args, kwargs):
    (std, top), (t_std, t_top) = _std_and_max(fn, (64, 32, 3, 3), *args, **kwargs)
    assert std == pytest.approx(t_std, rel=0.03)
    if fn.endswith("uniform_"):
        assert top == pytest.approx(t_top, rel=0.01)


def test_trunc_normal_respects_bounds_and_modes_are_checked():
    t = gg.zeros(2000)
    nn.init.trunc_normal_(t, mean=1.0, std=2.0, a=0.0, b=1.5)
    assert t.numpy().min() >= 0.0 and t.numpy().max() <= 1.5
    with pytest.raises(ValueError, match="fan_in"):
        nn.init.kaiming_normal_(gg.zeros(3, 3), mode="fan_sideways")


def test_deterministic_initialisers_exactly():
    t = gg.zeros(3, 5)
    np.testing.assert_array_equal(nn.init.eye_(t).numpy(), np.eye(3, 5))
    np.testing.assert_array_equal(nn.init.constant_(t, 0.5).numpy(), np.full((3, 5), 0.5))
    np.testing.assert_array_equal(nn.init.ones_(t).numpy(), np.ones((3, 5)))


@pytest.mark.parametrize("shape", [(4, 6), (6, 4), (3, 2, 2, 2)])
def test_orthogonal(shape):
    t = nn.init.orthogonal_(gg.zeros(*shape, dtype="float64"), gain=2.0)
    flat = t.numpy().reshape(shape[0], -1)
    gram = flat @ flat.T if flat.shape[0] <= flat.shape[1] else flat.T @ flat
    np.testing.assert_allclose(gram, 4 * np.eye(min(flat.shape)), atol=1e-12)


# -- nn.utils ----------------------------------------------------------------------------
def _grads_pair(scale=1.0):
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=s) * scale for s in [(3, 4), (5,), (2, 2)]]
    ours = [gg.tensor(a, requires_grad=True) for a in arrays]
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    for o, t, a in zip(ours, theirs, arrays):
        o.grad, t.grad = gg.tensor(a * 3), torch.tensor(a * 3)
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, 1.0, math.inf, 3])
@pytest.mark.parametrize("max_norm", [0.5, 1e3])
def test_clip_grad_norm_as_torch(norm_type, max_norm):
    ours, theirs = _grads_pair()
    total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type)
    t_total = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type)
    assert total.item() == pytest.approx(t_total.item(), rel=1e-12)
    for o, t in zip(ours, theirs):
        np.testing.assert_allclose(o.grad.numpy(), t.grad.numpy(), rtol=1e-12)


def test_clip_grad_norm_nonfinite():
    ours, _ = _grads_pair()
    ours[0].grad.array[0, 0] = np.inf
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    assert math.isinf(nn.utils.clip_grad_norm_(ours, 1.0).item())


def test_clip_grad_value_and_vectors_as_torch():
    ours, theirs = _grads_pair()
    nn.utils.clip_grad_value_(ours, 0.7)
    torch.nn.utils.clip_grad_value_(theirs, 0.7)
    for o, t in zip(ours, theirs):
        np.testing.assert_array_equal(o.grad.numpy(), t.grad.numpy())
    vec = nn.utils.parameters_to_vector(ours)
    np.testing.assert_array_equal(vec.numpy(), torch.nn.utils.parameters_to_vector(theirs).detach())
    nn.utils.vector_to_parameters(vec * 2, ours)
    np.testing.assert_array_equal(ours[1].numpy(), 2 * theirs[1].detach().numpy())
    with pytest.raises(ValueError, match="elements"):
        nn.utils.vector_to_parameters(vec[:3], ours)
