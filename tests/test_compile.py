"""gg.compile: a step recorded once and replayed gives the eager step's numbers bit for bit;
what a replay could not repeat is refused while recording, naming it."""

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.functional as F
from gpugrad import nn, optim
from gpugrad.autograd import recording
from gpugrad.autograd.engine import Function


def _chain_step(x, w):
    def step():
        x.grad = None  # a reset inside the step: replayed
        w.grad = None
        y = x
        for _ in range(5):
            y = (y * 1.01 + 0.5) * w - x
        loss = (y * y).sum()
        loss.backward()
        return loss

    return step


def _leaves(seed=0):
    gg.manual_seed(seed)
    return gg.randn(4, 4, requires_grad=True), gg.randn(4, 4, requires_grad=True)


def test_a_replayed_chain_gives_the_eager_numbers_bit_for_bit():
    x, w = _leaves()
    eager = [(_chain_step(x, w)().item(), x.grad.numpy().copy(), w.grad.numpy().copy())]
    compiled = gg.compile(_chain_step(x, w))
    for call in range(4):
        loss = compiled()
        assert loss.item() == eager[0][0]
        np.testing.assert_array_equal(x.grad.numpy(), eager[0][1])
        np.testing.assert_array_equal(w.grad.numpy(), eager[0][2])
        assert len(compiled.plans) == (0 if call == 0 else 1)  # warm-up, record, replay
        if call >= 2:
            assert loss.creator is None  # a replay returns a value, outside any graph


def test_gradients_accumulate_across_replays_as_across_eager_steps():
    """No reset inside the step: each call adds to .grad, in place, as eager backwards do."""
    x, w = _leaves()

    def step(x, w):
        loss = (x * w).sum()
        loss.backward()
        return loss

    compiled = gg.compile(step)
    x2, w2 = _leaves()
    for _ in range(4):
        compiled(x, w)
        step(x2, w2)
    np.testing.assert_array_equal(x.grad.numpy(), x2.grad.numpy())
    np.testing.assert_array_equal(x.grad.numpy(), 4 * w.detach().numpy())


def test_the_inputs_of_a_replay_are_the_new_batch_and_a_new_shape_records_a_new_plan():
    gg.manual_seed(0)
    lin = nn.Linear(3, 2)

    def step(x):
        lin.zero_grad()
        loss = (lin(x) ** 2).mean()
        loss.backward()
        return loss, lin.weight.grad

    compiled = gg.compile(step)
    rng = np.random.default_rng(0)
    for n in (5, 5, 5, 5, 7, 7, 7, 5):
        x = gg.tensor(rng.standard_normal((n, 3)).astype(np.float32))
        loss, grad = compiled(x)
        expect_loss, expect_grad = step(x)
        assert loss.item() == expect_loss.item()
        np.testing.assert_array_equal(grad.numpy(), expect_grad.numpy())
    assert len(compiled.plans) == 2


def test_a_step_with_dropout_draws_a_fresh_mask_at_every_replay_and_matches_eager():
    def run(compiled: bool):
        gg.manual_seed(3)
        x = gg.ones(64, requires_grad=True)
        step = lambda: F.dropout(x, 0.5).sum()
        step = gg.compile(step) if compiled else step
        return [step().item() for _ in range(6)]

    eager, replayed = run(False), run(True)
    assert eager == replayed
    assert len(set(replayed[2:])) > 1  # the replays' masks differ


def _refused(step, *args, match):
    compiled = gg.compile(step, warmup=0)
    with pytest.raises(gg.CompileError, match=match):
        compiled(*args)


def test_a_host_read_inside_the_step_is_refused():
    x, _ = _leaves()
    _refused(lambda: (x * 2).sum().item(), match=r"host read.*item")
    _refused(lambda: print(x * 2), match=r"host read")
    _refused(lambda: 1 if (x.sum() > 0) else 0, match=r"host read")


def test_in_place_writes_and_custom_functions_are_refused():
    x, w = _leaves()

    def add_in_place():
        h = x * w
        h += 1
        return h

    _refused(add_in_place, match="in-place")
    _refused(lambda: F.relu(x * w, inplace=True), match="in-place")


def test_tensors_made_outside_the_recorded_ops_are_refused_and_constants_are_not():
    x, _ = _leaves()
    _refused(
        lambda: x * gg.tensor(np.ones((4, 4), np.float32)),
        match=r"computed outside the recorded operations",
    )
    compiled = gg.compile(lambda: (x * gg.tensor(2.0) + gg.ones(4, 4)).sum(), warmup=0)
    assert compiled().item() == compiled().item() == (x * 2 + 1).sum().item()


def test_create_graph_and_grad_are_refused():
    x, _ = _leaves()
    _refused(lambda: gg.grad((x * x).sum(), x), match="gg.grad")
    _refused(lambda: (x * x).sum().backward(create_graph=True), match="create_graph")


class _Positive(Function):
    """x[x > 0]: a result whose shape depends on the data."""

    def forward(self, x):
        return x[x > 0]


def test_a_shape_that_depends_on_the_data_is_refused():
    x = gg.tensor([1.0, -1.0, 2.0])
    _refused(lambda x: x[x > 0].sum(), x, match=r"getitem: it holds an array")
    compiled = gg.compile(lambda x: _Positive()(x) * 2, warmup=0)
    compiled(x)  # recorded: 2 elements
    with pytest.raises(gg.CompileError, match="depends on the data"):
        compiled(gg.tensor([1.0, 1.0, 2.0]))


def test_a_frozen_or_resized_parameter_records_a_new_plan_and_grad_mode_is_part_of_the_key():
    gg.manual_seed(0)
    lin = nn.Linear(3, 2)

    def step(x):
        lin.zero_grad()
        loss = lin(x).sum()
        if gg.is_grad_enabled():
            loss.backward()
        return loss

    compiled = gg.compile(step, warmup=0)
    x = gg.randn(4, 3)
    for _ in range(3):
        compiled(x)
    assert lin.weight.grad is not None and len(compiled.plans) == 1
    lin.weight.requires_grad_(False)  # frozen: the recorded backward no longer holds
    lin.weight.grad = None
    for _ in range(2):
        compiled(x)
        assert lin.weight.grad is None and lin.bias.grad is not None
    with gg.no_grad():
        assert compiled(x).item() == step(x).item()
    assert len(compiled.plans) == 2


def test_a_compiled_step_inside_a_recorded_one_is_refused():
    x, _ = _leaves()
    inner = gg.compile(lambda: (x * 2).sum(), warmup=0)
    _refused(lambda: inner() * 3, match="inside another step")


def test_bad_arguments_are_refused_with_a_clear_error():
    with pytest.raises(TypeError, match="needs a function"):
        gg.compile(3)
    with pytest.raises(ValueError, match="warmup"):
        gg.compile(lambda: None, warmup=-1)
    with pytest.raises(TypeError, match="hashable"):
        gg.compile(lambda a: None)([1, 2])


def test_labels_out_of_range_raise_in_a_replay_too():
    gg.manual_seed(0)
    lin = nn.Linear(3, 4)
    compiled = gg.compile(lambda x, y: F.cross_entropy(lin(x), y))
    x = gg.randn(5, 3)
    for _ in range(3):
        compiled(x, gg.tensor([0, 1, 2, 3, 0]))
    with pytest.raises(ValueError, match="label 4 is out of range"):
        compiled(x, gg.tensor([0, 1, 2, 4, 0]))
    with pytest.raises(ValueError, match="label -1 is out of range"):
        compiled(x, gg.tensor([0, 1, 2, -1, 0]))


def _model(kind):
    if kind == "mlp":
        return nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    return nn.Sequential(
        nn.Unflatten(1, (1, 8, 8)),
        nn.Conv2d(1, 4, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * 4 * 4, 10),
    )


OPTIMIZERS = {
    "sgd": lambda ps: optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-4),
    "adam": lambda ps: optim.Adam(ps, lr=1e-3),
    "adamw": lambda ps: optim.AdamW(ps, lr=1e-3),
}


def _train(kind, opt_name, compiled: bool, steps: int, set_to_none=True, **options):
    """``steps`` steps on the digits (8x8) in batches of 32: the losses and the parameters
    after them (``options``: ``device``, and gg.compile's)."""
    from gpugrad.data import load_digits

    device = options.pop("device", "cpu")
    gg.manual_seed(0)
    model = _model(kind).to(device)
    opt = OPTIMIZERS[opt_name](model.parameters())
    scheduler = optim.lr_scheduler.StepLR(opt, step_size=10, gamma=0.5)
    digits = load_digits()
    x = gg.tensor(digits.x_train[: 32 * 8].reshape(-1, 64), device=device)
    y = gg.tensor(digits.y_train[: 32 * 8].astype(np.int64), device=device)

    def step(xb, yb):
        opt.zero_grad(set_to_none=set_to_none)
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()
        return loss

    run = gg.compile(step, **options) if compiled else step
    losses = []
    for k in range(steps):
        b = k % 8
        losses.append(run(x[32 * b : 32 * (b + 1)], y[32 * b : 32 * (b + 1)]).item())
        scheduler.step()  # outside the step: a replay sees the new lr
    return losses, [p.detach().numpy().copy() for p in model.parameters()]


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS))
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_a_compiled_training_run_gives_the_eager_parameters_bit_for_bit(kind, opt_name):
    steps = 100
    eager_losses, eager = _train(kind, opt_name, False, steps)
    losses, params = _train(kind, opt_name, True, steps)
    assert losses == eager_losses
    for a, b in zip(params, eager):
        np.testing.assert_array_equal(a, b)
    assert eager_losses[-1] < eager_losses[0]


def test_persistent_gradient_buffers_live_across_replays():
    """zero_grad(set_to_none=False): the same .grad arrays every step, zeroed and summed into
    in place, and the same numbers as eager."""
    _, eager = _train("mlp", "sgd", False, 12, set_to_none=False)
    _, params = _train("mlp", "sgd", True, 12, set_to_none=False)
    for a, b in zip(params, eager):
        np.testing.assert_array_equal(a, b)


def test_cuda_graph_changes_nothing_on_the_cpu():
    losses, params = _train("mlp", "sgd", True, 8, cuda_graph=True)
    eager_losses, eager = _train("mlp", "sgd", False, 8)
    assert losses == eager_losses
    for a, b in zip(params, eager):
        np.testing.assert_array_equal(a, b)


def test_a_random_draw_is_refused_while_a_graph_is_captured():
    with recording.capturing_graph(), pytest.raises(gg.CompileError, match="random draw"):
        F.dropout(gg.ones(8), 0.5)
    F.dropout(gg.ones(8), 0.5)  # outside a capture: drawn


@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_a_step_captured_as_a_cuda_graph_trains_as_eager(device, opt_name):
    """On a GPU: the graph's launches (from the 5th call) give eager's losses and parameters
    to float32 rounding, with StepLR changing the lr between launches."""
    if device.kind != "cuda":
        pytest.skip("a CUDA graph needs a GPU")
    losses, params = _train("mlp", opt_name, True, 40, device=device, cuda_graph=True)
    eager_losses, eager = _train("mlp", opt_name, False, 40, device=device)
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-4)
    for a, b in zip(params, eager):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


# -- what a replay must not get wrong (each once silently different) --------------------------
def _both(step, calls):
    """step(*args) for each args of ``calls``, eager and compiled, results as NumPy."""

    def run(fn):
        out = []
        for args in calls():
            r = fn(*args)
            out.append([None if t is None else np.array(t.numpy()) for t in r])
        return out

    return run(step), run(gg.compile(step))


def _assert_same(eager, compiled):
    for e, c in zip(eager, compiled):
        for a, b in zip(e, c):
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_array_equal(a, b)


def test_an_argument_that_requires_grad_gets_its_gradient_in_every_replay():
    w = gg.tensor([1.0, 2.0, 3.0])

    def step(x):
        (x * w).sum().backward()
        return (x.grad,)

    calls = lambda: [(gg.tensor([float(k)] * 3, requires_grad=True),) for k in range(5)]
    _assert_same(*_both(step, calls))


def test_arguments_that_alias_and_non_contiguous_arguments_get_plans_of_their_own():
    def step(a, b):
        return ((a * 2 + b).contiguous() * 1.0,)

    x = gg.arange(12.0).reshape(3, 4)

    def calls():
        return [(x, x), (x, x), (x, x), (x, x + 1), (x.t().t(), x)] + [
            (x.t(), x.t() * 2) for _ in range(3)
        ]

    _assert_same(*_both(step, calls))


def test_a_grad_returned_before_the_step_zeroes_it_is_the_gradient():
    gg.manual_seed(0)
    lin = nn.Linear(3, 2)
    opt = optim.SGD(lin.parameters(), lr=0.1)
    x = gg.randn(4, 3)

    def step():
        lin(x).sum().backward()
        g = lin.weight.grad
        opt.step()
        opt.zero_grad()
        return (g,)

    eager = [step()[0].numpy().copy() for _ in range(4)]
    gg.manual_seed(0)
    lin2 = nn.Linear(3, 2)
    lin.load_state_dict(lin2.state_dict())
    compiled = gg.compile(step)
    replayed = [compiled()[0].numpy().copy() for _ in range(4)]
    for a, b in zip(eager, replayed):
        np.testing.assert_array_equal(a, b)


def test_a_gradient_given_to_backward_from_outside_the_step_is_read_at_each_replay():
    x = gg.tensor([1.0, 2.0], requires_grad=True)
    seed = gg.tensor([1.0, 1.0])

    def step():
        x.grad = None
        (x * 3).backward(seed)
        return (x.grad,)

    compiled = gg.compile(step)
    for k in range(5):
        with gg.no_grad():
            seed.fill_(float(k))
        np.testing.assert_array_equal(compiled()[0].numpy(), [3.0 * k, 3.0 * k])


def test_schedulers_and_gradient_clipping_inside_the_step_are_replayed():
    def run(compiled):
        gg.manual_seed(0)
        model = _model("mlp")
        opt = optim.SGD(model.parameters(), lr=0.5)
        sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        x, y = gg.randn(8, 64), gg.tensor([k % 10 for k in range(8)])

        def step():
            opt.zero_grad()
            F.cross_entropy(model(x), y).backward()
            nn.utils.clip_grad_norm_(model.parameters(), 0.1)
            nn.utils.clip_grad_value_(model.parameters(), 0.01)
            opt.step()
            sched.step()

        fn = gg.compile(step) if compiled else step
        for _ in range(7):
            fn()
        return opt.param_groups[0]["lr"], [p.detach().numpy().copy() for p in model.parameters()]

    (lr, params), (lr2, params2) = run(False), run(True)
    assert lr == lr2 == 0.5 * 0.5**3
    for a, b in zip(params, params2):
        np.testing.assert_array_equal(a, b)


def test_more_steps_a_replay_could_not_repeat_are_refused():
    x, w = _leaves()
    _refused(lambda: (x * gg.zeros(4, 4, requires_grad=True)).sum().backward(), match="made inside")
    _refused(lambda: gg.equal(x, w), match="gg.equal")
    _refused(lambda: gg.allclose(x, w), match="gg.allclose")
    _refused(lambda: w.requires_grad_(False), match="requires_grad_")
    assert w.requires_grad  # refused before it changed
    alias = x.detach()  # made outside the step, sharing the argument's memory
    _refused(lambda a: (a * alias).sum(), x, match="also one of its arguments")
    with pytest.raises(TypeError, match="holding tensors"):
        gg.compile(lambda pair: pair[0])((x, w))

    def twice():
        loss = (x * w).sum()
        loss.backward()
        loss.backward()

    with pytest.raises(RuntimeError, match="second time"):
        gg.compile(twice, warmup=0)()


def test_parameter_views_int32_labels_and_binary_cross_entropy_checks_replay():
    gg.manual_seed(0)
    lin = nn.Linear(3, 4)

    def step(x, y, p):
        loss = F.cross_entropy(lin(x) + lin.weight.detach().sum(), y)
        return (loss + F.binary_cross_entropy(p, gg.ones(2) * 0.5),)

    x, p = gg.randn(5, 3), gg.tensor([0.2, 0.7])
    y = gg.tensor(np.array([0, 1, 2, 3, 0], dtype=np.int32))
    compiled = gg.compile(step)
    for _ in range(4):
        assert compiled(x, y, p)[0].item() == step(x, y, p)[0].item()
    with pytest.raises(ValueError, match=r"in \[0, 1\]"):
        compiled(x, y, gg.tensor([0.2, 1.5]))


def test_resets_of_an_arguments_grad_and_a_returned_clipping_norm_are_replayed():
    def run(compiled: bool):
        gg.manual_seed(0)
        lin = nn.Linear(3, 2)
        ema = gg.randn(2, 3)
        a = gg.randn(4, 3, requires_grad=True)
        batches = [a, a, a, gg.randn(4, 3, requires_grad=True), a]

        def step(x):
            x.grad = None  # the argument's: the next call's tensor is reset
            lin.zero_grad()
            loss = (lin(x) * (x @ lin.weight.detach().t())).sum() + (lin.weight * ema).sum()
            loss.backward()
            norm = nn.utils.clip_grad_norm_(lin.parameters(), 1.0)
            return loss, norm, x.grad

        fn = gg.compile(step) if compiled else step
        return [[t.numpy().copy() for t in fn(x)] for x in batches]

    _assert_same(run(False), run(True))


def test_an_array_given_to_backward_as_the_gradient_is_refused():
    x, _ = _leaves()
    _refused(lambda: (x * 2).backward(np.ones((4, 4), np.float32)), match="array given")


def test_a_cuda_graph_runs_a_scheduler_stepped_inside_the_step(device):
    if device.kind != "cuda":
        pytest.skip("a CUDA graph needs a GPU")

    def run(compiled):
        gg.manual_seed(0)
        model = _model("mlp").to(device)
        opt = optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
        sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.7)
        x = gg.randn(16, 64, device=device)
        y = gg.tensor([k % 10 for k in range(16)], device=device)

        def step(xb, yb):
            opt.zero_grad()
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            sched.step()
            return loss

        fn = gg.compile(step, cuda_graph=True) if compiled else step
        losses = [fn(x, y).item() for _ in range(8)]
        return losses, opt.param_groups[0]["lr"]

    (losses, lr), (eager_losses, eager_lr) = run(True), run(False)
    assert lr == eager_lr
    np.testing.assert_allclose(losses, eager_losses, rtol=1e-4)


def test_a_graph_step_finds_the_optimizers_to_refresh_and_the_host_calls(monkeypatch):
    """GraphStep's bookkeeping, on the CPU with stand-ins for CuPy's pool and stream: the
    optimizers whose scalars a launch uploads, the calls it makes again on the host (a
    scheduler's step), and the refusal of an argument that requires grad."""
    import types

    from gpugrad import backend, cuda_graph
    from gpugrad.plan import Call

    fake = types.SimpleNamespace(
        cuda=types.SimpleNamespace(MemoryPool=object, Stream=lambda non_blocking: object())
    )
    monkeypatch.setattr(backend, "cupy_or_none", lambda: fake)
    gg.manual_seed(0)
    lin = nn.Linear(3, 2)
    opt = optim.SGD(lin.parameters(), lr=0.1)
    sched = optim.lr_scheduler.StepLR(opt, 1)

    def step(x):
        opt.zero_grad()
        lin(x).sum().backward()
        nn.utils.clip_grad_norm_(lin.parameters(), 1.0)  # a function: no optimizer
        opt.step()
        sched.step()

    compiled = gg.compile(step, warmup=0)
    x = gg.randn(4, 3)
    compiled(x)
    (plan,) = compiled.plans.values()
    graph = cuda_graph.GraphStep(plan, gg.device("cpu"), [x])
    assert graph.optimizers == [opt]
    assert [c.method for c in graph.host_calls] == [sched.step]
    assert all(isinstance(c, Call) for c in graph.host_calls)
    with pytest.raises(gg.CompileError, match="requires grad"):
        cuda_graph.GraphStep(plan, gg.device("cpu"), [gg.randn(4, 3, requires_grad=True)])
