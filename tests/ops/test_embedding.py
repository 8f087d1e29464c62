"""F.embedding (gpugrad/ops/embedding.py) and nn.Embedding against PyTorch: repeated indices
accumulate, the padding row gets no gradient, second-order gradients."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import gpugrad as gg
import gpugrad.functional as F
from gpugrad import nn

INDICES = np.array([[0, 2, 2, 5], [5, 1, 0, 2]])


@pytest.mark.parametrize("padding_idx", [None, 2, -1])
def test_forward_and_gradient_match_torch(padding_idx, device):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(6, 3))
    up = rng.normal(size=(2, 4, 3))
    ours = gg.tensor(w, device=device, requires_grad=True)
    theirs = torch.tensor(w, requires_grad=True)
    idx = gg.tensor(INDICES, device=device)
    y = F.embedding(idx, ours, padding_idx=padding_idx)
    ty = TF.embedding(torch.tensor(INDICES), theirs, padding_idx=padding_idx)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy())
    y.backward(gg.tensor(up, device=device))
    ty.backward(torch.tensor(up))
    np.testing.assert_allclose(ours.grad.numpy(), theirs.grad.numpy(), rtol=1e-12)


def test_gradcheck_and_double_backward():
    w = gg.tensor(np.random.default_rng(1).normal(size=(6, 3)), requires_grad=True)
    assert gg.gradcheck(lambda w: F.embedding(INDICES, w), (w,))  # padding_idx: not a true gradient
    (g,) = gg.grad((F.embedding(INDICES, w) ** 2).sum(), (w,), create_graph=True)
    (gg_,) = gg.grad(g.sum(), (w,))
    tw = torch.tensor(w.numpy(), requires_grad=True)
    (tg,) = torch.autograd.grad(
        (TF.embedding(torch.tensor(INDICES), tw) ** 2).sum(), tw, create_graph=True
    )
    (tgg,) = torch.autograd.grad(tg.sum(), tw)
    np.testing.assert_allclose(gg_.numpy(), tgg.numpy(), rtol=1e-12)


def test_module_state_dict_init_and_repr():
    theirs = torch.nn.Embedding(10, 3, padding_idx=0)
    ours = nn.Embedding(10, 3, padding_idx=0)
    assert repr(ours) == repr(theirs)
    assert not ours.weight.numpy()[0].any()  # the padding row starts at zero
    assert abs(float(nn.Embedding(1000, 8).weight.numpy().std()) - 1) < 0.05  # N(0, 1)
    ours.load_state_dict(theirs.state_dict())
    idx = np.array([[1, 0, 9]])
    np.testing.assert_allclose(
        ours(gg.tensor(idx)).numpy(), theirs(torch.tensor(idx)).detach().numpy()
    )
    frozen = nn.Embedding.from_pretrained(gg.ones(4, 2))
    assert not frozen.weight.requires_grad and frozen(gg.tensor([3])).shape == (1, 2)
    with pytest.raises(TypeError, match="integers"):
        F.embedding(gg.ones(2), ours.weight)
