"""The factories inside a step compiled by ``gg.compile``.

A deterministic factory (its values depend only on Python numbers, a dtype, a device and,
for the ``*_like`` forms, another tensor's shape, dtype and device, all fixed for a plan)
is a constant of the plan.  A random factory is replayed as a new draw from the same
generator, in the eager step's order (a constant would be the recorded draw again at every
replay).  ``gg.from_numpy`` is refused, naming it.

Each step runs 6 times on new values: the first call is a warm-up, the second is recorded,
the other four are replays; all must equal the eager step's results bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.functional as F

CALLS = 6


def _inputs(device, n=CALLS, shape=(2, 3)):
    rng = np.random.default_rng(11)
    return [
        gg.tensor(rng.standard_normal(shape).astype(np.float32), device=device) for _ in range(n)
    ]


def _run(step, xs, compiled: bool, seed=None):
    """The step's results over ``xs`` (NumPy copies), the number of times its body ran and,
    compiled, the number of plans recorded."""
    ran = [0]

    def body(x):
        ran[0] += 1
        return step(x)

    fn = gg.compile(body) if compiled else body
    if seed is not None:
        gg.manual_seed(seed)
    outs = [fn(x).numpy().copy() for x in xs]
    return outs, ran[0], (len(fn.plans) if compiled else None)


def _check_replays_as_eager(step, device, seed=None):
    xs = _inputs(device)
    eager, _, _ = _run(step, xs, compiled=False, seed=seed)
    compiled, ran, plans = _run(step, xs, compiled=True, seed=seed)
    assert plans == 1
    assert ran == 2  # warm-up and recording; the four other calls were replays
    for k, (a, b) in enumerate(zip(compiled, eager)):
        assert a.dtype == b.dtype and a.shape == b.shape, k
        np.testing.assert_array_equal(a, b, err_msg=f"call {k}")
    return compiled


def _where_all(x, other):
    """``x``, through an op that reads ``other`` (an ``empty``: values undefined) but takes
    none of its values."""
    return gg.where(gg.ones(x.shape, device=x.device) > 0, x, other)


CONSTANTS = {
    "tensor": lambda x: x + gg.tensor([1.0, 2.0, 3.0], device=x.device),
    "as_tensor": lambda x: x + gg.as_tensor([1.0, 2.0, 3.0], like=x),
    "zeros": lambda x: x * 2 + gg.zeros(2, 3, device=x.device),
    "ones": lambda x: x + gg.ones((2, 3), device=x.device),
    "full": lambda x: x * gg.full((2, 3), 2.5, device=x.device),
    "empty": lambda x: _where_all(x, gg.empty(2, 3, device=x.device)),
    "zeros_like": lambda x: (x * 2).exp() + gg.zeros_like(x * 2),
    "ones_like": lambda x: x - gg.ones_like(x),
    "full_like": lambda x: x * gg.full_like(x, 0.5),
    "full_like-int": lambda x: x + gg.full_like(x, 3, dtype=gg.int64),
    "empty_like": lambda x: _where_all(x, gg.empty_like(x)),
    "empty_like-grad": lambda x: _where_all(x, gg.empty_like(x, requires_grad=True)),
    "arange": lambda x: x + gg.arange(3, device=x.device),
    "arange-float": lambda x: x * gg.arange(0.5, 2.0, 0.5, device=x.device)[:3],
    "arange-start": lambda x: x + gg.arange(2, 8, 2, dtype=gg.float32, device=x.device),
    "linspace": lambda x: x + gg.linspace(-1.0, 1.0, 3, device=x.device),
    "eye": lambda x: x @ gg.eye(3, device=x.device) + x,
    "eye-rect": lambda x: gg.eye(2, 3, device=x.device) * x,
}


@pytest.mark.parametrize("name", sorted(CONSTANTS))
def test_a_deterministic_factory_is_a_constant_of_the_plan(device, name):
    _check_replays_as_eager(CONSTANTS[name], device)


def test_a_like_factory_of_a_parameter_is_a_constant(device):
    p = gg.full((2, 3), 0.25, device=device, requires_grad=True)
    _check_replays_as_eager(lambda x: (x * p).sum() * gg.ones_like(p) + gg.zeros_like(p), device)


def test_a_like_factory_follows_a_new_shape_with_a_new_plan(device):
    """``zeros_like``'s constant holds one shape: a call of another shape records anew."""
    fn = gg.compile(lambda x: x + gg.ones_like(x))
    for shape in [(2, 3)] * 3 + [(4, 5)] * 3:
        x = gg.tensor(np.arange(np.prod(shape), dtype=np.float32).reshape(shape), device=device)
        np.testing.assert_array_equal(fn(x).numpy(), x.numpy() + 1)
    assert len(fn.plans) == 2


RANDOM = {
    "rand": lambda x: x + gg.rand(2, 3, device=x.device),
    "randn": lambda x: x * gg.randn((2, 3), device=x.device),
    "rand_like": lambda x: x - gg.rand_like(x),
    "randn_like": lambda x: x + gg.randn_like(x, dtype=gg.float64),
    "randint": lambda x: x + gg.randint(0, 100, (2, 3), device=x.device),
    "randint-high": lambda x: x + gg.randint(100, (3,), device=x.device),
    "randperm": lambda x: x + gg.randperm(6, device=x.device).reshape(2, 3),
    "unused": lambda x: [gg.randn(3, device=x.device), x * 2][1] + gg.rand(2, 3, device=x.device),
}


@pytest.mark.parametrize("name", sorted(RANDOM))
def test_a_random_factory_inside_a_step_draws_afresh_at_every_replay_as_eager(device, name):
    """Seeded alike, a compiled step draws eager's numbers call for call (a draw nothing
    reads is made too: the generator advances as eager's), a new draw at every replay."""
    outs = _check_replays_as_eager(RANDOM[name], device, seed=3)
    assert len({o.tobytes() for o in outs}) == CALLS


def test_a_random_draw_in_a_step_reparameterizes_as_eager():
    """A VAE's reparameterization, trained compiled and eager from one seed."""

    def train(compiled: bool):
        gg.manual_seed(0)
        mu, log_var = gg.zeros(4, requires_grad=True), gg.zeros(4, requires_grad=True)
        opt = gg.optim.SGD([mu, log_var], lr=0.1)

        def step(target):
            opt.zero_grad()
            z = mu + (0.5 * log_var).exp() * gg.randn_like(mu)
            loss = ((z - target) ** 2).sum()
            loss.backward()
            opt.step()
            return loss

        step = gg.compile(step) if compiled else step
        losses = [step(gg.full((4,), 2.0)).item() for _ in range(8)]
        return losses, mu.detach().numpy().copy(), log_var.detach().numpy().copy()

    eager, compiled = train(False), train(True)
    assert eager[0] == compiled[0]
    np.testing.assert_array_equal(eager[1], compiled[1])
    np.testing.assert_array_equal(eager[2], compiled[2])


def test_dropout_still_draws_afresh_at_every_replay_as_eager():
    """The random draw a compiled step may make: dropout (on the CPU from the generator
    behind ``gg.rand``), seeded alike, draws eager's masks call for call."""
    outs = _check_replays_as_eager(lambda x: F.dropout(x * 2, 0.5) + 1, "cpu", seed=9)
    assert len({o.tobytes() for o in outs}) == CALLS


def test_from_numpy_inside_a_step_is_refused_by_name():
    fn = gg.compile(lambda x: x + gg.from_numpy(np.ones(3, np.float32)))
    fn(gg.ones(3))  # warm-up: eager
    with pytest.raises(gg.CompileError, match="gg.from_numpy"):
        fn(gg.ones(3))


def test_a_tensor_copied_from_an_array_inside_a_step_is_refused():
    fn = gg.compile(lambda x: x + gg.tensor(np.ones(3, np.float32)))
    fn(gg.ones(3))
    with pytest.raises(gg.CompileError, match="computed outside the recorded operations"):
        fn(gg.ones(3))


@pytest.mark.parametrize(
    "reseed", [lambda: gg.manual_seed(5), lambda: gg.set_rng_state(gg.get_rng_state())]
)
def test_seeding_inside_a_step_is_refused(reseed):
    """A replay would not seed the generator again: its draws would leave eager's."""
    fn = gg.compile(lambda x: (reseed(), x + gg.randn(2, 3))[1])
    fn(gg.ones(2, 3))  # warm-up: eager
    with pytest.raises(gg.CompileError, match="seed|rng_state"):
        fn(gg.ones(2, 3))


def test_a_random_draw_in_a_step_for_a_cuda_graph_is_refused_when_it_records(device):
    """cuda_graph=True: refused at the recording call (the second), naming the draw; on
    the CPU cuda_graph changes nothing and the draw replays."""
    w = gg.ones(2, 3, device=device)
    fn = gg.compile(lambda x: x * w + gg.randn(2, 3, device=device), cuda_graph=True)
    x = gg.ones(2, 3, device=device)
    fn(x)  # warm-up: eager
    if device == "cpu":
        for _ in range(3):
            fn(x)
        return
    with pytest.raises(gg.CompileError, match=r"random draw \(gg.randn\)"):
        fn(x)
