"""One helper that tests an op against PyTorch and against numerical gradients.

Each ``tests/ops/test_<op>.py`` declares its ``OpSpec`` table and runs it with::

    @pytest.mark.parametrize("spec, dtype", cases(SPECS, float32=("add",)))
    def test_matches_torch(spec, dtype, device):
        check_op(spec, device, dtype)

``check_op(spec, device)`` builds random inputs for each shape set of the spec, runs the
gpugrad function and the torch function on the same values, and compares the forward
output and the gradient of every input (for a random upstream gradient).  Then it runs
``gg.gradcheck`` in float64.  ``check_loss_against_torch`` does the same for a loss of
scores and integer class labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch

import gpugrad as gg
import gpugrad.functional as F

# Shape sets shared by the op tables: broadcasting, 0-d and empty inputs.
BINARY_SHAPES = [
    ((3, 4), (3, 4)),
    ((3, 4), (4,)),
    ((2, 1, 4), (3, 1)),
    ((), (5,)),
    ((), ()),
    ((0, 3), (3,)),
]
UNARY_SHAPES = [((3, 4),), ((),), ((2, 3, 2),), ((0,),)]
REDUCE_SHAPES = [((3, 4),), ((2, 3, 4),), ((5,),)]


@dataclass
class OpSpec:
    name: str
    gg_fn: Callable  # (*gg tensors) -> gg tensor
    torch_fn: Callable  # (*torch tensors) -> torch tensor
    shapes: list  # list of tuples of input shapes
    domain: tuple = (-2.0, 2.0)
    positive: bool = False  # sample inputs from (0.5, 2) (log, sqrt, pow bases)
    gradcheck: bool = True
    distinct: bool = False  # keep values away from kinks at 0 (abs, relu)
    rtol: float = 1e-5
    atol: float = 1e-6
    extra: dict = field(default_factory=dict)


def cases(specs, float32=()):
    """pytest parameters ``(spec, dtype)``: every spec in float64, the ones named in
    ``float32`` in float32 too."""
    return [pytest.param(s, np.float64, id=s.name) for s in specs] + [
        pytest.param(s, np.float32, id=f"{s.name}-float32") for s in specs if s.name in float32
    ]


def sample(shape, spec: OpSpec, rng):
    if spec.positive:
        return rng.uniform(0.5, 2.0, size=shape)
    if spec.distinct:
        # away from 0 (abs, relu kinks) and, being continuous, free of ties (max, min)
        return rng.uniform(0.1, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)
    lo, hi = spec.domain
    return rng.uniform(lo, hi, size=shape)


def check_op(spec: OpSpec, device, dtype=np.float64):
    rng = np.random.default_rng(0)
    for shapes in spec.shapes:
        host = [sample(s, spec, rng).astype(dtype) for s in shapes]
        xs = [gg.tensor(h, device=device, requires_grad=True) for h in host]
        ts = [torch.tensor(h, requires_grad=True) for h in host]
        y = spec.gg_fn(*xs)
        ty = spec.torch_fn(*ts)
        assert y.shape == tuple(ty.shape), (
            f"{spec.name} {shapes}: shape {y.shape} vs torch {tuple(ty.shape)}"
        )
        assert y.dtype == np.dtype(dtype), f"{spec.name}: dtype {y.dtype}, expected {dtype}"
        tol = (
            dict(rtol=spec.rtol, atol=spec.atol)
            if dtype == np.float64
            else dict(rtol=1e-4, atol=1e-5)
        )
        np.testing.assert_allclose(
            y.numpy(), ty.detach().numpy(), err_msg=f"{spec.name} forward {shapes}", **tol
        )
        upstream = rng.standard_normal(ty.shape).astype(dtype)
        y.backward(gg.tensor(upstream, device=device))
        ty.backward(torch.tensor(upstream))
        for i, (x, t) in enumerate(zip(xs, ts)):
            expected = t.grad.numpy() if t.grad is not None else np.zeros(t.shape)
            got = x.grad.numpy() if x.grad is not None else np.zeros(x.shape)
            assert got.shape == expected.shape, (
                f"{spec.name}: grad {i} shape {got.shape} vs {expected.shape}"
            )
            np.testing.assert_allclose(
                got, expected, err_msg=f"{spec.name} grad of input {i} {shapes}", **tol
            )
        if spec.gradcheck and dtype == np.float64:
            xs64 = [
                gg.tensor(h.astype(np.float64), device=device, requires_grad=True) for h in host
            ]
            assert gg.gradcheck(spec.gg_fn, xs64, eps=1e-6, atol=1e-5, rtol=1e-4)


def check_loss_against_torch(name: str, reduction: str, device):
    """``F.<name>(scores, labels)`` against ``torch.nn.functional.<name>``: the loss, the
    gradient of the scores for a random upstream, and gradcheck."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 4))
    labels = np.array([0, 3, 1, 1, 2, 3])
    a = gg.tensor(x, device=device, requires_grad=True)
    loss = getattr(F, name)(a, gg.tensor(labels, device=device), reduction=reduction)
    t = torch.tensor(x, requires_grad=True)
    tloss = getattr(torch.nn.functional, name)(t, torch.tensor(labels), reduction=reduction)
    np.testing.assert_allclose(loss.numpy(), tloss.detach().numpy(), rtol=1e-12)
    u = np.asarray(rng.standard_normal(tloss.shape))
    (loss * gg.tensor(u, device=device)).sum().backward()
    (tloss * torch.tensor(u)).sum().backward()
    np.testing.assert_allclose(a.grad.numpy(), t.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert gg.gradcheck(
        lambda s: getattr(F, name)(s, gg.tensor(labels, device=device), reduction=reduction),
        [gg.tensor(x, device=device, requires_grad=True)],
    )
