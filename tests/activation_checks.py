"""Checks shared by tests/ops/test_piecewise_activations.py and test_smooth_activations.py:
an activation against its torch twin on random, 0-d, empty and large inputs, at NaN, ±inf
and its kinks (one element at a time: torch's scalar code, which its CUDA code matches),
in place, and compiled."""

from __future__ import annotations

import numpy as np
import torch
from kernel_cases import torch_elementwise

import gpugrad as gg


def ulps(dtype, n: float = 4) -> float:
    return n * float(np.finfo(dtype).eps)


def specials(dtype, kinks=(), extra=()) -> np.ndarray:
    """NaN, ±inf, ±0, the floats next to 0, the dtype's extremes, and each kink with the
    floats either side of it and points past it, as ``dtype``."""
    info = np.finfo(dtype)
    zero, inf = dtype(0), dtype(np.inf)
    x = [np.nan, np.inf, -np.inf, 0.0, -0.0, float(info.max), -float(info.max)]
    x += [np.nextafter(zero, inf), np.nextafter(zero, -inf), 1e4, -1e4, 30.0, -30.0]
    for kink in kinks:
        k = dtype(kink)
        x += [k, np.nextafter(k, -inf), np.nextafter(k, inf), k + 0.5, k - 0.5]
    return np.array([*x, *extra], dtype)


def check_random(ours, theirs, dtype, device, rtol_ulps=8, atol_ulps=0, scale=5.0):
    """Values and gradients (for a random upstream) on random (7, 13), 0-d, empty and
    large-magnitude inputs.  ``atol_ulps``: an absolute error of that many ulps of 1
    (times |gy|) allowed in the gradient, where it is read from the output (elu's y + α)."""
    rng = np.random.default_rng(0)
    inputs = [
        rng.standard_normal((7, 13)) * scale,
        np.array(0.7),
        np.zeros((0, 3)),
        np.array([[1e3, -1e3, 1e20, -1e20], [1e-20, -1e-20, 60.0, -60.0]]),
    ]
    for x in inputs:
        x = x.astype(dtype)
        gy = rng.standard_normal(x.shape).astype(dtype)
        t = gg.tensor(x, device=device, requires_grad=True)
        with np.errstate(over="ignore", invalid="ignore"):
            y = ours(t)
            y.backward(gg.tensor(gy, device=device))
        tt = torch.tensor(x, requires_grad=True)
        ty = theirs(tt)
        ty.backward(torch.tensor(gy))
        assert y.dtype == dtype and y.shape == x.shape and t.grad.shape == x.shape
        rtol = ulps(dtype, rtol_ulps)
        with np.errstate(invalid="ignore"):
            np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=rtol, atol=0)
            atol = ulps(dtype, atol_ulps) * (np.abs(gy).max() if gy.size else 0)
            np.testing.assert_allclose(t.grad.numpy(), tt.grad.numpy(), rtol=rtol, atol=atol)


def check_specials(ours, theirs, x, device, rtol_ulps=4, local=True, atol_ulps=0):
    """Values, gradients and (``local``) d gx / d gy from a create_graph backward at each
    element of ``x``, against torch's one element at a time; NaN where torch has NaN.
    ``atol_ulps``: as for :func:`check_random`, in the gradient."""
    gy = np.linspace(-2, 3, x.size).astype(x.dtype)
    gy[gy == 0] = 1
    ty, tgx, tlocal = torch_elementwise(theirs, x, gy) if local else _first_order(theirs, x, gy)
    t = gg.tensor(x, device=device, requires_grad=True)
    g = gg.tensor(gy, device=device, requires_grad=True)
    with np.errstate(invalid="ignore", over="ignore"):
        y = ours(t)
        (gx,) = gg.grad(y, [t], [g], create_graph=True)
        close = dict(rtol=ulps(x.dtype, rtol_ulps), atol=0)
        np.testing.assert_allclose(y.numpy(), ty, err_msg="forward", **close)
        close["atol"] = ulps(x.dtype, atol_ulps) * float(np.abs(gy).max())
        np.testing.assert_allclose(gx.numpy(), tgx, err_msg="backward", **close)
        if local:
            (lg,) = gg.grad(gx, [g], [gg.ones_like(gx)])
            close["atol"] = ulps(x.dtype, atol_ulps)
            np.testing.assert_allclose(lg.numpy(), tlocal, err_msg="d gx / d gy", **close)


def _first_order(fn, x, gy):
    """(y, gx, None) of torch's ``fn`` one element at a time, without a double backward."""
    ys, gxs = [], []
    for xi, gi in zip(x, gy, strict=True):
        t = torch.tensor([xi], requires_grad=True)
        y = fn(t)
        y.backward(torch.tensor([gi]))
        ys.append(y.item())
        gxs.append(t.grad.item())
    return np.array(ys, x.dtype), np.array(gxs, x.dtype), None


def check_second_derivative(ours, theirs, x, device, rtol=1e-12):
    """d/dx of the gradient (for an upstream of ones) against torch's, float64."""
    t = gg.tensor(x, device=device, requires_grad=True)
    (g,) = gg.grad(ours(t).sum(), [t], create_graph=True)
    g2 = gg.grad(g.sum(), [t])[0] if g.requires_grad else gg.zeros_like(t)
    tt = torch.tensor(x, requires_grad=True)
    (tg,) = torch.autograd.grad(theirs(tt).sum(), tt, create_graph=True)
    if not tg.requires_grad:  # piecewise linear: torch's gradient is a constant
        expected = np.zeros_like(x)
    else:
        (tg2,) = torch.autograd.grad(tg.sum(), tt, allow_unused=True)
        expected = np.zeros_like(x) if tg2 is None else tg2.numpy()
    np.testing.assert_allclose(g2.numpy(), expected, rtol=rtol, atol=1e-14)


def check_inplace(ours_inplace, theirs_inplace, host, device):
    """``fn(h, inplace=True)`` writes h (a non-leaf), returns it, and backpropagates as
    torch's in-place op."""
    x = gg.tensor(host, dtype="float64", device=device, requires_grad=True)
    tx = torch.tensor(host, requires_grad=True)
    h, th = x * 1.0, tx * 1.0
    out = ours_inplace(h)
    theirs_inplace(th)
    assert out is h
    (h * h).sum().backward()
    (th * th).sum().backward()
    np.testing.assert_allclose(h.numpy(), th.detach().numpy(), rtol=1e-15)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-14, atol=1e-15)


def check_compiled(activations, device, calls=5):
    """A training step Linear → each activation → Linear → loss, compiled: its loss and
    gradients bit-identical to the same step run eagerly on the CPU, new batches each call.
    On CUDA a plan fuses Linear + a registry activation (elu inside selu, the default
    softplus) into kernels that sum the bias gradient in another order (plan_fusion.py):
    equal there to a few ulps."""
    gg.manual_seed(0)
    layers = [gg.nn.Linear(6, 6).to(device=device) for _ in activations] + [
        gg.nn.Linear(6, 1).to(device=device)
    ]
    params = [p for layer in layers for p in layer.parameters()]
    for act in activations:
        params += list(act.parameters())

    def step(x):
        for p in params:
            p.grad = None
        h = x
        for layer, act in zip(layers, activations):
            h = act(layer(h))
        loss = (layers[-1](h) ** 2).mean()
        loss.backward()
        return loss

    compiled = gg.compile(step)
    rng = np.random.default_rng(3)
    for k in range(calls):
        x = gg.tensor(rng.standard_normal((8, 6)).astype(np.float32) * 3, device=device)
        got = [compiled(x).numpy().copy()] + [p.grad.numpy().copy() for p in params]
        want = [step(x).numpy().copy()] + [p.grad.numpy().copy() for p in params]
        for g, w in zip(got, want, strict=True):
            if device.type == "cpu":
                np.testing.assert_array_equal(g, w)
            else:
                np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-9)
        assert len(compiled.plans) == (0 if k == 0 else 1)
