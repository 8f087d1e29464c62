"""nn.Dropout (gpugrad/nn/dropout.py): the identity in evaluation.  The function:
tests/ops/test_dropout.py."""

import gpugrad as gg
from gpugrad import nn


def test_dropout_module_in_eval_is_the_identity(device):
    d = nn.Dropout(0.5)
    x = gg.ones(10, device=device)
    d.eval()
    assert d(x) is x
