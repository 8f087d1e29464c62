"""F.maxout (gpugrad/ops/maxout.py) against the same reduction in PyTorch."""

import pytest
from opspec import OpSpec, cases, check_op

import gpugrad.functional as F

SPECS = [
    OpSpec(
        "maxout",
        lambda x: F.maxout(x, 3),
        lambda x: x.reshape(4, 2, 3).amax(-1),
        [((4, 6),)],
        distinct=True,
    ),
]


@pytest.mark.parametrize("spec, dtype", cases(SPECS))
def test_matches_torch(spec, dtype, device):
    check_op(spec, device, dtype)
