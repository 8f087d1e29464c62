"""F.cross_entropy (gpugrad/ops/softmax_cross_entropy.py) against PyTorch for every
reduction, its second derivative, and the errors for bad labels."""

import numpy as np
import pytest
from opspec import check_loss_against_torch

import gpugrad as gg
import gpugrad.functional as F


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_matches_torch(reduction, device):
    check_loss_against_torch("cross_entropy", reduction, device)


def test_cross_entropy_second_derivative(device):
    x = gg.tensor(
        np.random.default_rng(1).standard_normal((3, 4)), device=device, requires_grad=True
    )
    assert gg.gradgradcheck(lambda s: F.cross_entropy(s, gg.tensor([0, 2, 3], device=device)), [x])


def test_bad_labels_raise(device):
    x = gg.zeros(3, 4, device=device)
    with pytest.raises(ValueError, match="label 4 is out of range"):
        F.cross_entropy(x, gg.tensor([0, 1, 4]))
    with pytest.raises(TypeError, match="integer"):
        F.cross_entropy(x, gg.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"labels of shape \(2,\)"):
        F.cross_entropy(x, gg.tensor([0, 1]))
