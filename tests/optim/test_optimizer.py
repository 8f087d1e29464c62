"""What every optimizer shares (gpugrad/optim/optimizer.py): parameter groups with their own
hyper-parameters, learning rates changed mid-run and missing gradients, as torch.optim;
updates that never write the gradient; zero_grad, closures, dtype conversion; state dicts in
torch's layout, loaded as copies after every entry is checked; bad parameters and
gradients that change nothing.  Each optimizer's own numbers: test_sgd.py, test_adam.py."""

import numpy as np
import pytest
import torch
from optimspec import assert_close, config_ids, pair, random_grads, set_grads

import gpugrad as gg
from gpugrad import optim

GROUP_CONFIGS = [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=0.1)),
    ("AdamW", dict(lr=0.02, weight_decay=0.3, betas=(0.85, 0.95))),
]


# -- parameter groups and steps ----------------------------------------------------------------
@pytest.mark.parametrize("name, kwargs", GROUP_CONFIGS, ids=config_ids(GROUP_CONFIGS))
def test_groups_lr_changes_and_missing_grads_match_torch(name, kwargs, device):
    """Two groups with their own hyper-parameters, a learning rate changed mid-run through
    param_groups, and parameters whose grad is None on some steps (skipped, as in torch)."""
    shapes = [(4, 3), (3,), (2, 2)]
    params, tparams = pair(shapes, np.float64, device)
    override = {"lr": kwargs["lr"] / 2, "weight_decay": 0.05}
    opt = getattr(optim, name)(
        [{"params": params[:2]}, {"params": params[2:], **override}], **kwargs
    )
    topt = getattr(torch.optim, name)(
        [{"params": tparams[:2]}, {"params": tparams[2:], **override}], **kwargs
    )
    for step, step_grads in enumerate(random_grads(shapes, np.float64, 7)):
        if step % 3 == 1:
            step_grads[1] = None  # no gradient this step: skipped
        if step == 4:
            for group, tgroup in zip(opt.param_groups, topt.param_groups):
                group["lr"] = tgroup["lr"] = group["lr"] * 0.3
        set_grads(params, tparams, step_grads, device)
        opt.step()
        topt.step()
    assert_close(params, tparams, np.float64)


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
    w.grad = gg.Tensor(big.array[1])  # a view into big's array
    before = big.numpy().copy()
    opt = make([w])
    for _ in range(3):
        opt.step()
    np.testing.assert_array_equal(big.numpy(), before)
    assert not np.array_equal(w.numpy(), np.ones(4))


def test_zero_grad_zeroes_in_place_or_sets_none_as_torch(device):
    """set_to_none=False zeroes the very gradient Tensor (and array) in place, which then
    persists: backward accumulates into it; set_to_none=True (the default) drops it."""
    w = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    tw = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    opt, topt = optim.SGD([w], lr=0.1), torch.optim.SGD([tw], lr=0.1)
    g, tg = gg.tensor([3.0, 4.0], device=device), torch.tensor([3.0, 4.0], dtype=torch.float64)
    w.grad, tw.grad = g, tg
    array = g.array
    opt.zero_grad(set_to_none=False)
    topt.zero_grad(set_to_none=False)
    assert tw.grad is tg and w.grad is g and g.array is array
    assert g.numpy().tolist() == tg.tolist() == [0.0, 0.0]
    (w * w).sum().backward()
    (tw * tw).sum().backward()
    assert w.grad.array is array and tw.grad is tg  # accumulated into the same buffer
    np.testing.assert_array_equal(w.grad.numpy(), tw.grad.numpy())
    opt.zero_grad()
    topt.zero_grad()
    assert w.grad is None and tw.grad is None


@pytest.mark.filterwarnings("ignore:Using backward\\(\\) with create_graph")
def test_zero_grad_detaches_or_stops_requiring_grad_as_torch(device):
    """A gradient with a grad_fn (create_graph=True) is detached; one that requires grad
    stops requiring it; both are zeroed in place, keeping their array."""
    w = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    tw = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    (w * w * w).sum().backward(create_graph=True)
    (tw * tw * tw).sum().backward(create_graph=True)
    assert w.grad.grad_fn is not None and tw.grad.grad_fn is not None
    array = w.grad.array
    optim.SGD([w], lr=0.1).zero_grad(set_to_none=False)
    torch.optim.SGD([tw], lr=0.1).zero_grad(set_to_none=False)
    assert w.grad.grad_fn is None and tw.grad.grad_fn is None
    assert w.grad.array is array and w.grad.numpy().tolist() == tw.grad.tolist() == [0.0, 0.0]
    w.grad = gg.tensor([5.0, 6.0], device=device, requires_grad=True)
    tw.grad = torch.tensor([5.0, 6.0], dtype=torch.float64, requires_grad=True)
    optim.SGD([w], lr=0.1).zero_grad(set_to_none=False)
    torch.optim.SGD([tw], lr=0.1).zero_grad(set_to_none=False)
    assert w.grad.requires_grad is tw.grad.requires_grad is False
    assert w.grad.numpy().tolist() == tw.grad.tolist() == [0.0, 0.0]


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


def test_step_bumps_the_version_so_a_stale_graph_refuses_backward(device):
    w = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    loss = (w * w).sum()  # saves w for its backward
    loss.backward(retain_graph=True)
    optim.SGD([w], lr=0.1).step()
    with pytest.raises(RuntimeError, match="version"):
        loss.backward()


# -- state dicts -----------------------------------------------------------------------------
def test_state_dict_layout_is_torchs():
    params, tparams = pair([(2, 3), (3,)], np.float64, "cpu")
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


# -- bad construction and bad gradients -------------------------------------------------------
@pytest.mark.parametrize(
    "make, message",
    [
        (lambda p: optim.SGD([], lr=0.1), "empty"),
        (lambda p: optim.SGD(p + p, lr=0.1), "more than once"),
        (lambda p: optim.SGD(p * 2, lr=0.1), "more than once"),
        (lambda p: optim.SGD([p[0] * 2], lr=0.1), "non-leaf"),
    ],
)
def test_bad_parameter_lists_raise_value_error(make, message):
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
