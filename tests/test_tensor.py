"""The Tensor class (gpugrad/tensor.py): detach, requires_grad on integer tensors."""

import numpy as np
import pytest

import gpugrad as gg


def test_detach_cuts_the_graph(device):
    x = gg.tensor([1.0], device=device, requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.creator is None


def test_integer_tensor_cannot_require_grad(device):
    with pytest.raises(TypeError, match="floating"):
        gg.tensor([1, 2], device=device, requires_grad=True)
    with pytest.raises(TypeError, match="int64"):
        gg.arange(3, device=device).requires_grad_()


def test_data_is_pytorchs_a_tensor_sharing_memory_outside_the_graph(device):
    w = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    (w * w).sum().backward()
    w.grad.data.zero_()  # the PyTorch idiom
    np.testing.assert_array_equal(w.grad.numpy(), [0.0, 0.0])
    d = w.data
    assert isinstance(d, gg.Tensor) and not d.requires_grad and d.creator is None
    with gg.no_grad():
        d.mul_(3.0)
    np.testing.assert_array_equal(w.numpy(), [3.0, 6.0])
    assert w._version[0] == 0  # as PyTorch: changes through .data are not seen by autograd
    w.data = gg.tensor([5.0, 6.0, 7.0], device=device)
    assert w.shape == (3,) and w.requires_grad
    assert gg.backend.get_array_module(w.array).__name__ in ("numpy", "cupy")
