"""Arithmetic (gpugrad/ops/arithmetic.py): the binary operators and their scalar forms,
maximum and minimum, and comparisons, against PyTorch; dtype, device and broadcast errors."""

import numpy as np
import pytest
import torch
from opspec import BINARY_SHAPES, UNARY_SHAPES, OpSpec, cases, check_op

import gpugrad as gg

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
    OpSpec("maximum", gg.maximum, torch.maximum, BINARY_SHAPES[:3], distinct=True),
    OpSpec("minimum", gg.minimum, torch.minimum, BINARY_SHAPES[:3], distinct=True),
]


@pytest.mark.parametrize("spec, dtype", cases(SPECS, float32=("add", "mul", "div")))
def test_matches_torch(spec, dtype, device):
    check_op(spec, device, dtype)


def test_maximum_ties_go_to_first_argument(device):
    a = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = gg.tensor([1.0, 0.0], device=device, requires_grad=True)
    gg.maximum(a, b).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), [1, 1])
    np.testing.assert_array_equal(b.grad.numpy(), [0, 0])


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


@pytest.mark.parametrize(
    "left, right",
    [
        ("float32", "float64"),
        ("int64", "float32"),
        ("bool", "int64"),
        ("int32", "int64"),
        ("float16", "float32"),
        ("int64", "float16"),
    ],
)
def test_tensor_dtypes_promote_as_torch(left, right, device):
    a, b = np.ones((2,), dtype=left), np.full((2,), 2, dtype=right)
    got = gg.tensor(a, device=device) + gg.tensor(b, device=device)
    want = torch.tensor(a) + torch.tensor(b)
    assert str(got.dtype) == str(want.dtype).removeprefix("torch.")
    zero_d = gg.tensor(a, device=device) * gg.tensor(b[0], device=device)
    assert str(zero_d.dtype) == str((torch.tensor(a) * torch.tensor(b[0])).dtype)[6:]


def test_promotion_keeps_gradients_in_each_dtype(device):
    a = gg.tensor([1.0, 2.0], dtype=gg.float32, device=device, requires_grad=True)
    b = gg.tensor([3.0, 4.0], dtype=gg.float64, device=device, requires_grad=True)
    y = a * b
    assert y.dtype == gg.float64
    y.sum().backward()
    assert a.grad.dtype == gg.float32 and b.grad.dtype == gg.float64
    np.testing.assert_allclose(a.grad.numpy(), [3.0, 4.0])


def test_device_mismatch_names_both_sides(device):
    if device.kind != "cuda":
        pytest.skip("needs a GPU to have two devices")
    a = gg.tensor([1.0], device="cpu")
    b = gg.tensor([1.0], device=device)
    with pytest.raises(RuntimeError, match="cpu.*cuda:0"):
        a + b


def test_shapes_that_do_not_broadcast_raise(device):
    with pytest.raises(ValueError):
        gg.zeros(2, 3, device=device) + gg.zeros(4, device=device)
