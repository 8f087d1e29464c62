"""Indexing (gpugrad/ops/indexing.py): integers, slices, integer arrays, index pairs and
masks against PyTorch; repeated indices accumulate; Tensor and list indices.  Assignment
(``x[i] = v``) is tested in test_inplace.py."""

import numpy as np
import pytest
import torch
from opspec import OpSpec, cases, check_op

import gpugrad as gg

SPECS = [
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
]


@pytest.mark.parametrize("spec, dtype", cases(SPECS))
def test_matches_torch(spec, dtype, device):
    check_op(spec, device, dtype)


def test_repeated_integer_index_accumulates(device):
    x = gg.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    x[np.array([0, 0, 2, 0])].sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3, 0, 1])


def test_index_with_tensor_and_list(device):
    x = gg.arange(6, dtype="float32", device=device).reshape(2, 3)
    idx = gg.tensor([1, 0], device=device)
    np.testing.assert_array_equal(x[idx].numpy(), [[3, 4, 5], [0, 1, 2]])
    np.testing.assert_array_equal(x[[0, 0]].numpy(), [[0, 1, 2], [0, 1, 2]])
