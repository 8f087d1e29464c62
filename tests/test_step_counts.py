"""Device operations and memory-pool allocations of one steady-state train step on the
CUDA code path, on any machine: the MLP (784-512-512-10) and the CNN of bench/models.py,
with SGD (momentum) and Adam, run against the counting stand-in for CuPy
(tests/cuda_standin.py: NumPy arrays that say they live on CUDA, our kernels compiled
with g++).  The counts are exact: a change that adds a launch or an allocation to the
step fails here (and prints the step's breakdown), a change that removes some updates
the tables below.  The optimizer's launches do not grow with the number of parameters.

A launch is one of our kernels or one CuPy array operation (a GEMM, ufunc, reduction,
copy, fill, gather or scatter); an allocation is a new device buffer (views are free).
"""

import cuda_standin
import numpy as np
import pytest

import gpugrad as gg
from bench import models

WARM_UP = 2  # steps before the counted ones: state buffers, pointer tables, flags created
BATCH = 8
PHASES = ("zero_grad", "forward", "loss", "backward", "step")

# (launches, allocations) of each phase of one steady-state step, the model's and loss's
# phases with zero_grad() setting the gradients to None (the default, bench/models.py's).
MODEL_PHASES = {
    "mlp": {
        # 3 GEMMs (ops/linear.py; no bias: Sequential fuses Linear + ReLU), 2 fused
        # bias+ReLU kernels, 1 bias add of the last Linear (no activation to fuse).
        # Allocations: the 3 GEMM outputs and the 2 kernels' outputs.
        "forward": (6, 5),
        # cross_entropy (reduction="mean", no weights, no smoothing): ONE kernel
        # (softmax_cross_entropy_reduce_forward: the rows' losses, the ignored labels left
        # out, and their mean, in one block; the standing label flag is made once).
        # Allocations: the 0-d loss and the saved log-sum-exp + divisor.
        "loss": (1, 2),
        # the cross-entropy's backward kernel (the mean's division inside; the seed of
        # ones is made once: autograd/backward.py); 5 GEMMs (gW and gx of fc3 and fc2, gW
        # of fc1: x needs no gradient); fc3's bias gradient (sum); 2 fused ReLU-backward +
        # bias-gradient kernels (column_reduce_direct).  Allocations: those 6 outputs, the
        # kernel's output, the 2 fused kernels' gx and bias gradient.
        "backward": (9, 11),
    },
    "cnn": {
        # per conv (2), fused with its ReLU by Sequential (ops/conv.py conv2d_activation):
        # im2col of the 3x3 taps (padding 1) into fresh columns, 21 writes (9 tap blocks + 12
        # padding strips, ops/im2col.py), 1 GEMM (no bias) into a fresh (F, N, Ho, Wo)
        # output, 1 row-bias+ReLU kernel over it; per max-pool (2): 25 ops (3 maximum; 4 x
        # (==, !=, |) for the hit masks; the first-max sweep: copy and 3 x (~, &, |)), in the
        # conv's (C, N, H, W) layout; the flatten's copy (the pooled (C, N, H, W) layout is
        # not (N, C·H·W)); the Linear: GEMM + bias add.  2 x 23 + 2 x 25 + 1 + 2 = 99.
        # Allocations: per conv the columns, output and kernel output (3), per pool the max
        # and 12 masks (13), the flatten's copy, the Linear's GEMM: 6 + 26 + 1 + 1 = 34.
        "forward": (99, 34),
        "loss": (1, 2),  # as the MLP's
        # the cross-entropy kernel (1); the Linear: gW, gx
        # GEMMs and the bias sum (3); per pool 4 x (zeros + where + a write into the
        # window) (24); per conv its fused ReLU-backward + bias-sum kernel over the rows
        # (row_reduce_direct; conv1's 8 x 28 x 28 columns per row take two launches,
        # row_reduce + column_finish) (3), a zeroed gW, the columns rebuilt from x (21
        # writes), the gW GEMM and its add into gW (2 x 24); conv2's gx: its GEMM and col2im
        # (the whole-image tap placed, 8 added, 12 padding strips zeroed: 21) (22); the
        # fused kernels' gradients are in the layout the conv's backward reads: no copy.
        # 1 + 3 + 24 + 3 + 48 + 22 = 101.  Allocations: 1 + 3, the pools' 2 outputs and 16
        # select temporaries, per conv the fused kernel's gx and bias gradient (+ conv1's
        # partial sums), gW, columns and GEMM product, conv2's gx and its column gradient:
        # 4 + 18 + 5 + 6 + 2 = 35.
        "backward": (101, 35),
    },
}
# zero_grad(set_to_none=False): the gradients persist; zeroing them is one multi-tensor
# launch (kernels/zero_grad.py: the 6 gradients of one dtype) and backward adds into them
# (6 adds, no allocation saved: the gradients are still computed into new arrays first).
PERSISTENT = {"zero_grad": (1, 0), "backward": (6, 0)}
# the multi-tensor kernels: SGD 1 launch, Adam 2 (step counts, update), whatever the
# number of parameters; nothing allocated (the pointer table and scalars are cached)
OPTIMIZER_STEP = {"SGD": (1, 0), "Adam": (2, 0)}


# -- the stand-in ---------------------------------------------------------------------------
@pytest.fixture(scope="module")
def standin_kernels(request, tmp_path_factory):
    """The kernels compiled with g++ for the stand-in (cached: tests/cuda_standin.py)."""
    return cuda_standin.cached_kernels(request.config, tmp_path_factory)


@pytest.fixture
def counts(standin_kernels, monkeypatch):
    return cuda_standin.install(monkeypatch, standin_kernels)


# -- running and counting a step ------------------------------------------------------------
def _parts(kind: str, optimizer: str, widths=None):
    """(model, x, y, opt) on the stand-in's CUDA device, as bench/models.py builds them."""
    lib = models.library("gpugrad")
    model, x, y, opt = models.train_parts(lib, kind, BATCH, "cuda")
    if widths is not None:
        gg.manual_seed(0)
        model = models.mlp(gg.nn, widths).to("cuda")
        opt = gg.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    if optimizer == "Adam":
        opt = gg.optim.Adam(model.parameters(), lr=1e-3)
    assert x.device == gg.device("cuda") and next(model.parameters()).device == x.device
    return model, x, y, opt


def _step(counts, parts, set_to_none: bool) -> dict:
    """One train step; {phase: its events}."""
    model, x, y, opt = parts
    events = {}
    with cuda_standin.recording(counts) as events["zero_grad"]:
        opt.zero_grad(set_to_none=set_to_none)
    with cuda_standin.recording(counts) as events["forward"]:
        logits = model(x)
    with cuda_standin.recording(counts) as events["loss"]:
        loss = gg.functional.cross_entropy(logits, y)
    with cuda_standin.recording(counts) as events["backward"]:
        loss.backward()
    with cuda_standin.recording(counts) as events["step"]:
        opt.step()
    return events


def _steady_step(counts, parts, set_to_none: bool) -> dict:
    """The events of a steady-state step: after the warm-up, two steps recorded the same."""
    for _ in range(WARM_UP):
        _step(counts, parts, set_to_none)
    first, second = (_step(counts, parts, set_to_none) for _ in range(2))
    # a pointer table is rebuilt (uploaded) when new gradient arrays have new addresses,
    # which depends on the allocator: uploads are left out of the comparison
    same = [{p: [e for e in ev[p] if e.kind != "upload"] for p in PHASES} for ev in (first, second)]
    assert same[0] == same[1], "not yet in a steady state after the warm-up"
    return second


def _report(title: str, events: dict) -> str:
    everything = [e for phase in PHASES for e in events[phase]]
    total = cuda_standin.tally(everything)
    lines = [
        f"{title}: {total['launches']} launches ({total['kernel']} our kernels, {total['op']} "
        f"CuPy ops), {total['alloc']} allocations, {total['upload']} uploads",
        "  " + ", ".join(f"{p} {_pair(events[p])}" for p in PHASES) + "  (launches/allocations)",
    ]
    for phase in PHASES:
        if events[phase]:
            lines += [f"  -- {phase}", cuda_standin.describe(events[phase])]
    return "\n".join(lines)


def _pair(events) -> tuple:
    counted = cuda_standin.tally(events)
    return counted["launches"], counted["alloc"]


def _expected(kind: str, optimizer: str, set_to_none: bool) -> dict:
    expected = {"zero_grad": (0, 0), **MODEL_PHASES[kind], "step": OPTIMIZER_STEP[optimizer]}
    if not set_to_none:
        for phase, (launches, allocations) in PERSISTENT.items():
            expected[phase] = (expected[phase][0] + launches, expected[phase][1] + allocations)
    return expected


# -- the tests --------------------------------------------------------------------------------
@pytest.mark.parametrize("set_to_none", [True, False], ids=["grads-to-none", "grads-persist"])
@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_launches_and_allocations_of_a_steady_state_step(counts, kind, optimizer, set_to_none):
    parts = _parts(kind, optimizer)
    events = _steady_step(counts, parts, set_to_none)
    title = f"{kind} {optimizer} zero_grad(set_to_none={set_to_none})"
    report = _report(title, events)
    print("\n" + report)
    assert {p: _pair(events[p]) for p in PHASES} == _expected(kind, optimizer, set_to_none), report
    everything = [e for phase in PHASES for e in events[phase]]
    tally = cuda_standin.tally(everything)
    assert (tally["read"], tally["sync"]) == (0, 0), "a step must not wait for the device"
    assert not [e for e in everything if "untracked" in e.name], report
    # the pointer table is re-uploaded only when the gradients are new arrays
    assert tally["upload"] <= (1 if set_to_none else 0), report
    if not set_to_none:
        _assert_trains_as_on_the_cpu(kind, optimizer, parts)


def _assert_trains_as_on_the_cpu(kind: str, optimizer: str, on_cuda) -> None:
    """The stand-in ran the real CUDA code path: after the same steps the parameters are
    the CPU path's, to float32 rounding."""
    cpu = models.train_parts(models.library("gpugrad"), kind, BATCH, "cpu")
    if optimizer == "Adam":
        cpu = (*cpu[:3], gg.optim.Adam(cpu[0].parameters(), lr=1e-3))
    for _ in range(WARM_UP + 2):
        model, x, y, opt = cpu
        opt.zero_grad(set_to_none=False)
        gg.functional.cross_entropy(model(x), y).backward()
        opt.step()
    for p, q in zip(on_cuda[0].parameters(), cpu[0].parameters(), strict=True):
        np.testing.assert_allclose(np.asarray(p.array), q.numpy(), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("optimizer", ["SGD", "Adam"])
def test_optimizer_launches_do_not_grow_with_the_number_of_parameters(counts, optimizer):
    launches = {}
    for widths in ((784, 64, 64, 10), (784, 64, 64, 64, 64, 10)):  # 6 and 10 parameters
        parts = _parts("mlp", optimizer, widths)
        events = _steady_step(counts, parts, set_to_none=False)
        launches[len(list(parts[0].parameters()))] = _pair(events["step"])
    assert launches == {6: OPTIMIZER_STEP[optimizer], 10: OPTIMIZER_STEP[optimizer]}


def test_zero_grad_zeroes_contiguous_gradients_in_one_launch_and_fills_the_others(counts):
    """zero_grad(set_to_none=False) on the CUDA path: the contiguous gradients of one dtype
    in one multi_zero launch, a non-contiguous one (a transposed view) with a fill of its
    own; every value +0 and every gradient's version bumped."""
    params = [gg.ones(3, 4, device="cuda", requires_grad=True) for _ in range(3)]
    grads = [np.full((3, 4), -0.0, np.float32), np.full((3, 4), 2.0, np.float32)]
    for p, g in zip(params, grads):
        p.grad = gg.tensor(g, device="cuda")
    params[2].grad = gg.tensor(np.full((4, 3), np.nan, np.float32), device="cuda").T
    versions = [p.grad._version[0] for p in params]
    with cuda_standin.recording(counts) as events:
        gg.optim.SGD(params, lr=0.1).zero_grad(set_to_none=False)
    # the non-contiguous one is filled as it is met (the table's build, if it is new, is
    # an allocation and an upload)
    launches = [(e.kind, e.name) for e in events if e.kind in ("kernel", "op")]
    assert launches == [("op", "fill"), ("kernel", "multi_zero_f32")]
    for p, before in zip(params, versions):
        g = np.asarray(p.grad.array)
        assert (g == 0).all() and not np.signbit(g).any()
        assert p.grad._version[0] == before + 1
