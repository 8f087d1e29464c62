"""The activation Functions (gpugrad/ops/activation.py) against PyTorch and numerical
gradients: forward, backward and second derivatives, for float32 and float64, on edge
values, 0-d, empty and non-contiguous inputs; the NumPy twins' buffer discipline; and the
errors.  Runs on the CPU, and on CUDA too when there is a GPU (the ``device`` fixture)."""

import numpy as np
import pytest
import torch

import gpugrad as gg
import gpugrad.functional as F
from gpugrad.ops import activation

TF = torch.nn.functional
P = {"leaky_relu": 0.1, "elu": 1.5}  # the parameter each test uses

# name: (gpugrad function, torch function)
ACTS = {
    "sigmoid": (F.sigmoid, torch.sigmoid),
    "tanh": (F.tanh, torch.tanh),
    "relu": (F.relu, torch.relu),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.1), lambda x: TF.leaky_relu(x, 0.1)),
    "elu": (lambda x: F.elu(x, 1.5), lambda x: TF.elu(x, 1.5)),
    # torch's softplus returns x itself above 20; the exact value differs by < 2e-9
    "softplus": (F.softplus, lambda x: TF.softplus(x, threshold=500)),
}
EDGES = [
    -1000.0,
    1000.0,
    -0.0,
    0.0,
    -50.0,
    50.0,
    -20.0,
    20.0,
    -1.0,
    1.0,
    1e-30,
    -1e-30,
    np.nan,
    np.inf,
    -np.inf,
]
TOL = {np.float32: dict(rtol=2e-6, atol=1e-7), np.float64: dict(rtol=1e-13, atol=1e-300)}


def _torch_forward_backward(fn, x, gy):
    t = torch.tensor(x, requires_grad=True)
    y = fn(t)
    y.backward(torch.tensor(gy))
    return y.detach().numpy(), t.grad.numpy()


def _ours(fn, x, gy, device):
    t = gg.tensor(x, device=device, requires_grad=True)
    y = fn(t)
    y.backward(gg.tensor(gy, device=device))
    return y.numpy(), t.grad.numpy()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(ACTS))
def test_forward_and_backward_match_torch(name, dtype, device):
    ours, theirs = ACTS[name]
    rng = np.random.default_rng(0)
    for x in [np.array(EDGES), rng.standard_normal((7, 13)) * 5, np.array(0.7), np.zeros((0, 3))]:
        x = x.astype(dtype)
        gy = rng.standard_normal(x.shape).astype(dtype)
        y, gx = _ours(ours, x, gy, device)
        ty, tgx = _torch_forward_backward(theirs, x, gy)
        assert y.dtype == dtype and y.shape == x.shape and gx.shape == x.shape
        np.testing.assert_allclose(y, ty, **TOL[dtype], err_msg=f"{name} forward")
        finite = np.isfinite(x)  # torch's gradients at ±inf/NaN inputs are its own business
        # The local gradient is read from the output y (1 - y² for tanh, y + α for ELU), as
        # PyTorch does for tanh: where it is small it carries an absolute error of a few
        # ulps of 1 (times gy), not a relative one.
        atol = 8 * np.finfo(dtype).eps * (np.abs(gy).max() if gy.size else 0)
        np.testing.assert_allclose(
            gx[finite], tgx[finite], rtol=TOL[dtype]["rtol"], atol=atol, err_msg=f"{name} backward"
        )


@pytest.mark.parametrize("name", sorted(ACTS))
def test_non_contiguous_input_and_input_left_untouched(name, device):
    ours, theirs = ACTS[name]
    base = np.random.default_rng(1).standard_normal((6, 10)) * 3
    view = base[:, ::2].T  # (5, 6), non-contiguous
    x = gg.tensor(base, device=device)[:, ::2].T
    before = x.numpy().copy()
    y = ours(x)
    np.testing.assert_allclose(y.numpy(), theirs(torch.tensor(view)).numpy(), **TOL[np.float64])
    np.testing.assert_array_equal(x.numpy(), before)


@pytest.mark.parametrize("name", sorted(ACTS))
def test_second_derivatives_match_torch(name, device):
    ours, theirs = ACTS[name]
    x0 = np.random.default_rng(2).standard_normal(20) * 2
    x0[np.abs(x0) < 1e-3] = 0.5  # away from the kinks
    x = gg.tensor(x0, device=device, requires_grad=True)
    (gx,) = gg.grad(ours(x).sum(), [x], create_graph=True)
    (ggx,) = gg.grad((gx * gx).sum(), [x], allow_unused=True)  # None: relu's is 0
    t = torch.tensor(x0, requires_grad=True)
    (tgx,) = torch.autograd.grad(theirs(t).sum(), [t], create_graph=True)
    (tggx,) = torch.autograd.grad((tgx * tgx).sum(), [t])
    np.testing.assert_allclose(gx.numpy(), tgx.detach().numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(
        0 if ggx is None else ggx.numpy(), tggx.numpy(), rtol=1e-10, atol=1e-12
    )


@pytest.mark.parametrize("name", sorted(ACTS))
def test_gradcheck(name, device):
    ours, _ = ACTS[name]
    x0 = np.random.default_rng(3).standard_normal((3, 4)) * 2
    x0[np.abs(x0) < 1e-2] = 0.3  # central differences across a kink lie
    x = gg.tensor(x0, device=device, requires_grad=True)
    assert gg.gradcheck(ours, [x])
    if name not in ("relu", "leaky_relu"):  # their second derivative is 0 a.e.
        assert gg.gradgradcheck(ours, [x])


@pytest.mark.parametrize(
    "kind, fn, reference",
    [
        ("relu", F.bias_relu, lambda x, b: torch.relu(x + b)),
        ("sigmoid", F.bias_sigmoid, lambda x, b: torch.sigmoid(x + b)),
        (
            "elu",
            lambda x, b: activation.bias_activation(x, b, "elu", 0.5),
            lambda x, b: TF.elu(x + b, 0.5),
        ),
    ],
)
@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 5), (1,), (0, 4)], ids=str)
def test_bias_activation_matches_torch(kind, fn, reference, shape, device):
    rng = np.random.default_rng(4)
    x0, b0 = rng.standard_normal(shape), rng.standard_normal(shape[-1])
    gy = rng.standard_normal(shape)
    x = gg.tensor(x0, device=device, requires_grad=True)
    b = gg.tensor(b0, device=device, requires_grad=True)
    y = fn(x, b)
    y.backward(gg.tensor(gy, device=device))
    tx, tb = torch.tensor(x0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    ty = reference(tx, tb)
    ty.backward(torch.tensor(gy))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), rtol=1e-12, atol=1e-14)
    if x0.size:
        assert gg.gradcheck(fn, [gg.tensor(x0 + 0.05, device=device, requires_grad=True), b])


def test_relu_passes_nan_and_its_gradient_at_zero_is_zero(device):
    x = gg.tensor([np.nan, -1.0, 0.0, 2.0], device=device, requires_grad=True)
    y = F.relu(x)
    y.backward(gg.tensor([1.0, 1.0, 1.0, 1.0], device=device))
    np.testing.assert_array_equal(y.numpy(), [np.nan, 0, 0, 2])
    np.testing.assert_array_equal(x.grad.numpy()[1:], [0, 0, 1])


def test_sigmoid_and_softplus_do_not_overflow(device):
    x = gg.tensor([-1e4, -800.0, 800.0, 1e4], device=device)
    with np.errstate(over="raise"):
        s, sp = F.sigmoid(x).numpy(), F.softplus(x).numpy()
    np.testing.assert_array_equal(s, [0, 0, 1, 1])
    np.testing.assert_array_equal(sp, [0, 0, 800, 1e4])


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
    for name in sorted(ACTS):
        copy = x.copy()
        y = activation.ACTIVATIONS[name].forward_numpy(x, P.get(name, 0.0))
        assert not np.shares_memory(y, x)
        np.testing.assert_array_equal(x, copy)
        owned = x.copy()
        y_owned = activation.ACTIVATIONS[name].forward_numpy(owned, P.get(name, 0.0), owned=True)
        np.testing.assert_allclose(y_owned, y, rtol=1e-15)
        if name in ("tanh", "relu", "leaky_relu", "elu"):  # these need no second buffer
            assert np.shares_memory(y_owned, owned)
    assert activation.ACTIVATIONS["sigmoid"].forward_numpy(np.array(0.0, np.float16)).dtype == np.float16


def test_bad_arguments_raise_clear_errors():
    x = gg.tensor([[1.0, 2.0, 3.0]])
    with pytest.raises(ValueError, match="negative_slope >= 0"):
        F.leaky_relu(x, -0.1)
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


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize(
    "kind, p, torch_backward",
    [
        ("relu", 0.0, lambda y, gy: torch.ops.aten.threshold_backward(gy, y, 0)),
        (
            "leaky_relu",
            0.1,
            lambda y, gy: torch.ops.aten.leaky_relu_backward(gy, y, 0.1, True),
        ),
        ("elu", 1.5, lambda y, gy: torch.ops.aten.elu_backward(gy, 1.5, 1, 1, True, y)),
    ],
)
@pytest.mark.parametrize("rows", [8, 256])  # where() below 4096 elements, bit masks above
def test_piecewise_backward_selects_like_torch(kind, p, torch_backward, dtype, rows):
    """The CPU backward of the piecewise activations picks gy where the unit is on: an
    infinite or NaN upstream where it is off gives 0 · ... exactly as torch, not NaN; a
    broadcast (0-stride) upstream works."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((rows, 33)).astype(dtype)
    spec = activation.ACTIVATIONS[kind]
    y = spec.forward_numpy(x, p)
    gy = rng.standard_normal((rows, 33)).astype(dtype)
    gy[0, :8] = [np.inf, -np.inf, np.nan, 1, np.inf, -np.inf, np.nan, 2]
    y[0, :8] = [-0.5, -0.5, -0.5, -0.5, 1, 1, 1, 1]
    ours = spec.backward_numpy(y, gy, p)
    theirs = torch_backward(
        torch.from_numpy(y.astype(np.float64)), torch.from_numpy(gy.astype(np.float64))
    )
    if kind == "relu":
        np.testing.assert_array_equal(ours[0, :4], 0)  # off: no NaN from inf · 0
    np.testing.assert_allclose(
        ours.astype(np.float64), theirs.numpy(), rtol=2 * np.finfo(dtype).eps
    )
    assert ours.dtype == dtype and ours.shape == y.shape
    row = rng.standard_normal(33).astype(dtype)
    broadcast = np.broadcast_to(row, y.shape)
    np.testing.assert_array_equal(
        spec.backward_numpy(y, broadcast, p),
        spec.backward_numpy(y, np.ascontiguousarray(broadcast), p),
    )


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", sorted(ACTS))
def test_cpu_twins_on_a_layer_sized_input_match_torch(name, dtype):
    """The branch-free CPU forwards on > 4096 elements (where select() uses bit masks),
    with edge values mixed in, into a new buffer or into an owned one."""
    spec = activation.ACTIVATIONS[name]
    _, theirs = ACTS[name]
    x = np.random.default_rng(9).standard_normal(12_000).astype(dtype) * 10
    x[: len(EDGES)] = EDGES
    expected = theirs(torch.from_numpy(x.copy())).numpy()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = spec.forward_numpy(x, P.get(name, 0.0))
        y_owned = spec.forward_numpy(x.copy(), P.get(name, 0.0), owned=True)
    for got in (y, y_owned):
        assert got.dtype == dtype
        np.testing.assert_allclose(got, expected, **TOL[dtype])
