"""The optimizers of ``gpugrad.optim`` on the multi-tensor kernels (``optim/multi_tensor.py``),
emulated on the CPU (NumPy parameters routed to the kernels) and on a GPU (the ``impl``
fixture), against torch.optim: two groups of different dtypes, a scheduler changing lr,
persistent gradients (``zero_grad(set_to_none=False)``); a constant number of launches per
step, each bucket's table built once and its lr uploaded only when it changed, step counts
read back from the device by ``state_dict()``.  The kernels themselves:
test_optimizer_kernels.py."""

import numpy as np
import pytest
import torch
from kernel_cases import on_kernels

import gpugrad as gg
from gpugrad import optim
from gpugrad.kernels import optimizer as launchers
from gpugrad.optim import multi_tensor

CONFIGS = [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.1)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("AdamW", dict(lr=0.02, betas=(0.85, 0.95))),
]
GROUPS = [(np.float64, [(3, 4), (), (0,), (130,)]), (np.float32, [(65,), (2, 3)])]
LAUNCHES = {"SGD": 1, "Adam": 2, "AdamW": 2}  # per bucket (group and dtype) and step
TOL = {np.float64: dict(rtol=1e-12, atol=1e-14), np.float32: dict(rtol=1e-5, atol=1e-6)}
STEPS = 5


@pytest.fixture
def device(impl, monkeypatch):
    """Where the parameters live: emulated, NumPy arrays that the optimizers send to the
    kernels (run by the CPU stand-in for CUDA), in chunks of 64 elements."""
    if impl.name == "emulated":
        monkeypatch.setattr(multi_tensor, "runs_on_kernels", lambda array: True)
        monkeypatch.setattr(launchers, "CHUNK", 64)
        return "cpu"
    return "cuda"


def _pairs(device, kwargs):
    """Two groups (float64 and float32, the second with half the lr) for gpugrad and torch."""
    rng = np.random.default_rng(3)
    ours, theirs = [], []
    for i, (dtype, shapes) in enumerate(GROUPS):
        start = [rng.standard_normal(s).astype(dtype) for s in shapes]
        extra = {"lr": kwargs["lr"] / 2} if i else {}
        ours.append({"params": [gg.tensor(a, device=device, requires_grad=True) for a in start]})
        theirs.append({"params": [torch.tensor(a, requires_grad=True) for a in start]})
        ours[-1].update(extra)
        theirs[-1].update(extra)
    return ours, theirs


@on_kernels
@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=[f"{n}{kw}" for n, kw in CONFIGS])
def test_optimizers_on_the_multi_tensor_kernels_match_torch(impl, device, name, kwargs):
    ours, theirs = _pairs(device, kwargs)
    opt, topt = getattr(optim, name)(ours, **kwargs), getattr(torch.optim, name)(theirs, **kwargs)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    tsched = torch.optim.lr_scheduler.StepLR(topt, step_size=2, gamma=0.5)
    params = [p for g in ours for p in g["params"]]
    tparams = [p for g in theirs for p in g["params"]]
    for p, tp in zip(params, tparams):  # persistent gradient buffers
        p.grad, tp.grad = gg.zeros_like(p), torch.zeros_like(tp)
    arrays = [p.grad.array for p in params]
    rng = np.random.default_rng(4)
    for _ in range(STEPS):
        opt.zero_grad(set_to_none=False)
        topt.zero_grad(set_to_none=False)
        for p, tp in zip(params, tparams):  # as a backward accumulates
            g = rng.standard_normal(p.shape).astype(p.dtype)
            p.grad.array[...] += gg.tensor(g, device=device).array
            tp.grad += torch.tensor(g)
        since = len(impl.launches or [])
        opt.step()
        topt.step()
        if impl.launches is not None:  # 2 buckets, whatever the number of parameters
            assert len(impl.launches) - since == 2 * LAUNCHES[name]
        sched.step()
        tsched.step()
    for p, tp in zip(params, tparams):
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), **TOL[p.dtype.type])
    assert all(p.grad.array is a for p, a in zip(params, arrays))
    buckets = opt._multi_tensor.buckets.values()
    assert len(buckets) == 2
    # tables built once; lr uploaded 3 times (StepLR: lr, lr/2 from step 3, lr/4 at step 5)
    assert [(b.table.builds, b.scalars.uploads) for b in buckets] == [(1, 3), (1, 3)]
    state, tstate = opt.state_dict()["state"], topt.state_dict()["state"]
    for index, entry in tstate.items():
        assert state[index]["step"] == int(entry.get("step", STEPS)) == STEPS
        for key, value in entry.items():
            if key != "step":
                np.testing.assert_allclose(state[index][key].numpy(), value.numpy(), rtol=1e-5)


@on_kernels
def test_state_dict_counts_steps_that_only_the_device_took(impl, device):
    """A step replayed from a CUDA graph advances the device counters, not the host's:
    state_dict() reads them back; a count set on the host wins and is uploaded."""
    ours, _ = _pairs(device, dict(lr=0.01))
    opt = optim.Adam(ours, lr=0.01)
    params = [p for g in ours for p in g["params"]]
    for p in params:
        p.grad = gg.ones_like(p)
    opt.step()
    opt.step()
    counters = opt._multi_tensor.steps
    assert len(counters) == 5  # not the empty parameter's: its count stays on the host
    for counter in counters.values():
        counter.array[0] += 1  # as a replayed step would
    assert [s["step"] for s in opt.state_dict()["state"].values()] == [3, 3, 2, 3, 3, 3]
    assert opt.state[id(params[0])]["step"] == 3
    opt.state[id(params[0])]["step"] = 10  # by hand, on the host
    opt.step()
    assert float(counters[id(opt.state[id(params[0])])].array[0]) == 11.0
    assert opt.state_dict()["state"][0]["step"] == 11


@on_kernels
def test_refresh_device_scalars_uploads_a_new_lr_without_a_step(impl, device):
    ours, _ = _pairs(device, dict(lr=0.1))
    opt = optim.SGD(ours, lr=0.1, momentum=0.5)
    for p in (p for g in ours for p in g["params"]):
        p.grad = gg.ones_like(p)
    opt.step()
    opt.param_groups[1]["lr"] = 0.125
    opt.refresh_device_scalars()  # what a replayed CUDA graph needs before it runs
    hyper = [impl.asnumpy(b.scalars.array).tolist() for b in opt._multi_tensor.buckets.values()]
    assert hyper == [[0.1, 0.5, 0.0], [0.125, 0.5, 0.0]]


@on_kernels
@pytest.mark.parametrize(
    "make",
    [
        lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.5),
        lambda p: optim.Adam(p, amsgrad=True),
    ],
    ids=["sgd-dampening", "adam-amsgrad"],
)
def test_dampening_and_amsgrad_keep_the_array_path(impl, device, make):
    ours, _ = _pairs(device, dict(lr=0.1))
    opt = make(ours)
    for p in (p for g in ours for p in g["params"]):
        p.grad = gg.ones_like(p)
    opt.step()
    assert not opt._multi_tensor.buckets
    assert not impl.launches  # emulated: array operations on NumPy; [] or None
