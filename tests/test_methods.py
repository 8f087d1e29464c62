"""Tensor's methods (bound in gpugrad/methods.py) are the ops: the activation methods give
what gpugrad.functional gives, gradient included.  The other methods are exercised by the
op tables in tests/ops/, the activations themselves in
tests/ops/test_activation.py."""

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.functional as F


@pytest.mark.parametrize("name", ["tanh", "sigmoid", "relu"])
def test_activation_methods_are_the_functions(name, device):
    host = np.array([[-1.5, 0.5], [2.0, -0.25]])
    x = gg.tensor(host, device=device, requires_grad=True)
    ref = gg.tensor(host, device=device, requires_grad=True)
    y, expected = getattr(x, name)(), getattr(F, name)(ref)
    np.testing.assert_array_equal(y.numpy(), expected.numpy())
    y.sum().backward()
    expected.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), ref.grad.numpy())
