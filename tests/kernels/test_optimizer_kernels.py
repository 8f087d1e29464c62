"""The in-place SGD and Adam/AdamW steps of ``kernels/optimizer.cu`` (launchers:
``gpugrad.kernels.optimizer``) against torch.optim, emulated on the CPU and on a GPU (the
``impl`` fixture); the optimizers on a GPU against the same on the CPU."""

import numpy as np
import pytest
import torch
from kernel_cases import DTYPES, on_gpu, on_kernels

import gpugrad as gg
from gpugrad import optim
from gpugrad.kernels import optimizer

OPTIMIZERS = {
    "sgd": dict(lr=0.1, momentum=0.0, weight_decay=0.0, nesterov=False),
    "sgd_momentum_wd": dict(lr=0.05, momentum=0.9, weight_decay=0.01, nesterov=False),
    "sgd_nesterov": dict(lr=0.05, momentum=0.8, weight_decay=0.1, nesterov=True),
    "adam": dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0),
    "adam_l2": dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    "adamw": dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1),
}


def _torch_optimizer(kind, w):
    hp = OPTIMIZERS[kind]
    if kind.startswith("sgd"):
        return torch.optim.SGD([w], **hp)
    return (torch.optim.AdamW if kind == "adamw" else torch.optim.Adam)([w], **hp)


def _tolerance(impl, dtype) -> dict:
    """After several steps, against torch.optim in the dtype (float16: in float32).  Where
    w - lr·g cancels, the absolute error is a few units in the last place of |w| ~ 1; on a
    GPU, fused multiply-adds move float32 by up to 1e-5."""
    if dtype == np.float16:
        return dict(rtol=1e-2, atol=1e-2)
    rtol = 1e-5 if (impl.machine, dtype) == ("gpu", np.float32) else impl.tol[dtype]["rtol"]
    return dict(rtol=rtol, atol=max(impl.tol[dtype]["atol"], 4 * float(np.finfo(dtype).eps)))


def _adam(p, grad, m, v, **hyper):
    """One adam_update, one step of plain Adam unless ``hyper`` says otherwise."""
    defaults = dict(lr=0.1, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0, decoupled=False)
    corrections = dict(bias_correction1=0.1, bias_correction2=0.001)  # step 1
    optimizer.adam_update(p, grad, m, v, **{**defaults, **corrections, **hyper})


def _step(kind, w, g, state, t):
    """Step t (from 1) of ``kind`` on the device arrays w (in place), g and state."""
    hp = OPTIMIZERS[kind]
    if kind.startswith("sgd"):
        optimizer.sgd_update(
            w,
            g,
            state[0] if hp["momentum"] else None,
            lr=hp["lr"],
            momentum=hp["momentum"],
            nesterov=hp["nesterov"],
            weight_decay=hp["weight_decay"],
            first_step=t == 1,
        )
        return
    b1, b2 = hp["betas"]
    _adam(
        w,
        g,
        *state,
        lr=hp["lr"],
        beta1=b1,
        beta2=b2,
        eps=hp["eps"],
        weight_decay=hp["weight_decay"],
        decoupled=kind == "adamw",
        bias_correction1=1 - b1**t,
        bias_correction2=1 - b2**t,
    )


@on_kernels
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_optimizer_kernels_match_torch(impl, kind, dtype):
    if dtype == np.float16 and kind.startswith("adam"):
        pytest.skip(
            "float16 Adam state underflows (v ~ 1e-9 -> 0) exactly as in PyTorch; "
            "a float32 reference would not match"
        )
    rng = np.random.default_rng(5)
    w0 = rng.standard_normal(100003).astype(dtype)  # more than a pass of the emulated grid
    grads = [rng.standard_normal(w0.size).astype(dtype) for _ in range(5)]
    ref_dtype = np.float32 if dtype == np.float16 else dtype  # float16: float32 maths
    tw = torch.tensor(w0.astype(ref_dtype), requires_grad=True)
    reference = _torch_optimizer(kind, tw)
    w = impl.asarray(w0)
    xp = impl.xp
    state = [xp.empty_like(w)] if kind.startswith("sgd") else [xp.zeros_like(w), xp.zeros_like(w)]
    for t, g in enumerate(grads, start=1):
        tw.grad = torch.tensor(g.astype(ref_dtype))
        reference.step()
        _step(kind, w, impl.asarray(g), state, t)
    np.testing.assert_allclose(
        impl.asnumpy(w).astype(np.float64),
        tw.detach().numpy(),
        **_tolerance(impl, dtype),
    )


@on_kernels
def test_float16_adam_keeps_state_in_float16(impl):
    w = impl.xp.ones(10, np.float16)
    m, v = impl.xp.zeros_like(w), impl.xp.zeros_like(w)
    _adam(w, impl.xp.full(10, 0.5, np.float16), m, v)
    np.testing.assert_allclose(impl.asnumpy(w).astype(np.float64), 0.9, rtol=1e-3)  # moved by lr
    assert w.dtype == m.dtype == v.dtype == np.float16


@on_gpu
def test_optimizers_on_a_gpu_match_the_cpu(impl):
    rng = np.random.default_rng(6)
    w0 = rng.standard_normal(1001).astype(np.float32)
    grads = [rng.standard_normal(1001).astype(np.float32) for _ in range(4)]
    for make in [
        lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
        lambda p: optim.Adam(p, lr=0.01, weight_decay=0.1),
        lambda p: optim.AdamW(p, lr=0.01),
    ]:
        results = []
        for device in ("cpu", "cuda"):
            w = gg.tensor(w0, device=device, requires_grad=True)
            opt = make([w])
            for g in grads:
                w.grad = gg.tensor(g, device=device)
                opt.step()
            results.append(w.numpy())
        np.testing.assert_allclose(results[1], results[0], rtol=1e-5, atol=1e-6)


@on_kernels
def test_empty_parameters_launch_nothing(impl):
    for dtype in DTYPES:
        e = impl.xp.empty((0, 5), dtype)
        optimizer.sgd_update(e, e, None, lr=0.1)
    assert not impl.launches


@on_kernels
def test_bad_inputs_raise_before_launching(impl):
    x = impl.xp.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="momentum buffer"):
        optimizer.sgd_update(x, x, None, lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="C-contiguous"):
        optimizer.sgd_update(x.T, x.T, None, lr=0.1)
    with pytest.raises(ValueError, match="does not match the parameter"):
        _adam(x, x, impl.xp.zeros(12, np.float32), impl.xp.zeros_like(x))
    assert not impl.launches
