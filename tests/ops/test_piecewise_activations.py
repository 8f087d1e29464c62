"""The piecewise-linear activations (gpugrad/ops/piecewise_activations.py): hardtanh,
relu6, hardsigmoid, hardswish, threshold, prelu and their modules against torch: values and
gradients on random, 0-d, empty and large inputs, at NaN, ±inf and each side of every kink,
second derivatives, in place, the modules' reprs and parameters, and a compiled step."""

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

W = 0.25
# name: (ours, torch's, kinks)
CASES = {
    "hardtanh": (F.hardtanh, TF.hardtanh, (-1, 1)),
    "hardtanh_-2_3.5": (
        lambda x: F.hardtanh(x, -2.0, 3.5),
        lambda x: TF.hardtanh(x, -2.0, 3.5),
        (-2, 3.5),
    ),
    "relu6": (F.relu6, TF.relu6, (0, 6)),
    "hardsigmoid": (F.hardsigmoid, TF.hardsigmoid, (-3, 3)),
    "hardswish": (F.hardswish, TF.hardswish, (-3, 3)),
    "threshold": (
        lambda x: F.threshold(x, 1.0, -5.0),
        lambda x: TF.threshold(x, 1.0, -5.0),
        (1,),
    ),
    "prelu": (
        lambda x: F.prelu(x, gg.tensor(np.array([W], x.dtype), device=x.device)),
        lambda x: TF.prelu(x, torch.tensor([W], dtype=x.dtype)),
        (0,),
    ),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", CASES)
def test_values_and_gradients_match_torch(name, dtype, device):
    ours, theirs, _ = CASES[name]
    check_random(ours, theirs, dtype, device)


# d gx / d gy not compared: torch has no double backward for hardsigmoid, and prelu's says 1
# at x == 0, where its own backward (and ours) gives w·gy: ours is the backward's slope.
LOCAL_DIFFERS = ("hardsigmoid", "prelu")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", CASES)
def test_nan_infinities_and_kinks_match_torch(name, dtype, device):
    """Each side of each kink as torch's: hardtanh/relu6/hardsigmoid pass no gradient at
    their ends, hardswish 0 at -3 and 1 at 3, threshold 0 at x == threshold; NaN:
    hardsigmoid 0, hardtanh, relu6, hardswish and threshold gy, prelu w·gy (torch's scalar
    and CUDA code)."""
    ours, theirs, kinks = CASES[name]
    check_specials(ours, theirs, specials(dtype, kinks), device, local=name not in LOCAL_DIFFERS)


@pytest.mark.parametrize("name", CASES)
def test_second_derivatives_match_torch(name, device):
    """d²y/dx²: 1/3 inside (-3, 3) for hardswish, 0 for the others (torch has no double
    backward for hardsigmoid: ours is 0, as the function is piecewise linear)."""
    ours, theirs, kinks = CASES[name]
    x = np.concatenate([np.linspace(-7, 7, 29), np.array(kinks, float)])
    if name == "hardsigmoid":
        theirs = lambda t: TF.relu6(t + 3) / 6  # the same function, with a double backward
    check_second_derivative(ours, theirs, x, device)


def test_hardsigmoid_slope_is_torchs_float_literal_in_float64_too():
    """torch multiplies by ``1.0f / 6.0f`` whatever the dtype: 0.1666666716337204."""
    x = gg.tensor([0.0], dtype="float64", requires_grad=True)
    F.hardsigmoid(x).backward(gg.ones_like(x))
    assert x.grad.numpy()[0] == 0.1666666716337204


def test_hardswish_overflows_as_torch():
    """torch computes x · 6 / 6 above 3: inf for float32 x above max / 6, gradient 1."""
    x = np.array([3e38, -3e38, 1e38], np.float32)
    tt = torch.tensor(x, requires_grad=True)
    t = gg.tensor(x, requires_grad=True)
    with np.errstate(over="ignore", invalid="ignore"):
        y = F.hardswish(t)
    ty = TF.hardswish(tt)
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    y.backward(gg.ones_like(y))
    ty.backward(torch.ones_like(ty))
    np.testing.assert_array_equal(t.grad.numpy(), tt.grad.numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(2, 3, 4, 5), (4, 3), (3,), ()])
def test_prelu_per_channel_and_one_weight_match_torch(shape, dtype, device):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal(shape) * 3).astype(dtype)
    if x.size:
        x.reshape(-1)[:3] = [0.0, np.inf, -np.inf][: min(3, x.size)]
    gy = rng.standard_normal(shape).astype(dtype)
    sizes = [1] + ([shape[1]] if len(shape) >= 2 else [])
    for n in sizes:
        for w_shape in [(n,)] + ([()] if n == 1 else []):
            w = rng.uniform(0.05, 0.5, w_shape).astype(dtype)
            t = gg.tensor(x, device=device, requires_grad=True)
            wt = gg.tensor(w, device=device, requires_grad=True)
            tt, twt = torch.tensor(x, requires_grad=True), torch.tensor(w, requires_grad=True)
            y, ty = F.prelu(t, wt), TF.prelu(tt, twt)
            y.backward(gg.tensor(gy, device=device))
            ty.backward(torch.tensor(gy))
            tol = dict(rtol=2e-6 if dtype == np.float32 else 1e-14, atol=0)
            np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **tol)
            np.testing.assert_allclose(t.grad.numpy(), tt.grad.numpy(), **tol)
            assert wt.grad.shape == w.shape
            tol = dict(rtol=1e-4 if dtype == np.float32 else 1e-12, atol=1e-5)
            np.testing.assert_allclose(wt.grad.numpy(), twt.grad.numpy(), **tol)


def test_prelu_gradcheck_and_gradgradcheck(device):
    rng = np.random.default_rng(2)
    x = gg.tensor(rng.uniform(0.2, 2, (3, 4, 2)) * rng.choice([-1, 1], (3, 4, 2)), device=device)
    x.requires_grad_()
    w = gg.tensor([0.1, 0.2, 0.3, 0.4], dtype="float64", device=device, requires_grad=True)
    assert gg.gradcheck(F.prelu, (x, w))
    assert gg.gradgradcheck(F.prelu, (x, w))


def test_bad_arguments_raise_as_torch():
    x = gg.tensor([[1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match="min_val cannot be greater than max_val"):
        F.hardtanh(x, 2.0, 1.0)
    with pytest.raises(ValueError, match="must be greater than min_val"):
        nn.Hardtanh(2.0, 1.0)
    with pytest.raises(ValueError, match="Found parameter numbers = 2 and channel size = 3"):
        F.prelu(x, gg.tensor([0.1, 0.2]))
    with pytest.raises(ValueError, match="scalar or 1D tensor"):
        F.prelu(x, gg.tensor([[0.1]]))
    with pytest.raises(TypeError, match="floating-point"):
        F.hardswish(gg.tensor([1, 2]))


def test_integer_inputs_as_torch():
    """hardtanh, relu6 and threshold keep an integer tensor's dtype, as torch's."""
    host = np.array([-3, 0, 1, 2, 7])
    x = gg.tensor(host)
    for ours, theirs in [
        (F.hardtanh(x, 0, 2), TF.hardtanh(torch.tensor(host), 0, 2)),
        (F.relu6(x), TF.relu6(torch.tensor(host))),
        (F.threshold(x, 1.5, 9), TF.threshold(torch.tensor(host), 1.5, 9)),
    ]:
        assert ours.dtype == np.int64
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())


INPLACE = {
    "hardtanh": lambda f: lambda x: f.hardtanh(x, -0.5, 1.0, inplace=True),
    "relu6": lambda f: lambda x: f.relu6(x, inplace=True),
    "hardsigmoid": lambda f: lambda x: f.hardsigmoid(x, inplace=True),
    "hardswish": lambda f: lambda x: f.hardswish(x, inplace=True),
    "threshold": lambda f: lambda x: f.threshold(x, 0.5, -2.0, inplace=True),
}


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_writes_the_input_as_torch(name, device):
    host = np.array([-4.0, -3.0, -1.5, -0.2, 0.0, 0.5, 0.7, 2.0, 3.0, 6.5])
    check_inplace(INPLACE[name](F), INPLACE[name](TF), host, device)


def test_inplace_on_a_leaf_that_requires_grad_is_refused():
    x = gg.tensor([1.0, -1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        F.hardtanh(x, inplace=True)


MODULES = [
    (nn.Hardtanh(), torch.nn.Hardtanh()),
    (nn.Hardtanh(-2, 3.5, inplace=True), torch.nn.Hardtanh(-2, 3.5, inplace=True)),
    (nn.ReLU6(), torch.nn.ReLU6()),
    (nn.ReLU6(inplace=True), torch.nn.ReLU6(inplace=True)),
    (nn.Hardsigmoid(), torch.nn.Hardsigmoid()),
    (nn.Hardsigmoid(inplace=True), torch.nn.Hardsigmoid(inplace=True)),
    (nn.Hardswish(inplace=True), torch.nn.Hardswish(inplace=True)),
    (nn.Threshold(0.1, 20), torch.nn.Threshold(0.1, 20)),
    (nn.Threshold(0.1, 20.0, True), torch.nn.Threshold(0.1, 20.0, True)),
    (nn.PReLU(), torch.nn.PReLU()),
    (nn.PReLU(3, 0.1), torch.nn.PReLU(3, 0.1)),
]


@pytest.mark.parametrize("ours, theirs", MODULES, ids=lambda m: repr(m))
def test_modules_repr_and_values_as_torch(ours, theirs):
    assert repr(ours) == repr(theirs)
    x = np.random.default_rng(0).normal(size=(2, 3, 4)) * 4
    with torch.no_grad():
        expected = theirs.double()(torch.tensor(x)).numpy()
    ours.to(dtype=np.float64)
    np.testing.assert_allclose(ours(gg.tensor(x)).detach().numpy(), expected, rtol=1e-15)
    assert isinstance(nn.ReLU6(), nn.Hardtanh) and nn.ReLU6().max_val == 6.0


def test_prelu_module_parameters_state_dict_and_training(device):
    ours, theirs = nn.PReLU(3, 0.1), torch.nn.PReLU(3, 0.1)
    assert [n for n, _ in ours.named_parameters()] == ["weight"]
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight"]
    assert ours.weight.shape == (3,) and ours.weight.dtype == np.float32
    np.testing.assert_array_equal(ours.weight.numpy(), theirs.weight.detach().numpy())
    theirs.load_state_dict({"weight": torch.tensor([0.3, -0.2, 0.05])})
    ours.load_state_dict({"weight": gg.tensor(np.float32([0.3, -0.2, 0.05]))})
    ours.to(device=device)
    x = np.random.default_rng(4).standard_normal((5, 3, 2)).astype(np.float32)
    loss = (ours(gg.tensor(x, device=device)) ** 2).sum()
    tloss = (theirs(torch.tensor(x)) ** 2).sum()
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(loss.item(), tloss.item(), rtol=1e-6)
    np.testing.assert_allclose(ours.weight.grad.numpy(), theirs.weight.grad.numpy(), rtol=1e-5)
    assert nn.PReLU(dtype=gg.float64).weight.dtype == np.float64


def test_a_compiled_step_is_bit_identical_to_eager(device):
    acts = [nn.Hardtanh(-0.5, 0.5), nn.ReLU6(), nn.Hardsigmoid(), nn.Hardswish()]
    acts += [nn.Threshold(0.1, -1.0), nn.PReLU(6).to(device=device)]
    check_compiled(acts, device)
