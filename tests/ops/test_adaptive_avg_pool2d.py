"""F.adaptive_avg_pool2d (gpugrad/ops/adaptive_avg_pool2d.py) and nn.AdaptiveAvgPool2d
against PyTorch: dividing and non-dividing sizes (PyTorch's overlapping window bounds),
None entries, 3-d input."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from opspec import OpSpec, cases, check_op

import gpugrad as gg
import gpugrad.functional as F
from gpugrad import nn

CASES = [
    ("global", (2, 3, 5, 4), 1),
    ("divides", (1, 2, 6, 4), (3, 2)),
    ("overlaps", (2, 1, 7, 5), (3, 4)),
    ("upsamples", (1, 1, 3, 2), (5, 4)),
    ("keep_width", (1, 2, 6, 5), (4, None)),
    ("three_d", (2, 7, 6), 4),
]
SPECS = [
    OpSpec(
        f"adaptive_avg_pool2d_{name}",
        lambda x, s=size: F.adaptive_avg_pool2d(x, s),
        lambda x, s=size: TF.adaptive_avg_pool2d(x, s),
        [(shape,)],
    )
    for name, shape, size in CASES
]


@pytest.mark.parametrize("spec, dtype", cases(SPECS, float32=("adaptive_avg_pool2d_overlaps",)))
def test_matches_torch(spec, dtype, device):
    check_op(spec, device, dtype)


def test_module():
    x = np.random.default_rng(0).normal(size=(2, 3, 7, 9)).astype(np.float32)
    ours, theirs = nn.AdaptiveAvgPool2d((2, 3)), torch.nn.AdaptiveAvgPool2d((2, 3))
    assert repr(ours) == repr(theirs)
    assert repr(nn.AdaptiveAvgPool2d(1)) == repr(torch.nn.AdaptiveAvgPool2d(1))
    np.testing.assert_allclose(
        ours(gg.tensor(x)).numpy(), theirs(torch.tensor(x)).numpy(), rtol=1e-5, atol=1e-6
    )
