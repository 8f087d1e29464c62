"""In-place ops (gpugrad/ops/inplace.py): ``+=``, ``*=``, ``x[i] = v`` on tensors in a graph
bump version counters, shared by a view and its base, so that a backward that needs an
overwritten value refuses; leaves that require grad refuse them outside no_grad; the history
they write matches PyTorch's."""

import numpy as np
import pytest
import torch
from inplace_programs import assert_same_as_torch

import gpugrad as gg


def test_inplace_on_saved_output_raises(device):
    x = gg.tensor([0.5, -1.0], device=device, requires_grad=True)
    y = x.exp()  # Exp saves its output
    z = y.sum()
    y += 1
    with pytest.raises(RuntimeError, match="in-place"):
        z.backward()


def test_inplace_on_saved_input_raises(device):
    x = gg.tensor([0.5, -1.0], device=device, requires_grad=True)
    h = x * 1.0
    y = (h * h).sum()  # Mul saves h
    h[0] = 3.0
    with pytest.raises(RuntimeError, match="in-place"):
        y.backward()


def test_inplace_on_leaf_requiring_grad_raises(device):
    x = gg.tensor([1.0], device=device, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):
        x += 1
    with gg.no_grad():
        x += 1  # allowed: it is how optimizers update parameters
    assert x.numpy()[0] == 2.0 and x._version[0] == 1


def test_inplace_history_matches_torch(device):
    host = np.array([0.3, -0.7, 1.2])
    x = gg.tensor(host, device=device, requires_grad=True)
    h = x * 2.0
    h += x  # Add saves nothing: fine
    h *= 3.0
    h[1] = x[0] * 5.0
    h.sum().backward()
    t = torch.tensor(host, requires_grad=True)
    th = t * 2.0
    th += t
    th *= 3.0
    th[1] = t[0] * 5.0
    th.sum().backward()
    np.testing.assert_allclose(h.numpy(), th.detach().numpy())
    np.testing.assert_allclose(x.grad.numpy(), t.grad.numpy())


def test_inplace_through_a_view_bumps_the_base(device):
    x = gg.tensor([[1.0, 2.0], [3.0, 4.0]], device=device, requires_grad=True)
    h = x.exp()
    y = h.sum()
    row = h[0]  # a view sharing h's version counter
    with gg.no_grad():
        row += 1
    with pytest.raises(RuntimeError, match="in-place"):
        y.backward()


def test_setitem_without_grad_writes_in_place(device):
    x = gg.zeros(3, device=device)
    data = x.array
    x[1] = 5.0
    x[gg.tensor([0, 2], device=device)] = gg.tensor([1.0, 2.0], device=device)
    assert x.array is data
    np.testing.assert_array_equal(x.numpy(), [1.0, 5.0, 2.0])


# -- PyTorch's semantics, program by program (tests/inplace_programs.py runs both) ---------
PROGRAMS = [
    # an op recorded before an in-place change backpropagates as it saw the values
    "h = x * 2.0; y = (h * 3.0).sum(); h *= 5.0; y.backward()",
    "h = x * 2; total = h.sum(); h += r; total.backward()",
    "h = x * 2; y = h.sum(); h.zero_(); y.backward()",
    "h = x * 2; y = h.sum(); h.fill_(3.0); (y + h.sum()).backward()",
    # in-place ops through views rewrite the base's history (CopySlices)
    "h = x * 1.0; h[1] += 1.0; h.sum().backward()",
    "h = x * 1.0; h[1] += 1.0; h.sum().backward(retain_graph=True); h.sum().backward()",
    "h = x * 1.0; v = h[0]; v *= 2.0; h.sum().backward()",
    "h = x * 1.0; h[1] *= 3.0; h.sum().backward()",
    "h = x * 1.0; v = h[0:2]; v *= w[0:2]; (h * h).sum().backward()",
    "h = m * 1.0; v = h.T; v *= 2.0; (h * m).sum().backward()",
    "h = m * 1.0; v = h[1]; v += m[2]; h.sum().backward()",
    "h = m * 1.0; v = h[:, 1]; v *= 3.0; u = h[1]; (u * u).sum().backward()",
    "h = m * 1.0; v = h.reshape(12); v[3:5] *= 4.0; (h * m).sum().backward()",
    "h = m * 1.0; v = h[1:]; u = v[0]; u -= 1.0; (h * h).sum().backward()",
    # a view taken before its base changes sees the change, in value and in gradient
    "h = x * 1.0; v = h[0:2]; h *= 2.0; v.sum().backward()",
    "h = m * 1.0; a = h[0]; b = h[:, 0]; a *= 5.0; (b * b).sum().backward()",
    # leaves and views of leaves refuse in-place ops in grad mode
    "v = leaf[0:2]; v *= 3",
    "leaf += 1.0",
    "v = leaf.reshape(3, 1); v[0] = 2.0",
    # in-place ops that need their old value save it
    "h = x * 1.0; h *= w; h.sum().backward()",
    "h = x * 1.0; h /= w; h.sum().backward()",
    "h = x * 1.0; h.clip_(1.5, 2.5); (h * w).sum().backward()",
    "h = x.exp(); y = h.sum(); h += 1.0; y.backward()",
    # item assignment
    "h = x * 1.0; h[0] = w[1] * 4; h[2] = 7.0; (h * h).sum().backward()",
    "h = m * 1.0; h[0] = r.reshape(1, 3)[0, 0:1] * 2; h.sum().backward()",
    "h = m * 1.0; h[1] = w.reshape(3, 1)[0:1, :] * 2.0; (h * m).sum().backward()",
    "h = m * 1.0; h[m > 0] = 0.0; (h * m).sum().backward()",
    "a = m * 0.0; a = a.detach(); a[1] = x[0] * 2.0; (a * m).sum().backward()",
    # 0-d tensors are 0-d arrays: += zero_ fill_ work on them
    "loss = (x * x).sum(); loss += x.abs().sum(); loss.backward()",
    "s = x.sum(); s *= 2.0; s.backward()",
    "s = (x * 1.0)[1]; s *= 3.0; s.backward()",
    "s = (x * x).sum(); t = s * 1.0; t.zero_(); (s + t).backward()",
    # pow's masks, as PyTorch
    "(z ** 0).sum().backward()",
    "(z ** 2.0).sum().backward()",
    "(0.0 ** z).sum().backward()",
    "(z ** w[0:2]).sum().backward()",
    "(w[0:2] ** (z * 0.0)).sum().backward()",
    # with create_graph: the recorded backward of an in-place history is itself right
    "h = x * x; v = h[0:2]; v *= w[0:2]; (g,) = grad(h.sum(), x, create_graph=True); "
    "g.sum().backward()",
    "h = x * 1.0; h[1] = h[0] * h[2]; (g,) = grad((h * h).sum(), x, create_graph=True); "
    "(g * g).sum().backward()",
]


@pytest.mark.parametrize("program", PROGRAMS)
def test_program_matches_torch(program, device):
    assert_same_as_torch(program, device)
