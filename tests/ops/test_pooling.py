"""max_pool2d and avg_pool2d (gpugrad/ops/pooling.py) against PyTorch: tiling and cropped
images, overlapping windows and gaps; ties and NaNs; the max-pool gradient's own gradient."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from opspec import OpSpec, cases, check_op

import gpugrad as gg
import gpugrad.functional as F


def _max_pool(name, shape, *args):
    return OpSpec(
        name,
        lambda x: F.max_pool2d(x, *args),
        lambda x: TF.max_pool2d(x, *args),
        [(shape,)],
        distinct=True,
    )


def _avg_pool(name, shape, *args):
    return OpSpec(
        name, lambda x: F.avg_pool2d(x, *args), lambda x: TF.avg_pool2d(x, *args), [(shape,)]
    )


SPECS = [
    _max_pool("max_pool2d", (2, 3, 6, 4), 2),
    _max_pool("max_pool2d_stride", (1, 2, 7, 7), 3, 2),
    _avg_pool("avg_pool2d", (2, 3, 6, 4), 2),
    # windows that do not tile the image (the last row and column are dropped)
    _max_pool("max_pool2d_crop", (1, 2, 7, 5), 2),
    # stride > kernel: gaps between the windows, whose gradient is 0
    _max_pool("max_pool2d_gaps", (1, 2, 6, 6), 2, 3),
    _avg_pool("avg_pool2d_crop", (2, 1, 7, 8), 3),
]


@pytest.mark.parametrize("spec, dtype", cases(SPECS))
def test_matches_torch(spec, dtype, device):
    check_op(spec, device, dtype)


def test_pool_ties_route_to_first(device):
    x = gg.tensor(np.ones((1, 1, 2, 2)), device=device, requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[1, 0], [0, 0]])


@pytest.mark.parametrize("channels_outer", [False, True], ids=["nchw", "cnhw"])
@pytest.mark.parametrize("values", ["ties", "distinct"])
@pytest.mark.parametrize(  # the 4th shape has > 4096 outputs (select's large path)
    "shape, k",
    [((2, 3, 6, 4), 2), ((1, 2, 7, 5), 2), ((2, 1, 9, 9), 3), ((2, 8, 40, 40), 2),
     ((2, 3, 8, 9), (2, 3))],
)  # fmt: skip
def test_max_pool_backward_is_differentiable_in_its_upstream(
    shape, k, values, channels_outer, device
):
    """The pooling gradient (a scatter of gy to each window's max) and its own gradient (a
    gather) against torch's double backward, for tiling and cropped images, with ties
    (first max) or without (the CPU's no-tie path), on NCHW input or on a (C, N, H, W)
    array's NCHW view (a convolution's output)."""
    rng = np.random.default_rng(8)
    if values == "ties":
        x0 = rng.integers(0, 4, shape).astype(np.float64)  # ties in most windows
    else:
        x0 = rng.permutation(np.prod(shape)).reshape(shape).astype(np.float64)
    kh, kw = (k, k) if isinstance(k, int) else k
    out_shape = shape[:2] + (shape[2] // kh, shape[3] // kw)
    v0, u0 = rng.standard_normal(out_shape), rng.standard_normal(shape)
    if channels_outer:
        base = gg.tensor(x0.transpose(1, 0, 2, 3).copy(), device=device, requires_grad=True)
        x = base.permute(1, 0, 2, 3)
    else:
        x = base = gg.tensor(x0, device=device, requires_grad=True)
    v = gg.tensor(v0, device=device, requires_grad=True)
    (gx,) = gg.grad(F.max_pool2d(x, k), [base], grad_outputs=[v], create_graph=True)
    if channels_outer:
        gx = gx.permute(1, 0, 2, 3)
    (gv,) = gg.grad((gx * gg.tensor(u0, device=device)).sum(), [v])
    tx, tv = torch.tensor(x0, requires_grad=True), torch.tensor(v0, requires_grad=True)
    (tgx,) = torch.autograd.grad(TF.max_pool2d(tx, k), [tx], grad_outputs=[tv], create_graph=True)
    (tgv,) = torch.autograd.grad((tgx * torch.tensor(u0)).sum(), [tv])
    np.testing.assert_array_equal(gx.numpy(), tgx.detach().numpy())
    np.testing.assert_allclose(gv.numpy(), tgv.numpy(), rtol=1e-14)


def test_max_pool_routes_the_gradient_to_the_first_of_two_nans(device):
    x0 = np.zeros((1, 1, 2, 4))
    x0[0, 0, 0, 1] = x0[0, 0, 1, 0] = np.nan  # both in the first window
    x0[0, 0, 1, 2] = x0[0, 0, 1, 3] = np.nan  # both in the second, in one row
    x = gg.tensor(x0, device=device, requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[0, 1, 0, 0], [0, 0, 1, 0]])


def test_max_pool_routes_the_gradient_to_a_nan(device):
    x0 = np.arange(32, dtype=np.float64).reshape(1, 2, 4, 4)
    x0[0, 0, 1, 1] = np.nan  # in the first window, not first
    x = gg.tensor(x0, device=device, requires_grad=True)
    y = F.max_pool2d(x, 2)
    y.sum().backward()
    tx = torch.tensor(x0, requires_grad=True)
    TF.max_pool2d(tx, 2).sum().backward()
    assert np.isnan(y.numpy()[0, 0, 0, 0])
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


# -- padding, dilation, ceil_mode, count_include_pad (PyTorch's options) --------------------
POOLS = {"max": (F.max_pool2d, TF.max_pool2d), "avg": (F.avg_pool2d, TF.avg_pool2d)}
OPTION_CASES = [  # name, input shape, keyword arguments
    ("max_pad", (1, 2, 7, 6), dict(kernel_size=3, stride=2, padding=1)),
    # stride 1, output the input's size: im2col's flat runs, the -inf strips rewritten
    ("max_same_size", (2, 3, 5, 6), dict(kernel_size=3, stride=1, padding=1)),
    (
        "avg_same_size",
        (2, 3, 5, 6),
        dict(kernel_size=3, stride=1, padding=1, count_include_pad=False),
    ),
    ("max_dilation", (1, 2, 9, 8), dict(kernel_size=2, dilation=2)),
    ("max_ceil", (2, 1, 7, 8), dict(kernel_size=3, stride=2, ceil_mode=True)),
    ("max_ceil_pad", (1, 1, 6, 7), dict(kernel_size=2, padding=1, ceil_mode=True)),
    ("avg_pad", (1, 2, 7, 6), dict(kernel_size=3, stride=2, padding=1)),
    ("avg_exclude_pad", (1, 2, 7, 6), dict(kernel_size=3, padding=1, count_include_pad=False)),
    ("avg_ceil", (2, 1, 7, 8), dict(kernel_size=3, stride=2, ceil_mode=True)),
    (
        "avg_ceil_pad_exclude",
        (1, 1, 6, 7),
        dict(kernel_size=2, padding=1, ceil_mode=True, count_include_pad=False),
    ),
    ("avg_divisor", (1, 1, 6, 6), dict(kernel_size=2, divisor_override=3)),
]
OPTION_SPECS = [
    OpSpec(
        name,
        lambda x, f=POOLS[name[:3]][0], kw=kw: f(x, **kw),
        lambda x, f=POOLS[name[:3]][1], kw=kw: f(x, **kw),
        [(shape,)],
        distinct=True,
    )
    for name, shape, kw in OPTION_CASES
]


@pytest.mark.parametrize("spec, dtype", cases(OPTION_SPECS, float32=("max_pad", "avg_pad")))
def test_pooling_options_match_torch(spec, dtype, device):
    check_op(spec, device, dtype)


def test_max_pool_pads_with_minus_infinity():
    x = -np.ones((1, 1, 2, 2), np.float32) * 5
    ours = F.max_pool2d(gg.tensor(x), 2, stride=1, padding=1)
    np.testing.assert_array_equal(ours.numpy(), TF.max_pool2d(torch.tensor(x), 2, 1, 1).numpy())
    assert ours.numpy().max() == -5


# -- the CPU path (pooling.WindowChoice): every tie pattern, kernels, layouts, no grad -------
def _every_window(values, kernel):
    """Every kh×kw window of ``values`` side by side in one (1, 1, kh, kw·count) image."""
    kh, kw = kernel
    grid = np.stack(np.meshgrid(*[values] * (kh * kw), indexing="ij"), -1).reshape(-1, kh, kw)
    return grid.transpose(1, 0, 2).reshape(1, 1, kh, -1)


@pytest.mark.parametrize("kernel", [(2, 2), (1, 3), (2, 3)], ids=str)
def test_every_tie_pattern_routes_as_torch(kernel, device):
    """Each window's gradient goes to its first max in row-major order, for every pattern
    of equal values (0, 1, 2 in each position)."""
    x0 = _every_window(np.array([0.0, 1.0, 2.0]), kernel)
    g0 = np.random.default_rng(0).standard_normal((1, 1, 1, x0.shape[3] // kernel[1]))
    x = gg.tensor(x0, device=device, requires_grad=True)
    F.max_pool2d(x, kernel).backward(gg.tensor(g0, device=device))
    tx = torch.tensor(x0, requires_grad=True)
    TF.max_pool2d(tx, kernel).backward(torch.tensor(g0))
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


@pytest.mark.parametrize("kernel", [(2, 2), (3, 3), (2, 3), (1, 1), (3, 1)], ids=str)
@pytest.mark.parametrize("channels_outer", [False, True], ids=["nchw", "cnhw"])
def test_large_max_pool_matches_torch(kernel, channels_outer, device):
    """Arrays large enough for the host pool, ties in most windows, a cropped edge: the
    max and its gradient bit for bit, the input's memory order kept by the gradient, and
    the forward alone under no_grad."""
    rng = np.random.default_rng(1)
    shape = (4, 8, 31, 29)
    x0 = rng.integers(0, 3, shape).astype(np.float32)
    if channels_outer:
        x = gg.tensor(x0.transpose(1, 0, 2, 3).copy(), device=device).permute(1, 0, 2, 3)
    else:
        x = gg.tensor(x0, device=device)
    x.requires_grad_()
    y = F.max_pool2d(x, kernel)
    g0 = rng.standard_normal(y.shape).astype(np.float32)
    (gx,) = gg.grad(y, [x], grad_outputs=[gg.tensor(g0, device=device)])
    tx = torch.tensor(x0, requires_grad=True)
    ty = TF.max_pool2d(tx, kernel)
    ty.backward(torch.tensor(g0))
    np.testing.assert_array_equal(y.numpy(), ty.detach().numpy())
    np.testing.assert_array_equal(gx.numpy(), tx.grad.numpy())
    if device == "cpu":
        strides = gx.numpy().strides
        assert (strides[1] > strides[0]) == channels_outer
    with gg.no_grad():
        np.testing.assert_array_equal(F.max_pool2d(x, kernel).numpy(), ty.detach().numpy())
