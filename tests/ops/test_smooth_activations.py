"""The smooth activations (gpugrad/ops/smooth_activations.py): selu, celu, mish, softsign,
logsigmoid, softplus with beta= and threshold=, and their modules against torch: values and
gradients on random, 0-d, empty and large inputs, at NaN, ±inf, 0 and the thresholds,
second derivatives (against torch and gradgradcheck), in place, reprs, a compiled step."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from activation_checks import (
    check_compiled,
    check_inplace,
    check_random,
    check_second_derivative,
    check_specials,
    specials,
)

import gpugrad as gg
import gpugrad.functional as F
from gpugrad import nn
from gpugrad.ops import activation

# name: (ours, torch's, kinks, gradient atol in ulps of 1: the elu-based ones read their
# gradient from the output, y + α, as F.elu does)
CASES = {
    "selu": (F.selu, TF.selu, (0,), 8),
    "celu": (F.celu, TF.celu, (0,), 8),
    "celu_2": (lambda x: F.celu(x, 2.0), lambda x: TF.celu(x, 2.0), (0,), 8),
    "celu_0.5": (lambda x: F.celu(x, 0.5), lambda x: TF.celu(x, 0.5), (0,), 8),
    "mish": (F.mish, TF.mish, (0, 20), 0),
    # at |x| ~ 1e20 both gradients are rounding noise far below an ulp of 1 (the true one
    # is 1/(1 + |x|)²), each library's from its own div backward
    "softsign": (F.softsign, TF.softsign, (0,), 1),
    "logsigmoid": (F.logsigmoid, TF.logsigmoid, (0,), 0),
    "softplus_2_5": (
        lambda x: F.softplus(x, 2.0, 5.0),
        lambda x: TF.softplus(x, 2.0, 5.0),
        (0, 2.5),
        0,
    ),
    "softplus_0.5": (
        lambda x: F.softplus(x, beta=0.5),
        lambda x: TF.softplus(x, beta=0.5),
        (0, 40),
        0,
    ),
    "softplus_t30": (
        lambda x: F.softplus(x, threshold=30),
        lambda x: TF.softplus(x, threshold=30),
        (0, 20, 30),
        0,
    ),
    # the registry's softplus (tests/ops/test_activation.py checks it at its threshold)
    "softplus": (F.softplus, TF.softplus, (0,), 8),
}

# a composite rounds in its own order (softsign's gradient through div and abs ...): a few ulps
RTOL_ULPS = 32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", CASES)
def test_values_and_gradients_match_torch(name, dtype, device):
    ours, theirs, _, atol_ulps = CASES[name]
    check_random(ours, theirs, dtype, device, rtol_ulps=RTOL_ULPS, atol_ulps=atol_ulps)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", CASES)
def test_nan_infinities_and_zero_match_torch(name, dtype, device):
    """torch's values and gradients one element at a time: selu's gradient scale·alpha at 0,
    celu's 1, logsigmoid's 1/2; NaN where torch has NaN (mish(-inf), softsign(±inf), their
    gradients at ±inf); at NaN the elu-based ones pass gy (times scale), as torch's scalar
    and CUDA code (and F.elu)."""
    ours, theirs, kinks, atol_ulps = CASES[name]
    x = specials(dtype, kinks)
    check_specials(ours, theirs, x, device, rtol_ulps=RTOL_ULPS, atol_ulps=atol_ulps)


@pytest.mark.parametrize("name", CASES)
def test_second_derivatives_match_torch_and_gradgradcheck(name, device):
    ours, theirs, _, _ = CASES[name]
    x = np.concatenate([np.linspace(-8, 8, 33) + 0.01, [25.0, -25.0]])
    check_second_derivative(ours, theirs, x, device, rtol=1e-9)
    t = gg.tensor(np.linspace(-3, 3, 7) + 0.05, device=device, requires_grad=True)
    assert gg.gradcheck(ours, (t,))
    assert gg.gradgradcheck(ours, (t,))


def test_default_softplus_keeps_the_fused_registry_node():
    x = gg.tensor([0.5, -0.5], requires_grad=True)
    assert type(F.softplus(x).creator) is activation.Activation
    assert type(F.softplus(x, beta=1, threshold=20).creator) is activation.Activation
    assert type(F.softplus(x, beta=2).creator) is not activation.Activation


def test_softplus_overflows_below_a_high_threshold_as_torch():
    """torch computes log1p(exp(beta·x)) up to the threshold: inf and a NaN gradient where
    exp overflows (float32 x above 88.7 with threshold 100)."""
    x = np.array([50.0, 90.0, 101.0], np.float32)
    t, tt = gg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    with np.errstate(over="ignore", invalid="ignore"):
        y = F.softplus(t, threshold=100)
        y.backward(gg.ones_like(y))
    ty = TF.softplus(tt, threshold=100)
    ty.backward(torch.ones_like(ty))
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(t.grad.numpy(), tt.grad.numpy())


def test_bad_arguments_raise():
    x = gg.tensor([1.0, -1.0])
    with pytest.raises(ValueError, match="alpha cannot be 0 for CELU"):
        F.celu(x, 0.0)
    with pytest.raises(ValueError, match="alpha > 0"):
        F.celu(x, -1.0)
    for fn in (F.selu, F.mish, F.softsign, F.logsigmoid, lambda t: F.softplus(t, 2.0)):
        with pytest.raises(TypeError, match="floating-point"):
            fn(gg.tensor([1, 2]))


INPLACE = {
    "selu": lambda f: lambda x: f.selu(x, inplace=True),
    "celu": lambda f: lambda x: f.celu(x, 1.0, inplace=True),
    "celu_2": lambda f: lambda x: f.celu(x, 2.0, inplace=True),
    "mish": lambda f: lambda x: f.mish(x, inplace=True),
}


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_writes_the_input_as_torch(name, device):
    host = np.array([-25.0, -4.0, -1.5, -0.2, 0.0, 0.5, 0.7, 2.0, 21.0])
    check_inplace(INPLACE[name](F), INPLACE[name](TF), host, device)


def test_inplace_without_grad_writes_the_input():
    x = gg.tensor([-1.0, 0.5])
    with gg.no_grad():
        out = F.mish(x, inplace=True)
    assert out is x
    np.testing.assert_allclose(x.numpy(), TF.mish(torch.tensor([-1.0, 0.5])).numpy(), rtol=1e-6)


MODULES = [
    (nn.SELU(), torch.nn.SELU()),
    (nn.SELU(inplace=True), torch.nn.SELU(inplace=True)),
    (nn.CELU(), torch.nn.CELU()),
    (nn.CELU(2, True), torch.nn.CELU(2, True)),
    (nn.Mish(), torch.nn.Mish()),
    (nn.Mish(inplace=True), torch.nn.Mish(inplace=True)),
    (nn.Softsign(), torch.nn.Softsign()),
    (nn.LogSigmoid(), torch.nn.LogSigmoid()),
    (nn.Softplus(), torch.nn.Softplus()),
    (nn.Softplus(2, 10), torch.nn.Softplus(2, 10)),
    (nn.Softplus(beta=0.5, threshold=30.0), torch.nn.Softplus(beta=0.5, threshold=30.0)),
]


@pytest.mark.parametrize("ours, theirs", MODULES, ids=lambda m: repr(m))
def test_modules_repr_and_values_as_torch(ours, theirs):
    assert repr(ours) == repr(theirs)
    x = np.random.default_rng(0).normal(size=(2, 3, 4)) * 8
    with torch.no_grad():
        expected = theirs(torch.tensor(x)).numpy()
    np.testing.assert_allclose(ours(gg.tensor(x)).detach().numpy(), expected, rtol=1e-14)
    assert list(ours.parameters()) == [] and list(ours.state_dict()) == []


def test_a_compiled_step_is_bit_identical_to_eager(device):
    acts = [nn.SELU(), nn.CELU(1.5), nn.Mish(), nn.Softsign(), nn.LogSigmoid()]
    acts += [nn.Softplus(2.0, 3.0), nn.Softplus()]
    check_compiled(acts, device)
