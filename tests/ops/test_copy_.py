"""``Tensor.copy_(src)`` (gpugrad/ops/inplace.py) against torch: src broadcast to the
tensor's shape, cast to its dtype, moved to its device, written in place (the same Tensor
returned, its version bumped); the tensor's history becomes src's (through a view, the
base's: CopySlices); leaves that require grad refuse it outside no_grad; gg.compile
refuses it as every in-place write."""

import numpy as np
import pytest
import torch
from inplace_programs import assert_same_as_torch

import gpugrad as gg

CASTS = [
    ("float32", "float64", [1.25, -2.5, 1e-8]),
    ("float64", "float32", [1.25, -2.5, 3.0]),
    ("float16", "float64", [1.25, -2.5, 70000.0]),
    ("int32", "float64", [1.7, -1.7, 300.0]),
    ("int64", "bool", [True, False, True]),
    ("bool", "float32", [0.0, 0.1, np.nan]),
    ("uint8", "int64", [-1, 256, 3]),
    ("float32", "int32", [7, -8, 0]),
]


def _same(got, want):
    assert got.dtype == np.dtype(str(want.dtype).removeprefix("torch."))
    assert got.shape == tuple(want.shape)
    np.testing.assert_array_equal(got.numpy(), want.detach().numpy())


@pytest.mark.filterwarnings("ignore:overflow encountered in cast")  # float16: inf, as torch
@pytest.mark.parametrize("dst,src,values", CASTS)
def test_copy_casts_to_the_tensor_dtype_as_torch(dst, src, values, device):
    host = np.array(values, dtype=src)
    x = gg.zeros(3, dtype=dst, device=device)
    tx = torch.zeros(3, dtype=getattr(torch, dst))
    version = x._version[0]
    assert x.copy_(gg.tensor(host, device=device)) is x
    tx.copy_(torch.tensor(host))
    _same(x, tx)
    assert x._version[0] == version + 1


@pytest.mark.parametrize(
    "dst_shape,src_shape",
    [((2, 3), (3,)), ((2, 3), (1, 3)), ((2, 3), (2, 1)), ((2, 3), ()), ((), ()), ((0, 3), (3,))]
    + [((0, 3), (0, 3)), ((4,), (1,)), ((2, 3), (2, 3))],
)
def test_copy_broadcasts_the_source_as_torch(dst_shape, src_shape, device):
    host = np.arange(int(np.prod(src_shape)), dtype=np.float64).reshape(src_shape) - 1.5
    x = gg.full(dst_shape, 9.0, dtype=gg.float64, device=device)
    tx = torch.full(dst_shape, 9.0, dtype=torch.float64)
    data = x.array
    x.copy_(gg.tensor(host, device=device))
    tx.copy_(torch.tensor(host))
    _same(x, tx)
    assert x.array is data  # written in place


def test_copy_takes_a_python_number_as_torch(device):
    x, tx = gg.zeros(2, 2, device=device), torch.zeros(2, 2)
    x.copy_(1.5)
    tx.copy_(1.5)
    _same(x, tx)


@pytest.mark.parametrize(
    "dst_shape,src_shape", [((3,), (2,)), ((3,), (2, 3)), ((1, 3), (1, 1, 3)), ((2, 3), (3, 1))]
)
def test_a_source_that_does_not_broadcast_raises_as_torch(dst_shape, src_shape, device):
    with pytest.raises(RuntimeError):
        torch.zeros(dst_shape).copy_(torch.zeros(src_shape))
    x = gg.zeros(dst_shape, device=device)
    with pytest.raises(RuntimeError, match="broadcast"):
        x.copy_(gg.zeros(src_shape, device=device))
    assert x._version[0] == 0


def test_copy_into_an_expanded_view_raises_as_torch(device):
    with pytest.raises(RuntimeError):
        torch.zeros(1).expand(3).copy_(torch.ones(3))
    with pytest.raises(RuntimeError, match="expanded"):
        gg.zeros(1, device=device).expand(3).copy_(gg.ones(3, device=device))


def test_a_source_overlapping_the_tensor_is_read_before_the_write(device):
    """torch refuses h.copy_(h[1]) (partial overlap); gpugrad copies the source first, so
    the result is the one of h.copy_(h[1].clone()), on CuPy too."""
    with pytest.raises(RuntimeError, match="memory location"):
        th = torch.zeros(3, 4)
        th.copy_(th[1])
    host = np.arange(12.0).reshape(3, 4)
    h = gg.tensor(host, device=device)
    h.copy_(h[1])
    np.testing.assert_array_equal(h.numpy(), np.broadcast_to(host[1], (3, 4)))
    h = gg.tensor(host, device=device)
    h[1:].copy_(h[:-1])
    np.testing.assert_array_equal(h.numpy(), np.concatenate([host[:1], host[:-1]]))
    h = gg.tensor(host, device=device)
    assert h.copy_(h) is h and h._version[0] == 1
    np.testing.assert_array_equal(h.numpy(), host)


def test_copy_between_devices_moves_the_values(device):
    host = np.array([[1.0, -2.0, 3.5]], dtype=np.float32)
    x = gg.zeros(2, 3, device=device)
    x.copy_(gg.tensor(host))  # a CPU source into the device's tensor: an upload
    assert x.device == device and gg.backend.get_array_module(x.array) is device.xp
    np.testing.assert_array_equal(x.numpy(), np.broadcast_to(host, (2, 3)))
    back = gg.zeros(3, dtype=gg.float64)
    back.copy_(gg.tensor(host[0] * 2, device=device))  # and back to the CPU, cast
    assert back.device == gg.device("cpu")
    np.testing.assert_array_equal(back.numpy(), host[0].astype(np.float64) * 2)


def test_gradient_flows_to_the_source_across_devices(device):
    s = gg.tensor([1.0, 2.0, 3.0], dtype=gg.float64, requires_grad=True)  # on the CPU
    h = gg.zeros(2, 3, dtype=gg.float32, device=device)
    h.copy_(s)
    assert h.requires_grad and h.grad_fn is not None
    (h * h).sum().backward()
    assert s.grad.dtype == gg.float64 and s.grad.device == gg.device("cpu")
    np.testing.assert_allclose(s.grad.numpy(), [4.0, 8.0, 12.0])


def test_no_grad_copy_into_a_leaf_that_requires_grad(device):
    x = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        x.copy_(gg.tensor([3.0, 4.0], device=device))
    with pytest.raises(RuntimeError, match="leaf"):
        x[0:1].copy_(gg.tensor([3.0], device=device))
    assert x._version[0] == 0
    with gg.no_grad():
        assert x.copy_(gg.tensor([3.0, 4.0], device=device)) is x
    assert x.requires_grad and x.is_leaf and x.grad is None and x._version[0] == 1
    np.testing.assert_array_equal(x.numpy(), [3.0, 4.0])
    t = torch.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        t.copy_(torch.tensor([3.0, 4.0]))
    with torch.no_grad():
        t.copy_(torch.tensor([3.0, 4.0]))
    assert t.requires_grad and t.is_leaf and t._version == 1


def test_an_integer_tensor_takes_no_history_from_a_float_source(device):
    s = gg.tensor([1.5, -2.5], device=device, requires_grad=True)
    i = gg.zeros(2, dtype=gg.int64, device=device)
    i.copy_(s)
    ts = torch.tensor([1.5, -2.5], requires_grad=True)
    ti = torch.zeros(2, dtype=torch.int64)
    ti.copy_(ts)
    _same(i, ti)
    assert i.requires_grad == ti.requires_grad is False and i.grad_fn is None


# -- gradients, program by program against torch (tests/inplace_programs.py) ---------------
PROGRAMS = [
    # the history becomes src's: the old value gets a zero gradient
    "h = x * 2.0; h.copy_(w); (h * h).sum().backward()",
    "h = x * 2.0; h.copy_(w.detach()); (h * x).sum().backward()",
    "h = x * 1.0; h.copy_(h * w); (h * h).sum().backward()",
    "a = x.detach() * 0.0; a.copy_(w * r); (a * x).sum().backward()",
    "a = x.detach() * 0.0; b = a.copy_(w); (b * r).sum().backward()",
    # broadcasting: the gradient to src sums over the broadcast dims
    "h = m * 1.0; h.copy_(m[0] * 3.0); (h * m).sum().backward()",
    "h = m * 0.0; h.copy_(x.reshape(3, 1)); (h * m).sum().backward()",
    "h = m * 0.0; h.copy_(x.sum()); (h * h).sum().backward()",
    "h = m * 1.0; h.copy_(h[1].clone()); (h * m).sum().backward()",
    "h = m * 1.0; h[0].copy_(h[2]); (h * m).sum().backward()",
    # through a view: the base's history is rewritten (CopySlices)
    "h = m * 1.0; h[1].copy_(m[2] * 3.0); (h * m).sum().backward()",
    "h = m * 1.0; v = h[:, 1]; v.copy_(x); (h * h).sum().backward()",
    "h = m * 1.0; v = h[:, 1:3]; v.copy_(w[0:2]); (h * m).sum().backward()",
    "h = m * 1.0; h.T[0].copy_(x * 2.0); (h * m).sum().backward()",
    "h = m * 1.0; v = h[0]; h[1].copy_(v * w[0]); (h * m).sum().backward()",
    "a = m.detach() * 1.0; a[:, 0].copy_(x); (a * m).sum().backward()",
    "h = x * 1.0; v = h[0:2]; h.copy_(w); (v * r[0:2]).sum().backward()",
    "h = m * 1.0; v = h[1]; v.copy_(r[0].detach()); (h * m).sum().backward()",
    # what was recorded before keeps its edges; a saved value overwritten raises
    "h = x * 1.0; y = h.sum(); h.copy_(w); (y + h.sum()).backward()",
    "h = x.exp(); y = h.sum(); h.copy_(w); y.backward()",
    "h = x * 1.0; y = (h * h).sum(); h.copy_(w); y.backward()",
    "h = m * 1.0; y = (h * h).sum(); h[0].copy_(m[1]); y.backward()",
    "h = x.exp(); v = h[1:]; y = h.sum(); v.copy_(w[1:]); y.backward()",
    # leaves and views of leaves refuse it in grad mode
    "leaf.copy_(x)",
    "v = leaf[0:2]; v.copy_(w[0:2])",
    "m.T.copy_(m.T * 2.0)",
    # 0-d, and the recorded backward of a copied history with create_graph
    "s = x.sum() * 1.0; s.copy_(w[1] * 3.0); s.backward()",
    "h = x * 1.0; h.copy_(w * x); (g,) = grad((h * h).sum(), x, create_graph=True); "
    "g.sum().backward()",
]


@pytest.mark.parametrize("program", PROGRAMS)
def test_copy_program_matches_torch(program, device):
    assert_same_as_torch(program, device)


def test_a_compiled_step_refuses_copy_as_an_in_place_write():
    gg.manual_seed(0)
    w = gg.randn(3, requires_grad=True)

    def step(x):
        h = x * w
        h.copy_(x)
        return h.sum()

    with pytest.raises(gg.CompileError, match="in-place"):
        gg.compile(step, warmup=0)(gg.ones(3))

    buffer = gg.zeros(3)

    def step_no_grad(x):
        with gg.no_grad():
            buffer.copy_(x)
        return buffer.sum()

    with pytest.raises(gg.CompileError, match="in-place"):
        gg.compile(step_no_grad, warmup=0)(gg.ones(3))
