"""F.batch_norm (gpugrad/ops/batch_norm.py) against PyTorch: training (batch statistics,
running averages, gradients of input, weight and bias) and evaluation."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import gpugrad as gg
import gpugrad.functional as F


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5, 5)])
def test_batch_norm_train_and_eval(shape, device):
    rng = np.random.default_rng(0)
    host = rng.standard_normal(shape) * 2 + 1
    w0, b0 = rng.standard_normal(3), rng.standard_normal(3)
    rm, rv = gg.zeros(3, dtype="float64", device=device), gg.ones(3, dtype="float64", device=device)
    trm, trv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    x = gg.tensor(host, device=device, requires_grad=True)
    w = gg.tensor(w0, device=device, requires_grad=True)
    b = gg.tensor(b0, device=device, requires_grad=True)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (host, w0, b0))
    y = F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.1)
    ty = TF.batch_norm(tx, trm, trv, tw, tb, training=True, momentum=0.1)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(rm.numpy(), trm.numpy(), rtol=1e-12)
    np.testing.assert_allclose(rv.numpy(), trv.numpy(), rtol=1e-12)
    u = rng.standard_normal(shape)
    (y * gg.tensor(u, device=device)).sum().backward()
    (ty * torch.tensor(u)).sum().backward()
    for g, t in [(x, tx), (w, tw), (b, tb)]:
        np.testing.assert_allclose(g.grad.numpy(), t.grad.numpy(), rtol=1e-8, atol=1e-10)
    ye = F.batch_norm(gg.tensor(host, device=device), rm, rv, w, b, training=False)
    tye = TF.batch_norm(torch.tensor(host), trm, trv, tw, tb, training=False)
    np.testing.assert_allclose(ye.numpy(), tye.detach().numpy(), rtol=1e-10)
