"""gg.concatenate and gg.stack (gpugrad/ops/concatenate.py) against PyTorch."""

import pytest
import torch
from opspec import OpSpec, cases, check_op

import gpugrad as gg

SPECS = [
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
]


@pytest.mark.parametrize("spec, dtype", cases(SPECS))
def test_matches_torch(spec, dtype, device):
    check_op(spec, device, dtype)
