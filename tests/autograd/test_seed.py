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
