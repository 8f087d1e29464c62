"""The engine: the notes' worked examples, the tape's order, memory, retain_graph,
gg.grad, grad modes, in-place version checks, anomaly detection and error paths."""

import gc
import weakref

import numpy as np
import pytest
import torch

import gpugrad as gg


# -- the notes' worked examples -----------------------------------------------------------
def test_notes_add_mul_circuit(device):
    """f = (x + y) z at x=-2, y=5, z=-4: q=3, f=-12, df/dx=df/dy=z=-4, df/dz=q=3."""
    x, y, z = (
        gg.tensor(v, dtype="float64", device=device, requires_grad=True) for v in (-2.0, 5.0, -4.0)
    )
    q = x + y
    f = q * z
    assert q.item() == 3 and f.item() == -12
    f.backward()
    assert (x.grad.item(), y.grad.item(), z.grad.item()) == (-4.0, -4.0, 3.0)


def test_notes_sigmoid_neuron(device):
    """f = 1 / (1 + exp(-(w0 x0 + w1 x1 + w2))) with w=(2,-3,-3), x=(-1,-2)."""
    vals = dict(w0=2.0, x0=-1.0, w1=-3.0, x1=-2.0, w2=-3.0)
    v = {
        k: gg.tensor(a, dtype="float64", device=device, requires_grad=True) for k, a in vals.items()
    }
    dot = v["w0"] * v["x0"] + v["w1"] * v["x1"] + v["w2"]
    f = 1.0 / (1.0 + (-dot).exp())
    assert round(f.item(), 2) == 0.73
    f.backward()
    got = {k: round(t.grad.item(), 2) for k, t in v.items()}
    assert got == dict(w0=-0.2, x0=0.39, w1=-0.39, x1=-0.59, w2=0.2)
    # the same neuron through the sigmoid gate: local gradient sigma(1 - sigma)
    s = gg.tensor(1.0, dtype="float64", device=device, requires_grad=True)
    y = s.sigmoid()
    y.backward()
    assert s.grad.item() == pytest.approx(y.item() * (1 - y.item()))


def test_notes_squared_norm_of_Wx(device):
    """f = ||W x||^2: df/dW = 2 q x^T and df/dx = 2 W^T q with q = W x (no Jacobian)."""
    W0 = np.array([[0.1, 0.5], [-0.3, 0.8]])
    x0 = np.array([0.2, 0.4])
    W = gg.tensor(W0, device=device, requires_grad=True)
    x = gg.tensor(x0, device=device, requires_grad=True)
    q = W @ x
    f = (q * q).sum()
    f.backward()
    q0 = W0 @ x0
    assert f.item() == pytest.approx(0.116)
    np.testing.assert_allclose(W.grad.numpy(), 2 * np.outer(q0, x0))
    np.testing.assert_allclose(x.grad.numpy(), 2 * W0.T @ q0)


def test_copy_gate_adds_fan_out(device):
    x = gg.tensor(3.0, device=device, requires_grad=True)
    f = x * x + x  # x feeds three edges
    f.backward()
    assert x.grad.item() == 2 * 3.0 + 1


# -- the tape ---------------------------------------------------------------------------
def test_long_chain_is_iterative_and_collected():
    x = gg.tensor(1.0, dtype="float64", requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    middle = weakref.ref(y.creator)
    y.backward()
    assert x.grad.item() == 1.0
    del y
    gc.collect()
    assert middle() is None


def test_long_unused_chain_is_freed_without_recursion():
    x = gg.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    head = weakref.ref(y.creator)
    del y  # no backward ran: the whole chain is still linked
    gc.collect()
    assert head() is None


def test_graph_dies_with_its_output_without_gc():
    x = gg.tensor(np.ones(3), requires_grad=True)
    y = (x * 2).exp()
    probe = weakref.ref(y.creator.inputs[0])
    del y
    assert probe() is None  # reference counting alone frees it (no cycles)


def test_shared_node_runs_once_after_all_its_consumers(device):
    x = gg.tensor(2.0, dtype="float64", device=device, requires_grad=True)
    a = x.exp()  # consumed twice, by different depths of the graph
    b = a * a
    c = (b + a).log()
    c.backward()
    t = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    ta = t.exp()
    (ta * ta + ta).log().backward()
    assert x.grad.item() == pytest.approx(t.grad.item(), rel=1e-12)


def test_saved_values_released_after_backward_and_second_backward_raises(device):
    x = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph"):
        y.backward()


def test_retain_graph_allows_second_backward_and_grads_accumulate(device):
    x = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 8.0])


def test_non_scalar_backward_needs_grad(device):
    x = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="one-element"):
        (x * 2).backward()
    (x * 2).backward(gg.tensor([1.0, 10.0], device=device))
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 20.0])
    with pytest.raises(ValueError, match="shape"):
        (x * 2).backward(gg.tensor([1.0], device=device))


def test_leaf_gradients_never_share_memory(device):
    a = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = gg.tensor([3.0, 4.0], device=device, requires_grad=True)
    (a + b).sum().backward()
    a.grad.zero_()
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])


def test_grad_function_leaves_dot_grad_alone(device):
    x = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    w = gg.tensor([3.0, 4.0], device=device, requires_grad=True)
    (gx,) = gg.grad((x * w).sum(), x)
    np.testing.assert_allclose(gx.numpy(), [3.0, 4.0])
    assert x.grad is None and w.grad is None
    unused = gg.tensor([1.0], device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="allow_unused"):
        gg.grad((x * 2).sum(), [x, unused])
    gx, gu = gg.grad((x * 2).sum(), [x, unused], allow_unused=True)
    assert gu is None


def test_grad_of_intermediate_tensor(device):
    x = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    h = x * 3
    y = (h * h).sum()
    gh, gx = gg.grad(y, [h, x])
    np.testing.assert_allclose(gh.numpy(), [6.0, 12.0])
    np.testing.assert_allclose(gx.numpy(), [18.0, 36.0])


def test_no_grad_and_enable_grad(device):
    x = gg.tensor([1.0], device=device, requires_grad=True)
    with gg.no_grad():
        assert not gg.is_grad_enabled()
        y = x * 2
        with gg.enable_grad():
            z = x * 2
    assert gg.is_grad_enabled()
    assert not y.requires_grad and y.creator is None
    assert z.requires_grad

    @gg.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad


def test_detach_cuts_the_graph(device):
    x = gg.tensor([1.0], device=device, requires_grad=True)
    d = (x * 2).detach()
    assert not d.requires_grad and d.creator is None


# -- in-place operations and version counters ------------------------------------------------
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


# -- anomaly mode ---------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the NaN/Inf is the point
def test_detect_anomaly_names_forward_op(device):
    x = gg.tensor([-1.0, 1.0], device=device, requires_grad=True)
    with gg.detect_anomaly(), pytest.raises(FloatingPointError, match="Log"):
        x.log()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the NaN/Inf is the point
def test_detect_anomaly_names_backward_op(device):
    x = gg.tensor([0.0, 1.0], device=device, requires_grad=True)
    with gg.detect_anomaly():
        y = x.sqrt().sum()  # sqrt(0) = 0 is fine; its gradient is inf
        with pytest.raises(FloatingPointError, match="backward of Sqrt"):
            y.backward()


# -- error paths ----------------------------------------------------------------------
def test_dtype_mismatch_names_both_sides(device):
    a = gg.tensor([1.0], dtype="float32", device=device)
    b = gg.tensor([1.0], dtype="float64", device=device)
    with pytest.raises(TypeError, match="float32.*float64"):
        a + b
    with pytest.raises(TypeError, match="float64.*float32"):
        b @ a


def test_device_mismatch_names_both_sides(device):
    if device.kind != "cuda":
        pytest.skip("needs a GPU to have two devices")
    a = gg.tensor([1.0], device="cpu")
    b = gg.tensor([1.0], device=device)
    with pytest.raises(RuntimeError, match="cpu.*cuda:0"):
        a + b


def test_integer_tensor_cannot_require_grad(device):
    with pytest.raises(TypeError, match="floating"):
        gg.tensor([1, 2], device=device, requires_grad=True)
    with pytest.raises(TypeError, match="int64"):
        gg.arange(3, device=device).requires_grad_()


def test_shape_errors_are_clear(device):
    a = gg.zeros(2, 3, device=device)
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 2\)"):
        a @ gg.zeros(4, 2, device=device)
    with pytest.raises(ValueError, match="reshape"):
        a.reshape(4, 2)
    with pytest.raises(ValueError, match="axis 3"):
        a.sum(axis=3)
    with pytest.raises(ValueError):
        a + gg.zeros(4, device=device)


def test_backward_on_tensor_without_grad_raises(device):
    with pytest.raises(RuntimeError, match="does not require grad"):
        gg.tensor([1.0], device=device).sum().backward()
