"""In-place ops (gpugrad/ops/inplace.py): ``+=``, ``*=``, ``x[i] = v`` on tensors in a graph
bump version counters, shared by a view and its base, so that a backward that needs an
overwritten value refuses; leaves that require grad refuse them outside no_grad; the history
they write matches PyTorch's."""

import numpy as np
import pytest
import torch

import gpugrad as gg


def test_inplace_on_saved_output_raises(device):
    x = gg.tensor([0.5, -1.0], device=device, requires_grad=True)
    y = x.exp()  # Exp saves its output
    z = y.sum()
    y += 1
    with pytest.raises(RuntimeError, match="in-place"):
        z.backward()


def test_inplace_on_saved_input_raises(device):
    x = gg.tensor([0.5, -1.0], device=device, requires_grad=True)
    h = x * 1.0
    y = (h * h).sum()  # Mul saves h
    h[0] = 3.0
    with pytest.raises(RuntimeError, match="in-place"):
        y.backward()


def test_inplace_on_leaf_requiring_grad_raises(device):
    x = gg.tensor([1.0], device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        x += 1
    with gg.no_grad():
        x += 1  # allowed: it is how optimizers update parameters
    assert x.numpy()[0] == 2.0 and x._version[0] == 1


def test_inplace_history_matches_torch(device):
    host = np.array([0.3, -0.7, 1.2])
    x = gg.tensor(host, device=device, requires_grad=True)
    h = x * 2.0
    h += x  # Add saves nothing: fine
    h *= 3.0
    h[1] = x[0] * 5.0
    h.sum().backward()
    t = torch.tensor(host, requires_grad=True)
    th = t * 2.0
    th += t
    th *= 3.0
    th[1] = t[0] * 5.0
    th.sum().backward()
    np.testing.assert_allclose(h.numpy(), th.detach().numpy())
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy())


def test_inplace_through_a_view_bumps_the_base(device):
    x = gg.tensor([[1.0, 2.0], [3.0, 4.0]], device=device, requires_grad=True)
    h = x.exp()
    y = h.sum()
    row = h[0]  # a view sharing h's version counter
    with gg.no_grad():
        row += 1
    with pytest.raises(RuntimeError, match="in-place"):
        y.backward()


def test_setitem_without_grad_writes_in_place(device):
    x = gg.zeros(3, device=device)
    data = x.data
    x[1] = 5.0
    x[gg.tensor([0, 2], device=device)] = gg.tensor([1.0, 2.0], device=device)
    assert x.data is data
    np.testing.assert_array_equal(x.numpy(), [1.0, 5.0, 2.0])
