"""Views (gpugrad/ops/view.py): what is a view and what is a copy, the version counter a
view shares with its base, 0-d views, and the corners of 0-d tensors, each as PyTorch."""

import numpy as np
import pytest
import torch

import gpugrad as gg


def _m(device):
    return gg.tensor(np.arange(12.0).reshape(3, 4), device=device)


@pytest.mark.parametrize(
    "take",
    [
        lambda h: h[1],
        lambda h: h[:, 2],
        lambda h: h[1, 2],
        lambda h: h.T,
        lambda h: h.reshape(12),
        lambda h: h[1:].reshape(2, 2, 2),
        lambda h: h.unsqueeze(0).squeeze(0),
    ],
    ids=["row", "column", "element", "transpose", "reshape", "chain", "unsqueeze"],
)
def test_a_view_shares_memory_and_version_with_its_base(take, device):
    h = _m(device)
    v = take(h)
    with gg.no_grad():
        v += 1.0
    assert h._version[0] == v._version[0] == 1
    assert h.numpy().sum() == np.arange(12.0).sum() + v.numel()


def test_a_reshape_that_copies_is_not_a_view(device):
    h = _m(device)
    copy = h.T.reshape(12)  # a transposed array cannot be reshaped without a copy
    copy += 1.0
    assert h._version[0] == 0 and h.numpy().sum() == np.arange(12.0).sum()


def test_detach_shares_memory_and_version_but_no_history(device):
    x = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    h = x * 2.0
    d = h.detach()
    d.zero_()
    assert d.creator is None and not d.requires_grad and h._version[0] == 1
    np.testing.assert_array_equal(h.numpy(), [0.0, 0.0])


def test_in_place_on_an_expanded_view_raises(device):
    x = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    e = (x * 1.0).broadcast_to((3, 2))
    with pytest.raises(RuntimeError, match="expanded"):
        e *= 2.0


def test_zero_d_results_are_zero_d_arrays(device):
    x = gg.tensor([1.0, 2.0, 3.0], device=device)
    for t in (x.sum(), x[1], x.max(), x.sum() * 2.0, -x.mean()):
        assert t.shape == () and t.array.ndim == 0 and hasattr(t.array, "flags")
    s = x.sum()
    s += 1.0
    s.zero_()
    assert s.item() == 0.0
    s.fill_(4.0)
    assert s.item() == 4.0


def test_zero_d_corners_as_torch(device):
    s = gg.tensor(3.0, device=device, requires_grad=True)
    ts = torch.tensor(3.0, requires_grad=True)
    for ours, theirs in [
        (s.sum(axis=0), ts.sum(dim=0)),
        (s.mean(axis=-1), ts.mean(dim=-1)),
        (s.squeeze(0), ts.squeeze(0)),
    ]:
        assert ours.shape == tuple(theirs.shape) and ours.item() == theirs.item()
    with pytest.raises(ValueError, match="out of range"):
        s.sum(axis=1)


def test_variance_without_degrees_of_freedom_is_nan_as_torch(device):
    x = gg.tensor([2.0], dtype="float64", device=device, requires_grad=True)
    v = x.var(ddof=1)
    v.backward()
    assert np.isnan(v.item()) and np.isnan(x.grad.numpy()).all()


def test_python_and_numpy_scalars_never_widen_a_tensor(device):
    f32 = gg.tensor([1.0, 2.0], device=device)
    ints = gg.tensor([1, 2], device=device)
    assert (f32 * np.float64(2)).dtype == np.float32
    assert (np.float64(2) * f32).dtype == np.float32
    assert (ints / 2).dtype == np.float32 and (2 / ints).dtype == np.float32
    assert (ints * 2.5).dtype == np.float32 and (ints + 2).dtype == np.int64
    np.testing.assert_allclose((ints / 2).numpy(), [0.5, 1.0])
