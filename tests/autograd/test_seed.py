"""The seed of ones that starts ``loss.backward()`` is made once per device, dtype and shape
(autograd/backward.py): nothing a user can reach ever writes into it."""

import numpy as np

import gpugrad as gg


def test_a_scalar_leafs_grad_is_its_own_copy_of_the_seed(device):
    x = gg.tensor(3.0, device=device, requires_grad=True)
    x.backward()
    x.grad += 5.0  # in place into x.grad: the next seed must still be 1
    y = gg.tensor(2.0, device=device, requires_grad=True)
    (y * 1.0).backward()
    (y * 1.0).backward()
    assert x.grad.item() == 6.0 and y.grad.item() == 2.0


def test_seeds_of_every_shape_and_dtype_are_ones_and_graphs_of_gradients_get_their_own(device):
    for dtype in (np.float16, np.float32, np.float64):
        for shape in ((), (1,), (1, 1)):
            x = gg.ones(shape, dtype=dtype, device=device, requires_grad=True)
            (x * 2.0).sum().backward()
            assert x.grad.dtype == dtype and x.grad.numpy().tolist() == np.full(shape, 2.0).tolist()
    x = gg.tensor(1.5, device=device, requires_grad=True)
    x.backward(create_graph=True)  # x.grad is the seed itself here: a fresh one
    x.grad.data += 1.0
    z = gg.tensor(1.0, device=device, requires_grad=True)
    z.backward()
    assert z.grad.item() == 1.0


def test_the_seed_reaches_user_code_only_as_a_copy(device):
    """gg.grad of a loss with respect to itself, and a custom Function's grad_output, get
    the seed itself from the engine: each is a copy the user may write into."""
    loss = (gg.ones(3, device=device, requires_grad=True) * 2.0).sum()
    (g,) = gg.grad(loss, loss)
    g.mul_(0.0)

    class Triple(gg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x.sum()

        @staticmethod
        def backward(ctx, grad_output):
            grad_output.mul_(3.0)  # in place: allowed, as in torch
            return grad_output * gg.ones(3, device=device)

    x = gg.ones(3, device=device, requires_grad=True)
    Triple.apply(x).backward()
    z = gg.tensor([1.0, 2.0, 3.0], device=device, requires_grad=True)
    (z * z).sum().backward()
    assert x.grad.numpy().tolist() == [3.0, 3.0, 3.0]
    assert z.grad.numpy().tolist() == [2.0, 4.0, 6.0]


def test_a_one_element_leafs_gradient_through_a_sum_is_its_own_writable_array(device):
    for shape in ((), (1,), (1, 1)):
        x = gg.ones(shape, device=device, requires_grad=True)
        (x.sum() * 2.0).backward()
        x.grad.mul_(0.5)  # zero_grad(set_to_none=False), clip_grad_norm_ write like this
        assert x.grad.numpy().tolist() == np.ones(shape).tolist()
