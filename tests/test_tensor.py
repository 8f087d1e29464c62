"""The Tensor class (gpugrad/tensor.py): detach, requires_grad on integer tensors."""

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
