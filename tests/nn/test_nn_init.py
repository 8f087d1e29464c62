"""Initialisation (gpugrad/nn/init.py): kaiming, xavier and zeros; Linear's and Conv2d's
default initialisation within torch's bounds."""

import math

import numpy as np

import gpugrad as gg
from gpugrad import nn


def test_default_init_matches_torch_bounds():
    gg.manual_seed(0)
    lin = nn.Linear(100, 50)
    bound = 1 / math.sqrt(100)
    w = lin.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
    conv = nn.Conv2d(3, 8, 5)
    assert np.abs(conv.weight.numpy()).max() <= 1 / math.sqrt(75)
    assert np.abs(conv.bias.numpy()).max() <= 1 / math.sqrt(75)
    t = gg.zeros(64, 32)
    nn.init.kaiming_normal_(t, nonlinearity="relu")
    assert abs(t.numpy().std() - math.sqrt(2 / 32)) < 0.02
    nn.init.xavier_uniform_(t)
    assert np.abs(t.numpy()).max() <= math.sqrt(6 / 96)
    nn.init.zeros_(t)
    assert not t.numpy().any()
