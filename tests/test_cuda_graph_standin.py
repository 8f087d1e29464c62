"""gg.compile(step, cuda_graph=True) on the counting CuPy stand-in (tests/cuda_standin.py)
with stream capture and graphs emulated (tests/test_philox_dropout.py's EmulatedGraphs:
our kernels recorded at the capture and run again at each launch): what a launch leaves
in the live objects, when a graph no longer matches them, and what is refused at the
capture."""

import cuda_standin
import numpy as np
import pytest
import test_step_counts
from test_philox_dropout import EmulatedGraphs

import gpugrad as gg
import gpugrad.functional as F
from gpugrad import nn, optim

standin_kernels = test_step_counts.standin_kernels  # the fixture: our kernels built with g++


@pytest.fixture
def counts(request, monkeypatch):
    """The counting CuPy stand-in and emulated graphs, installed for the test."""
    counted = cuda_standin.install(monkeypatch, request.getfixturevalue("standin_kernels"))
    EmulatedGraphs(monkeypatch)
    return counted


def _model_and_step(opt_factory=lambda ps: optim.SGD(ps, lr=0.1)):
    gg.manual_seed(0)
    fc = nn.Linear(16, 4).to("cuda")
    opt = opt_factory(fc.parameters())

    def step(xb, yb):
        opt.zero_grad()
        F.cross_entropy(fc(xb), yb).backward()
        opt.step()

    return fc, opt, gg.compile(step, cuda_graph=True)


def _batch(n):
    return gg.randn(n, 16).to("cuda"), gg.tensor(np.arange(n) % 4).to("cuda")


def _captured(compiled, x, y):
    with np.errstate(all="ignore"):  # a capture runs no kernel: CuPy ops read unset buffers
        for _ in range(5):  # eager, recorded, two plain replays, the capture
            compiled(x, y)
    (graph_step,) = compiled.plans.values()
    assert graph_step.graph is not None
    return graph_step


def test_after_each_launch_the_gradients_are_the_arrays_that_graph_wrote(counts, monkeypatch):
    """Two graphs of one model (two batch sizes), gradients set to None inside the step:
    each capture gives the parameters gradient arrays of its own, and after a launch of
    either graph every .grad is that graph's, as its step's Python left it."""
    EmulatedGraphs(monkeypatch)
    gg.manual_seed(0)
    fc = nn.Linear(16, 4).to("cuda")
    opt = optim.SGD(fc.parameters(), lr=0.1)

    def step(xb, yb):
        opt.zero_grad()
        F.cross_entropy(fc(xb), yb).backward()
        opt.step()

    compiled = gg.compile(step, cuda_graph=True)
    batches = {
        n: (gg.randn(n, 16).to("cuda"), gg.tensor(np.arange(n) % 4).to("cuda")) for n in (8, 4)
    }
    captured = {}
    with np.errstate(all="ignore"):  # a capture runs no kernel: CuPy ops read unset buffers
        for n, (x, y) in batches.items():
            for _ in range(5):  # eager, recorded, two plain replays, the capture
                compiled(x, y)
            captured[n] = [p.grad for p in fc.parameters()]
        assert all(a is not b for a, b in zip(captured[8], captured[4]))
        for n in (8, 4, 4, 8):
            compiled(*batches[n])
            assert all(p.grad is g for p, g in zip(fc.parameters(), captured[n]))


def test_a_graph_whose_parameters_or_optimizer_state_were_replaced_records_again(counts):
    """The graph writes the arrays it captured: a parameter given a new array (.data = ...)
    or an optimizer's state replaced (load_state_dict) makes the next call record again
    instead of launching into memory the live objects no longer use."""
    fc, opt, compiled = _model_and_step(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9))
    x, y = _batch(8)
    graph_step = _captured(compiled, x, y)
    assert graph_step.still_holds()
    opt.load_state_dict(opt.state_dict())
    assert not graph_step.still_holds()
    with np.errstate(all="ignore"):
        compiled(x, y)  # the plan is dropped: this call records a new one
    (recorded,) = compiled.plans.values()
    assert recorded is not graph_step and recorded.graph is None
    graph_step = _captured(compiled, x, y)
    fc.weight.data = gg.zeros(4, 16, device="cuda")
    assert not graph_step.still_holds()


def test_an_optimizer_stepping_with_host_scalars_is_refused_at_the_capture(counts):
    """Adam with amsgrad runs as array operations whose lr and bias corrections the host
    computes each step: a graph would freeze the captured step's.  Refused, naming it."""
    _, _, compiled = _model_and_step(lambda ps: optim.Adam(ps, lr=1e-3, amsgrad=True))
    x, y = _batch(8)
    with np.errstate(all="ignore"):
        for _ in range(4):
            compiled(x, y)
        with pytest.raises(gg.CompileError, match="Adam.step with these settings"):
            compiled(x, y)


def test_a_scheduler_stepped_before_the_optimizer_sets_the_lr_of_that_launch(counts):
    """sched.step() before opt.step() inside the step: eager uses the new lr at once.  At
    the capture the new lr is written after it, before the launch; at every later launch
    the scheduler runs before the launch, so the graph reads the lr eager would."""
    gg.manual_seed(0)
    fc = nn.Linear(16, 4).to("cuda")
    opt = optim.SGD(fc.parameters(), lr=1.0, momentum=0.9)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)

    def step(xb, yb):
        opt.zero_grad()
        F.cross_entropy(fc(xb), yb).backward()
        sched.step()
        opt.step()

    compiled = gg.compile(step, cuda_graph=True)
    x, y = _batch(8)
    with np.errstate(all="ignore"), pytest.warns(UserWarning, match="before"):
        for call in range(1, 9):  # eager, recorded, 2 plain replays, capture, 3 launches
            compiled(x, y)
            (bucket,) = opt._multi_tensor.buckets.values()
            assert np.asarray(bucket.scalars.array)[0] == 0.5**call, call
    (graph_step,) = compiled.plans.values()
    assert [c.method for c in graph_step.host_calls_before] == [sched.step]
    assert graph_step.host_calls == []


def test_a_step_without_tensor_arguments_is_captured_on_its_parameters_device(counts):
    """A step that trains on data it holds (bench/models.py's) takes its device from its
    parameters: it is captured too."""
    fc, opt, _ = _model_and_step()
    x, y = _batch(8)

    def step():
        opt.zero_grad()
        F.cross_entropy(fc(x), y).backward()
        opt.step()

    compiled = gg.compile(step, cuda_graph=True)
    with np.errstate(all="ignore"):
        for _ in range(5):
            compiled()
    (graph_step,) = compiled.plans.values()
    assert graph_step.graph is not None and graph_step.device == gg.device("cuda")


def _backward_through_both(opt1, opt2, model1, model2, xb, yb):
    """Both optimizers' gradients zeroed, then one backward through both models."""
    opt1.zero_grad()
    opt2.zero_grad()
    (F.cross_entropy(model1(xb), yb) + F.cross_entropy(model2(xb), yb)).backward()


def test_a_failed_capture_leaves_no_device_value_the_host_believes_wrongly(counts):
    """A capture that fails (here: a second optimizer the graph must refuse) uploaded
    nothing it deferred: the optimizers' device caches forget what it assumed, so the next
    eager step uploads the lr the host holds (StepLR changed it inside the capture)."""
    gg.manual_seed(0)
    fc, other = nn.Linear(16, 4).to("cuda"), nn.Linear(16, 4).to("cuda")
    opt = optim.SGD(fc.parameters(), lr=1.0, momentum=0.9)
    refused = optim.Adam(other.parameters(), lr=1e-3, amsgrad=True)
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)

    def step(xb, yb):
        _backward_through_both(opt, refused, fc, other, xb, yb)
        sched.step()
        opt.step()
        refused.step()

    compiled = gg.compile(step, cuda_graph=True)
    x, y = _batch(8)
    with np.errstate(all="ignore"), pytest.warns(UserWarning, match="before"):
        for _ in range(4):
            compiled(x, y)
        with pytest.raises(gg.CompileError, match="Adam.step with these settings"):
            compiled(x, y)
        step(x, y)  # eager, as the error advises
    (bucket,) = opt._multi_tensor.buckets.values()
    assert np.asarray(bucket.scalars.array)[0] == opt.param_groups[0]["lr"] == 0.5**6


def test_a_cpu_batch_beside_gpu_parameters_is_refused_naming_the_copy(counts):
    _, _, compiled = _model_and_step()
    x, y = _batch(8)
    with np.errstate(all="ignore"):
        compiled(x.to("cpu").to("cuda"), y)  # a warm-up, on the GPU
    cpu_step = gg.compile(lambda xb, yb: compiled.step(xb.to("cuda"), yb), cuda_graph=True)
    with np.errstate(all="ignore"):
        cpu_step(x.to("cpu"), y)  # the warm-up call runs eagerly
        with pytest.raises(gg.CompileError, match="argument 0 is on the CPU"):
            cpu_step(x.to("cpu"), y)


def test_a_scheduler_between_two_optimizers_steps_runs_before_the_launch(counts):
    gg.manual_seed(0)
    first, second = nn.Linear(16, 4).to("cuda"), nn.Linear(16, 4).to("cuda")
    opt1 = optim.SGD(first.parameters(), lr=1.0)
    opt2 = optim.SGD(second.parameters(), lr=1.0)
    sched1 = optim.lr_scheduler.StepLR(opt1, step_size=1, gamma=0.5)
    sched2 = optim.lr_scheduler.StepLR(opt2, step_size=1, gamma=0.5)

    def step(xb, yb):
        _backward_through_both(opt1, opt2, first, second, xb, yb)
        opt1.step()
        sched2.step()  # before opt2.step(): opt2 uses the new lr at once
        opt2.step()
        sched1.step()  # after opt1.step(): the next call's lr

    compiled = gg.compile(step, cuda_graph=True)
    x, y = _batch(8)
    with np.errstate(all="ignore"), pytest.warns(UserWarning, match="before"):
        compiled(x, y)
    graph_step = _captured(compiled, x, y)
    assert [c.method for c in graph_step.host_calls_before] == [sched2.step]
    assert [c.method for c in graph_step.host_calls] == [sched1.step]


def test_a_graph_whose_optimizer_settings_changed_records_again(counts):
    """nesterov (or momentum switched on or off) is baked into the captured launch."""
    _, opt, compiled = _model_and_step(lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9))
    x, y = _batch(8)
    graph_step = _captured(compiled, x, y)
    opt.param_groups[0]["lr"] = 0.05  # read from device memory: the graph holds
    opt.param_groups[0]["momentum"] = 0.5
    assert graph_step.still_holds()
    opt.param_groups[0]["nesterov"] = True
    assert not graph_step.still_holds()
    opt.param_groups[0]["nesterov"] = False
    opt.param_groups[0]["momentum"] = 0.0  # no buffer slot any more
    assert not graph_step.still_holds()
