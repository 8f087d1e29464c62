"""Dropout on a GPU draws from the device's Philox generator (gpugrad/random.py:
PhiloxGenerator, kernels/dropout.cu), so a step captured as a CUDA graph
(gg.compile(step, cuda_graph=True), gpugrad/cuda_graph.py) draws a fresh mask at every
launch: the generator's offset arithmetic (eager, captured, replayed); the eager CUDA path
and its backward through the counting CuPy stand-in (tests/cuda_standin.py); a whole MLP
step with dropout captured and launched on the stand-in, with CuPy's stream capture and
graph emulated (our kernels' launches recorded at the capture and run again at each
launch); and on a real GPU, the graph's masks against eager's.

The kernel itself (Philox's known answers, the masks bit for bit, the share kept):
tests/kernels/test_dropout_kernels.py."""

import contextlib
import itertools
import sys

import cuda_standin
import numpy as np
import philox_reference as ref
import pytest
import test_step_counts

import gpugrad as gg
import gpugrad.functional as F
from gpugrad import nn, optim
from gpugrad.autograd import recording
from gpugrad.cuda_graph import GraphStep

random = sys.modules["gpugrad.random"]  # the module (gpugrad.random is also rand's name)
standin_kernels = test_step_counts.standin_kernels  # the fixture: our kernels built with g++


@pytest.fixture
def counts(request, monkeypatch):
    """The counting CuPy stand-in, installed for the test; its Counts."""
    return cuda_standin.install(monkeypatch, request.getfixturevalue("standin_kernels"))


# -- the generator's arithmetic ---------------------------------------------------------------
def test_eager_draws_advance_the_offset_by_the_elements_rounded_up_to_4():
    g = random.PhiloxGenerator(7)
    draws = [g.draw(n) for n in (5, 8, 0, 1, 4)]
    assert [(d.seed, d.offset, d.base) for d in draws] == [
        (7, 0, None), (7, 8, None), (7, 16, None), (7, 16, None), (7, 20, None)
    ]  # fmt: skip
    assert g.offset == 24
    assert random.PhiloxGenerator(2**64 + 3).seed == 3  # the low 64 bits, as torch


def test_a_capture_hands_out_offsets_inside_the_graph_and_each_replay_advances_the_host():
    g = random.PhiloxGenerator(2**64 - 2)  # a seed past 2^63: int64 bits in the buffer
    g.draw(10)  # eager: offset 12
    base = object()  # the graph's device buffer (only passed along here)
    g.begin_capture(base)
    with pytest.raises(RuntimeError, match="already capturing"):
        g.begin_capture(base)
    inside = [g.draw(n) for n in (6, 3)]
    assert [(d.offset, d.base) for d in inside] == [(0, base), (8, base)]
    assert g.offset == 12  # a capture does not move the host offset
    with pytest.raises(RuntimeError, match="while one is being captured"):
        g.replay_base(12)
    assert g.end_capture() == 12 and not g.capturing
    for replay in range(3):
        values = g.replay_base(12)
        assert values.dtype == np.int64
        assert values.view(np.uint64).tolist() == [2**64 - 2, 12 + 12 * replay]
    assert g.draw(4).offset == 48  # eager draws after the replays: never the same numbers


def test_manual_seed_restarts_the_stream_and_a_capture_for_another_device_is_refused(counts):
    dev = gg.device("cuda")
    gg.manual_seed(11)
    g = random.philox_generator(dev)
    assert (g.seed, g.offset) == (11, 0)
    g.draw(100)
    gg.manual_seed(11)
    assert random.philox_generator(dev) is not g and random.philox_generator(dev).offset == 0
    with recording.capturing_graph(), pytest.raises(gg.CompileError, match="another device"):
        random.philox_draw(dev, 4)
    with recording.capturing_graph(), pytest.raises(gg.CompileError, match="random draw"):
        gg.rand(3)  # CuPy's or NumPy's generators: still refused in a capture


# -- the eager CUDA path, on the stand-in -------------------------------------------------------
def test_dropout_on_cuda_draws_the_philox_stream_and_the_backward_the_same_mask(counts):
    gg.manual_seed(3)
    x = gg.full((6, 7), 2.0, device="cuda", requires_grad=True)
    with cuda_standin.recording(counts) as forward:
        y = F.dropout(x, 0.25)
    mask = ref.mask(3, 0, (6, 7), 0.25, np.float32)
    np.testing.assert_array_equal(np.asarray(y.array), 2.0 * mask)
    with cuda_standin.recording(counts) as backward:
        (y * 3.0).sum().backward()
    np.testing.assert_array_equal(np.asarray(x.grad.array), 3.0 * mask)
    assert [e.name for e in forward if e.kind == "kernel"] == ["dropout_f32"]
    assert [e.name for e in backward if e.kind == "kernel"] == ["dropout_f32"]
    assert sorted(e.kind for e in forward) == ["alloc", "kernel"]  # no upload, read, sync
    # the next draw starts past 42 numbers rounded up to 44
    z = F.dropout(gg.ones(5, device="cuda"), 0.25)
    np.testing.assert_array_equal(np.asarray(z.array), ref.mask(3, 44, (5,), 0.25, np.float32))
    assert random.philox_generator(gg.device("cuda")).offset == 52
    with pytest.raises(TypeError, match="floating-point"):
        F.dropout(gg.ones(4, dtype=gg.int64, device="cuda"), 0.5)
    assert random.philox_generator(gg.device("cuda")).offset == 52  # nothing drawn


def test_the_gradient_of_the_gradient_uses_the_same_mask(counts):
    gg.manual_seed(4)
    x = gg.ones(10, device="cuda", requires_grad=True)
    v = gg.full((10,), 5.0, device="cuda", requires_grad=True)
    (g,) = gg.autograd.grad((F.dropout(x, 0.5) * v).sum(), x, create_graph=True)
    mask = ref.mask(4, 0, (10,), 0.5, np.float32)
    np.testing.assert_array_equal(np.asarray(g.array), 5.0 * mask)
    g.sum().backward()
    np.testing.assert_array_equal(np.asarray(v.grad.array), mask)


# -- a CUDA graph on the stand-in ---------------------------------------------------------------
class EmulatedGraphs:
    """CuPy's stream capture and CUDA graphs on the stand-in: while a stream captures, our
    kernels' launches are recorded with their arguments (arrays: device memory, read when
    the graph runs; numbers: fixed) and not run, as CUDA records a captured launch; a
    graph's ``launch()`` runs them again.  CuPy array operations are not emulated as graph
    nodes: the stand-in runs them at once, inside the capture too."""

    def __init__(self, monkeypatch):
        self.recording, self.graphs = None, []
        emulated = cuda_standin._kernel_tests().EmulatedKernel
        run = emulated.__call__

        def launch_or_record(kernel, grid, block, args):
            if self.recording is None:
                return run(kernel, grid, block, args)
            self.recording.append((kernel, grid, block, tuple(args)))

        graphs = self

        class Graph:
            def __init__(self, launches):
                self.launches, self.launched = launches, 0

            def launch(self, stream=None):
                self.launched += 1
                for kernel, grid, block, args in self.launches:
                    run(kernel, grid, block, args)

        class Stream(cuda_standin.Stream):
            def record(self, event=None):
                return cuda_standin.CudaEvent()

            def wait_event(self, event):
                pass

            def begin_capture(self):
                graphs.recording = []

            def is_capturing(self):
                return graphs.recording is not None

            def end_capture(self):
                graph = Graph(graphs.recording)
                graphs.recording = None
                graphs.graphs.append(graph)
                return graph

        class MemoryPool(cuda_standin.MemoryPool):
            def malloc(self, nbytes):
                raise AssertionError("the stand-in allocates with NumPy")

        monkeypatch.setattr(emulated, "__call__", launch_or_record)
        cuda = sys.modules["cupy"].cuda
        for name, value in [
            ("Stream", Stream),
            ("get_current_stream", Stream),
            ("MemoryPool", MemoryPool),
            ("using_allocator", lambda malloc: contextlib.nullcontext()),
        ]:
            monkeypatch.setattr(cuda, name, value, raising=False)


def _dropout_launches(graph) -> list:
    """(input, output) of each dropout launch a graph runs, as NumPy arrays."""
    return [
        (np.asarray(args[0]).view(np.ndarray), np.asarray(args[1]).view(np.ndarray))
        for kernel, _, _, args in graph.launches
        if kernel.name.startswith("dropout_")
    ]


def test_a_captured_mlp_step_with_dropout_draws_a_fresh_mask_at_every_launch(counts, monkeypatch):
    graphs = EmulatedGraphs(monkeypatch)
    gg.manual_seed(5)
    fc1, fc2, drop = nn.Linear(16, 32).to("cuda"), nn.Linear(32, 4).to("cuda"), nn.Dropout(0.5)
    opt = optim.SGD([*fc1.parameters(), *fc2.parameters()], lr=0.1, momentum=0.9)
    x = gg.randn(8, 16).to("cuda")
    y = gg.tensor([k % 4 for k in range(8)]).to("cuda")

    def step(xb, yb):
        opt.zero_grad()
        h = drop(F.relu(fc1(xb)))
        loss = F.cross_entropy(fc2(h), yb)
        loss.backward()
        opt.step()
        return loss, h

    compiled = gg.compile(step, cuda_graph=True)
    generator = random.philox_generator(gg.device("cuda"))
    with np.errstate(all="ignore"):  # a capture runs no kernel: CuPy ops read unset buffers
        for _ in range(4):  # eager, recorded, two plain replays: eager draws of 8 x 32
            compiled(x, y)
        assert generator.offset == 4 * 256
        (graph_step,) = compiled.plans.values()
        assert isinstance(graph_step, GraphStep) and graph_step.graph is None
        masks = []
        for call in range(4):  # the capture (and its launch), then three launches
            base = generator.offset
            with cuda_standin.recording(counts) as events:
                _, h = compiled(x, y)
            (graph,) = graphs.graphs
            assert graph.launched == call + 1 and graph_step.philox_increment == 256
            # before the launch: the generator's (seed, offset) uploaded, the host advanced
            np.testing.assert_array_equal(np.asarray(graph_step.philox_base), [5, base])
            assert generator.offset == base + 256
            uploads = [(e.name, e.where) for e in events if e.kind == "upload"]
            assert ("set", "cuda_graph.py:_advance_philox") in uploads
            if call:  # a launch: that upload and nothing else; no host read, no sync
                assert uploads == [("set", "cuda_graph.py:_advance_philox")]
                assert not [e for e in events if e.kind in ("read", "sync")]
            # forward and backward in the graph: x · mask and gy · mask, the mask of this
            # launch's offset; the step's returned h is the forward's output buffer
            mask = ref.mask(5, base, (8, 32), 0.5, np.float32)
            (x_in, h_out), (gy, gx) = _dropout_launches(graph)
            np.testing.assert_array_equal(h_out, x_in * mask)
            np.testing.assert_array_equal(gx, gy * mask)
            assert np.shares_memory(np.asarray(h.array), h_out)
            masks.append(mask)
        gg.manual_seed(6)  # a new generator: the next launch reads its seed and offset
        compiled(x, y)
    np.testing.assert_array_equal(np.asarray(graph_step.philox_base), [6, 0])
    masks.append(ref.mask(6, 0, (8, 32), 0.5, np.float32))
    np.testing.assert_array_equal(_dropout_launches(graph)[0][1], x_in * masks[-1])
    assert all(not np.array_equal(a, b) for a, b in itertools.pairwise(masks))
    assert not graphs.recording and len(graphs.graphs) == 1


# -- on a GPU --------------------------------------------------------------------------------
def test_a_cuda_graph_draws_eagers_masks_fresh_at_every_launch(device):
    """On a GPU: a step with dropout captured as a CUDA graph (launched from the 5th call)
    gives, call for call, the outputs and gradients of the same step run eagerly (the
    graph reads the offset eager would have used); every launch a new mask, keeping about
    1-p, the backward the forward's mask, all exactly the Philox reference's."""
    if device.kind != "cuda":
        pytest.skip("a CUDA graph needs a GPU")
    n, p, calls = 1 << 16, 0.4, 8

    def run(compiled: bool):
        gg.manual_seed(9)
        w = gg.ones(n, device=device, requires_grad=True)
        x = gg.full((n,), 3.0, device=device)

        def step(xb):
            w.grad = None
            y = F.dropout(xb * w, p)
            y.sum().backward()
            return y, w.grad

        fn = gg.compile(step, cuda_graph=True) if compiled else step
        generator = random.philox_generator(device)
        out = []
        for _ in range(calls):
            offset = generator.offset
            y, g = fn(x)
            out.append((offset, y.numpy().copy(), g.numpy().copy()))
        return out, fn

    (graphed, fn), (eager, _) = run(True), run(False)
    (graph_step,) = fn.plans.values()
    assert isinstance(graph_step, GraphStep) and graph_step.graph is not None
    bound = 5 * (p * (1 - p) / n) ** 0.5
    for (offset, y, g), (eager_offset, eager_y, eager_g) in zip(graphed, eager):
        assert offset == eager_offset
        mask = ref.mask(9, offset, (n,), p, np.float32)
        np.testing.assert_array_equal(y, 3.0 * mask)
        np.testing.assert_array_equal(g, 3.0 * mask)
        np.testing.assert_array_equal(y, eager_y)
        np.testing.assert_array_equal(g, eager_g)
        assert abs((y != 0).mean() - (1 - p)) < bound
    ys = [y for _, y, _ in graphed]
    assert all(not np.array_equal(a, b) for a, b in itertools.pairwise(ys))
