"""F.linear (gpugrad/ops/linear.py) against PyTorch, with and without a bias."""

import pytest
import torch.nn.functional as TF
from opspec import OpSpec, cases, check_op

import gpugrad.functional as F

SPECS = [
    OpSpec("linear", F.linear, TF.linear, [((4, 3), (5, 3), (5,)), ((2, 4, 3), (5, 3), (5,))]),
    OpSpec("linear_nobias", F.linear, TF.linear, [((4, 3), (5, 3))]),
]


@pytest.mark.parametrize("spec, dtype", cases(SPECS, float32=("linear",)))
def test_matches_torch(spec, dtype, device):
    check_op(spec, device, dtype)
