"""The losses of gpugrad/ops/loss.py against PyTorch: mse_loss and l1_loss for each
reduction, multi_margin_loss (the multiclass SVM) for each reduction; bad labels, an unknown
reduction and mismatched shapes."""

import pytest
import torch.nn.functional as TF
from opspec import OpSpec, cases, check_loss_against_torch, check_op

import gpugrad as gg
import gpugrad.functional as F

PAIR = [((4, 3), (4, 3))]


def _reduced(name, reduction):
    """F.<name>(a, b, reduction) and torch's, for an OpSpec."""
    return (
        lambda a, b: getattr(F, name)(a, b, reduction),
        lambda a, b: getattr(TF, name)(a, b, reduction=reduction),
    )


SPECS = [
    OpSpec("mse_loss", F.mse_loss, TF.mse_loss, PAIR),
    OpSpec("mse_sum", *_reduced("mse_loss", "sum"), PAIR),
    OpSpec("l1_loss", F.l1_loss, TF.l1_loss, PAIR),
    OpSpec("l1_none", *_reduced("l1_loss", "none"), PAIR),
]


@pytest.mark.parametrize("spec, dtype", cases(SPECS))
def test_matches_torch(spec, dtype, device):
    check_op(spec, device, dtype)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_multi_margin_loss_matches_torch(reduction, device):
    check_loss_against_torch("multi_margin_loss", reduction, device)


def test_loss_errors(device):
    x = gg.zeros(3, 4, device=device)
    with pytest.raises(ValueError, match="label -1"):
        F.multi_margin_loss(x, gg.tensor([0, -1, 2]))
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match="differ"):
        F.mse_loss(x, gg.zeros(4, 3, device=device))
