"""gg.where (gpugrad/ops/where.py) against PyTorch: values and the gradient of each branch."""

import pytest
import torch
from opspec import OpSpec, cases, check_op

import gpugrad as gg

SPECS = [
    OpSpec(
        "where",
        lambda a, b: gg.where(a > 0, a, b),
        lambda a, b: torch.where(a > 0, a, b),
        [((3, 4), (3, 4)), ((3, 4), (4,))],
    ),
]


@pytest.mark.parametrize("spec, dtype", cases(SPECS))
def test_matches_torch(spec, dtype, device):
    check_op(spec, device, dtype)
