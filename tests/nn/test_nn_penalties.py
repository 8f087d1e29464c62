"""Weight penalties (gpugrad/nn/penalties.py): L1, L2 and elastic net, and their gradient."""

import numpy as np
import pytest

import gpugrad as gg
from gpugrad import nn


def test_penalties(device):
    w = gg.tensor([1.0, -2.0], device=device, requires_grad=True)
    v = gg.tensor([[3.0]], device=device, requires_grad=True)
    assert nn.l1_penalty([w, v]).item() == 6.0
    assert nn.l2_penalty([w, v]).item() == 14.0
    e = nn.elastic_net_penalty([w, v], l1=0.5, l2=0.1)
    assert e.item() == pytest.approx(3.0 + 1.4)
    e.backward()
    np.testing.assert_allclose(w.grad.numpy(), [0.5 + 0.2, -0.5 - 0.4])
