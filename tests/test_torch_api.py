"""PyTorch's Tensor API on gpugrad (issue 15, deliverable 1): dims, shapes, dtypes,
reductions with indices, the maths list and the autograd-facing methods, each against
torch (forward, gradient for a random upstream, float64 gradcheck)."""

import numpy as np
import pytest
import torch
from opspec import BINARY_SHAPES, REDUCE_SHAPES, UNARY_SHAPES, OpSpec, cases, check_op

import gpugrad as gg

SHAPED = [((2, 3, 4),)]
SPECS = [
    OpSpec("sum_dim", lambda a: a.sum(dim=-1, keepdim=True), lambda a: a.sum(-1, True), SHAPED),
    OpSpec("mean_dims", lambda a: a.mean(dim=(0, 2)), lambda a: a.mean(dim=(0, 2)), SHAPED),
    OpSpec("max_dim", lambda a: a.max(1).values, lambda a: a.max(1).values, SHAPED, distinct=True),
    OpSpec(
        "min_dim",
        lambda a: a.min(dim=0, keepdim=True)[0],
        lambda a: a.min(0, True)[0],
        SHAPED,
        distinct=True,
    ),
    OpSpec(
        "amax", lambda a: a.amax(dim=(0, 1)), lambda a: a.amax(dim=(0, 1)), SHAPED, distinct=True
    ),
    OpSpec("amin", lambda a: gg.amin(a, -1), lambda a: torch.amin(a, -1), SHAPED, distinct=True),
    OpSpec("std", lambda a: a.std(), lambda a: a.std(), REDUCE_SHAPES),
    OpSpec("var_dim", lambda a: a.var(1, keepdim=True), lambda a: a.var(1, keepdim=True), SHAPED),
    OpSpec("cumsum", lambda a: a.cumsum(0), lambda a: a.cumsum(0), SHAPED + [((5,),)]),
    OpSpec("cumsum_neg", lambda a: gg.cumsum(a, dim=-1), lambda a: torch.cumsum(a, -1), SHAPED),
    OpSpec("sort", lambda a: a.sort(1)[0], lambda a: a.sort(1)[0], SHAPED, distinct=True),
    OpSpec(
        "sort_desc",
        lambda a: a.sort(descending=True).values,
        lambda a: a.sort(descending=True).values,
        SHAPED,
        distinct=True,
    ),
    OpSpec(
        "topk",
        lambda a: a.topk(2, dim=1).values,
        lambda a: a.topk(2, dim=1).values,
        SHAPED,
        distinct=True,
    ),
    OpSpec("sin", gg.sin, torch.sin, UNARY_SHAPES),
    OpSpec("cos", lambda a: a.cos(), torch.cos, UNARY_SHAPES),
    OpSpec("log1p", gg.log1p, torch.log1p, UNARY_SHAPES, positive=True),
    OpSpec("expm1", gg.expm1, torch.expm1, UNARY_SHAPES),
    OpSpec("rsqrt", gg.rsqrt, torch.rsqrt, UNARY_SHAPES, positive=True),
    OpSpec("reciprocal", lambda a: a.reciprocal(), torch.reciprocal, UNARY_SHAPES, positive=True),
    OpSpec("neg", lambda a: a.neg(), torch.neg, UNARY_SHAPES),
    OpSpec("floor", gg.floor, torch.floor, UNARY_SHAPES, gradcheck=False),
    OpSpec("round", gg.round, torch.round, UNARY_SHAPES, gradcheck=False),
    OpSpec("sign", gg.sign, torch.sign, UNARY_SHAPES, distinct=True),
    OpSpec("clamp", lambda a: a.clamp(-0.5, 0.5), lambda a: a.clamp(-0.5, 0.5), UNARY_SHAPES),
    OpSpec(
        "remainder",
        lambda a, b: a % b,
        lambda a, b: a % b,
        BINARY_SHAPES[:3],
        positive=True,
        gradcheck=False,
    ),
    OpSpec("remainder_scalar", lambda a: a % 0.7, lambda a: a % 0.7, UNARY_SHAPES, gradcheck=False),
    OpSpec("mm", gg.mm, torch.mm, [((3, 4), (4, 2))]),
    OpSpec("bmm", gg.bmm, torch.bmm, [((2, 3, 4), (2, 4, 5))]),
    OpSpec("mv", gg.mv, torch.mv, [((3, 4), (4,))]),
    OpSpec("dot", gg.dot, torch.dot, [((4,), (4,))]),
    OpSpec("outer", gg.outer, torch.outer, [((3,), (4,))]),
    OpSpec(
        "einsum_mm",
        lambda a, b: gg.einsum("ij,jk->ik", a, b),
        lambda a, b: torch.einsum("ij,jk->ik", a, b),
        [((3, 4), (4, 2))],
    ),
    OpSpec(
        "einsum_lone",
        lambda a, b: gg.einsum("bij,bj", a, b),
        lambda a, b: torch.einsum("bij,bj", a, b),
        [((2, 3, 4), (2, 4))],
    ),
    OpSpec(
        "einsum_sum", lambda a: gg.einsum("ij->", a), lambda a: torch.einsum("ij->", a), [((3, 4),)]
    ),
    OpSpec("transpose_2d", lambda a: a.transpose(0, 1), lambda a: a.transpose(0, 1), [((3, 4),)]),
    OpSpec("transpose_neg", lambda a: a.transpose(-1, 0), lambda a: a.transpose(-1, 0), SHAPED),
    OpSpec("permute", lambda a: a.permute(2, 0, 1), lambda a: a.permute(2, 0, 1), SHAPED),
    OpSpec("t", lambda a: a.t(), lambda a: a.t(), [((3, 4),), ((3,),)]),
    OpSpec("mT", lambda a: a.mT, lambda a: a.mT, SHAPED),
    OpSpec("view", lambda a: a.view(-1, 4), lambda a: a.view(-1, 4), SHAPED),
    OpSpec("expand", lambda a: a.expand(2, -1, 4), lambda a: a.expand(2, -1, 4), [((3, 1),)]),
    OpSpec("repeat", lambda a: a.repeat(2, 1, 3), lambda a: a.repeat(2, 1, 3), [((3, 2),)]),
    OpSpec(
        "flip",
        lambda a: a.flip((0, -1)),
        lambda a: a.flip((0, -1)),
        SHAPED,
    ),
    OpSpec("chunk", lambda a: a.chunk(2, dim=1)[1], lambda a: a.chunk(2, dim=1)[1], SHAPED),
    OpSpec(
        "split", lambda a: a.split([1, 3], dim=-1)[1], lambda a: a.split([1, 3], dim=-1)[1], SHAPED
    ),
    OpSpec("clone", lambda a: a.clone() * 2, lambda a: a.clone() * 2, UNARY_SHAPES),
    OpSpec("contiguous", lambda a: a.t().contiguous(), lambda a: a.t().contiguous(), [((3, 4),)]),
    OpSpec("flatten", lambda a: a.flatten(1), lambda a: a.flatten(1), SHAPED),
    OpSpec("unflatten", lambda a: a.unflatten(2, (2, 2)), lambda a: a.unflatten(2, (2, 2)), SHAPED),
    OpSpec(
        "masked_fill",
        lambda a: a.masked_fill(a > 0, 0.5),
        lambda a: a.masked_fill(a > 0, 0.5),
        UNARY_SHAPES,
        distinct=True,
    ),
    OpSpec(
        "cat",
        lambda a, b: gg.cat([a, b], dim=1),
        lambda a, b: torch.cat([a, b], dim=1),
        [((2, 3), (2, 1))],
    ),
    OpSpec(
        "stack",
        lambda a, b: gg.stack([a, b], dim=-1),
        lambda a, b: torch.stack([a, b], dim=-1),
        [((2, 3), (2, 3))],
    ),
]


@pytest.mark.parametrize("spec, dtype", cases(SPECS, float32=("sum_dim", "max_dim")))
def test_matches_torch(spec, dtype, device):
    check_op(spec, device, dtype)


def test_sizes_and_queries(device):
    x = gg.zeros(2, 3, 4, device=device)
    assert x.size() == (2, 3, 4) and x.size(1) == 3 and x.size(-1) == 4
    assert x.numel() == 24 and x.dim() == 3 and x.is_floating_point()
    assert x.transpose(0, 2).size() == (4, 3, 2)
    with pytest.raises(RuntimeError, match="reshape"):
        x.transpose(0, 1).view(-1)


def test_max_min_with_dim_are_values_and_indices(device):
    h = np.random.default_rng(0).standard_normal((4, 5))
    x, t = gg.tensor(h, device=device), torch.tensor(h)
    for name in ("max", "min"):
        got, want = getattr(x, name)(1), getattr(t, name)(1)
        np.testing.assert_array_equal(got.indices.numpy(), want.indices.numpy())
        _, idx = getattr(x, name)(dim=0, keepdim=True)
        assert idx.shape == (1, 5)
        assert getattr(x, name)().shape == ()
    np.testing.assert_array_equal(x.argmax(dim=1).numpy(), t.argmax(dim=1).numpy())
    assert x.argmin().item() == t.argmin().item()
    assert x.argmax(1, keepdim=True).shape == (4, 1)
    np.testing.assert_array_equal(x.argsort(dim=0).numpy(), t.argsort(dim=0).numpy())
    np.testing.assert_array_equal((x > 0).any(dim=1).numpy(), (t > 0).any(dim=1).numpy())
    np.testing.assert_array_equal((x > 0).all(0).numpy(), (t > 0).all(0).numpy())
    assert gg.max(x, gg.zeros_like(x)).shape == (4, 5)


def test_dtypes_and_conversions(device):
    assert gg.float == gg.float32 == np.float32 and gg.double == np.dtype("float64")
    assert gg.long == gg.int64 and gg.half == gg.float16 and gg.int == gg.int32
    x = gg.tensor([1.5, -2.5], device=device)
    assert x.dtype == gg.float32
    assert x.double().dtype == gg.float64 and x.half().dtype == gg.float16
    assert x.long().dtype == gg.int64 and x.int().dtype == gg.int32 and x.bool().dtype == gg.bool
    assert x.to(gg.float64).dtype == gg.float64 and x.type(gg.int64).dtype == gg.int64
    assert x.to("cpu", gg.float16).dtype == gg.float16 and x.to(x.double()).dtype == gg.float64
    assert x.float() is x and not x.long().is_floating_point()
    previous = gg.get_default_dtype()
    try:
        gg.set_default_dtype(gg.float64)
        assert gg.tensor([1.0]).dtype == gg.float64 and gg.zeros(2).dtype == gg.float64
    finally:
        gg.set_default_dtype(previous)
    assert gg.get_default_dtype() == gg.float32


def test_floor_division_and_remainder_as_torch(device):
    h = np.array([-7, -3, 0, 3, 7])
    x, t = gg.tensor(h, device=device), torch.tensor(h)
    for d in (2, -3):
        np.testing.assert_array_equal((x // d).numpy(), (t // d).numpy())
        np.testing.assert_array_equal((x % d).numpy(), (t % d).numpy())
    assert (x / 2).dtype == gg.float32 and (x / x.abs().clamp(1)).dtype == gg.float32


def test_comparisons_and_tests(device):
    x = gg.tensor([1.0, float("nan"), float("inf")], device=device)
    t = torch.tensor([1.0, float("nan"), float("inf")])
    for name in ("isnan", "isinf", "isfinite"):
        np.testing.assert_array_equal(getattr(x, name)().numpy(), getattr(t, name)().numpy())
    for name in ("eq", "ne", "lt", "le", "gt", "ge"):
        np.testing.assert_array_equal(getattr(x, name)(1.0).numpy(), getattr(t, name)(1.0).numpy())
    a = gg.tensor([1.0, 2.0], device=device)
    assert gg.allclose(a, a + 1e-9) and not gg.allclose(a, a + 1)
    assert gg.equal(a, a.clone()) and not a.equal(a[:1])


def test_creation(device):
    assert np.allclose(gg.linspace(0, 1, 5, device=device).numpy(), torch.linspace(0, 1, 5).numpy())
    np.testing.assert_array_equal(gg.eye(3, 2, device=device).numpy(), torch.eye(3, 2).numpy())
    gg.manual_seed(0)
    r = gg.randint(0, 10, (3, 4), device=device)
    assert r.dtype == gg.int64 and r.shape == (3, 4) and 0 <= r.min().item() <= r.max().item() < 10
    p = gg.randperm(7, device=device)
    assert sorted(p.tolist()) == list(range(7))
    x = gg.zeros(2, 3, dtype=gg.float64, device=device)
    for fn in (gg.rand_like, gg.randn_like, gg.empty_like, gg.zeros_like):
        assert fn(x).shape == (2, 3) and fn(x).dtype == gg.float64
    a = np.arange(3.0)
    shared = gg.from_numpy(a)
    a[0] = 5
    assert shared[0].item() == 5


def test_retain_grad_grad_fn_and_backward_inputs(device):
    x = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    w = gg.tensor([3.0, 4.0], device=device, requires_grad=True)
    h = x * w
    h.retain_grad()
    assert h.grad_fn is not None and x.grad_fn is None
    (h * h).sum().backward(gradient=gg.tensor(2.0, device=device), retain_graph=True)
    np.testing.assert_allclose(h.grad.numpy(), [12.0, 32.0])
    x.grad = w.grad = None
    (h * h).sum().backward(inputs=[x])
    assert w.grad is None and x.grad is not None


def test_grad_modes(device):
    x = gg.tensor([1.0], device=device, requires_grad=True)
    with gg.inference_mode():
        assert not (x * 2).requires_grad
    with gg.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert gg.is_grad_enabled()
    gg.set_grad_enabled(False)
    try:
        assert not gg.is_grad_enabled()
    finally:
        gg.set_grad_enabled(True)

    @gg.set_grad_enabled(False)
    def f():
        return (x * 2).requires_grad

    @gg.inference_mode()
    def g():
        return (x * 2).requires_grad

    assert gg.is_grad_enabled() and not f() and not g() and gg.is_grad_enabled()
