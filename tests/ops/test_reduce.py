"""Reductions (gpugrad/ops/reduce.py): sum, mean, max, min and var against PyTorch, over
axes, keepdims, 0-d and empty tensors; where max and min send the gradient on ties and NaNs;
a bad axis."""

import numpy as np
import pytest
import torch
from opspec import REDUCE_SHAPES, OpSpec, cases, check_op

import gpugrad as gg

SPECS = [
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
    OpSpec("var", lambda a: a.var(), lambda a: a.var(), REDUCE_SHAPES),
    OpSpec(
        "var_correction0",
        lambda a: a.var(correction=0),
        lambda a: a.var(correction=0),
        REDUCE_SHAPES,
    ),
    OpSpec(
        "std_dim_keepdim",
        lambda a: a.std(dim=-1, keepdim=True),
        lambda a: a.std(dim=-1, keepdim=True),
        REDUCE_SHAPES,
    ),
    OpSpec(
        "var_axis_ddof1", lambda a: a.var(axis=1, ddof=1), lambda a: a.var(dim=1), REDUCE_SHAPES[:2]
    ),
]


@pytest.mark.parametrize("spec, dtype", cases(SPECS, float32=("sum_axis", "max_axis")))
def test_matches_torch(spec, dtype, device):
    check_op(spec, device, dtype)


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


def test_axis_out_of_range_is_named(device):
    with pytest.raises(ValueError, match="axis 3"):
        gg.zeros(2, 3, device=device).sum(axis=3)
