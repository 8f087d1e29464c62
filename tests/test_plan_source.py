"""A compiled step's plan written as Python source (gpugrad/plan_source.py,
gpugrad/plan_backward.py): wherever the events and the backward's nodes are split into
functions, a replay gives the eager step's numbers bit for bit, and its text is there to
read."""

import re

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.functional as F
from gpugrad import nn, optim, plan_backward, plan_source
from gpugrad.autograd.engine import Function


def _tangled_step(x, w, b):
    """A step whose gradients cross any split: a value made early and read late (its node
    gets gradients from far apart), x and w read by every op, a broadcast bias (sum_to), a
    two-input node whose result is returned too."""

    def step(scale):
        early = x * w
        y = x
        for k in range(12):
            y = (y * 0.9 + b) * w - x
            if k % 4 == 3:
                y = y + early
        loss = (y * y).sum() + early.sum() * scale
        loss.backward()
        return loss, x.grad, w.grad, b.grad

    return step


def _leaves(seed):
    gg.manual_seed(seed)
    return (
        gg.randn(3, 4, requires_grad=True),
        gg.randn(3, 4, requires_grad=True),
        gg.randn(4, requires_grad=True),
    )


def _run(step_of, compiled: bool, calls: int = 5):
    """Losses and gradients of ``calls`` calls (gradients accumulate across calls: each
    backward adds into the .grad of the call before, in place)."""
    leaves = _leaves(0)
    step = step_of(*leaves)
    if compiled:
        step = gg.compile(step)
    out = []
    for k in range(calls):  # a new scale each call: a replay must read it
        out.append([t.numpy().copy() for t in step(gg.tensor(0.5 + k))])
    return out, step


@pytest.mark.parametrize("nodes, events", [(1, 1), (2, 3), (7, 5), (100, 200)])
def test_any_split_into_functions_replays_the_eager_numbers_bit_for_bit(monkeypatch, nodes, events):
    monkeypatch.setattr(plan_backward, "NODES_PER_FUNCTION", nodes)
    monkeypatch.setattr(plan_source, "EVENTS_PER_FUNCTION", events)
    (eager, _), (compiled, step) = _run(_tangled_step, False), _run(_tangled_step, True)
    for e, c in zip(eager, compiled):
        for a, b in zip(e, c):
            np.testing.assert_array_equal(a, b)
    assert len(step.plans) == 1  # one plan, replayed from the third call on


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_a_training_run_split_into_small_functions_stays_bit_identical(monkeypatch, opt_name):
    monkeypatch.setattr(plan_backward, "NODES_PER_FUNCTION", 2)
    monkeypatch.setattr(plan_source, "EVENTS_PER_FUNCTION", 3)

    def train(compiled: bool):
        gg.manual_seed(1)
        model = nn.Sequential(
            nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 3)
        )
        opt = {"sgd": lambda p: optim.SGD(p, lr=0.1, momentum=0.9), "adam": optim.Adam}[opt_name](
            model.parameters()
        )
        rng = np.random.default_rng(0)

        def step(x, y):
            opt.zero_grad(set_to_none=False)
            loss = F.cross_entropy(model(x), y)
            loss.backward()
            opt.step()
            return loss

        step = gg.compile(step) if compiled else step
        losses = []
        for _ in range(6):
            x = gg.tensor(rng.standard_normal((5, 6), dtype=np.float32))
            y = gg.tensor(rng.integers(0, 3, 5))
            losses.append(step(x, y).item())
        return losses, [p.detach().numpy().copy() for p in model.parameters()]

    (eager_losses, eager_params), (losses, params) = train(False), train(True)
    assert losses == eager_losses
    for a, b in zip(eager_params, params):
        np.testing.assert_array_equal(a, b)


def test_a_long_step_is_written_in_several_functions_whose_text_can_be_read():
    x, w, b = _leaves(0)
    step = gg.compile(_tangled_step(x, w, b))
    for k in range(3):
        step(gg.tensor(1.0 + k))
    (plan,) = step.plans.values()
    text = plan.source
    assert "def replay_0(arrays):" in text and "def backward(arrays):" in text
    assert "def backward_0(arrays, ns, handed, made, pending, owned):" in text
    compile(text, "<plan>", "exec")  # the text is the Python a replay runs


def test_the_backward_splits_into_functions_of_at_most_so_many_nodes(monkeypatch):
    monkeypatch.setattr(plan_backward, "NODES_PER_FUNCTION", 4)
    x, w, b = _leaves(0)
    step = gg.compile(_tangled_step(x, w, b))
    for k in range(3):
        step(gg.tensor(1.0 + k))
    (plan,) = step.plans.values()
    (backward,) = [e for e in plan.events if hasattr(e, "compiled")]
    parts = plan.source.count("(arrays, ns, handed, made, pending, owned):")
    assert parts == -(-len(backward.steps) // 4) and parts > 10


@pytest.mark.parametrize("nodes", [1, 2, 5, 100])
def test_a_sum_never_writes_into_a_gradient_another_holds(monkeypatch, nodes):
    """z's first gradient is the Add's upstream gradient, which x.grad holds too: z's sum
    must be a fresh buffer, or x.grad would change under it (with 5 nodes per function,
    the Add sends from an earlier function and z * 2 from z's own)."""
    monkeypatch.setattr(plan_backward, "NODES_PER_FUNCTION", nodes)
    x, w, _ = _leaves(0)

    def step(scale):
        x.grad = w.grad = None
        z = x * w
        s = z * 2.0
        t = z + x
        (t.sum() * scale + s.sum()).backward()
        return x.grad, w.grad

    eager = [[g.numpy().copy() for g in step(gg.tensor(k + 1.0))] for k in range(4)]
    compiled = gg.compile(step)
    for k in range(4):
        for a, b in zip(eager[k], compiled(gg.tensor(k + 1.0))):
            np.testing.assert_array_equal(a, b.numpy())


def test_a_replay_frees_the_last_replays_arrays_as_it_goes():
    """Each slot keeps its array between replays (a CUDA graph needs them); a replay frees
    the last one's array of a slot as it writes the new one, so the peak is one array
    above the steady state, not all of them (every slot held twice until the end)."""
    import tracemalloc

    x = gg.randn(512, 512)  # 1 MiB

    def step(x):
        y = x
        for _ in range(16):
            y = y * 1.001
        return y.sum()

    compiled = gg.compile(step)
    for _ in range(3):
        compiled(x)
    tracemalloc.start()
    try:
        compiled(x)
        steady = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        compiled(x)
        peak = tracemalloc.get_traced_memory()[1] - steady
    finally:
        tracemalloc.stop()
    assert peak < 3 * 2**20, f"{peak / 2**20:.1f} MiB above the steady state"


def test_generated_names_never_collide_and_any_method_name_is_an_identifier():
    source = plan_source.Source()
    names = {source.name(object(), hint) for hint in ["log2", "log", "a", "g", "a1"] * 12}
    names.add(source.name(object(), "<lambda>"))
    assert len(names) == 61 and all(n.isidentifier() for n in names)
    assert not any(re.fullmatch(r"[ag]\d+(_owned)?|gxs?|grad|ns|handed|made|pending|owned", n)
                   for n in names)  # fmt: skip


def test_an_op_named_like_a_slot_replays():
    """A Function subclass named ``A``: its forward's name must not be a slot's local."""

    class A(Function):
        def forward(self, x):
            return x * 2.0

        def backward(self, ns, gy):
            return gy * 2.0

    w = gg.randn(3, requires_grad=True)

    def step(x):
        return (A()(x) * w).sum()

    compiled = gg.compile(step)
    for k in range(4):
        x = gg.full((3,), float(k))
        assert compiled(x).item() == step(x).item()
