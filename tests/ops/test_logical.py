"""Logical and bitwise ops (gpugrad/ops/logical.py) against torch: ``logical_*`` give bool
for any dtype, ``& | ^ ~`` are bitwise on bool and integer tensors (with torch's dtype
promotion, Python scalars on either side) and refuse floats with torch's exception type;
results are outside the graph, and gg.compile replays them from each call's inputs."""

import itertools

import numpy as np
import pytest
import torch

import gpugrad as gg

ALL = ["bool", "uint8", "int8", "int32", "int64", "float32", "float64"]
INTS = ["bool", "uint8", "int8", "int32", "int64"]
SHAPES = [((2, 3), (2, 3)), ((2, 1), (3,)), ((), (4,)), ((3,), ()), ((), ()), ((0, 3), (3,))]


def _host(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    v = rng.integers(-3, 4, shape)
    if dtype == "bool":
        return v > 0
    if dtype.startswith("float"):
        v = v.astype(dtype) * 0.5
        if v.size > 2:
            v.reshape(-1)[1] = np.nan  # NaN is nonzero: True
        return v
    return (v % 256).astype(dtype) if dtype == "uint8" else v.astype(dtype)


def _pair(host, device):
    return gg.tensor(host, device=device), torch.tensor(host)


def _same(got, want):
    assert isinstance(got, gg.Tensor)
    assert got.dtype == np.dtype(str(want.dtype).removeprefix("torch.")), (got.dtype, want.dtype)
    assert got.shape == tuple(want.shape)
    np.testing.assert_array_equal(got.numpy(), want.numpy())
    assert not got.requires_grad and got.grad_fn is None


@pytest.mark.parametrize("name", ["logical_and", "logical_or", "logical_xor"])
@pytest.mark.parametrize("da,db", list(itertools.combinations_with_replacement(ALL, 2)))
def test_logical_binary_matches_torch_for_every_dtype_pair(name, da, db, device):
    for sa, sb in SHAPES:
        (a, ta), (b, tb) = _pair(_host(sa, da), device), _pair(_host(sb, db, seed=1), device)
        want = getattr(torch, name)(ta, tb)
        _same(getattr(gg, name)(a, b), want)
        _same(getattr(a, name)(b), want)
        _same(getattr(gg, name)(b, a), getattr(torch, name)(tb, ta))


@pytest.mark.parametrize("dtype", ALL)
def test_logical_not_matches_torch(dtype, device):
    for shape in [(2, 3), (), (0,)]:
        x, tx = _pair(_host(shape, dtype), device)
        _same(gg.logical_not(x), torch.logical_not(tx))
        _same(x.logical_not(), tx.logical_not())


def test_logical_ops_take_numbers_as_a_zero_d_tensor(device):
    x, tx = _pair(np.array([0.0, 1.5, np.nan, -2.0]), device)
    for value in [0, 1, 0.0, 2.5, True, False]:
        tv = torch.tensor(value)
        _same(gg.logical_and(x, value), torch.logical_and(tx, tv))
        _same(gg.logical_or(value, x), torch.logical_or(tv, tx))
        _same(x.logical_xor(value), tx.logical_xor(tv))


@pytest.mark.parametrize("op", ["__and__", "__or__", "__xor__"])
@pytest.mark.parametrize("da,db", list(itertools.product(INTS, INTS)))
def test_bitwise_operators_match_torch_for_every_int_pair(op, da, db, device):
    fn = {"__and__": "bitwise_and", "__or__": "bitwise_or", "__xor__": "bitwise_xor"}[op]
    for sa, sb in SHAPES:
        (a, ta), (b, tb) = _pair(_host(sa, da), device), _pair(_host(sb, db, seed=1), device)
        want = getattr(ta, op)(tb)
        _same(getattr(a, op)(b), want)
        _same(getattr(gg, fn)(a, b), want)
        _same(getattr(a, fn)(b), want)


@pytest.mark.parametrize("dtype", INTS)
def test_bitwise_with_python_scalars_on_either_side_matches_torch(dtype, device):
    for shape in [(2, 3), (), (0,)]:
        x, tx = _pair(_host(shape, dtype), device)
        for value in [True, False, 0, 1, 5, -1, 300]:
            _same(x & value, tx & value)
            _same(value | x, value | tx)
            _same(x ^ value, tx ^ value)
            _same(value & x, value & tx)


@pytest.mark.parametrize("dtype", INTS)
def test_invert_matches_torch(dtype, device):
    for shape in [(2, 3), (), (0,)]:
        x, tx = _pair(_host(shape, dtype), device)
        _same(~x, ~tx)
        _same(gg.bitwise_not(x), torch.bitwise_not(tx))
        _same(x.bitwise_not(), tx.bitwise_not())


def _raises_as_torch(ours, theirs):
    with pytest.raises(Exception) as want:
        theirs()
    with pytest.raises(Exception) as got:
        ours()
    assert isinstance(got.value, type(want.value)), (got.value, want.value)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_bitwise_on_floats_raises_as_torch(dtype, device):
    (f, tf), (i, ti) = _pair(_host((3,), dtype), device), _pair(_host((3,), "int64"), device)
    (b, tb) = _pair(_host((3,), "bool"), device)
    cases = [
        (lambda: f & f, lambda: tf & tf),
        (lambda: f | i, lambda: tf | ti),
        (lambda: b ^ f, lambda: tb ^ tf),
        (lambda: f & 1, lambda: tf & 1),
        (lambda: True | f, lambda: True | tf),
        (lambda: i & 1.5, lambda: ti & 1.5),
        (lambda: b ^ 0.5, lambda: tb ^ 0.5),
        (lambda: ~f, lambda: ~tf),
        (lambda: gg.bitwise_and(f, i), lambda: torch.bitwise_and(tf, ti)),
        (lambda: f.bitwise_not(), lambda: tf.bitwise_not()),
    ]
    for ours, theirs in cases:
        _raises_as_torch(ours, theirs)


def test_float_refusals_are_the_exception_types_torch_uses():
    f = gg.tensor([1.0, 2.0])
    with pytest.raises(NotImplementedError, match="bitwise_and"):
        _ = f & f
    with pytest.raises(TypeError, match="invert"):
        _ = ~f


def test_shapes_that_do_not_broadcast_raise(device):
    """torch raises RuntimeError; gpugrad's elementwise ops all raise NumPy's ValueError
    here (``+`` and ``>`` alike), and these follow them."""
    a, b = gg.ones(2, dtype=gg.int32, device=device), gg.ones(3, dtype=gg.int32, device=device)
    for op in [lambda: a & b, lambda: gg.logical_or(a, b), lambda: a > b]:
        with pytest.raises(ValueError, match="broadcast"):
            op()


def test_results_are_outside_the_graph(device):
    x = gg.tensor([0.5, -1.0, 2.0], device=device, requires_grad=True)
    y = gg.tensor([0.0, 1.0, 3.0], device=device, requires_grad=True)
    for r in [(x > 0) & (y < 1), ~(x > 0), (x > 0) ^ True, gg.logical_and(x, y), x.logical_not()]:
        assert r.dtype == gg.bool and not r.requires_grad and r.grad_fn is None
    loss = (x * ((x > 0) & (y < 1))).sum()  # the mask is a constant of the product
    loss.backward()
    tx = torch.tensor([0.5, -1.0, 2.0], requires_grad=True)
    ty = torch.tensor([0.0, 1.0, 3.0])
    (tx * ((tx > 0) & (ty < 1))).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())


@pytest.mark.parametrize("op", ["__iand__", "__ior__", "__ixor__"])
def test_in_place_operators_write_the_tensor_as_torch(op, device):
    for dtype, other in [("bool", True), ("int32", 6), ("int64", "int32"), ("bool", "bool")]:
        x, tx = _pair(_host((2, 3), dtype), device)
        if isinstance(other, str):
            o, to = _pair(_host((3,), other, seed=1), device)
        else:
            o, to = other, other
        before, version = x, x._version[0]
        x = getattr(x, op)(o)
        tx = getattr(tx, op)(to)
        assert x is before and x._version[0] == version + 1
        _same(x, tx)


# -- gg.compile ------------------------------------------------------------------------------
def test_a_compiled_step_replays_the_masks_from_new_inputs_bit_for_bit():
    gg.manual_seed(3)
    w = gg.randn(4, 5, requires_grad=True)
    rng = np.random.default_rng(7)
    batches = [
        (
            gg.tensor(rng.standard_normal((4, 5)).astype(np.float32)),
            gg.tensor(rng.standard_normal((4, 5)).astype(np.float32)),
            gg.tensor(rng.integers(-8, 8, (4, 5))),
        )
        for _ in range(6)
    ]

    def step(x, y, k):
        w.grad = None
        mask = (x > 0) & (y < 1)
        other = ((x < -0.5) | ~(y > 0)) ^ gg.logical_not(x > 1)
        logic = gg.logical_and(x, y < 0) | x.logical_xor(y > 0.5) | gg.logical_or(k, False)
        bits = ((k & 5) | (3 ^ k)) ^ ~k
        loss = (w * mask).sum() + (w * other * x).sum() + (w * logic).sum()
        loss = loss + (w * bits).sum()
        loss.backward()
        return loss, mask, other, logic, bits

    compiled = gg.compile(step)
    for n, batch in enumerate(batches):
        got = [t.numpy().copy() for t in compiled(*batch)] + [w.grad.numpy().copy()]
        want = [t.numpy().copy() for t in step(*batch)] + [w.grad.numpy().copy()]
        for g, e in zip(got, want):
            assert g.dtype == e.dtype and g.shape == e.shape
            np.testing.assert_array_equal(g, e)
        assert len(compiled.plans) == (0 if n == 0 else 1)
