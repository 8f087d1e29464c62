"""F.cross_entropy (gpugrad/ops/softmax_cross_entropy.py) against PyTorch: every reduction
with and without class weights, ignore_index and label smoothing, over (C,), (N, C) and
(N, C, d1, d2) logits, class-index and class-probability targets (forward and the gradient
of logits and probabilities for a random upstream, float64), gradcheck and second
derivatives; the corners (all targets ignored, empty batches) and the errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from opspec import check_loss_against_torch

import gpugrad as gg
import gpugrad.functional as F

REDUCTIONS = ["mean", "sum", "none"]
SHAPES = [(6, 4), (3, 4, 2, 3), (4,)]  # logits; the class axis is 1 (0 for (C,))


def EVERY_OPTION(test):
    """Every layout, with and without weights and label smoothing, every reduction."""
    for name, values, ids in [
        ("reduction", REDUCTIONS, None),
        ("smoothing", [0.0, 0.25], None),
        ("weighted", [False, True], ["plain", "weight"]),
        ("shape", SHAPES, str),
    ]:
        test = pytest.mark.parametrize(name, values, ids=ids)(test)
    return test


def _class_axis(shape):
    return 1 if len(shape) > 1 else 0


def _target_shape(shape):
    return shape[:1] + shape[2:] if len(shape) > 1 else ()


def _labels(shape, rng, ignored=True):
    labels = rng.integers(0, shape[_class_axis(shape)], size=_target_shape(shape))
    if ignored and labels.size > 1:
        labels.reshape(-1)[::3] = -100
    return labels


def _compare(gg_fn, torch_fn, inputs, device, rng, gradcheck=True):
    """gg_fn(*gg tensors) against torch_fn(*torch tensors): value, gradients, gradcheck."""
    xs = [gg.tensor(a, device=device, requires_grad=True) for a in inputs]
    ts = [torch.tensor(a, requires_grad=True) for a in inputs]
    y, ty = gg_fn(*xs), torch_fn(*ts)
    assert y.shape == tuple(ty.shape)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    u = rng.standard_normal(ty.shape)
    (y * gg.tensor(u, device=device)).sum().backward()
    (ty * torch.tensor(u)).sum().backward()
    for x, t in zip(xs, ts):
        np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-12)
    if gradcheck:
        fresh = [gg.tensor(a, device=device, requires_grad=True) for a in inputs]
        assert gg.gradcheck(gg_fn, fresh)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_matches_torch(reduction, device):
    check_loss_against_torch("cross_entropy", reduction, device)


@EVERY_OPTION
def test_class_indices_match_torch(shape, weighted, smoothing, reduction, device):
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    labels = _labels(shape, rng)
    c = shape[_class_axis(shape)]
    w = rng.uniform(0.5, 2.0, c) if weighted else None
    options = dict(reduction=reduction, label_smoothing=smoothing)
    _compare(
        lambda a: F.cross_entropy(
            a,
            gg.tensor(labels, device=device),
            weight=None if w is None else gg.tensor(w, device=device),
            **options,
        ),
        lambda a: TF.cross_entropy(
            a, torch.tensor(labels), weight=None if w is None else torch.tensor(w), **options
        ),
        [x],
        device,
        rng,
    )


@EVERY_OPTION
def test_class_probabilities_match_torch(shape, weighted, smoothing, reduction, device):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape)
    probs = rng.dirichlet(np.ones(shape[_class_axis(shape)]), size=_target_shape(shape))
    probs = np.moveaxis(probs, -1, _class_axis(shape)).reshape(shape)
    w = rng.uniform(0.5, 2.0, shape[_class_axis(shape)]) if weighted else None
    options = dict(reduction=reduction, label_smoothing=smoothing)
    _compare(
        lambda a, p: F.cross_entropy(
            a, p, weight=None if w is None else gg.tensor(w, device=device), **options
        ),
        lambda a, p: TF.cross_entropy(
            a, p, weight=None if w is None else torch.tensor(w), **options
        ),
        [x, probs],
        device,
        rng,
    )


def test_second_derivatives(device):
    rng = np.random.default_rng(1)
    x = gg.tensor(rng.standard_normal((3, 4)), device=device, requires_grad=True)
    labels = gg.tensor([0, -100, 3], device=device)
    w = gg.tensor([1.0, 2.0, 0.5, 1.5], device=device)
    assert gg.gradgradcheck(lambda s: F.cross_entropy(s, gg.tensor([0, 2, 3], device=device)), [x])
    for reduction in ("mean", "sum"):  # one node (ReducedSoftmaxCrossEntropy), rows ignored
        assert gg.gradgradcheck(lambda s, r=reduction: F.cross_entropy(s, labels, reduction=r), [x])
    assert gg.gradgradcheck(
        lambda s: F.cross_entropy(s, labels, weight=w, label_smoothing=0.2), [x]
    )
    probs = gg.tensor(rng.dirichlet(np.ones(4), size=3), device=device)
    assert gg.gradgradcheck(lambda s: F.cross_entropy(s, probs, label_smoothing=0.1), [x])


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_all_targets_ignored_and_empty_batches(reduction, device):
    """torch: the mean over no target is NaN; the sum is 0; "none" gives zeros."""
    cases = [
        (np.zeros((3, 4)), np.full(3, -100)),
        (np.zeros((0, 4)), np.zeros(0, dtype=np.int64)),
        (np.zeros((0, 4, 2)), np.zeros((0, 2), dtype=np.int64)),
        (np.zeros((0, 4)), np.zeros((0, 4))),  # probabilities
    ]
    for logits, target in cases:
        got = F.cross_entropy(
            gg.tensor(logits, device=device), gg.tensor(target, device=device), reduction=reduction
        )
        want = TF.cross_entropy(torch.tensor(logits), torch.tensor(target), reduction=reduction)
        assert got.shape == tuple(want.shape)
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_ignored_targets_get_no_gradient(device):
    x = gg.tensor(np.ones((3, 4)), device=device, requires_grad=True)
    F.cross_entropy(x, gg.tensor([1, 7, 2], device=device), ignore_index=7).backward()
    assert not x.grad.numpy()[1].any()


def test_legacy_flags_and_positional_weight(device):
    x, labels, w = np.ones((2, 3)), np.array([0, 2]), np.array([1.0, 2.0, 3.0])
    a = gg.tensor(x, device=device)
    got = F.cross_entropy(a, gg.tensor(labels, device=device), gg.tensor(w, device=device))
    want = TF.cross_entropy(torch.tensor(x), torch.tensor(labels), torch.tensor(w))
    np.testing.assert_allclose(got.numpy(), want.numpy())
    got = F.cross_entropy(a, gg.tensor(labels, device=device), reduce=False)
    assert got.shape == (2,)


def test_labels_out_of_range_raise_on_the_cpu():
    """(On a GPU the fused kernel flags them instead: tests/kernels.)"""
    x = gg.zeros(3, 4)
    with pytest.raises(ValueError, match="label 4 is out of range"):
        F.cross_entropy(x, gg.tensor([0, 1, 4]))
    with pytest.raises(ValueError, match="label -3 is out of range"):
        F.cross_entropy(x, gg.tensor([0, -3, -100]))
    with pytest.raises(ValueError, match="label 5 is out of range"):
        F.nll_loss(x, gg.tensor([0, 5, 1]))


def test_bad_arguments_raise(device):
    x = gg.zeros(3, 4, device=device)

    def labels(*values):
        return gg.tensor(list(values), device=device)

    with pytest.raises(TypeError, match="integer"):
        F.cross_entropy(x, labels(0.0, 1.0, 2.0))
    with pytest.raises(ValueError, match=r"labels of shape \(2,\)"):
        F.cross_entropy(x, labels(0, 1))
    with pytest.raises(ValueError, match=r"weight of shape \(3,\)"):
        F.cross_entropy(x, labels(0, 1, 2), weight=gg.ones(3, device=device))
    with pytest.raises(ValueError, match="label_smoothing"):
        F.cross_entropy(x, labels(0, 1, 2), label_smoothing=1.5)
    with pytest.raises(ValueError, match="ignore_index"):
        F.cross_entropy(x, gg.zeros(3, 4, device=device), ignore_index=0)
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(x, labels(0, 1, 2), reduction="avg")
    with pytest.raises(ValueError, match="0-d"):
        F.cross_entropy(gg.tensor(1.0, device=device), gg.tensor(0, device=device))


@pytest.mark.parametrize("one_block", [True, False])
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_a_mean_over_only_ignored_targets_has_a_zero_gradient(
    monkeypatch, one_block, dtype, device
):
    """torch: NaN loss, zero gradient (not 0 / 0); on CUDA both the one-block kernel and the
    per-row kernel reduced by the node (batches over ONE_BLOCK_ELEMENTS) say so."""
    from gpugrad.kernels import softmax_cross_entropy as sce

    if not one_block:
        monkeypatch.setattr(sce, "ONE_BLOCK_ELEMENTS", 0)
    for shape, labels in [((3, 4), [-100, -100, -100]), ((4,), -100), ((2, 4, 3), [[7] * 3] * 2)]:
        x = gg.tensor(np.ones(shape, dtype), device=device, requires_grad=True)
        ignore = 7 if shape == (2, 4, 3) else -100
        loss = F.cross_entropy(x, gg.tensor(labels, device=device), ignore_index=ignore)
        loss.backward()
        assert np.isnan(loss.item()) and x.grad.dtype == dtype
        assert not x.grad.numpy().any()


@pytest.mark.parametrize(
    "options", [dict(weight=True), dict(label_smoothing=0.2), dict(weight=True, nll=True)]
)
@pytest.mark.parametrize("labels", [[-100, -100, -100], [0, -100, 2]])
def test_weighted_means_over_ignored_targets_match_torch(options, labels, device):
    """The composed paths (class weights, label smoothing, nll_loss): their mean's gradient
    is 0 where every target is ignored (torch's), not gy / 0 · 0 = NaN."""
    w = np.array([1.0, 2.0, 0.5, 1.5])
    x = gg.tensor(np.ones((3, 4)), device=device, requires_grad=True)
    xt = torch.tensor(np.ones((3, 4)), requires_grad=True)
    ours, theirs = (
        (F.nll_loss, TF.nll_loss) if options.get("nll") else (F.cross_entropy, TF.cross_entropy)
    )
    kwargs = {"label_smoothing": options["label_smoothing"]} if "label_smoothing" in options else {}
    weight = options.get("weight")
    loss = ours(
        x, gg.tensor(labels, device=device), weight=gg.tensor(w, device=device) if weight else None,
        **kwargs,
    )  # fmt: skip
    want = theirs(xt, torch.tensor(labels), weight=torch.tensor(w) if weight else None, **kwargs)
    loss.backward()
    want.backward()
    np.testing.assert_allclose(loss.item(), want.item(), rtol=1e-12, equal_nan=True)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-15)
