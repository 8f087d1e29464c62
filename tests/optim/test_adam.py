"""Adam and AdamW (gpugrad/optim/adam.py) against torch.optim: betas on both sides of the
lerp branch, eps, L2 and decoupled weight decay, in float64 and float32; state dicts that
resume a run identically; bad hyper-parameters; the size of the first step; AMSGrad (on
CUDA array operations, not the fused kernel) and its state.  What every
optimizer shares: test_optimizer.py."""

import math

import numpy as np
from optimspec import OptimizerTests

import gpugrad as gg
from gpugrad import optim


class TestAdam(OptimizerTests):
    CONFIGS = (
        ("Adam", dict(lr=0.01)),
        ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6)),
        ("Adam", dict(lr=0.01, betas=(0.3, 0.5))),  # lerp weight >= 0.5: the other branch
        ("Adam", dict(lr=0.01, weight_decay=0.1)),
        ("AdamW", dict(lr=0.01)),  # default weight_decay=1e-2
        ("AdamW", dict(lr=0.01, weight_decay=0.0)),
        ("AdamW", dict(lr=0.02, weight_decay=0.3, betas=(0.85, 0.95))),
        ("Adam", dict(lr=0.01, amsgrad=True)),
        ("Adam", dict(lr=0.01, amsgrad=True, betas=(0.3, 0.5), weight_decay=0.1)),
        ("AdamW", dict(lr=0.02, amsgrad=True)),
    )
    BAD_HYPER_PARAMETERS = (
        (lambda p: optim.Adam(p, lr=-1e-3), "lr"),
        (lambda p: optim.Adam(p, betas=(1.0, 0.999)), r"betas\[0\]"),
        (lambda p: optim.Adam(p, betas=(-0.1, 0.999)), r"betas\[0\]"),
        (lambda p: optim.Adam(p, betas=(0.9, 1.0)), r"betas\[1\]"),
        (lambda p: optim.Adam(p, betas=(0.9,)), "betas"),
        (lambda p: optim.Adam(p, eps=-1e-8), "eps"),
        (lambda p: optim.AdamW(p, weight_decay=-0.01), "weight_decay"),
        (lambda p: optim.AdamW([{"params": p, "betas": (0.9, 2.0)}]), r"betas\[1\]"),
        (lambda p: optim.Adam(p, amsgrad=1), "amsgrad"),
    )


def test_adam_first_step_size_is_lr():
    """A sanity check independent of torch: Adam's first step moves each coordinate by
    lr·sign(g) (up to eps), whatever the gradient's scale."""
    w = gg.tensor(np.zeros(4), requires_grad=True)
    w.grad = gg.tensor([1e-3, -5.0, 200.0, -1e-6])
    optim.Adam([w], lr=0.01, eps=1e-12).step()
    np.testing.assert_allclose(w.numpy(), [-0.01, 0.01, -0.01, 0.01], rtol=1e-5)
    assert math.isclose(optim.AdamW([w]).defaults["weight_decay"], 1e-2)


def test_amsgrad_keeps_torchs_max_exp_avg_sq_and_old_state_dicts_load(device):
    w = gg.tensor(np.ones(3), device=device, requires_grad=True)
    opt = optim.Adam([w], amsgrad=True)
    for g in ([1.0, -2.0, 3.0], [0.1, 0.1, 0.1]):
        w.grad = gg.tensor(g, device=device)
        opt.step()
    state = opt.state_dict()
    assert set(state["state"][0]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert np.all(
        state["state"][0]["max_exp_avg_sq"].numpy() >= state["state"][0]["exp_avg_sq"].numpy()
    )
    del state["param_groups"][0]["amsgrad"]  # written before amsgrad existed
    fresh = optim.Adam([w])
    fresh.load_state_dict(state)
    assert fresh.param_groups[0]["amsgrad"] is False
