"""F.dropout (gpugrad/ops/dropout.py): the share kept, the scale, the gradient, identity in
evaluation, a bad probability."""

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.functional as F


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


def test_dropout_mask_is_the_seeded_generators_float64_draws_on_the_cpu():
    """The mask keeps the elements whose uniform draw is >= p; on the CPU the draws are
    float64 from gpugrad's generator, so a seed gives the same mask as it always has."""
    gg.manual_seed(0)
    y = F.dropout(gg.ones(12, device="cpu"), 0.5)
    draws = np.random.default_rng(0).random(12)
    np.testing.assert_array_equal(y.numpy(), (draws >= 0.5) * 2.0)
