"""The loss modules (gpugrad/nn/loss.py): their reductions.  The functions:
tests/ops/test_loss.py and tests/ops/test_softmax_cross_entropy.py."""

import gpugrad as gg
from gpugrad import nn


def test_module_losses(device):
    logits = gg.randn(4, 3, device=device)
    labels = gg.tensor([0, 1, 2, 0], device=device)
    assert nn.CrossEntropyLoss()(logits, labels).shape == ()
    assert nn.MultiMarginLoss(reduction="none")(logits, labels).shape == (4,)
    assert nn.MSELoss()(logits, logits).item() == 0
