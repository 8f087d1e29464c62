"""Learning-rate schedules (gpugrad/optim/lr_scheduler.py and its parts) against
torch.optim.lr_scheduler: every schedule's lrs (and OneCycleLR's momenta) over many steps on
two parameter groups, to 1e-12; ReduceLROnPlateau over a metric with plateaus; state dicts
that resume a schedule identically (in memory and through gg.save); the deprecated
step(epoch); bad arguments that raise errors naming them."""

import math
import warnings

import numpy as np
import pytest
import torch
from optimspec import config_ids

import gpugrad as gg
from gpugrad import optim
from gpugrad.optim import lr_scheduler

LRS = (0.1, 0.05)  # two parameter groups
STEPS = 40

SCHEDULES = (
    ("StepLR", dict(step_size=3)),
    ("StepLR", dict(step_size=5, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 11], gamma=0.3)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=10)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=1e-3)),  # several periods, up and down
    ("LambdaLR", dict(lr_lambda=lambda epoch: 1 / (1 + epoch))),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=STEPS)),
    ("OneCycleLR", dict(max_lr=[1.0, 0.5], total_steps=STEPS, anneal_strategy="linear")),
    ("OneCycleLR", dict(max_lr=0.3, epochs=4, steps_per_epoch=10, three_phase=True)),
    ("OneCycleLR", dict(max_lr=0.3, total_steps=STEPS, pct_start=0.5, cycle_momentum=False)),
)
OPTIMIZERS = (("SGD", dict(momentum=0.9)), ("Adam", dict()))


def make_pair(opt_name="SGD", opt_kwargs=None):
    """The same two-group optimizer in gpugrad and torch."""
    opt_kwargs = dict(momentum=0.9) if opt_kwargs is None else opt_kwargs
    ours = [gg.tensor(np.ones(2), requires_grad=True) for _ in LRS]
    theirs = [torch.ones(2, requires_grad=True) for _ in LRS]
    opt = getattr(optim, opt_name)(
        [{"params": [p], "lr": lr} for p, lr in zip(ours, LRS)], **opt_kwargs
    )
    topt = getattr(torch.optim, opt_name)(
        [{"params": [p], "lr": lr} for p, lr in zip(theirs, LRS)], **opt_kwargs
    )
    return opt, topt


def momenta(opt):
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]


def assert_same_schedule(opt, topt, sched, tsched):
    np.testing.assert_allclose(sched.get_last_lr(), tsched.get_last_lr(), rtol=1e-12, atol=0)
    np.testing.assert_allclose([g["lr"] for g in opt.param_groups], tsched.get_last_lr(), 1e-12)
    np.testing.assert_allclose(momenta(opt), momenta(topt), rtol=1e-12, atol=0)
    assert sched.last_epoch == tsched.last_epoch


@pytest.mark.parametrize("opt_name, opt_kwargs", OPTIMIZERS, ids=config_ids(OPTIMIZERS))
@pytest.mark.parametrize("name, kwargs", SCHEDULES, ids=config_ids(SCHEDULES))
def test_schedule_matches_torch(name, kwargs, opt_name, opt_kwargs):
    opt, topt = make_pair(opt_name, opt_kwargs)
    sched = getattr(lr_scheduler, name)(opt, **kwargs)
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    assert sched.base_lrs == pytest.approx(tsched.base_lrs, rel=1e-15)
    assert [g["initial_lr"] for g in opt.param_groups] == [
        g["initial_lr"] for g in topt.param_groups
    ]
    assert_same_schedule(opt, topt, sched, tsched)
    for _ in range(STEPS if name == "OneCycleLR" else 3 * STEPS // 2):
        opt.step()
        topt.step()
        sched.step()
        tsched.step()
        assert_same_schedule(opt, topt, sched, tsched)


def test_cosine_follows_an_lr_changed_by_hand_as_torch():
    opt, topt = make_pair()
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=10, eta_min=0.01)
    tsched = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=10, eta_min=0.01)
    for epoch in range(25):
        if epoch == 6:
            opt.param_groups[0]["lr"] = topt.param_groups[0]["lr"] = 0.5
        opt.step(), topt.step(), sched.step(), tsched.step()
        assert_same_schedule(opt, topt, sched, tsched)


PLATEAUS = (
    dict(),
    dict(mode="max", factor=0.5, patience=2),
    dict(patience=1, threshold=0.05, threshold_mode="abs", cooldown=2),
    dict(mode="max", patience=0, threshold_mode="abs", min_lr=[0.01, 0.02]),
    dict(factor=0.5, patience=1, min_lr=0.02, eps=1e-3),
)


@pytest.mark.parametrize("kwargs", PLATEAUS, ids=[str(k) for k in PLATEAUS])
def test_reduce_lr_on_plateau_matches_torch(kwargs):
    opt, topt = make_pair()
    sched = lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    tsched = torch.optim.lr_scheduler.ReduceLROnPlateau(topt, **kwargs)
    metrics = np.random.default_rng(0).standard_normal(60).cumsum() * 0.1  # rises and falls
    for i, m in enumerate(np.concatenate([metrics, np.full(20, metrics[-1])])):
        opt.step(), topt.step()
        sched.step(gg.tensor(m) if i % 2 else float(m))
        tsched.step(float(m))
        assert sched.get_last_lr() == tsched.get_last_lr()
        assert (sched.best, sched.num_bad_epochs, sched.cooldown_counter, sched.last_epoch) == (
            tsched.best,
            tsched.num_bad_epochs,
            tsched.cooldown_counter,
            tsched.last_epoch,
        )


RESUMED = (
    ("StepLR", dict(step_size=3)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 11])),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=1e-3)),
    ("LambdaLR", dict(lr_lambda=lambda epoch: 0.9**epoch)),
    ("OneCycleLR", dict(max_lr=1.0, total_steps=20, three_phase=True)),
    ("ReduceLROnPlateau", dict(patience=1, cooldown=1)),
)


@pytest.mark.parametrize("through_file", [False, True], ids=["in-memory", "gg.save/gg.load"])
@pytest.mark.parametrize("name, kwargs", RESUMED, ids=config_ids(RESUMED))
def test_state_dict_round_trip_resumes_identically(name, kwargs, through_file, tmp_path):
    """Stopped at step 8, optimizer and scheduler state loaded into fresh ones, the schedule
    goes on as the one that never stopped; the state dict has torch's keys."""
    metric = [1.0, 0.9, 0.95, 0.97, 0.99, 0.5, 0.6, 0.7, 0.8, 0.9] * 2
    step = (
        (lambda s, i: s.step(metric[i])) if name == "ReduceLROnPlateau" else lambda s, i: s.step()
    )

    def run(split):
        opt, _ = make_pair()
        sched = getattr(lr_scheduler, name)(opt, **kwargs)
        lrs = []
        for i in range(19):
            if i == split:
                state = {"optimizer": opt.state_dict(), "scheduler": sched.state_dict()}
                if through_file:
                    gg.save(state, tmp_path / "ckpt.ggt")
                    state = gg.load(tmp_path / "ckpt.ggt")
                opt, _ = make_pair()
                opt.load_state_dict(state["optimizer"])
                sched = getattr(lr_scheduler, name)(opt, **kwargs)
                sched.load_state_dict(state["scheduler"])
            opt.step()
            step(sched, i)
            lrs.append(sched.get_last_lr() + momenta(opt))
        return lrs

    assert run(split=8) == run(split=None)
    opt, topt = make_pair()
    tsched = getattr(torch.optim.lr_scheduler, name)(topt, **kwargs)
    ours = set(getattr(lr_scheduler, name)(opt, **kwargs).state_dict())
    assert ours <= set(tsched.state_dict())


def test_lambda_lr_state_dict_keeps_a_callable_objects_attributes_not_functions():
    class Warmup:
        def __init__(self):
            self.steps = 4

        def __call__(self, epoch):
            return min(1.0, (epoch + 1) / self.steps)

    opt, _ = make_pair()
    warmup = Warmup()
    sched = lr_scheduler.LambdaLR(opt, [warmup, lambda e: 1.0])
    warmup.steps = 10
    state = sched.state_dict()
    assert state["lr_lambdas"] == [{"steps": 10}, None]
    other = Warmup()
    lr_scheduler.LambdaLR(make_pair()[0], [other, lambda e: 1.0]).load_state_dict(state)
    assert other.steps == 10


def test_a_torch_state_dict_loads():
    opt, topt = make_pair()
    tsched = torch.optim.lr_scheduler.StepLR(topt, step_size=2)
    for _ in range(5):
        topt.step(), tsched.step()
    sched = lr_scheduler.StepLR(opt, step_size=2)
    sched.load_state_dict(tsched.state_dict())
    assert sched.last_epoch == 5 and sched.get_last_lr() == tsched.get_last_lr()


def test_step_with_epoch_uses_the_closed_form_and_warns_as_torch():
    opt, topt = make_pair()
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=10)
    tsched = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=10)
    opt.step(), topt.step()
    with pytest.warns(UserWarning, match="deprecated"):
        sched.step(7)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tsched.step(7)
    assert sched.get_last_lr() == pytest.approx(tsched.get_last_lr(), rel=1e-12)


def test_stepping_the_scheduler_before_the_optimizer_warns():
    opt, _ = make_pair()
    sched = lr_scheduler.StepLR(opt, step_size=1)
    with pytest.warns(UserWarning, match="before `optimizer.step"):
        sched.step()


def test_resuming_with_last_epoch_needs_initial_lr():
    opt, _ = make_pair()
    with pytest.raises(KeyError, match="initial_lr"):
        lr_scheduler.StepLR(opt, step_size=2, last_epoch=3)
    lr_scheduler.StepLR(opt, step_size=2)  # records initial_lr
    assert lr_scheduler.StepLR(opt, step_size=2, last_epoch=3).last_epoch == 4


BAD_ARGUMENTS = (
    (lambda o: lr_scheduler.StepLR(o, step_size=0), "step_size"),
    (lambda o: lr_scheduler.StepLR(o, step_size=2.5), "step_size"),
    (lambda o: lr_scheduler.StepLR(o, step_size=2, gamma=-0.1), "gamma"),
    (lambda o: lr_scheduler.StepLR(o, step_size=2, last_epoch=-2), "last_epoch"),
    (lambda o: lr_scheduler.MultiStepLR(o, milestones=[2, -1]), r"milestones\[1\]"),
    (lambda o: lr_scheduler.MultiStepLR(o, milestones=3), "milestones"),
    (lambda o: lr_scheduler.ExponentialLR(o, gamma=math.nan), "gamma"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=0), "T_max"),
    (lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=5, eta_min=-1.0), "eta_min"),
    (lambda o: lr_scheduler.LambdaLR(o, [lambda e: 1.0]), "lr_lambda"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1), "total_steps"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=0), "total_steps"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, epochs=2, steps_per_epoch=0), "steps_per"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=[0.1], total_steps=5), "max_lr"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=-0.1, total_steps=5), "max_lr"),
    (lambda o: lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=5, pct_start=1.5), "pct_start"),
    (lambda o: lr_scheduler.OneCycleLR(o, 0.1, 5, anneal_strategy="step"), "anneal_strategy"),
    (lambda o: lr_scheduler.OneCycleLR(o, 0.1, 5, div_factor=0), "div_factor"),
    (lambda o: lr_scheduler.OneCycleLR(o, 0.1, 5, max_momentum=1.5), "max_momentum"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, mode="lowest"), "mode"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, factor=1.0), "factor"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, patience=-1), "patience"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, threshold_mode="pct"), "threshold_mode"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, cooldown=1.5), "cooldown"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, min_lr=[0.0]), "min_lr"),
    (lambda o: lr_scheduler.ReduceLROnPlateau(o, eps=-1.0), "eps"),
)


@pytest.mark.parametrize("make, message", BAD_ARGUMENTS)
def test_bad_arguments_raise_value_error_naming_them(make, message):
    opt, _ = make_pair()
    before = [dict(g) for g in opt.param_groups]
    with pytest.raises(ValueError, match=message):
        make(opt)
    assert [dict(g) for g in opt.param_groups] == before  # nothing written


def test_others_raise_type_errors():
    with pytest.raises(TypeError, match="optimizer"):
        lr_scheduler.StepLR(torch.optim.SGD([torch.ones(1, requires_grad=True)]), 2)
    with pytest.raises(TypeError, match="lr_lambda"):
        lr_scheduler.LambdaLR(make_pair()[0], lr_lambda=0.5)
    with pytest.raises(ValueError, match="cycle_momentum"):
        lr_scheduler.OneCycleLR(optim.Adagrad([gg.tensor([1.0], requires_grad=True)]), 0.1, 5)
    with pytest.raises(ValueError, match="total_steps"):
        opt, _ = make_pair()
        sched = lr_scheduler.OneCycleLR(opt, 0.1, 3)
        for _ in range(4):
            opt.step(), sched.step()
