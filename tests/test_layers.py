"""Layers, activations and losses against PyTorch, plus gradcheck in float64."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from opspec import OpSpec, check_op

import gpugrad as gg
import gpugrad.functional as F

ACT_SHAPES = [((3, 5),), ((),), ((2, 0),)]

SPECS = [
    OpSpec("sigmoid", F.sigmoid, torch.sigmoid, ACT_SHAPES, domain=(-30, 30)),
    OpSpec("tanh", F.tanh, torch.tanh, ACT_SHAPES),
    OpSpec("relu", F.relu, torch.relu, ACT_SHAPES, distinct=True),
    OpSpec(
        "leaky_relu",
        lambda x: F.leaky_relu(x, 0.1),
        lambda x: TF.leaky_relu(x, 0.1),
        ACT_SHAPES,
        distinct=True,
    ),
    OpSpec("elu", lambda x: F.elu(x, 1.5), lambda x: TF.elu(x, 1.5), ACT_SHAPES, distinct=True),
    OpSpec("softplus", F.softplus, TF.softplus, ACT_SHAPES, domain=(-15, 15)),
    OpSpec(
        "bias_relu", F.bias_relu, lambda x, b: torch.relu(x + b), [((4, 3), (3,))], distinct=True
    ),
    OpSpec("bias_sigmoid", F.bias_sigmoid, lambda x, b: torch.sigmoid(x + b), [((4, 3), (3,))]),
    OpSpec("softmax", lambda x: F.softmax(x, axis=1), lambda x: torch.softmax(x, 1), [((3, 5),)]),
    OpSpec(
        "log_softmax", F.log_softmax, lambda x: torch.log_softmax(x, -1), [((3, 5),), ((2, 3, 4),)]
    ),
    OpSpec("linear", F.linear, TF.linear, [((4, 3), (5, 3), (5,)), ((2, 4, 3), (5, 3), (5,))]),
    OpSpec("linear_nobias", F.linear, TF.linear, [((4, 3), (5, 3))]),
    OpSpec(
        "maxout",
        lambda x: F.maxout(x, 3),
        lambda x: x.reshape(4, 2, 3).amax(-1),
        [((4, 6),)],
        distinct=True,
    ),
    OpSpec("mse_loss", F.mse_loss, TF.mse_loss, [((4, 3), (4, 3))]),
    OpSpec(
        "mse_sum",
        lambda a, b: F.mse_loss(a, b, "sum"),
        lambda a, b: TF.mse_loss(a, b, reduction="sum"),
        [((4, 3), (4, 3))],
    ),
    OpSpec("l1_loss", F.l1_loss, TF.l1_loss, [((4, 3), (4, 3))]),
    OpSpec(
        "l1_none",
        lambda a, b: F.l1_loss(a, b, "none"),
        lambda a, b: TF.l1_loss(a, b, reduction="none"),
        [((4, 3), (4, 3))],
    ),
]
for stride, padding, k in [(1, 0, 3), (2, 1, 3), (1, 2, 2), (3, 0, 1)]:
    SPECS.append(
        OpSpec(
            f"conv2d_s{stride}_p{padding}_k{k}",
            lambda x, w, b, s=stride, p=padding: F.conv2d(x, w, b, stride=s, padding=p),
            lambda x, w, b, s=stride, p=padding: TF.conv2d(x, w, b, stride=s, padding=p),
            [((2, 3, 7, 6), (4, 3, k, k), (4,))],
        )
    )
SPECS += [
    OpSpec(
        "max_pool2d",
        lambda x: F.max_pool2d(x, 2),
        lambda x: TF.max_pool2d(x, 2),
        [((2, 3, 6, 4),)],
        distinct=True,
    ),
    OpSpec(
        "max_pool2d_stride",
        lambda x: F.max_pool2d(x, 3, 2),
        lambda x: TF.max_pool2d(x, 3, 2),
        [((1, 2, 7, 7),)],
        distinct=True,
    ),
    OpSpec(
        "avg_pool2d", lambda x: F.avg_pool2d(x, 2), lambda x: TF.avg_pool2d(x, 2), [((2, 3, 6, 4),)]
    ),
    # windows that do not tile the image (the last row and column are dropped)
    OpSpec(
        "max_pool2d_crop",
        lambda x: F.max_pool2d(x, 2),
        lambda x: TF.max_pool2d(x, 2),
        [((1, 2, 7, 5),)],
        distinct=True,
    ),
    # stride > kernel: gaps between the windows, whose gradient is 0
    OpSpec(
        "max_pool2d_gaps",
        lambda x: F.max_pool2d(x, 2, 3),
        lambda x: TF.max_pool2d(x, 2, 3),
        [((1, 2, 6, 6),)],
        distinct=True,
    ),
    OpSpec(
        "avg_pool2d_crop",
        lambda x: F.avg_pool2d(x, 3),
        lambda x: TF.avg_pool2d(x, 3),
        [((2, 1, 7, 8),)],
    ),
]


@pytest.mark.parametrize("spec", SPECS, ids=[s.name for s in SPECS])
def test_layer_matches_torch(spec, device):
    check_op(spec, device)


@pytest.mark.parametrize(
    "spec",
    [s for s in SPECS if s.name in ("sigmoid", "relu", "conv2d_s2_p1_k3", "linear")],
    ids=lambda s: s.name,
)
def test_layer_float32(spec, device):
    check_op(spec, device, dtype=np.float32)


@pytest.mark.parametrize("kind", ["sigmoid", "tanh", "elu", "softplus"])
def test_activation_second_derivative(kind, device):
    x = gg.tensor(np.linspace(-2, 2, 9) + 0.05, device=device, requires_grad=True)
    assert gg.gradgradcheck(getattr(F, kind), [x])


def test_sigmoid_extremes_are_stable(device):
    x = gg.tensor([-1000.0, -50.0, 0.0, 50.0, 1000.0], dtype="float64", device=device)
    y = F.sigmoid(x).numpy()
    assert np.isfinite(y).all() and y[0] == 0 and y[-1] == 1
    np.testing.assert_allclose(y[1], np.exp(-50.0), rtol=1e-12)
    sp = F.softplus(x).numpy()
    np.testing.assert_allclose(sp, np.logaddexp(0, x.numpy()), rtol=1e-12)  # exact, no overflow


def test_relu_passes_nan(device):
    y = F.relu(gg.tensor([np.nan, -1.0, 2.0], device=device)).numpy()
    assert np.isnan(y[0]) and y[1] == 0 and y[2] == 2


def test_pool_ties_route_to_first(device):
    x = gg.tensor(np.ones((1, 1, 2, 2)), device=device, requires_grad=True)
    F.max_pool2d(x, 2).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy()[0, 0], [[1, 0], [0, 0]])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("name", ["cross_entropy", "multi_margin_loss"])
def test_classification_losses(name, reduction, device):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 4))
    labels = np.array([0, 3, 1, 1, 2, 3])
    a = gg.tensor(x, device=device, requires_grad=True)
    loss = getattr(F, name)(a, gg.tensor(labels, device=device), reduction=reduction)
    t = torch.tensor(x, requires_grad=True)
    tloss = getattr(TF, name)(t, torch.tensor(labels), reduction=reduction)
    np.testing.assert_allclose(loss.numpy(), tloss.detach().numpy(), rtol=1e-12)
    u = np.asarray(rng.standard_normal(tloss.shape))
    (loss * gg.tensor(u, device=device)).sum().backward()
    (tloss * torch.tensor(u)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert gg.gradcheck(
        lambda s: getattr(F, name)(s, gg.tensor(labels, device=device), reduction=reduction),
        [gg.tensor(x, device=device, requires_grad=True)],
    )


def test_cross_entropy_second_derivative(device):
    x = gg.tensor(
        np.random.default_rng(1).standard_normal((3, 4)), device=device, requires_grad=True
    )
    assert gg.gradgradcheck(lambda s: F.cross_entropy(s, gg.tensor([0, 2, 3], device=device)), [x])


def test_loss_errors(device):
    x = gg.zeros(3, 4, device=device)
    with pytest.raises(ValueError, match="label 4 is out of range"):
        F.cross_entropy(x, gg.tensor([0, 1, 4]))
    with pytest.raises(ValueError, match="label -1"):
        F.multi_margin_loss(x, gg.tensor([0, -1, 2]))
    with pytest.raises(TypeError, match="integer"):
        F.cross_entropy(x, gg.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(ValueError, match=r"labels of shape \(2,\)"):
        F.cross_entropy(x, gg.tensor([0, 1]))
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match="differ"):
        F.mse_loss(x, gg.zeros(4, 3, device=device))


def test_dropout_statistics_and_eval_identity(device):
    gg.manual_seed(0)
    x = gg.ones(200, 200, device=device, requires_grad=True)
    y = F.dropout(x, 0.3, training=True)
    kept = (y.numpy() != 0).mean()
    assert abs(kept - 0.7) < 0.01
    np.testing.assert_allclose(y.numpy()[y.numpy() != 0], 1 / 0.7, rtol=1e-6)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.numpy())
    assert F.dropout(x, 0.3, training=False) is x
    with pytest.raises(ValueError):
        F.dropout(x, 1.5)


@pytest.mark.parametrize("shape", [(8, 3), (4, 3, 5, 5)])
def test_batch_norm_train_and_eval(shape, device):
    rng = np.random.default_rng(0)
    host = rng.standard_normal(shape) * 2 + 1
    w0, b0 = rng.standard_normal(3), rng.standard_normal(3)
    rm, rv = gg.zeros(3, dtype="float64", device=device), gg.ones(3, dtype="float64", device=device)
    trm, trv = torch.zeros(3, dtype=torch.float64), torch.ones(3, dtype=torch.float64)
    x = gg.tensor(host, device=device, requires_grad=True)
    w = gg.tensor(w0, device=device, requires_grad=True)
    b = gg.tensor(b0, device=device, requires_grad=True)
    tx, tw, tb = (torch.tensor(a, requires_grad=True) for a in (host, w0, b0))
    y = F.batch_norm(x, rm, rv, w, b, training=True, momentum=0.1)
    ty = TF.batch_norm(tx, trm, trv, tw, tb, training=True, momentum=0.1)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(rm.numpy(), trm.numpy(), rtol=1e-12)
    np.testing.assert_allclose(rv.numpy(), trv.numpy(), rtol=1e-12)
    u = rng.standard_normal(shape)
    (y * gg.tensor(u, device=device)).sum().backward()
    (ty * torch.tensor(u)).sum().backward()
    for g, t in [(x, tx), (w, tw), (b, tb)]:
        np.testing.assert_allclose(g.grad.numpy(), t.grad.numpy(), rtol=1e-8, atol=1e-10)
    ye = F.batch_norm(gg.tensor(host, device=device), rm, rv, w, b, training=False)
    tye = TF.batch_norm(torch.tensor(host), trm, trv, tw, tb, training=False)
    np.testing.assert_allclose(ye.numpy(), tye.detach().numpy(), rtol=1e-10)


@pytest.mark.parametrize(
    "shape, k", [((2, 3, 6, 4), 2), ((1, 2, 7, 5), 2), ((2, 1, 9, 9), 3), ((2, 8, 40, 40), 2)]
)  # the last: > 4096 outputs
def test_max_pool_backward_is_differentiable_in_its_upstream(shape, k, device):
    """The pooling gradient (a scatter of gy to each window's max) and its own gradient (a
    gather) against torch's double backward, for tiling and cropped images, with ties."""
    rng = np.random.default_rng(8)
    x0 = rng.integers(0, 4, shape).astype(np.float64)  # ties in most windows
    out_shape = shape[:2] + (shape[2] // k, shape[3] // k)
    v0, u0 = rng.standard_normal(out_shape), rng.standard_normal(shape)
    x = gg.tensor(x0, device=device, requires_grad=True)
    v = gg.tensor(v0, device=device, requires_grad=True)
    (gx,) = gg.grad(F.max_pool2d(x, k), [x], grad_outputs=[v], create_graph=True)
    (gv,) = gg.grad((gx * gg.tensor(u0, device=device)).sum(), [v])
    tx, tv = torch.tensor(x0, requires_grad=True), torch.tensor(v0, requires_grad=True)
    (tgx,) = torch.autograd.grad(TF.max_pool2d(tx, k), [tx], grad_outputs=[tv], create_graph=True)
    (tgv,) = torch.autograd.grad((tgx * torch.tensor(u0)).sum(), [tv])
    np.testing.assert_array_equal(gx.numpy(), tgx.detach().numpy())
    np.testing.assert_allclose(gv.numpy(), tgv.numpy(), rtol=1e-14)


def test_max_pool_routes_the_gradient_to_a_nan(device):
    x0 = np.arange(32, dtype=np.float64).reshape(1, 2, 4, 4)
    x0[0, 0, 1, 1] = np.nan  # in the first window, not first
    x = gg.tensor(x0, device=device, requires_grad=True)
    y = F.max_pool2d(x, 2)
    y.sum().backward()
    tx = torch.tensor(x0, requires_grad=True)
    TF.max_pool2d(tx, 2).sum().backward()
    assert np.isnan(y.numpy()[0, 0, 0, 0])
    np.testing.assert_array_equal(x.grad.numpy(), tx.grad.numpy())
