"""The modules of gpugrad/nn/linear.py beyond the functions they call (tests/ops/): Maxout's
shape.  Linear's default initialisation: test_nn_init.py."""

import gpugrad as gg
from gpugrad import nn


def test_maxout_module(device):
    m = nn.Maxout(4, 3, pieces=2).to(device)
    assert m(gg.randn(5, 4, device=device)).shape == (5, 3)
