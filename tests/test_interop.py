"""DLPack and the CUDA array interface: memory shared both ways with torch, NumPy and
CuPy, as PyTorch's ``from_dlpack``/``__dlpack__``."""

import numpy as np
import pytest
import torch

import gpugrad as gg
from gpugrad import backend

DTYPES = [np.float32, np.float64, np.int64, np.bool_]
SHAPES = [(2, 3), (), (0,), (0, 4)]


def _values(shape, dtype):
    return (np.arange(int(np.prod(shape))) % 3).reshape(shape).astype(dtype)


def _torch_device(dev):
    return "cpu" if dev.kind == "cpu" else f"cuda:{dev.index}"


def _write(target, value):
    """Write ``value`` into the first element of a torch tensor or a backend array."""
    if target.ndim == 0:
        target[()] = value
    else:
        target.reshape(-1)[0] = value


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_torch_from_gpugrad_shares_memory(device, dtype, shape):
    t = gg.tensor(_values(shape, dtype), device=device)
    x = torch.from_dlpack(t)
    assert x.shape == t.shape and str(x.dtype) == f"torch.{t.dtype}"
    assert x.device == torch.device(_torch_device(device))
    np.testing.assert_array_equal(x.cpu().numpy(), t.numpy())
    if t.numel():
        _write(x, True if dtype is np.bool_ else 7)
        assert t.numpy().reshape(-1)[0] == x.reshape(-1)[0].item()


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_gpugrad_from_torch_shares_memory(device, dtype, shape):
    x = torch.from_numpy(_values(shape, dtype)).to(_torch_device(device))
    t = gg.from_dlpack(x)
    assert t.device == device and t.shape == tuple(x.shape) and not t.requires_grad
    np.testing.assert_array_equal(t.numpy(), x.cpu().numpy())
    if t.numel():
        _write(t.array, True if dtype is np.bool_ else 7)
        assert x.reshape(-1)[0].item() == t.numpy().reshape(-1)[0]


@pytest.mark.parametrize("dtype", DTYPES, ids=lambda d: np.dtype(d).name)
def test_numpy_round_trip_shares_memory(dtype):
    a = _values((2, 3), dtype)
    t = gg.from_dlpack(a)
    assert t.dtype == gg.tensor(a).dtype
    back = np.from_dlpack(t)
    back[1, 2] = 1
    assert a[1, 2] == 1 and t[1, 2].item() == 1
    assert np.shares_memory(a, gg.from_numpy(a).array)


def test_transposed_view_keeps_strides(device):
    t = gg.tensor(np.arange(6.0).reshape(2, 3), device=device)
    x = torch.from_dlpack(t.T)
    assert x.shape == (3, 2) and x.stride() == (1, 3)
    np.testing.assert_array_equal(x.cpu().numpy(), t.T.numpy())
    x[2, 0] = -1.0  # t[0, 2]
    assert t[0, 2].item() == -1.0
    back = gg.from_dlpack(torch.arange(6.0).reshape(2, 3).to(_torch_device(device)).T)
    np.testing.assert_array_equal(back.numpy(), np.arange(6.0).reshape(2, 3).T)


def test_gpugrad_tensor_through_dlpack_and_ops(device):
    t = gg.tensor([1.0, 2.0], device=device)
    u = gg.from_dlpack(t)
    u += 1  # in place on shared memory
    assert t.tolist() == [2.0, 3.0]
    assert (gg.from_dlpack(t) * 2).tolist() == [4.0, 6.0]


def test_dlpack_device(device):
    t = gg.zeros(2, device=device)
    assert tuple(map(int, t.__dlpack_device__())) == tuple(
        map(int, torch.zeros(2, device=_torch_device(device)).__dlpack_device__())
    )


def test_requires_grad_refused_as_torch():
    t = gg.ones(2, requires_grad=True)
    with pytest.raises(BufferError, match="Can't export tensors that require gradient"):
        torch.from_dlpack(t)
    with pytest.raises(BufferError, match="require gradient"):
        torch.ones(2, requires_grad=True).__dlpack__()
    with pytest.raises(BufferError, match="require gradient"):
        gg.from_dlpack(torch.ones(2, requires_grad=True))
    assert torch.from_dlpack(t.detach()).tolist() == [1.0, 1.0]
    assert gg.from_dlpack(torch.ones(2, requires_grad=True).detach()).tolist() == [1.0, 1.0]


def test_stream_refused_on_cpu():
    with pytest.raises(RuntimeError, match="stream=None"):
        gg.zeros(2).__dlpack__(stream=1)


def test_from_dlpack_rejects_plain_objects():
    with pytest.raises(TypeError, match="__dlpack__"):
        gg.from_dlpack([1.0, 2.0])


def test_cuda_array_interface(device):
    t = gg.tensor([1.0, 2.0, 3.0], device=device)
    if device.kind == "cpu":
        assert not hasattr(t, "__cuda_array_interface__")
        assert not hasattr(torch.ones(2), "__cuda_array_interface__")
        with pytest.raises(AttributeError, match="non-CUDA"):
            _ = t.__cuda_array_interface__
        return
    cai = t.__cuda_array_interface__
    assert cai["shape"] == (3,) and cai["typestr"] == "<f4"
    assert cai["data"][0] == t.array.data.ptr
    cupy = backend.device(device).xp
    alias = cupy.asarray(t)  # CuPy reads the interface: the same memory
    alias[0] = 9.0
    assert t[0].item() == 9.0
    with pytest.raises(RuntimeError, match="requires grad"):
        _ = gg.ones(2, device=device, requires_grad=True).__cuda_array_interface__


def test_cupy_round_trip(device):
    if device.kind == "cpu":
        pytest.skip("CuPy arrays live on CUDA")
    cupy = device.xp
    with cupy.cuda.Device(device.index):
        a = cupy.arange(4, dtype=cupy.float32)
    t = gg.from_dlpack(a)
    assert t.device == device and t.array.data.ptr == a.data.ptr
    back = cupy.from_dlpack(t)
    back[0] = 5
    assert a[0].item() == 5 and t[0].item() == 5
