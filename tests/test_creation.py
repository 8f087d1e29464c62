"""Factories (gpugrad/creation.py, and randn/rand from gpugrad/random.py): gg.tensor's
dtype inference and conversions back, zeros/ones/full/arange/..._like, seeded random tensors."""

import numpy as np
import pytest

import gpugrad as gg


def test_factories(device):
    gg.manual_seed(3)
    a = gg.randn(2, 3, device=device)
    gg.manual_seed(3)
    b = gg.randn(2, 3, device=device)
    np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert a.dtype == np.float32 and a.shape == (2, 3)
    r = gg.rand(1000, device=device).numpy()
    assert r.min() >= 0 and r.max() < 1
    assert gg.zeros((2, 2), device=device).numpy().sum() == 0
    assert gg.ones(3, dtype="float64", device=device).dtype == np.float64
    assert gg.full((2,), 7.0, device=device).numpy().tolist() == [7.0, 7.0]
    assert gg.arange(4, device=device).numpy().tolist() == [0, 1, 2, 3]
    assert gg.arange(0, 1, 0.5, device=device).dtype == np.float32
    z = gg.zeros_like(a)
    assert z.shape == a.shape and z.device == a.device
    assert gg.ones_like(a).numpy().sum() == 6
    with pytest.raises(ValueError, match="non-negative"):
        gg.zeros(-1)


def test_tensor_construction_and_conversion(device):
    t = gg.tensor([[1, 2], [3, 4]], device=device)
    assert t.dtype == np.int64 and t.ndim == 2 and t.numel() == 4 and len(t) == 2
    assert gg.tensor(2.5, device=device).dtype == np.float32
    assert gg.tensor(np.zeros(2, np.float64), device=device).dtype == np.float64
    assert gg.tensor([1.0], dtype="float16", device=device).dtype == np.float16
    assert t.tolist() == [[1, 2], [3, 4]]
    assert gg.tensor([3.5], device=device).item() == 3.5
    with pytest.raises(ValueError, match="one element"):
        t.item()
    with pytest.raises(TypeError):
        gg.tensor(["a", object()])
    assert "tensor(" in repr(gg.tensor([1.0], requires_grad=True))
    f = t.astype("float32")
    assert f.dtype == np.float32
