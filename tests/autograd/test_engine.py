"""The engine (gpugrad/autograd/engine.py): the notes' worked examples, the copy gate, the
tape's order and memory, retain_graph, backward's seed gradient, gg.grad, higher-order
gradients (create_graph) and its errors.  Grad modes: test_grad_mode.py; in-place ops and
version counters: tests/ops/test_inplace.py."""

import gc
import weakref

import numpy as np
import pytest
import torch

import gpugrad as gg
import gpugrad.functional as F


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


def test_backward_on_tensor_without_grad_raises(device):
    with pytest.raises(RuntimeError, match="does not require grad"):
        gg.tensor([1.0], device=device).sum().backward()


def test_leaf_gradients_never_share_memory(device):
    a = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    b = gg.tensor([3.0, 4.0], device=device, requires_grad=True)
    (a + b).sum().backward()
    a.grad.zero_()
    np.testing.assert_array_equal(b.grad.numpy(), [1.0, 1.0])


# -- gg.grad and higher-order gradients ----------------------------------------------------
def test_backward_adds_into_an_existing_grad_in_place_as_torch(device):
    """PyTorch's AccumulateGrad: an existing .grad is a persistent buffer (the same array
    after the next backward, holding the sum); a .grad made by this backward is the
    leaf's own, even when one gradient reaches several leaves and one leaf many times."""
    values = np.arange(6.0).reshape(2, 3)
    ours = [gg.tensor(values, device=device, requires_grad=True) for _ in range(2)]
    theirs = [torch.tensor(values, requires_grad=True) for _ in range(2)]
    for a, b in (ours, theirs):
        ((a + b) * a + a.exp() + b).sum().backward()
    held = ours[0].grad
    buffer = held.array
    for a, b in (ours, theirs):
        ((a * b).sum() + (a + b).sum()).backward()
    assert ours[0].grad is held and ours[0].grad.array is buffer  # added in place
    for mine, torch_leaf in zip(ours, theirs):
        np.testing.assert_allclose(mine.grad.numpy(), torch_leaf.grad.numpy(), rtol=1e-12)
    assert not np.shares_memory(ours[0].grad.numpy(), ours[1].grad.numpy())


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


def test_hessian_vector_product_matches_torch(device):
    rng = np.random.default_rng(1)
    A = rng.standard_normal((4, 4))
    w0 = rng.standard_normal(4)
    v = rng.standard_normal(4)

    def f(lib, w, A):
        h = A @ w
        return (h.tanh() * h).sum() + (w * w * w).sum()

    w = gg.tensor(w0, device=device, requires_grad=True)
    (g,) = gg.grad(f(gg, w, gg.tensor(A, device=device)), w, create_graph=True)
    (hv,) = gg.grad((g * gg.tensor(v, device=device)).sum(), w)
    tw = torch.tensor(w0, requires_grad=True)
    (tg,) = torch.autograd.grad(f(torch, tw, torch.tensor(A)), tw, create_graph=True)
    (thv,) = torch.autograd.grad((tg * torch.tensor(v)).sum(), tw)
    np.testing.assert_allclose(hv.numpy(), thv.numpy(), rtol=1e-10)


@pytest.mark.parametrize(
    "name,fn",
    [
        ("mul_div", lambda a, b: (a * b / (b * b + 1)).sum()),
        ("exp_log", lambda a, b: (a.exp() * b.abs().log()).sum()),
        (
            "reduce",
            lambda a, b: (a.max(axis=1) * b.mean(axis=1)).sum() + gg.logsumexp(a * b, axis=0).sum(),
        ),
        ("matmul", lambda a, b: ((a @ b.T).tanh() ** 2).sum()),
        ("shape", lambda a, b: (gg.concatenate([a, b], axis=0)[1:3].T.reshape(-1) ** 3).sum()),
        ("var_sigmoid", lambda a, b: (a.var(axis=0) * b.sigmoid().sum(axis=0)).sum()),
    ],
)
def test_gradgradcheck_of_compositions(name, fn, device):
    rng = np.random.default_rng(2)
    a = gg.tensor(rng.uniform(0.5, 1.5, (3, 4)), device=device, requires_grad=True)
    b = gg.tensor(rng.uniform(0.5, 1.5, (3, 4)), device=device, requires_grad=True)
    assert gg.gradgradcheck(fn, [a, b])


@pytest.mark.parametrize("how", ["broadcast", "sum"])
def test_float16_gradients_are_accumulated_in_float32(how):
    """Undoing a broadcast over many rows (a bias gradient), or a sum's backward chain,
    accumulates float16 in float32 as torch does; a float16 running sum over 1500 rows
    would be off by whole units."""
    rng = np.random.default_rng(0)
    gy = rng.uniform(0, 1, (1500, 3)).astype(np.float16)
    b = gg.tensor(np.zeros(3, np.float16), requires_grad=True)
    x = gg.tensor(np.zeros((1500, 3), np.float16))
    y = x + b if how == "broadcast" else F.linear(x, gg.zeros(3, 3, dtype="float16"), b)
    y.backward(gg.tensor(gy))
    expected = gy.astype(np.float64).sum(axis=0)
    np.testing.assert_allclose(b.grad.numpy().astype(np.float64), expected, rtol=1e-3)


def test_float16_sums_agree_forward_plain_and_recorded_backward():
    """The forward sum, the ordinary backward and the create_graph backward of a float16
    broadcast all accumulate in float32: the same numbers at both backward speeds, and
    torch's forward."""
    x0 = np.ones((4000, 3), np.float16)
    np.testing.assert_array_equal(
        gg.tensor(x0).sum(axis=0).numpy(), torch.from_numpy(x0).sum(dim=0).numpy()
    )
    b = gg.tensor(np.zeros(3, np.float16), requires_grad=True)
    (plain,) = gg.grad((gg.tensor(x0) + b).sum(), [b])
    (recorded,) = gg.grad((gg.tensor(x0) + b).sum(), [b], create_graph=True)
    np.testing.assert_array_equal(plain.numpy(), recorded.numpy())
    np.testing.assert_array_equal(plain.numpy(), [4000, 4000, 4000])


def test_a_create_graph_leaf_gradient_is_dense_writable_and_matches_torch():
    """Under create_graph a leaf's first gradient is a clone in the graph (torch's
    contract): sum's backward hands it a read-only broadcast view otherwise."""
    x = gg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = gg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    ((x * x).sum() + (x + y).sum()).backward(create_graph=True)
    array = x.grad.detach().numpy()
    assert array.flags.writeable and array.strides == (array.itemsize,)
    assert x.grad.creator is not None
    (x.grad * x.grad).sum().backward()
    xt = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    yt = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    ((xt * xt).sum() + (xt + yt).sum()).backward(create_graph=True)
    (xt.grad * xt.grad).sum().backward()
    np.testing.assert_array_equal(x.grad.detach().numpy(), xt.grad.detach().numpy())
    np.testing.assert_array_equal(y.grad.detach().numpy(), yt.grad.detach().numpy())
    y.grad.zero_()  # its own memory
    assert x.grad.detach().numpy().any()
