"""erf (gpugrad/ops/erf.py), F.gelu (gpugrad/ops/gelu.py), F.silu (gpugrad/ops/silu.py) and
their modules against PyTorch: values, gradients, float64 gradcheck, second derivatives."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from opspec import UNARY_SHAPES, OpSpec, cases, check_op

import gpugrad as gg
import gpugrad.functional as F
from gpugrad import nn

SPECS = [
    OpSpec("erf", F.erf, torch.erf, UNARY_SHAPES, domain=(-4.0, 4.0)),
    OpSpec("gelu", F.gelu, TF.gelu, UNARY_SHAPES, domain=(-4.0, 4.0)),
    OpSpec(
        "gelu_tanh",
        lambda x: F.gelu(x, approximate="tanh"),
        lambda x: TF.gelu(x, approximate="tanh"),
        UNARY_SHAPES,
        domain=(-4.0, 4.0),
    ),
    OpSpec("silu", F.silu, TF.silu, UNARY_SHAPES, domain=(-6.0, 6.0)),
]


@pytest.mark.parametrize("spec, dtype", cases(SPECS, float32=("gelu", "silu")))
def test_matches_torch(spec, dtype, device):
    check_op(spec, device, dtype)


def test_erf_is_float64_accurate_everywhere():
    x = np.concatenate([np.linspace(-7, 7, 20001), [0.84375, 1.25, 1 / 0.35, 6.0, 1e-300]])
    ours = F.erf(gg.tensor(x)).numpy()
    exact = np.array([math.erf(v) for v in x])
    np.testing.assert_allclose(ours, exact, rtol=4e-16, atol=0)
    special = F.erf(gg.tensor([np.inf, -np.inf, np.nan, -0.0])).numpy()
    np.testing.assert_array_equal(special[:2], [1.0, -1.0])
    assert np.isnan(special[2]) and special[3] == 0


@pytest.mark.parametrize("fn", ["gelu", "silu"])
def test_second_derivative_matches_torch(fn):
    x = np.linspace(-3, 3, 13)
    ours = gg.tensor(x, requires_grad=True)
    theirs = torch.tensor(x, requires_grad=True)
    (g,) = gg.grad(getattr(F, fn)(ours).sum(), (ours,), create_graph=True)
    (gg2,) = gg.grad(g.sum(), (ours,))
    (tg,) = torch.autograd.grad(getattr(TF, fn)(theirs).sum(), theirs, create_graph=True)
    (tg2,) = torch.autograd.grad(tg.sum(), theirs)
    np.testing.assert_allclose(gg2.numpy(), tg2.numpy(), rtol=1e-10, atol=1e-12)


def test_modules_and_repr():
    x = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    for ours, theirs in [
        (nn.GELU(), torch.nn.GELU()),
        (nn.GELU("tanh"), torch.nn.GELU("tanh")),
        (nn.SiLU(), torch.nn.SiLU()),
        (nn.ReLU(inplace=True), torch.nn.ReLU(inplace=True)),
        (nn.LeakyReLU(0.2, inplace=True), torch.nn.LeakyReLU(0.2, inplace=True)),
        (nn.ELU(), torch.nn.ELU()),
        (nn.Softmax(dim=1), torch.nn.Softmax(dim=1)),
        (nn.LogSoftmax(dim=0), torch.nn.LogSoftmax(dim=0)),
        (nn.Softmax(), torch.nn.Softmax()),
    ]:
        assert repr(ours) == repr(theirs)
        expected = theirs(torch.tensor(x).clone()).numpy()
        np.testing.assert_allclose(ours(gg.tensor(x)).numpy(), expected, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="approximate"):
        nn.GELU("fast")
