"""The raw namespace a backward formula gets: its broadcast_to is NumPy's, a read-only view,
also where one value is spread (made directly: numpy.broadcast_to costs microseconds)."""

import numpy as np
import pytest

import gpugrad as gg
from gpugrad.autograd.raw_namespace import raw_namespace

ONE_VALUE = [
    np.asarray(np.float32(2.5)),
    np.ones((1, 1), np.float64),
    np.ones((1,), np.float16),
    np.arange(3.0)[None, 1:2],  # a view of one value inside a larger array
]
SHAPES = [(4, 4), (3,), (), (0, 5), (2, 1, 3), (1,), (5, 1, 1)]


@pytest.mark.parametrize("x", ONE_VALUE, ids=lambda x: f"{x.dtype}{x.shape}")
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_broadcast_to_is_numpys_read_only_view(x, shape):
    ns = raw_namespace(np)
    try:
        want = np.broadcast_to(x, shape)
    except ValueError:
        with pytest.raises(ValueError):
            ns.broadcast_to(x, shape)
        return
    got = ns.broadcast_to(x, shape)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
    assert not got.flags.writeable and (got.size == 0 or np.shares_memory(got, x))
    with pytest.raises(ValueError):
        got[...] = 0


def test_a_gradient_spread_from_one_value_never_becomes_a_shared_grad():
    """sum's backward spreads one value: each leaf's .grad is its own writable array."""
    x, y = gg.randn(3, 4, requires_grad=True), gg.randn(3, 4, requires_grad=True)
    (x + y).sum().backward()
    assert not np.shares_memory(x.grad.numpy(), y.grad.numpy())
    x.grad.numpy()[0, 0] = 7.0
    assert y.grad.numpy()[0, 0] == 1.0 and x.grad.numpy()[1, 1] == 1.0
