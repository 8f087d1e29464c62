"""Every op of the Tensors API against PyTorch (forward and gradient) and gradcheck,
over shapes including broadcasting, 0-d and empty tensors."""

import numpy as np
import pytest
import torch
from opspec import OpSpec, check_op

import gpugrad as gg

BINARY_SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((2, 1, 4), (3, 1)),
    ((), (5,)),
    ((), ()),
    ((0, 3), (3,)),
]
UNARY_SHAPES = [((3, 4),), ((),), ((2, 3, 2),), ((0,),)]
REDUCE_SHAPES = [((3, 4),), ((2, 3, 4),), ((5,),)]

SPECS = [
    OpSpec("add", lambda a, b: a + b, lambda a, b: a + b, BINARY_SHAPES),
    OpSpec("sub", lambda a, b: a - b, lambda a, b: a - b, BINARY_SHAPES),
    OpSpec("mul", lambda a, b: a * b, lambda a, b: a * b, BINARY_SHAPES),
    OpSpec("div", lambda a, b: a / b, lambda a, b: a / b, BINARY_SHAPES, positive=True),
    OpSpec("pow", lambda a, b: a**b, lambda a, b: a**b, BINARY_SHAPES, positive=True),
    OpSpec("radd_scalar", lambda a: 2.5 + a, lambda a: 2.5 + a, UNARY_SHAPES),
    OpSpec("rsub_scalar", lambda a: 2.5 - a, lambda a: 2.5 - a, UNARY_SHAPES),
    OpSpec("sub_scalar", lambda a: a - 1.5, lambda a: a - 1.5, UNARY_SHAPES),
    OpSpec("mul_scalar", lambda a: a * -3.0, lambda a: a * -3.0, UNARY_SHAPES),
    OpSpec("div_scalar", lambda a: a / 3.0, lambda a: a / 3.0, UNARY_SHAPES),
    OpSpec("rdiv_scalar", lambda a: 3.0 / a, lambda a: 3.0 / a, UNARY_SHAPES, positive=True),
    OpSpec("pow_scalar", lambda a: a**3, lambda a: a**3, UNARY_SHAPES),
    OpSpec("pow_half", lambda a: a**0.5, lambda a: a**0.5, UNARY_SHAPES, positive=True),
    OpSpec("rpow_scalar", lambda a: 2.0**a, lambda a: 2.0**a, UNARY_SHAPES),
    OpSpec("neg", lambda a: -a, lambda a: -a, UNARY_SHAPES),
    OpSpec("exp", lambda a: a.exp(), torch.exp, UNARY_SHAPES),
    OpSpec("log", lambda a: a.log(), torch.log, UNARY_SHAPES, positive=True),
    OpSpec("sqrt", lambda a: a.sqrt(), torch.sqrt, UNARY_SHAPES, positive=True),
    OpSpec("abs", lambda a: a.abs(), torch.abs, UNARY_SHAPES, distinct=True),
    OpSpec("tanh", lambda a: a.tanh(), torch.tanh, UNARY_SHAPES),
    OpSpec("sigmoid", lambda a: a.sigmoid(), torch.sigmoid, UNARY_SHAPES),
    OpSpec("relu", lambda a: a.relu(), torch.relu, UNARY_SHAPES, distinct=True),
    OpSpec("maximum", gg.maximum, torch.maximum, BINARY_SHAPES[:3], distinct=True),
    OpSpec("minimum", gg.minimum, torch.minimum, BINARY_SHAPES[:3], distinct=True),
    OpSpec("clip", lambda a: a.clip(-0.5, 0.7), lambda a: a.clamp(-0.5, 0.7), UNARY_SHAPES),
    OpSpec("clip_min", lambda a: a.clip(min=0.1), lambda a: a.clamp(min=0.1), UNARY_SHAPES),
    OpSpec(
        "where",
        lambda a, b: gg.where(a > 0, a, b),
        lambda a, b: torch.where(a > 0, a, b),
        [((3, 4), (3, 4)), ((3, 4), (4,))],
    ),
    OpSpec("sum", lambda a: a.sum(), torch.sum, REDUCE_SHAPES + [((),), ((0, 3),)]),
    OpSpec("sum_axis", lambda a: a.sum(axis=1), lambda a: a.sum(dim=1), REDUCE_SHAPES[:2]),
    OpSpec(
        "sum_axes_keep",
        lambda a: a.sum(axis=(0, -1), keepdims=True),
        lambda a: a.sum(dim=(0, -1), keepdim=True),
        REDUCE_SHAPES[:2],
    ),
    OpSpec("mean", lambda a: a.mean(), torch.mean, REDUCE_SHAPES),
    OpSpec("mean_axis", lambda a: a.mean(axis=0), lambda a: a.mean(dim=0), REDUCE_SHAPES),
    OpSpec("max", lambda a: a.max(), torch.max, REDUCE_SHAPES, distinct=True),
    OpSpec(
        "max_axis",
        lambda a: a.max(axis=1),
        lambda a: a.amax(dim=1),
        REDUCE_SHAPES[:2],
        distinct=True,
    ),
    OpSpec(
        "max_axes_keep",
        lambda a: a.max(axis=(0, 2), keepdims=True),
        lambda a: a.amax(dim=(0, 2), keepdim=True),
        [((2, 3, 4),)],
        distinct=True,
    ),
    OpSpec("min", lambda a: a.min(), torch.min, REDUCE_SHAPES, distinct=True),
    OpSpec(
        "min_axis", lambda a: a.min(axis=-1), lambda a: a.amin(dim=-1), REDUCE_SHAPES, distinct=True
    ),
    OpSpec("var", lambda a: a.var(), lambda a: a.var(unbiased=False), REDUCE_SHAPES),
    OpSpec(
        "var_axis_ddof1", lambda a: a.var(axis=1, ddof=1), lambda a: a.var(dim=1), REDUCE_SHAPES[:2]
    ),
    OpSpec(
        "logsumexp",
        lambda a: gg.logsumexp(a, axis=-1),
        lambda a: torch.logsumexp(a, dim=-1),
        REDUCE_SHAPES,
        domain=(-30, 30),
    ),
    OpSpec(
        "logsumexp_all",
        lambda a: a.logsumexp(),
        lambda a: torch.logsumexp(a.reshape(-1), 0),
        REDUCE_SHAPES,
    ),
    OpSpec(
        "reshape", lambda a: a.reshape(4, -1), lambda a: a.reshape(4, -1), [((2, 6),), ((4, 2, 2),)]
    ),
    OpSpec(
        "transpose",
        lambda a: a.transpose(),
        lambda a: a.permute(*reversed(range(a.ndim))),
        [((3, 4),), ((2, 3, 4),)],
    ),
    OpSpec(
        "transpose_axes",
        lambda a: a.transpose(1, 2, 0),
        lambda a: a.permute(1, 2, 0),
        [((2, 3, 4),)],
    ),
    OpSpec("T", lambda a: a.T, lambda a: a.T, [((3, 4),)]),
    OpSpec("flatten", lambda a: a.flatten(), lambda a: a.flatten(), [((2, 3, 4),), ((),)]),
    OpSpec("flatten_1", lambda a: a.flatten(1), lambda a: a.flatten(1), [((2, 3, 4),)]),
    OpSpec("squeeze", lambda a: a.squeeze(), lambda a: a.squeeze(), [((1, 3, 1),)]),
    OpSpec("squeeze_axis", lambda a: a.squeeze(0), lambda a: a.squeeze(0), [((1, 3, 1),)]),
    OpSpec("unsqueeze", lambda a: a.unsqueeze(-1), lambda a: a.unsqueeze(-1), [((3, 4),), ((),)]),
    OpSpec("unsqueeze_mid", lambda a: a.unsqueeze(1), lambda a: a.unsqueeze(1), [((3, 4),)]),
    OpSpec(
        "broadcast_to",
        lambda a: gg.broadcast_to(a, (2, 3, 4)),
        lambda a: a.broadcast_to((2, 3, 4)),
        [((3, 1),), ((4,),), ((),)],
    ),
    OpSpec("getitem_int", lambda a: a[1], lambda a: a[1], [((3, 4),)]),
    OpSpec("getitem_slice", lambda a: a[1:, ::2], lambda a: a[1:, ::2], [((3, 4),)]),
    OpSpec(
        "getitem_intarray",
        lambda a: a[np.array([0, 2, 0, 0])],
        lambda a: a[torch.tensor([0, 2, 0, 0])],
        [((3, 4),)],
    ),
    OpSpec(
        "getitem_pairs",
        lambda a: a[np.array([0, 1, 1]), np.array([2, 2, 2])],
        lambda a: a[torch.tensor([0, 1, 1]), torch.tensor([2, 2, 2])],
        [((3, 4),)],
    ),
    OpSpec("getitem_mask", lambda a: a[a > 0], lambda a: a[a > 0], [((3, 4),)]),
    OpSpec(
        "concatenate",
        lambda a, b: gg.concatenate([a, b, a], axis=1),
        lambda a, b: torch.cat([a, b, a], dim=1),
        [((2, 3), (2, 1))],
    ),
    OpSpec(
        "stack",
        lambda a, b: gg.stack([a, b], axis=1),
        lambda a, b: torch.stack([a, b], dim=1),
        [((2, 3), (2, 3))],
    ),
    OpSpec("matmul_2d", gg.matmul, torch.matmul, [((3, 4), (4, 5))]),
    OpSpec("matmul_vec_mat", gg.matmul, torch.matmul, [((4,), (4, 5))]),
    OpSpec("matmul_mat_vec", gg.matmul, torch.matmul, [((3, 4), (4,))]),
    OpSpec("matmul_vec_vec", gg.matmul, torch.matmul, [((4,), (4,))]),
    OpSpec(
        "matmul_batched",
        lambda a, b: a @ b,
        torch.matmul,
        [
            ((2, 3, 4), (2, 4, 5)),
            ((2, 3, 4), (4, 5)),
            ((3, 4), (2, 4, 5)),
            ((2, 1, 3, 4), (3, 4, 2)),
            ((4,), (2, 4, 5)),
        ],
    ),
]


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_op_matches_torch_and_gradcheck(spec, device):
    check_op(spec, device)


@pytest.mark.parametrize(
    "spec",
    [
        s
        for s in SPECS
        if s.name in ("add", "mul", "div", "exp", "sum_axis", "matmul_2d", "max_axis")
    ],
    ids=lambda s: s.name,
)
def test_op_float32(spec, device):
    check_op(spec, device, dtype=np.float32)


def test_max_routes_ties_to_first(device):
    x = gg.tensor([[1.0, 3.0, 3.0], [2.0, 2.0, 2.0]], device=device, requires_grad=True)
    x.max(axis=1).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 0], [1, 0, 0]])
    x.grad = None
    x.max().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[0, 1, 0], [0, 0, 0]])


def test_min_routes_ties_to_first(device):
    x = gg.tensor([[1.0, 1.0, 3.0]], device=device, requires_grad=True)
    x.min().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [[1, 0, 0]])


def test_maximum_ties_go_to_first_argument(device):
    a = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = gg.tensor([1.0, 0.0], device=device, requires_grad=True)
    gg.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [1, 1])
    np.testing.assert_array_equal(b.grad.numpy(), [0, 0])


def test_repeated_integer_index_accumulates(device):
    x = gg.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    x[np.array([0, 0, 2, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3, 0, 1])


def test_index_with_tensor_and_list(device):
    x = gg.arange(6, dtype="float32", device=device).reshape(2, 3)
    idx = gg.tensor([1, 0], device=device)
    np.testing.assert_array_equal(x[idx].numpy(), [[3, 4, 5], [0, 1, 2]])
    np.testing.assert_array_equal(x[[0, 0]].numpy(), [[0, 1, 2], [0, 1, 2]])


def test_comparisons_return_bool_and_are_outside_the_graph(device):
    a = gg.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    b = gg.tensor([3.0, 2.0, 1.0], device=device)
    for op, expected in [
        ("__lt__", [1, 0, 0]),
        ("__le__", [1, 1, 0]),
        ("__gt__", [0, 0, 1]),
        ("__ge__", [0, 1, 1]),
        ("__eq__", [0, 1, 0]),
        ("__ne__", [1, 0, 1]),
    ]:
        r = getattr(a, op)(b)
        assert r.dtype == np.bool_ and not r.requires_grad
        np.testing.assert_array_equal(r.numpy(), np.array(expected, bool))
    assert (a > 1.5).numpy().tolist() == [False, True, True]


def test_higher_order_tanh_second_derivative_matches_torch(device):
    host = np.linspace(-2, 2, 7)
    x = gg.tensor(host, device=device, requires_grad=True)
    (g,) = gg.grad(x.tanh().sum(), x, create_graph=True)
    (gg2,) = gg.grad(g.sum(), x)
    t = torch.tensor(host, requires_grad=True)
    (tg,) = torch.autograd.grad(t.tanh().sum(), t, create_graph=True)
    (tg2,) = torch.autograd.grad(tg.sum(), t)
    np.testing.assert_allclose(g.numpy(), tg.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(gg2.numpy(), tg2.numpy(), rtol=1e-10)


def test_hessian_vector_product_matches_torch(device):
    rng = np.random.default_rng(1)
    A = rng.standard_normal((4, 4))
    w0 = rng.standard_normal(4)
    v = rng.standard_normal(4)

    def f(lib, w, A):
        h = A @ w
        return (h.tanh() * h).sum() + (w * w * w).sum()

    w = gg.tensor(w0, device=device, requires_grad=True)
    (g,) = gg.grad(f(gg, w, gg.tensor(A, device=device)), w, create_graph=True)
    (hv,) = gg.grad((g * gg.tensor(v, device=device)).sum(), w)
    tw = torch.tensor(w0, requires_grad=True)
    (tg,) = torch.autograd.grad(f(torch, tw, torch.tensor(A)), tw, create_graph=True)
    (thv,) = torch.autograd.grad((tg * torch.tensor(v)).sum(), tw)
    np.testing.assert_allclose(hv.numpy(), thv.numpy(), rtol=1e-10)


@pytest.mark.parametrize(
    "name,fn",
    [
        ("mul_div", lambda a, b: (a * b / (b * b + 1)).sum()),
        ("exp_log", lambda a, b: (a.exp() * b.abs().log()).sum()),
        (
            "reduce",
            lambda a, b: (a.max(axis=1) * b.mean(axis=1)).sum() + gg.logsumexp(a * b, axis=0).sum(),
        ),
        ("matmul", lambda a, b: ((a @ b.T).tanh() ** 2).sum()),
        ("shape", lambda a, b: (gg.concatenate([a, b], axis=0)[1:3].T.reshape(-1) ** 3).sum()),
        ("var_sigmoid", lambda a, b: (a.var(axis=0) * b.sigmoid().sum(axis=0)).sum()),
    ],
)
def test_gradgradcheck(name, fn, device):
    rng = np.random.default_rng(2)
    a = gg.tensor(rng.uniform(0.5, 1.5, (3, 4)), device=device, requires_grad=True)
    b = gg.tensor(rng.uniform(0.5, 1.5, (3, 4)), device=device, requires_grad=True)
    assert gg.gradgradcheck(fn, [a, b])


@pytest.mark.parametrize(
    "shape, axis", [((5, 3, 4), 1), ((4, 20), 1), ((7,), 0), ((3, 4, 2), 2), ((2, 4, 1500), 1)]
)  # > 4096 elements: bit-mask select
def test_max_gate_routes_to_the_first_extreme_and_to_nan(shape, axis, device):
    """Short axes (scanned slab by slab) and long ones (argmax) agree: the first maximum
    gets the whole gradient on ties, a NaN counts as the maximum."""
    rng = np.random.default_rng(7)
    x0 = rng.integers(0, 3, shape).astype(np.float64)  # many ties
    x0.flat[0] = np.nan
    for reduce_fn, pick in ((gg.Tensor.max, np.nanargmax), (gg.Tensor.min, np.nanargmin)):
        x = gg.tensor(x0, device=device, requires_grad=True)
        reduce_fn(x, axis=axis).sum().backward()
        moved = np.moveaxis(x0, axis, -1)
        expected = np.zeros_like(moved)
        for idx in np.ndindex(moved.shape[:-1]):
            row = moved[idx]
            first = int(np.flatnonzero(np.isnan(row))[0]) if np.isnan(row).any() else int(pick(row))
            expected[idx + (first,)] = 1
        np.testing.assert_array_equal(x.grad.numpy(), np.moveaxis(expected, -1, axis))
