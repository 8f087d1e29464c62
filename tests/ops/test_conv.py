"""F.conv2d (gpugrad/ops/conv.py, through im2col) against PyTorch, over strides, paddings
and kernel sizes."""

import pytest
import torch.nn.functional as TF
from opspec import OpSpec, cases, check_op

import gpugrad.functional as F

SPECS = [
    OpSpec(
        f"conv2d_s{stride}_p{padding}_k{k}",
        lambda x, w, b, s=stride, p=padding: F.conv2d(x, w, b, stride=s, padding=p),
        lambda x, w, b, s=stride, p=padding: TF.conv2d(x, w, b, stride=s, padding=p),
        [((2, 3, 7, 6), (4, 3, k, k), (4,))],
    )
    for stride, padding, k in [(1, 0, 3), (2, 1, 3), (1, 2, 2), (3, 0, 1)]
]


@pytest.mark.parametrize("spec, dtype", cases(SPECS, float32=("conv2d_s2_p1_k3",)))
def test_matches_torch(spec, dtype, device):
    check_op(spec, device, dtype)
