"""The activation ops (gpugrad/ops/activation.py) against PyTorch and numerical gradients:
forward, backward and second derivatives on edge values, 0-d, empty and non-contiguous
inputs, bias + activation, the registry's functions and modules, the NumPy twins' buffer
discipline and the errors.  One case per registry record (``kernel_cases.CASES``); on the
CPU, and on CUDA too when there is a GPU (the ``device`` fixture).  The twins and kernels
themselves, edge by edge, are in tests/kernels/test_activation_kernels.py."""

import numpy as np
import pytest
import torch
from kernel_cases import (
    CASES,
    REFERENCES,
    TEST_PARAMETERS,
    edge_values,
    special_values,
    torch_elementwise,
)

import gpugrad as gg
import gpugrad.functional as F
from gpugrad import nn
from gpugrad.ops import activation

# against torch on the same dtype
TOL = {np.float32: dict(rtol=2e-6, atol=1e-7), np.float64: dict(rtol=1e-13, atol=1e-300)}


def test_every_record_has_its_function_module_and_test_case():
    for name, spec in activation.ACTIVATIONS.items():
        assert callable(getattr(F, name)), name
        module = getattr(nn, spec.module)
        assert issubclass(module, nn.Module) and module.__name__ == spec.module
        assert name in REFERENCES and (spec.param is None or spec.param in TEST_PARAMETERS)
    assert [case.name for case in CASES] == sorted(activation.ACTIVATIONS)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_module_applies_its_function(case, device):
    x = gg.tensor(np.linspace(-3, 3, 7), device=device)
    module = getattr(nn, case.spec.module)(**case.kwargs)
    np.testing.assert_array_equal(module(x).numpy(), case.function(x).numpy())
    if case.spec.param is not None:
        assert f"{case.spec.param}={case.p}" in repr(module)
        default = getattr(nn, case.spec.module)()
        assert getattr(default, case.spec.param) == case.spec.default


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_forward_and_backward_match_torch(case, dtype, device):
    rng = np.random.default_rng(0)
    inputs = [rng.standard_normal((7, 13)) * 5, np.array(0.7), np.zeros((0, 3))]
    for x in [edge_values(dtype), *inputs]:
        x = x.astype(dtype)
        gy = rng.standard_normal(x.shape).astype(dtype)
        t = gg.tensor(x, device=device, requires_grad=True)
        y = case.function(t)
        y.backward(gg.tensor(gy, device=device))
        y, gx = y.numpy(), t.grad.numpy()
        tt = torch.tensor(x, requires_grad=True)
        ty = case.torch(tt)
        ty.backward(torch.tensor(gy))
        assert y.dtype == dtype and y.shape == x.shape and gx.shape == x.shape
        np.testing.assert_allclose(y, ty.detach().numpy(), **TOL[dtype], err_msg="forward")
        finite = np.isfinite(x)  # torch's gradients at ±inf/NaN inputs are its own business
        # The local gradient is read from the output y (1 - y² for tanh, y + α for ELU), as
        # PyTorch does for tanh: where it is small it carries an absolute error of a few
        # ulps of 1 (times gy), not a relative one.
        atol = 8 * np.finfo(dtype).eps * (np.abs(gy).max() if gy.size else 0)
        rtol = TOL[dtype]["rtol"]
        theirs = tt.grad.numpy()
        np.testing.assert_allclose(
            gx[finite], theirs[finite], rtol=rtol, atol=atol, err_msg="backward"
        )


def _fused(path, case, x, device):
    """act(x + 0) for a column x (n,) through a fused path: (y (n,), the leaf that is x)."""
    module = getattr(nn, case.spec.module)(**case.kwargs)
    zero = np.zeros(1, x.dtype)
    if path == "bias_activation":
        t = gg.tensor(x.reshape(-1, 1), device=device, requires_grad=True)
        y = activation.bias_activation(t, gg.tensor(zero, device=device), case.name, **case.kwargs)
    elif path == "channel_bias_activation":
        t = gg.tensor(x.reshape(-1, 1, 1, 1), device=device, requires_grad=True)
        b = gg.tensor(zero, device=device)
        y = F.channel_bias_activation(t, b, case.name, **case.kwargs)
    else:  # nn.Sequential fuses a Linear or Conv2d with the activation after it
        layer = nn.Linear(1, 1) if path == "Sequential(Linear)" else nn.Conv2d(1, 1, 1)
        layer.to(device=device, dtype=x.dtype)
        with gg.no_grad():
            layer.weight.fill_(1.0)
            layer.bias.fill_(0.0)
        shape = (-1, 1) if path == "Sequential(Linear)" else (-1, 1, 1, 1)
        t = gg.tensor(x.reshape(shape), device=device, requires_grad=True)
        y = nn.Sequential(layer, module)(t)
    return y.reshape(-1), t


FUSED_PATHS = [
    "bias_activation",
    "channel_bias_activation",
    "Sequential(Linear)",
    "Sequential(Conv2d)",
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_nan_infinities_and_kinks_match_torch(case, dtype, device):
    """At NaN, ±inf, ±0 and the kinks, the function, its module and every fused path give
    torch's values and gradients, and the create_graph backward torch's d gx / d gy (one
    element at a time: see ``torch_elementwise``).  Before: relu's gradient at NaN was 0 and
    elu's NaN (torch: gy), softplus above 20 was log1p(exp(x)) (torch: x, gradient gy)."""
    x = special_values(case.name, dtype)
    gy = np.linspace(-2, 3, x.size).astype(dtype)
    gy[gy == 0] = 1  # a zero upstream would hide the local gradient
    ty, tgx, tlocal = torch_elementwise(case.torch, x, gy)
    close = dict(rtol=4 * float(np.finfo(dtype).eps), atol=0)  # NaN, ±inf where torch's
    module = getattr(nn, case.spec.module)(**case.kwargs)
    for path in ["function", "module", *FUSED_PATHS]:
        if path in ("function", "module"):
            t = gg.tensor(x, device=device, requires_grad=True)
            y = case.function(t) if path == "function" else module(t)
        else:
            y, t = _fused(path, case, x, device)
        g = gg.tensor(gy, device=device, requires_grad=True)
        with np.errstate(invalid="ignore"):  # inf · 0 in a backward gives NaN, as in torch
            (gx,) = gg.grad(y, [t], [g], create_graph=path == "function")
        np.testing.assert_allclose(y.numpy(), ty, err_msg=f"{path} forward", **close)
        gx_host = gx.numpy().reshape(-1)
        np.testing.assert_allclose(gx_host, tgx, err_msg=f"{path} backward", **close)
        if path == "function":
            (local,) = gg.grad(gx, [g], [gg.ones_like(gx)])
            np.testing.assert_allclose(local.numpy(), tlocal, err_msg="d gx / d gy", **close)


COMPOSITES = {
    "gelu": (F.gelu, torch.nn.functional.gelu, {}),
    "gelu_tanh": (F.gelu, torch.nn.functional.gelu, {"approximate": "tanh"}),
    "silu": (F.silu, torch.nn.functional.silu, {}),
}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", COMPOSITES)
def test_composite_activations_at_nan_infinities_and_zero_match_torch(name, dtype, device):
    """gelu (both forms) and silu, composites of recorded ops: torch's values and gradients
    at NaN, ±inf and ±0 (NaN where torch has NaN: gelu(-inf) = -inf · 0, and the gradients
    at ±inf), one element at a time."""
    ours, theirs, kwargs = COMPOSITES[name]
    x = special_values(name, dtype)
    gy = np.linspace(-2, 3, x.size).astype(dtype)
    ty, tgx, _ = torch_elementwise(lambda t: theirs(t, **kwargs), x, gy)
    t = gg.tensor(x, device=device, requires_grad=True)
    with np.errstate(invalid="ignore"):  # inf · 0 in the backward, as in torch: NaN
        y = ours(t, **kwargs)
        y.backward(gg.tensor(gy, device=device))
    close = dict(rtol=4 * float(np.finfo(dtype).eps), atol=0)
    np.testing.assert_allclose(y.numpy(), ty, err_msg="forward", **close)
    np.testing.assert_allclose(t.grad.numpy(), tgx, err_msg="backward", **close)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_non_contiguous_input_and_input_left_untouched(case, device):
    base = np.random.default_rng(1).standard_normal((6, 10)) * 3
    view = base[:, ::2].T  # (5, 6), non-contiguous
    x = gg.tensor(base, device=device)[:, ::2].T
    before = x.numpy().copy()
    y = case.function(x)
    np.testing.assert_allclose(y.numpy(), case.torch(torch.tensor(view)).numpy(), **TOL[np.float64])
    np.testing.assert_array_equal(x.numpy(), before)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_second_derivatives_match_torch(case, device):
    x0 = np.random.default_rng(2).standard_normal(20) * 2
    x0[np.abs(x0) < 1e-3] = 0.5  # away from the kinks
    x = gg.tensor(x0, device=device, requires_grad=True)
    (gx,) = gg.grad(case.function(x).sum(), [x], create_graph=True)
    (ggx,) = gg.grad((gx * gx).sum(), [x], allow_unused=True)  # None: relu's is 0
    t = torch.tensor(x0, requires_grad=True)
    (tgx,) = torch.autograd.grad(case.torch(t).sum(), [t], create_graph=True)
    (tggx,) = torch.autograd.grad((tgx * tgx).sum(), [t])
    np.testing.assert_allclose(gx.numpy(), tgx.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        0 if ggx is None else ggx.numpy(), tggx.numpy(), rtol=1e-10, atol=1e-12
    )


@pytest.mark.parametrize("case", CASES, ids=str)
def test_gradcheck(case, device):
    x0 = np.random.default_rng(3).standard_normal((3, 4)) * 2
    x0[np.abs(x0) < 1e-2] = 0.3  # central differences across a kink lie
    x = gg.tensor(x0, device=device, requires_grad=True)
    assert gg.gradcheck(case.function, [x])
    if case.spec.local_gradient_derivative is not None:  # relu's and leaky's are 0 a.e.
        assert gg.gradgradcheck(case.function, [x])


def _bias_function(case):
    """F.bias_<name> where there is one (relu, sigmoid), else bias_activation."""
    named = getattr(F, f"bias_{case.name}", None)
    if named is not None:
        return named
    return lambda x, b: activation.bias_activation(x, b, case.name, **case.kwargs)


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5), (1,), (0, 4)], ids=str)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_bias_activation_matches_torch(case, shape, device):
    fn = _bias_function(case)
    rng = np.random.default_rng(4)
    x0, b0 = rng.standard_normal(shape), rng.standard_normal(shape[-1])
    gy = rng.standard_normal(shape)
    x = gg.tensor(x0, device=device, requires_grad=True)
    b = gg.tensor(b0, device=device, requires_grad=True)
    y = fn(x, b)
    y.backward(gg.tensor(gy, device=device))
    tx, tb = torch.tensor(x0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    ty = case.torch(tx + tb)
    ty.backward(torch.tensor(gy))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-12, atol=1e-14)
    if x0.size:
        assert gg.gradcheck(fn, [gg.tensor(x0 + 0.05, device=device, requires_grad=True), b])


def test_functions_record_named_nodes_and_a_differentiable_backward():
    x = gg.tensor([0.5, -0.5], requires_grad=True)
    for name in activation.ACTIVATIONS:
        node = getattr(F, name)(x).creator
        assert type(node) is activation.Activation and node.spec.name == name
    assert type(F.bias_relu(gg.tensor([[1.0, 2.0]]), x).creator) is activation.BiasActivation
    (g,) = gg.grad(F.sigmoid(x).sum(), [x], create_graph=True)
    assert type(g.creator) is activation.ActivationGrad


def test_cpu_twins_reuse_an_owned_buffer_and_spare_the_input():
    x = np.linspace(-3, 3, 11)
    for case in CASES:
        copy = x.copy()
        y = case.spec.forward_numpy(x, case.p)
        assert not np.shares_memory(y, x)
        np.testing.assert_array_equal(x, copy)
        owned = x.copy()
        y_owned = case.spec.forward_numpy(owned, case.p, owned=True)
        np.testing.assert_allclose(y_owned, y, rtol=1e-15)
        if case.name in ("tanh", "relu", "leaky_relu", "elu"):  # these need no second buffer
            assert np.shares_memory(y_owned, owned)
    sigmoid = activation.ACTIVATIONS["sigmoid"]
    assert sigmoid.forward_numpy(np.array(0.0, np.float16)).dtype == np.float16


def test_bad_arguments_raise_clear_errors():
    x = gg.tensor([[1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match="negative_slope >= 0"):
        F.leaky_relu(x, -0.1)
    with pytest.raises(ValueError, match="negative_slope >= 0"):
        nn.LeakyReLU(-0.1)
    with pytest.raises(ValueError, match="alpha > 0"):
        F.elu(x, 0.0)
    with pytest.raises(TypeError, match="floating-point"):
        F.relu(gg.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"bias of shape \(2,\)"):
        F.bias_relu(x, gg.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match="dtype mismatch"):
        F.bias_relu(x, gg.tensor([1.0, 2.0, 3.0]).astype(np.float64))
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        activation.bias_activation(x, gg.tensor([1.0, 2.0, 3.0]), "gelu")
    with pytest.raises(
        TypeError, match=r"unexpected keyword \['slope'\]; leaky_relu takes negative"
    ):
        activation.bias_activation(x, gg.tensor([1.0, 2.0, 3.0]), "leaky_relu", slope=0.1)
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        activation.activate("gelu", x)


@pytest.mark.parametrize(
    "name, module", [("relu", "ReLU"), ("leaky_relu", "LeakyReLU"), ("elu", "ELU")]
)
def test_inplace_activations_write_their_input_as_torch(name, module, device):
    host = np.array([-1.5, -0.2, 0.0, 0.7, 2.0])
    for make in (lambda x: getattr(F, name)(x, inplace=True), getattr(gg.nn, module)(inplace=True)):
        x = gg.tensor(host, dtype="float64", device=device, requires_grad=True)
        tx = torch.tensor(host, requires_grad=True)
        h, th = x * 1.0, tx * 1.0
        out = make(h)
        getattr(torch.nn.functional, name)(th, inplace=True)
        assert out is h
        (h * h).sum().backward()
        (th * th).sum().backward()
        np.testing.assert_allclose(h.numpy(), th.detach().numpy(), rtol=1e-15)
        np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-15)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_of_arrays_from_the_host_pool(dtype):
    """Large enough for the host pool (the CPU's ReLU output and its gradient's bit-mask
    select made in a pooled array): edge values, an infinite upstream where the unit is off
    gives 0, NaN passes forward and its gradient passes gy (torch's threshold_backward: 0
    where y <= 0); a (C, N, H, W) array's NCHW view keeps its memory order."""
    rng = np.random.default_rng(5)
    x0 = np.concatenate([np.tile(edge_values(dtype), 300), rng.standard_normal(20_000)])
    x0 = x0[: 8 * 5 * 24 * 24].astype(dtype).reshape(5, 8, 24, 24)  # (C, N, H, W)
    gy0 = rng.standard_normal(x0.shape).astype(dtype)
    gy0[::2, ::3] = np.inf  # where y is 0 too
    base = gg.tensor(x0, requires_grad=True)
    y = F.relu(base.permute(1, 0, 2, 3))  # of an NCHW view
    y.backward(gg.tensor(gy0).permute(1, 0, 2, 3))
    y_host, gx = y.numpy(), base.grad.numpy()
    assert y_host.nbytes >= gg.host_memory.POOL_MIN_BYTES
    assert y_host.strides[1] > y_host.strides[0]  # the input's memory order
    expected = np.maximum(x0, 0)
    np.testing.assert_array_equal(y_host.transpose(1, 0, 2, 3), expected)
    np.testing.assert_array_equal(gx, np.where(expected <= 0, 0, gy0))
    assert (gx[np.isnan(x0)] == gy0[np.isnan(x0)]).all()
    tx = torch.tensor(x0, requires_grad=True)
    torch.relu(tx).backward(torch.tensor(gy0))
    np.testing.assert_array_equal(gx, tx.grad.numpy())
