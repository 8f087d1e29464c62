"""gg.compile fuses ``act(linear(x, W, b))`` written in a user's module as nn.Sequential
does (gpugrad/plan_fusion.py): the replay gives the eager numbers bit for bit, and on the
CUDA code path it issues the Sequential's launches; what the rewrite cannot prove safe
stays unfused."""

import itertools

import cuda_standin
import numpy as np
import pytest
import test_step_counts
from test_step_counts import BATCH, MODEL_PHASES, OPTIMIZER_STEP

import gpugrad as gg
import gpugrad.functional as F
from gpugrad import nn, optim
from gpugrad.ops.linear import LinearFunction

# the counting stand-in's fixtures
standin_kernels, counts = test_step_counts.standin_kernels, test_step_counts.counts


class UserMLP(nn.Module):
    """The MLP as users write it: the activations as functions in ``forward``."""

    def __init__(self, widths=(64, 32, 32, 10), forward=None):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = (nn.Linear(a, b) for a, b in itertools.pairwise(widths))
        self.body = forward

    def forward(self, x):
        if self.body is not None:
            return self.body(self, x)
        return self.fc3(F.leaky_relu(self.fc2(F.relu(self.fc1(x))), 0.1))


def _data(device="cpu"):
    rng = np.random.default_rng(0)
    x = gg.tensor(rng.standard_normal((BATCH, 64)).astype(np.float32), device=device)
    return x, gg.tensor(rng.integers(0, 10, BATCH), device=device)


def _train(compiled: bool, forward=None, opt_name="sgd", steps=12):
    """Losses, parameters and the compiled step after ``steps`` steps of a UserMLP."""
    gg.manual_seed(0)
    model = UserMLP(forward=forward)
    if opt_name == "sgd":
        opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-4)
    else:
        opt = optim.Adam(model.parameters(), lr=1e-3)
    x, y = _data()

    def step(xb, yb):
        opt.zero_grad()
        out = model(xb)
        loss = F.cross_entropy(out.reshape(BATCH, 10), yb)
        loss.backward()
        opt.step()
        return loss

    run = gg.compile(step) if compiled else step
    losses = [run(x, y).item() for _ in range(steps)]
    return losses, [p.detach().numpy().copy() for p in model.parameters()], run


def _fused_nodes(run) -> list:
    """The names of the plan's forward nodes (a linear without bias: "Linear/2")."""
    (plan,) = run.plans.values()
    names = []
    for event in plan.events:
        node = getattr(event, "node", None)
        if isinstance(node, LinearFunction):
            names.append(f"Linear/{len(event.refs)}")
        elif node is not None:
            names.append(type(node).__name__)
    return names


def _assert_replay_is_eager(forward=None, opt_name="sgd") -> list:
    eager_losses, eager, _ = _train(False, forward, opt_name)
    losses, params, run = _train(True, forward, opt_name)
    assert losses == eager_losses
    for a, b in zip(params, eager, strict=True):
        np.testing.assert_array_equal(a, b)
    return _fused_nodes(run)


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_a_user_modules_linear_and_activation_replay_fused_with_eagers_numbers(opt_name):
    nodes = _assert_replay_is_eager(opt_name=opt_name)
    assert nodes[:5] == ["Linear/2", "BiasActivation", "Linear/2", "BiasActivation", "Linear/3"]


def _returns_the_pre_activation_too(m, x):
    h = m.fc1(x)
    return m.fc3(m.fc2(F.relu(h))) + 0 * h.sum()


def _shares_a_bias(m, x):
    return m.fc3(F.relu(F.linear(F.relu(m.fc1(x)), m.fc2.weight, m.fc1.bias)))


def _three_dimensional(m, x):
    return m.fc3(F.relu(m.fc2(F.relu(m.fc1(x.reshape(BATCH // 2, 2, 64))))))


def _no_bias(m, x):
    return m.fc3(F.relu(F.linear(F.relu(m.fc1(x)), m.fc2.weight)))


@pytest.mark.parametrize(
    "forward, expected",
    [
        # h has a second reader
        (_returns_the_pre_activation_too, ["Linear/3", "Activation", "Linear/3", "Linear/3"]),
        # fc1 and fc2 add the same bias: its gradient's sum order must stay eager's
        (_shares_a_bias, ["Linear/3", "Activation", "Linear/3", "Activation", "Linear/3"]),
        # (4, 2, C): the fused bias gradient would sum over two axes at once
        (_three_dimensional, ["Reshape", "Linear/3", "Activation", "Linear/3", "Activation"]),
        # no bias to fuse
        (_no_bias, ["Linear/2", "BiasActivation", "Linear/2", "Activation", "Linear/3"]),
    ],
    ids=["read-twice", "shared-bias", "3d", "no-bias"],
)
def test_what_the_rewrite_cannot_prove_safe_stays_unfused(forward, expected):
    nodes = _assert_replay_is_eager(forward)
    assert nodes[: len(expected)] == expected


def test_a_step_between_the_linear_and_its_activation_keeps_them_apart():
    """An optimizer step between them changes the bias: the activation must see the
    linear's output as computed before it."""
    gg.manual_seed(0)
    model = UserMLP()
    opt = optim.SGD(model.parameters(), lr=0.1)
    x, y = _data()

    def step(xb, yb):
        h = model.fc1(xb)
        opt.step()  # the gradients of the previous call
        loss = F.cross_entropy(model.fc3(model.fc2(F.relu(h))), yb)
        opt.zero_grad()
        loss.backward()
        return loss

    run = gg.compile(step)
    for _ in range(4):
        run(x, y)
    assert _fused_nodes(run)[:2] == ["Linear/3", "Activation"]


def _relu_mlp(m, x):
    return m.fc3(F.relu(m.fc2(F.relu(m.fc1(x)))))


# -- on the CUDA code path (tests/cuda_standin.py) ----------------------------------------------
def _replay_events(counts, compiled, x, y) -> list:
    for _ in range(3):  # eager warm-up, recording, a first replay
        compiled(x, y)
    with cuda_standin.recording(counts) as events:
        compiled(x, y)
    return events


def test_a_replayed_user_module_issues_the_sequentials_launches(counts):
    """The compiled user-module MLP, one replay, against the eager nn.Sequential step of
    tests/test_step_counts.py (SGD, gradients set to None): the same launches and
    allocations (the seed of ones is made once, eager and compiled alike).  Unfused, the
    forward would add 2 bias adds and the backward 2 bias sums."""
    from bench import models

    gg.manual_seed(0)
    model = UserMLP(models.MLP_WIDTHS, _relu_mlp).to("cuda")
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = gg.randn(BATCH, 784, device="cuda")
    y = gg.tensor(np.arange(BATCH) % 10, device="cuda")

    def step(xb, yb):
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()
        opt.step()

    events = _replay_events(counts, gg.compile(step), x, y)
    phases = MODEL_PHASES["mlp"]
    expected_launches = sum(p[0] for p in phases.values()) + OPTIMIZER_STEP["SGD"][0]
    expected_allocations = sum(p[1] for p in phases.values()) + OPTIMIZER_STEP["SGD"][1]
    tally = cuda_standin.tally(events)
    report = cuda_standin.describe(events)
    assert (tally["launches"], tally["alloc"]) == (expected_launches, expected_allocations), report
    assert (tally["read"], tally["sync"]) == (0, 0), report
