"""Optimizers: trajectories over several steps equal to torch.optim's, state dicts that
resume identically, in-place updates that never touch the gradient, and bad input.

torch.optim (on the CPU, float64 and float32) is the oracle.  Our CPU update performs
PyTorch's operations in PyTorch's order, but PyTorch's CPU kernels may fuse a multiply
and an add (FMA) where NumPy rounds twice, so trajectories agree to rounding, not bit
for bit: rtol 1e-12 in float64 and 1e-5 in float32 over the whole trajectory.
"""

import math

import numpy as np
import pytest
import torch

import gpugrad as gg
from gpugrad import optim

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.05, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.5, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, betas=(0.8, 0.99), eps=1e-6)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.5))),  # lerp weight >= 0.5: the other branch
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("AdamW", dict(lr=0.01)),  # default weight_decay=1e-2
    ("AdamW", dict(lr=0.01, weight_decay=0.0)),
    ("AdamW", dict(lr=0.02, weight_decay=0.3, betas=(0.85, 0.95))),
]
IDS = [f"{n}({', '.join(f'{k}={v}' for k, v in kw.items())})" for n, kw in CONFIGS]
TOL = {np.float64: dict(rtol=1e-12, atol=1e-14), np.float32: dict(rtol=1e-5, atol=1e-6)}
SHAPES = [(3, 4), (37, 29), (5,), ()]  # several vector widths, a tail, a 0-d tensor
STEPS = 8


def _pair(shapes, dtype, device, seed=0):
    """The same initial parameters as gpugrad leaves on ``device`` and torch leaves."""
    rng = np.random.default_rng(seed)
    start = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ours = [gg.tensor(a, device=device, requires_grad=True) for a in start]
    theirs = [torch.tensor(a, requires_grad=True) for a in start]
    return ours, theirs


def _grads(shapes, dtype, steps, seed=1):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(steps)]


def _set_grads(params, tparams, grads, device):
    for p, tp, g in zip(params, tparams, grads):
        p.grad = None if g is None else gg.tensor(g, device=device)
        tp.grad = None if g is None else torch.tensor(g)


def _assert_close(params, tparams, dtype):
    for p, tp in zip(params, tparams):
        assert p.dtype == dtype and p.shape == tuple(tp.shape)
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), **TOL[dtype])


# -- trajectories ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=IDS)
def test_trajectory_matches_torch(name, kwargs, dtype, device):
    params, tparams = _pair(SHAPES, dtype, device)
    opt = getattr(optim, name)(params, **kwargs)
    topt = getattr(torch.optim, name)(tparams, **kwargs)
    arrays = [p.data for p in params]
    for grads in _grads(SHAPES, dtype, STEPS):
        _set_grads(params, tparams, grads, device)
        opt.step()
        topt.step()
    _assert_close(params, tparams, dtype)
    assert all(p.data is a for p, a in zip(params, arrays)), "p.data was replaced, not updated"
    assert all(p.device == device for p in params)


@pytest.mark.parametrize(
    "name, kwargs", [CONFIGS[5], CONFIGS[9], CONFIGS[12]], ids=[IDS[5], IDS[9], IDS[12]]
)
def test_groups_lr_changes_and_missing_grads_match_torch(name, kwargs, device):
    """Two groups with their own hyper-parameters, a learning rate changed mid-run through
    param_groups, and parameters whose grad is None on some steps (skipped, as in torch)."""
    shapes = [(4, 3), (3,), (2, 2)]
    params, tparams = _pair(shapes, np.float64, device)
    override = {"lr": kwargs["lr"] / 2, "weight_decay": 0.05}
    opt = getattr(optim, name)(
        [{"params": params[:2]}, {"params": params[2:], **override}], **kwargs
    )
    topt = getattr(torch.optim, name)(
        [{"params": tparams[:2]}, {"params": tparams[2:], **override}], **kwargs
    )
    for step, grads in enumerate(_grads(shapes, np.float64, 7)):
        if step % 3 == 1:
            grads[1] = None  # no gradient this step: skipped
        if step == 4:
            for group, tgroup in zip(opt.param_groups, topt.param_groups):
                group["lr"] = tgroup["lr"] = group["lr"] * 0.3
        _set_grads(params, tparams, grads, device)
        opt.step()
        topt.step()
    _assert_close(params, tparams, np.float64)


def test_parameter_without_grad_is_skipped_and_has_no_state(device):
    w = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    u = gg.tensor([3.0], device=device, requires_grad=True)
    for opt in (optim.SGD([w, u], lr=0.1, momentum=0.9, weight_decay=0.1), optim.AdamW([w, u])):
        w.grad = gg.tensor([0.5, 0.5], device=device)
        opt.step()
        assert u.numpy().tolist() == [3.0]
        assert list(opt.state_dict()["state"]) == [0]


@pytest.mark.parametrize(
    "make",
    [
        lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.1),
        lambda p: optim.Adam(p, lr=0.1, weight_decay=0.1),
        lambda p: optim.AdamW(p, lr=0.1, weight_decay=0.1),
    ],
    ids=["sgd", "adam", "adamw"],
)
def test_step_never_writes_the_gradient(make, device):
    """The gradient may alias other arrays (here: a view of a bigger one), so it is only read."""
    big = gg.tensor(np.arange(12.0).reshape(3, 4) / 7, device=device)
    w = gg.tensor(np.ones(4), device=device, requires_grad=True)
    w.grad = gg.Tensor(big.data[1])  # a view into big's array
    before = big.numpy().copy()
    opt = make([w])
    for _ in range(3):
        opt.step()
    np.testing.assert_array_equal(big.numpy(), before)
    assert not np.array_equal(w.numpy(), np.ones(4))


def test_zero_grad_sets_none_or_fresh_zeros(device):
    w = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    opt = optim.SGD([w], lr=0.1)
    g = gg.tensor([3.0, 4.0], device=device)
    w.grad = g
    opt.zero_grad(set_to_none=False)
    assert w.grad is not g and w.grad.numpy().tolist() == [0.0, 0.0]
    assert g.numpy().tolist() == [3.0, 4.0]  # never zeroed in place
    opt.zero_grad()
    assert w.grad is None


def test_closure_is_called_and_its_loss_returned(device):
    w = gg.tensor([1.0, -2.0], device=device, requires_grad=True)
    opt = optim.SGD([w], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with gg.no_grad():
        loss = opt.step(closure)  # grad mode is on inside the closure
    assert loss.item() == 5.0
    assert w.numpy().tolist() == [0.5, -1.0]


def test_float32_parameter_with_float64_gradient(device):
    """The gradient is converted to the parameter's dtype (as the CUDA kernel does)."""
    w = gg.tensor(np.ones(3, np.float32), device=device, requires_grad=True)
    w.grad = gg.tensor(np.full(3, 0.5), device=device)
    optim.Adam([w], lr=0.1).step()
    assert w.dtype == np.float32
    np.testing.assert_allclose(w.numpy(), np.full(3, 0.9, np.float32), rtol=1e-6)


# -- state dicts -----------------------------------------------------------------------------
def test_state_dict_layout_is_torchs():
    params, tparams = _pair([(2, 3), (3,)], np.float64, "cpu")
    for name, kwargs in [("SGD", dict(lr=0.1, momentum=0.9)), ("Adam", {}), ("AdamW", {})]:
        opt = getattr(optim, name)(params, **kwargs)
        topt = getattr(torch.optim, name)(tparams, **kwargs)
        for p, tp in zip(params, tparams):
            p.grad, tp.grad = (
                gg.ones(*p.shape, dtype="float64"),
                torch.ones(tp.shape, dtype=torch.float64),
            )
        opt.step()
        topt.step()
        ours, theirs = opt.state_dict(), topt.state_dict()
        assert set(ours["state"]) == set(theirs["state"]) == {0, 1}
        assert set(theirs["state"][0]) <= set(ours["state"][0]) | {"step"}
        for key, value in theirs["state"][1].items():
            if isinstance(value, torch.Tensor) and value.ndim:
                np.testing.assert_allclose(ours["state"][1][key].numpy(), value.numpy(), rtol=1e-12)
        assert ours["state"][0]["step"] == 1
        assert [g["params"] for g in ours["param_groups"]] == [[0, 1]]
        assert set(opt.defaults) <= set(theirs["param_groups"][0])
        for key in opt.defaults:
            assert ours["param_groups"][0][key] == theirs["param_groups"][0][key]


@pytest.mark.parametrize("through_file", [False, True], ids=["in-memory", "gg.save/gg.load"])
@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=IDS)
def test_state_dict_round_trip_continues_identically(name, kwargs, through_file, device, tmp_path):
    shapes = [(3, 4), (5,)]
    grads = _grads(shapes, np.float32, 6)

    def run(split):
        params, _ = _pair(shapes, np.float32, device)
        opt = getattr(optim, name)(params, **kwargs)
        for i, step_grads in enumerate(grads):
            if i == split:  # a new process would do this
                state = opt.state_dict()
                if through_file:
                    gg.save({"optimizer": state}, tmp_path / "opt.ggt")
                    state = gg.load(tmp_path / "opt.ggt", device=device)["optimizer"]
                params = [gg.tensor(p.numpy(), device=device, requires_grad=True) for p in params]
                opt = getattr(optim, name)(params, lr=123.0)  # hyper-parameters come back too
                opt.load_state_dict(state)
            for p, g in zip(params, step_grads):
                p.grad = gg.tensor(g, device=device)
            opt.step()
        return [p.numpy() for p in params], opt.state_dict()

    straight, straight_state = run(split=None)
    resumed, resumed_state = run(split=3)
    for a, b in zip(straight, resumed):
        np.testing.assert_array_equal(a, b)
    assert straight_state["param_groups"] == resumed_state["param_groups"]


def test_loaded_state_is_a_copy():
    w = gg.tensor([1.0, 2.0], requires_grad=True)
    a = optim.SGD([w], lr=0.1, momentum=0.9)
    w.grad = gg.tensor([1.0, 1.0])
    a.step()
    v = gg.tensor(w.numpy(), requires_grad=True)
    b = optim.SGD([v], lr=0.1, momentum=0.9)
    b.load_state_dict(a.state_dict())
    v.grad = gg.tensor([1.0, 1.0])
    b.step()
    np.testing.assert_array_equal(a.state_dict()["state"][0]["momentum_buffer"].numpy(), [1.0, 1.0])


def _trained(make, device="cpu"):
    params = [
        gg.tensor(np.ones((2, 2)), device=device, requires_grad=True),
        gg.tensor(np.ones(3), device=device, requires_grad=True),
    ]
    opt = make(params)
    for p in params:
        p.grad = gg.ones(*p.shape, dtype="float64", device=device)
    opt.step()
    return params, opt


def _snapshot(opt):
    state = {
        k: {n: (v.copy() if hasattr(v, "copy") else v) for n, v in s.items()}
        for k, s in opt.state.items()
    }
    return [dict(g) for g in opt.param_groups], state


def _bad_state_dicts(good):
    def edit(fn):
        import copy

        sd = copy.deepcopy(good)
        fn(sd)
        return sd

    yield "not a dict", [1, 2], "'state' and 'param_groups'"
    yield "no groups", {"state": {}}, "'state' and 'param_groups'"
    yield (
        "two groups",
        edit(lambda s: s["param_groups"].append(dict(s["param_groups"][0]))),
        "2 parameter groups",
    )
    yield "group size", edit(lambda s: s["param_groups"][0]["params"].pop()), "1 parameters"
    yield "repeated index", edit(lambda s: s["param_groups"][0].update(params=[0, 0])), "repeated"
    yield "negative lr", edit(lambda s: s["param_groups"][0].update(lr=-1.0)), "lr"
    yield "bad betas", edit(lambda s: s["param_groups"][0].update(betas=(1.5, 0.9))), "betas"
    yield "other optimizer", edit(lambda s: s["param_groups"][0].pop("betas")), "betas"
    yield (
        "unknown param",
        edit(lambda s: s["state"].update({7: {"step": 1}})),
        "unknown parameter 7",
    )
    yield (
        "unknown buffer",
        edit(lambda s: s["state"][0].update(momentum_buffer=s["state"][0]["exp_avg"])),
        "momentum_buffer",
    )
    yield (
        "wrong shape",
        edit(lambda s: s["state"][1].update(exp_avg=gg.zeros(4, dtype="float64"))),
        "shape",
    )
    yield (
        "int buffer",
        edit(lambda s: s["state"][1].update(exp_avg=gg.zeros(3, dtype="int64"))),
        "dtype",
    )
    yield (
        "not a tensor",
        edit(lambda s: s["state"][1].update(exp_avg=[0.0, 0.0, 0.0])),
        "not a tensor",
    )
    yield "half the moments", edit(lambda s: s["state"][1].pop("exp_avg_sq")), "exp_avg_sq"
    yield "negative step", edit(lambda s: s["state"][1].update(step=-2)), "step"
    yield "string step", edit(lambda s: s["state"][1].update(step="3")), "step"


def test_load_state_dict_checks_everything_before_assigning():
    _, source = _trained(lambda p: optim.Adam(p, lr=0.01))
    good = source.state_dict()
    params, target = _trained(lambda p: optim.Adam(p, lr=0.5, betas=(0.5, 0.6)))
    before_groups, before_state = _snapshot(target)
    for label, bad, message in _bad_state_dicts(good):
        with pytest.raises(ValueError, match=message):
            target.load_state_dict(bad)
        groups, state = _snapshot(target)
        assert groups == before_groups, label
        assert state.keys() == before_state.keys(), label
        for key in state:
            for name, value in state[key].items():
                np.testing.assert_array_equal(value, before_state[key][name], err_msg=label)
    target.load_state_dict(good)
    assert target.param_groups[0]["lr"] == 0.01 and target.param_groups[0]["params"] == params


def test_sgd_state_dict_into_adam_is_refused():
    _, sgd = _trained(lambda p: optim.SGD(p, lr=0.1, momentum=0.9))
    _, adam = _trained(lambda p: optim.Adam(p))
    with pytest.raises(ValueError, match="another kind of optimizer"):
        adam.load_state_dict(sgd.state_dict())


# -- bad construction ------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: optim.SGD(p, lr=-0.1), "lr"),
        (lambda p: optim.SGD(p, lr=float("nan")), "lr"),
        (lambda p: optim.SGD(p, lr="0.1"), "lr"),
        (lambda p: optim.SGD(p, lr=0.1, momentum=-0.1), "momentum"),
        (lambda p: optim.SGD(p, lr=0.1, momentum=1.0), "momentum"),
        (lambda p: optim.SGD(p, lr=0.1, momentum=1.5), "momentum"),
        (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "nesterov"),
        (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov="yes"), "nesterov"),
        (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1e-4), "weight_decay"),
        (lambda p: optim.Adam(p, lr=-1e-3), "lr"),
        (lambda p: optim.Adam(p, betas=(1.0, 0.999)), r"betas\[0\]"),
        (lambda p: optim.Adam(p, betas=(-0.1, 0.999)), r"betas\[0\]"),
        (lambda p: optim.Adam(p, betas=(0.9, 1.0)), r"betas\[1\]"),
        (lambda p: optim.Adam(p, betas=(0.9,)), "betas"),
        (lambda p: optim.Adam(p, eps=-1e-8), "eps"),
        (lambda p: optim.AdamW(p, weight_decay=-0.01), "weight_decay"),
        (lambda p: optim.AdamW([{"params": p, "betas": (0.9, 2.0)}]), r"betas\[1\]"),
        (lambda p: optim.SGD([], lr=0.1), "empty"),
        (lambda p: optim.SGD(p + p, lr=0.1), "more than once"),
        (lambda p: optim.SGD(p * 2, lr=0.1), "more than once"),
        (lambda p: optim.SGD([p[0] * 2], lr=0.1), "non-leaf"),
    ],
)
def test_bad_hyper_parameters_raise_value_error_naming_them(make, message):
    with pytest.raises(ValueError, match=message):
        make([gg.tensor([1.0], requires_grad=True)])


def test_params_must_be_tensors_in_an_iterable():
    w = gg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="single Tensor"):
        optim.SGD(w, lr=0.1)
    with pytest.raises(TypeError, match="ndarray"):
        optim.SGD([np.ones(2)], lr=0.1)
    opt = optim.SGD([w], lr=0.1)
    with pytest.raises(ValueError, match="more than once"):
        opt.add_param_group({"params": [w]})
    v = gg.tensor([1.0], requires_grad=True)
    opt.add_param_group({"params": v, "lr": 0.5})  # a lone Tensor in a group is fine
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["params"] == [v]
    assert "Parameter Group 1" in repr(opt)


def test_a_bad_gradient_changes_nothing(device):
    w = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    u = gg.tensor([3.0, 4.0], device=device, requires_grad=True)
    opt = optim.SGD([w, u], lr=0.1, momentum=0.9)
    w.grad = gg.tensor([1.0, 1.0], device=device)
    u.grad = gg.tensor([1.0, 1.0, 1.0], device=device)  # wrong shape, after a good one
    with pytest.raises(ValueError, match=r"shape \(3,\)"):
        opt.step()
    assert w.numpy().tolist() == [1.0, 2.0] and opt.state == {}
    u.grad = gg.tensor([1, 1], device=device)  # integer gradient
    with pytest.raises(TypeError, match="int64"):
        opt.step()
    assert w.numpy().tolist() == [1.0, 2.0] and opt.state == {}


def test_adam_first_step_size_is_lr():
    """A sanity check independent of torch: Adam's first step moves each coordinate by
    lr·sign(g) (up to eps), whatever the gradient's scale."""
    w = gg.tensor(np.zeros(4), requires_grad=True)
    w.grad = gg.tensor([1e-3, -5.0, 200.0, -1e-6])
    optim.Adam([w], lr=0.01, eps=1e-12).step()
    np.testing.assert_allclose(w.numpy(), [-0.01, 0.01, -0.01, 0.01], rtol=1e-5)
    assert math.isclose(optim.AdamW([w]).defaults["weight_decay"], 1e-2)


def test_step_bumps_the_version_so_a_stale_graph_refuses_backward(device):
    w = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    loss = (w * w).sum()  # saves w for its backward
    loss.backward(retain_graph=True)
    optim.SGD([w], lr=0.1).step()
    with pytest.raises(RuntimeError, match="version"):
        loss.backward()
