"""The losses of gpugrad/ops/loss.py against PyTorch (forward, the gradient of every float
input for a random upstream, float64 gradcheck), each for every reduction: mse_loss,
l1_loss, smooth_l1_loss (beta, including 0), huber_loss (delta), binary_cross_entropy
(weight, the -100 clamp), binary_cross_entropy_with_logits (weight, pos_weight, large
logits), nll_loss (weight, ignore_index, (N, C, d) and (C,) inputs), multi_margin_loss
(p, margin, weight); the corners and the errors."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from opspec import OpSpec, cases, check_loss_against_torch, check_op

import gpugrad as gg
import gpugrad.functional as F

PAIR = [((4, 3), (4, 3)), ((5,), (5,)), ((), ())]
REDUCTIONS = ["mean", "sum", "none"]
RNG_WEIGHT = np.random.default_rng(5).uniform(0.5, 2.0, 3)
FULL_WEIGHT = np.random.default_rng(5).uniform(0.5, 2.0, (4, 3))


def _both(name, **options):
    """F.<name>(a, b, **options) and torch's, for an OpSpec; array options become
    tensors of each library."""

    def convert(lib, **where):
        return {
            k: lib.tensor(v, **where) if isinstance(v, np.ndarray) else v
            for k, v in options.items()
        }

    return (  # gpugrad's weights on the input's device, as PyTorch's would have to be
        lambda a, b: getattr(F, name)(a, b, **convert(gg, device=a.device)),
        lambda a, b: getattr(TF, name)(a, b, **convert(torch)),
    )


def _specs():
    specs = []
    for r in REDUCTIONS:
        specs += [
            OpSpec(f"mse-{r}", *_both("mse_loss", reduction=r), PAIR),
            OpSpec(f"l1-{r}", *_both("l1_loss", reduction=r), PAIR, distinct=True),
            OpSpec(f"smooth_l1-{r}", *_both("smooth_l1_loss", reduction=r), PAIR, domain=(-3, 3)),
            OpSpec(f"huber-{r}", *_both("huber_loss", reduction=r, delta=0.7), PAIR),
            OpSpec(f"bce-{r}", *_both("binary_cross_entropy", reduction=r), PAIR, positive=True),
            OpSpec(
                f"bce_logits-{r}",
                *_both("binary_cross_entropy_with_logits", reduction=r),
                PAIR,
                domain=(-4, 4),
            ),
        ]
    w = RNG_WEIGHT
    specs += [
        OpSpec("smooth_l1-beta", *_both("smooth_l1_loss", beta=0.4), PAIR, domain=(-3, 3)),
        OpSpec("smooth_l1-beta0", *_both("smooth_l1_loss", beta=0.0), PAIR, distinct=True),
        OpSpec("mse-weight", *_both("mse_loss", weight=FULL_WEIGHT), [((4, 3), (4, 3))]),
        OpSpec(
            "l1-weight", *_both("l1_loss", weight=FULL_WEIGHT), [((4, 3), (4, 3))], distinct=True
        ),
        OpSpec("huber-weight", *_both("huber_loss", weight=FULL_WEIGHT), [((4, 3), (4, 3))]),
        OpSpec(
            "bce-weight",
            *_both("binary_cross_entropy", weight=w, reduction="sum"),
            [((4, 3), (4, 3))],
            positive=True,
        ),
        OpSpec(
            "bce_logits-pos_weight",
            *_both("binary_cross_entropy_with_logits", weight=w, pos_weight=w[::-1].copy()),
            [((4, 3), (4, 3))],
            domain=(-4, 4),
        ),
    ]
    return specs


SPECS = _specs()


@pytest.mark.parametrize("spec, dtype", cases(SPECS, float32=("mse-mean", "bce_logits-mean")))
def test_matches_torch(spec, dtype, device):
    if spec.name.startswith("bce-"):  # probabilities in (0, 1), targets anywhere in [0, 1]
        spec.domain, spec.positive = (0.05, 0.95), False
    check_op(spec, device, dtype)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_multi_margin_loss_matches_torch(reduction, device):
    check_loss_against_torch("multi_margin_loss", reduction, device)


@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_matches_torch(reduction, device):
    check_loss_against_torch("nll_loss", reduction, device)


def _against_torch(gg_fn, torch_fn, x, device, rng):
    a = gg.tensor(x, device=device, requires_grad=True)
    t = torch.tensor(x, requires_grad=True)
    y, ty = gg_fn(a), torch_fn(t)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-10, atol=1e-12)
    u = rng.standard_normal(ty.shape)
    (y * gg.tensor(u, device=device)).sum().backward()
    (ty * torch.tensor(u)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-9, atol=1e-12)
    assert gg.gradcheck(gg_fn, [gg.tensor(x, device=device, requires_grad=True)])


@pytest.mark.parametrize("shape", [(5, 3), (2, 3, 4), (3,)], ids=str)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_nll_loss_weight_ignore_index_and_layouts(shape, reduction, device):
    rng = np.random.default_rng(3)
    x = rng.standard_normal(shape)
    labels = rng.integers(0, 3, size=shape[:1] + shape[2:] if len(shape) > 1 else ())
    if labels.size > 1:
        labels.reshape(-1)[1] = 2
        labels.reshape(-1)[0] = -1
    options = dict(reduction=reduction, ignore_index=-1)
    _against_torch(
        lambda a: F.nll_loss(
            a,
            gg.tensor(labels, device=device),
            weight=gg.tensor(RNG_WEIGHT, device=device),
            **options,
        ),
        lambda a: TF.nll_loss(a, torch.tensor(labels), weight=torch.tensor(RNG_WEIGHT), **options),
        x,
        device,
        rng,
    )


@pytest.mark.parametrize("p, margin", [(1, 1.0), (2, 0.5)])
def test_multi_margin_loss_options(p, margin, device):
    rng = np.random.default_rng(4)
    x = rng.standard_normal((5, 3))
    labels = np.array([0, 2, 1, 1, 0])
    options = dict(p=p, margin=margin)
    _against_torch(
        lambda a: F.multi_margin_loss(
            a,
            gg.tensor(labels, device=device),
            weight=gg.tensor(RNG_WEIGHT, device=device),
            **options,
        ),
        lambda a: TF.multi_margin_loss(
            a, torch.tensor(labels), weight=torch.tensor(RNG_WEIGHT), **options
        ),
        x,
        device,
        rng,
    )


def test_multi_margin_loss_divides_by_the_number_of_classes(device):
    """PyTorch's definition (ours) is the notes' SVM loss divided by C."""
    scores = gg.tensor([[3.2, 5.1, -1.7]], device=device)  # the notes' cat example
    notes = max(0, 5.1 - 3.2 + 1) + max(0, -1.7 - 3.2 + 1)
    assert F.multi_margin_loss(scores, gg.tensor([0], device=device)).item() == pytest.approx(
        notes / 3
    )


def test_binary_cross_entropy_clamps_the_log_at_minus_100(device):
    x, t = np.array([0.0, 1.0, 0.0, 1.0]), np.array([1.0, 0.0, 0.0, 1.0])
    got = F.binary_cross_entropy(
        gg.tensor(x, device=device), gg.tensor(t, device=device), reduction="none"
    )
    want = TF.binary_cross_entropy(torch.tensor(x), torch.tensor(t), reduction="none")
    np.testing.assert_array_equal(got.numpy(), want.numpy())  # 100, 100, 0, 0


def test_binary_cross_entropy_with_logits_is_stable(device):
    x, t = np.array([-800.0, 800.0, 0.0]), np.array([1.0, 0.0, 0.5])
    got = F.binary_cross_entropy_with_logits(
        gg.tensor(x, device=device), gg.tensor(t, device=device), reduction="none"
    )
    want = TF.binary_cross_entropy_with_logits(torch.tensor(x), torch.tensor(t), reduction="none")
    np.testing.assert_allclose(got.numpy(), want.numpy())


@pytest.mark.parametrize(
    "name",
    [
        "mse_loss",
        "l1_loss",
        "smooth_l1_loss",
        "huber_loss",
        "binary_cross_entropy",
        "binary_cross_entropy_with_logits",
    ],
)
def test_empty_inputs(name, device):
    for reduction in REDUCTIONS:
        got = getattr(F, name)(
            gg.zeros(0, device=device), gg.zeros(0, device=device), reduction=reduction
        )
        want = getattr(TF, name)(torch.zeros(0), torch.zeros(0), reduction=reduction)
        assert got.shape == tuple(want.shape)
        np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_second_derivatives(device):
    rng = np.random.default_rng(6)
    x = gg.tensor(rng.uniform(0.2, 0.8, (3, 2)), device=device, requires_grad=True)
    t = gg.tensor(rng.uniform(0, 1, (3, 2)), device=device, requires_grad=True)
    assert gg.gradgradcheck(lambda a, b: F.binary_cross_entropy(a, b), [x, t])
    assert gg.gradgradcheck(
        lambda a, b: F.binary_cross_entropy_with_logits(
            a, b, pos_weight=gg.tensor([2.0, 0.5], device=device)
        ),
        [x, t],
    )
    assert gg.gradgradcheck(lambda a, b: F.huber_loss(a, b, delta=0.3), [x, t])


def test_loss_errors(device):
    x = gg.zeros(3, 4, device=device)
    with pytest.raises(ValueError, match="label -1"):
        F.multi_margin_loss(gg.zeros(3, 4), gg.tensor([0, -1, 2]))
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(x, x, reduction="avg")
    with pytest.raises(ValueError, match="differ"):
        F.mse_loss(x, gg.zeros(4, 3, device=device))
    with pytest.raises(ValueError, match="must be the same"):
        F.l1_loss(x, x, weight=gg.ones(4, device=device))
    with pytest.raises(ValueError, match="beta"):
        F.smooth_l1_loss(x, x, beta=-1.0)
    with pytest.raises(ValueError, match="delta"):
        F.huber_loss(x, x, delta=0.0)
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        F.binary_cross_entropy(gg.tensor([0.5, 1.5]), gg.tensor([0.0, 1.0]))
    with pytest.raises(ValueError, match="p must be 1 or 2"):
        F.multi_margin_loss(x, gg.tensor([0, 1, 2], device=device), p=3)
    with pytest.raises(ValueError, match=r"expected \(3,\)"):
        F.nll_loss(x, gg.tensor([[0, 1, 2]], device=device))
