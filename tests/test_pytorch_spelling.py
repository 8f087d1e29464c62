"""PyTorch habits, written only in PyTorch spelling, run on torch and on gpugrad.

Each ``habit_*`` below is PyTorch code taking the module as ``torch`` (``nn``, ``F`` and
``optim`` are reached through it, as ``torch.nn``, ``torch.nn.functional``,
``torch.optim``).  The test runs it once with ``import torch`` and once with
``import gpugrad as torch`` and compares what it returns: numbers to 1e-6 in float32 and
1e-12 in float64, dtypes and shapes exactly.  A habit that builds a randomly initialised
model takes a second argument ``init``: ``init(model)`` records torch's initial weights on
the torch run and loads them into the gpugrad model through ``load_state_dict`` on the
gpugrad run, so both start from the same numbers.  Inputs come from NumPy, not from
either library's random generator.
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch as real_torch

import gpugrad

RNG = np.random.default_rng(0)
X = RNG.standard_normal((4, 6)).astype(np.float32)
X64 = RNG.standard_normal((8, 5))
Y = np.array([0, 2, 1, 2, 0, 1, 1, 0])
IMAGES = RNG.standard_normal((3, 1, 8, 8))
HABITS = []


def habit(fn=None, *, xfail=None):
    """Register a habit; ``xfail`` names a gap gpugrad still has (strict: it must fail)."""

    def register(f):
        marks = [pytest.mark.xfail(strict=True, reason=xfail)] if xfail else []
        HABITS.append(pytest.param(f, id=f.__name__.removeprefix("habit_"), marks=marks))
        return f

    return register(fn) if fn else register


def plain(value, lib):
    """A result as NumPy arrays and Python values (tuples for named tuples and sizes)."""
    if isinstance(value, lib.Tensor):
        return value.detach().cpu().numpy()
    if isinstance(value, dict):
        return {k: plain(v, lib) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v, lib) for v in value]
    if isinstance(value, (np.ndarray, np.generic)):
        return np.asarray(value)
    return value


def assert_same(got, want, where="result"):
    if isinstance(want, dict):
        assert list(got) == list(want), where
        for k in want:
            assert_same(got[k], want[k], f"{where}[{k!r}]")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), f"{where}: {got!r} vs {want!r}"
        for i, (g, w) in enumerate(zip(got, want, strict=True)):
            assert_same(g, w, f"{where}[{i}]")
    elif isinstance(want, np.ndarray):
        assert isinstance(got, np.ndarray), f"{where}: {type(got)} is not an array"
        assert got.dtype == want.dtype, f"{where}: dtype {got.dtype} vs {want.dtype}"
        assert got.shape == want.shape, f"{where}: shape {got.shape} vs {want.shape}"
        tol = 1e-12 if want.dtype == np.float64 else 1e-6
        np.testing.assert_allclose(got, want, rtol=tol, atol=tol, err_msg=where)
    elif isinstance(want, float):
        assert got == pytest.approx(want, rel=1e-6, abs=1e-6), where
    else:
        assert type(got) is type(want) and got == want, f"{where}: {got!r} vs {want!r}"


def run_both(fn):
    """(gpugrad's result, torch's result), from the same initial weights."""
    weights = []

    def record(model):
        weights.append({k: v.detach().numpy().copy() for k, v in model.state_dict().items()})
        return model

    def load(model):
        state = weights.pop(0)
        model.load_state_dict({k: gpugrad.tensor(v) for k, v in state.items()})
        return model

    takes_init = len(inspect.signature(fn).parameters) > 1
    want = plain(fn(real_torch, record) if takes_init else fn(real_torch), real_torch)
    got = plain(fn(gpugrad, load) if takes_init else fn(gpugrad), gpugrad)
    return got, want


# -- creation, sizes, dtypes ---------------------------------------------------------------------
@habit
def habit_creation(torch):
    return [
        torch.tensor([[1.0, 2.0], [3.0, 4.0]]),
        torch.tensor([1, 2, 3]),
        torch.zeros(2, 3),
        torch.ones((2, 3)),
        torch.full((2,), 7.0),
        torch.arange(5),
        torch.arange(0, 1, 0.25),
        torch.linspace(0, 1, 5),
        torch.eye(3),
        torch.zeros_like(torch.tensor(X)),
    ]


@habit
def habit_size_and_dim(torch):
    x = torch.tensor(X)
    return [x.size(0), x.size(-1), tuple(x.size()), tuple(x.shape), x.dim(), x.numel(), len(x)]


@habit
def habit_dtype_conversions(torch):
    x = torch.tensor(X)
    out = [x.float(), x.double(), x.long(), x.int(), (x > 0).float(), x.long().float()]
    return [*out, x.double().dtype == torch.float64, x.long().dtype == torch.int64]


@habit
def habit_to_dtype(torch):
    x = torch.tensor(X).to(torch.float64)
    return [x, x.dtype == torch.float64, x.to(torch.float32).dtype == torch.float32]


@habit
def habit_type_promotion(torch):
    a = torch.tensor([1, 2, 3])
    b = torch.tensor([0.5, 1.5, 2.5])
    return [a / 2, a * 2, a + b, b.double() + b, b * 2.0, a // 2, a % 2]


@habit
def habit_item_and_tolist(torch):
    x = torch.tensor(X64)
    loss = (x**2).mean()
    return [loss.item(), x[0].tolist(), f"{loss.item():.4f}"]


@habit
def habit_manual_seed(torch):
    torch.manual_seed(0)
    a = torch.randn(3, 4)
    torch.manual_seed(0)
    b = torch.randn(3, 4)
    return [torch.equal(a, b), tuple(a.shape), bool(torch.rand(5).max() < 1)]


# -- reductions ----------------------------------------------------------------------------------
@habit
def habit_sum_mean_dim(torch):
    x = torch.tensor(X)
    return [x.sum(dim=1), x.sum(1, keepdim=True), x.mean(dim=0), x.sum(), torch.sum(x, dim=(0, 1))]


@habit
def habit_max_gives_indices(torch):
    out = torch.tensor(X)
    _, pred = out.max(1)
    values, indices = torch.max(out, dim=0)
    return [pred, values, indices, out.max(), out.min(dim=1).indices]


@habit
def habit_argmax_accuracy(torch):
    out = torch.tensor(X64)
    y = torch.tensor(Y)
    pred = out.argmax(dim=1)
    return [pred, (pred == y).sum().item(), (pred == y).float().mean().item()]


@habit
def habit_var_is_unbiased(torch):
    x = torch.tensor(X64)
    return [x.var(), x.std(), x.var(dim=0), x.var(unbiased=False), x.std(dim=1, correction=0)]


@habit
def habit_prod(torch):
    x = torch.tensor(X64, requires_grad=True)
    z = torch.tensor([[1.0, 0.0, 3.0], [0.0, 0.0, 2.0], [4.0, 5.0, 6.0]], requires_grad=True)
    (x.prod(dim=1).sum() + z.prod(1).sum() + z.prod()).backward()
    return [x.prod(), x.prod(dim=1), torch.prod(x, 0, keepdim=True), x.grad, z.grad]


@habit
def habit_norm(torch):
    x = torch.tensor(X64, requires_grad=True)
    (x.norm() + x.norm(dim=1).sum() + x.norm(p=3, dim=0).sum()).backward()
    inf = float("inf")
    return [
        x.norm(),
        x.norm(dim=1),
        torch.norm(x),
        x.norm(p=1, dim=0),
        torch.norm(x, dim=1, keepdim=True),
        x.norm(p=inf),
        x.norm(p=0),
        x.grad,
    ]


@habit
def habit_logsumexp(torch):
    x = torch.tensor(X64, requires_grad=True)
    torch.logsumexp(x, dim=1).sum().backward()
    return [torch.logsumexp(x, dim=1), x.logsumexp(dim=0), torch.logsumexp(x, 1, True), x.grad]


@habit
def habit_cumsum_topk_sort(torch):
    x = torch.tensor(X64)
    values, indices = x.topk(2, dim=1)
    s = torch.sort(x, dim=0)
    return [x.cumsum(dim=1), values, indices, s.values, s.indices, x.argsort(dim=1)]


# -- shapes --------------------------------------------------------------------------------------
@habit
def habit_view(torch):
    x = torch.arange(24.0)
    return [x.view(-1, 4), x.view(2, 3, 4), x.view(2, -1).shape[1], x.reshape(4, 6)]


@habit
def habit_transpose_2d(torch):
    x = torch.tensor(X)
    return [x.transpose(0, 1), x.t(), x.T, torch.transpose(x, 1, 0)]


@habit
def habit_permute(torch):
    x = torch.tensor(IMAGES, requires_grad=True)
    y = x.permute(0, 2, 3, 1)
    (y * torch.arange(64.0).view(8, 8, 1).double()).sum().backward()
    return [y, x.grad, x.permute(3, 2, 1, 0).contiguous()]


@habit
def habit_cat_stack(torch):
    a, b = torch.tensor(X), torch.tensor(X) * 2
    return [torch.cat([a, b], dim=1), torch.cat((a, b)), torch.stack([a, b], dim=0)]


@habit
def habit_squeeze_unsqueeze_flatten(torch):
    x = torch.tensor(IMAGES)
    return [x.unsqueeze(1).shape, x.squeeze(1), x.flatten(1), torch.flatten(x), x[:, None].shape]


@habit
def habit_expand_repeat(torch):
    x = torch.tensor([[1.0], [2.0]])
    return [x.expand(2, 3), x.expand(-1, 4), x.repeat(2, 3), x.expand_as(torch.zeros(2, 5))]


@habit
def habit_chunk_split(torch):
    x = torch.arange(10.0)
    return [list(x.chunk(3)), list(torch.split(x, 4)), list(x.split([3, 7]))]


@habit
def habit_indexing(torch):
    x = torch.tensor(X64, requires_grad=True)
    rows = torch.tensor([0, 2, 2])
    picked = x[rows, torch.tensor([1, 0, 1])]
    masked = x[x > 0]
    (picked.sum() + masked.sum() + x[1:, ::2].sum()).backward()
    return [picked, masked, x.grad, x[..., -1], x[torch.arange(8), torch.tensor(Y)]]


@habit
def habit_setitem_masked_fill(torch):
    x = torch.tensor(X)
    y = x.clone()
    y[0] = 0.0
    y[:, 1] = torch.ones(4)
    return [y, x.masked_fill(x < 0, 0.0), torch.where(x > 0, x, torch.zeros_like(x))]


# -- maths ---------------------------------------------------------------------------------------
@habit
def habit_softmax_dim(torch):
    F = torch.nn.functional
    x = torch.tensor(X)
    return [
        F.softmax(x, dim=1),
        F.log_softmax(x, dim=1),
        torch.softmax(x, dim=0),
        x.softmax(-1),
        x.log_softmax(dim=1),
        F.softmax(x, dim=1, dtype=torch.float64),
    ]


@habit
def habit_elementwise_maths(torch):
    x = torch.tensor(X64)
    return [
        torch.exp(x),
        x.abs().sqrt(),
        torch.sin(x),
        x.cos(),
        x.clamp(min=-0.5, max=0.5),
        torch.floor(x),
        x.sign(),
        x.sigmoid(),
        torch.tanh(x),
        x.reciprocal(),
        x.pow(2),
    ]


@habit
def habit_floor_div_and_mod(torch):
    a = torch.tensor([7, -7, 9])
    b = torch.tensor([2.5, -1.5, 4.0])
    return [a // 2, a % 3, b // 1, b % 2, torch.floor_divide(a, 4), torch.remainder(b, 2)]


@habit
def habit_comparisons(torch):
    x = torch.tensor([1.0, float("nan"), float("inf"), -2.0])
    return [torch.isnan(x), x.isinf(), torch.isfinite(x), x > 0, x.eq(-2.0), x.ne(1.0)]


@habit
def habit_allclose_equal(torch):
    a = torch.tensor(X64)
    return [torch.allclose(a, a + 1e-12), torch.equal(a, a.clone()), a.allclose(a * 2)]


@habit
def habit_matmul_family(torch):
    a = torch.tensor(X64)
    b = torch.tensor(X64.T.copy())
    batch = torch.stack([a, a * 2])
    return [
        a @ b,
        torch.mm(a, b),
        torch.matmul(a, b[:, 0]),
        torch.bmm(batch, batch.transpose(1, 2)),
        torch.einsum("ij,jk->ik", a, b),
        torch.einsum("bij->bji", batch),
    ]


# -- autograd ------------------------------------------------------------------------------------
@habit
def habit_backward_and_grad(torch):
    w = torch.tensor(X64, requires_grad=True)
    loss = (w**2).sum()
    loss.backward()
    return [w.grad, loss.item(), w.is_leaf, loss.grad_fn is not None, w.grad_fn is None]


@habit
def habit_grad_data_zero(torch):
    w = torch.tensor(X64, requires_grad=True)
    (w * 3).sum().backward()
    w.grad.data.zero_()
    (w * w).sum().backward()
    return [w.grad]


@habit
def habit_no_grad_update(torch):
    w = torch.tensor(X64, requires_grad=True)
    (w**3).sum().backward()
    with torch.no_grad():
        w -= 0.1 * w.grad
        y = w * 2
    return [w, y.requires_grad, w.requires_grad, torch.is_grad_enabled()]


@habit
def habit_set_grad_enabled_inference_mode(torch):
    w = torch.tensor(X64, requires_grad=True)
    with torch.set_grad_enabled(False):
        a = w * 2
    with torch.inference_mode():
        b = w * 2
    return [a.requires_grad, b.requires_grad, (w * 2).requires_grad]


@habit
def habit_backward_gradient_retain_grad(torch):
    x = torch.tensor(X64, requires_grad=True)
    h = x * 2
    h.retain_grad()
    y = h.exp()
    y.backward(gradient=torch.ones_like(y) * 0.5)
    return [x.grad, h.grad]


@habit
def habit_autograd_grad(torch):
    x = torch.tensor(X64, requires_grad=True)
    y = (x**3).sum()
    (g,) = torch.autograd.grad(y, x, create_graph=True)
    (gg,) = torch.autograd.grad(g.sum(), x)
    return [g, gg]


@habit
def habit_detach_clone(torch):
    x = torch.tensor(X64, requires_grad=True)
    d = x.detach()
    c = x.clone()
    c.sum().backward()
    return [d.requires_grad, c.requires_grad, x.grad, d]


@habit
def habit_custom_function(torch):
    class Exp(torch.autograd.Function):
        @staticmethod
        def forward(ctx, i):
            result = i.exp()
            ctx.save_for_backward(result)
            return result

        @staticmethod
        def backward(ctx, grad_output):
            (result,) = ctx.saved_tensors
            return grad_output * result

    x = torch.tensor(X64, requires_grad=True)
    y = Exp.apply(x)
    y.sum().backward()
    return [y, x.grad]


@habit
def habit_in_place_ops(torch):
    x = torch.tensor(X64)
    x.add_(1.0)
    x.mul_(2.0)
    x += 1
    x.clamp_(max=3.0)
    return [x, torch.zeros(3).fill_(2.5)]


def x64(torch):
    """The float64 inputs as a tensor of the library under test."""
    return torch.tensor(X64)


# -- nn ------------------------------------------------------------------------------------------
class _Mlp:
    """The MLP most habits below train: nn.Sequential(Linear, ReLU, Linear)."""

    @staticmethod
    def build(torch, init, dtype=None):
        nn = torch.nn
        model = nn.Sequential(nn.Linear(5, 16), nn.ReLU(), nn.Linear(16, 3))
        return init(model.double() if dtype is None else model)


@habit
def habit_linear_forward(torch, init):
    model = _Mlp.build(torch, init)
    x = torch.tensor(X64)
    return [model(x), [p.shape for p in model.parameters()]]


@habit
def habit_module_list(torch, init):
    nn = torch.nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(5, 5) for _ in range(3)])

        def forward(self, x):
            for layer in self.layers:
                x = torch.relu(layer(x))
            return x

    net = init(Net().double())
    return [net(torch.tensor(X64)), len(net.layers), len(list(net.parameters()))]


@habit
def habit_named_modules(torch):
    nn = torch.nn
    model = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.ReLU(), nn.Linear(3, 1)))
    return [
        [name for name, _ in model.named_modules()],
        [name for name, _ in model.named_parameters()],
        [type(m).__name__ for m in model.children()],
    ]


@habit
def habit_sequential_slice(torch, init):
    model = _Mlp.build(torch, init)
    head = model[:2]
    return [type(head).__name__, len(head), head(torch.tensor(X64)), type(model[-1]).__name__]


@habit
def habit_state_dict_round_trip(torch, init):
    model = _Mlp.build(torch, init)
    copy = _Mlp.build(torch, lambda m: m)
    copy.load_state_dict(model.state_dict())
    x = torch.tensor(X64)
    return [list(model.state_dict()), copy(x), torch.equal(copy(x), model(x))]


@habit
def habit_batchnorm_state_dict(torch, init):
    nn = torch.nn
    model = init(nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4)).double())
    model(torch.tensor(X64))
    state = model.state_dict()
    model.eval()
    tracked, running_var = state["1.num_batches_tracked"], state["1.running_var"]
    return [list(state), tracked, running_var, model(x64(torch))]


@habit
def habit_train_eval_dropout(torch, init):
    nn = torch.nn
    model = init(nn.Sequential(nn.Linear(5, 5), nn.Dropout(0.5)).double())
    model.eval()
    return [model.training, model(x64(torch)), model.train().training]


@habit
def habit_requires_grad_and_zero_grad(torch, init):
    model = _Mlp.build(torch, init)
    model(x64(torch)).sum().backward()
    model.zero_grad()
    model[0].requires_grad_(False)
    params = list(model.parameters())
    return [[p.grad is None for p in params], [p.requires_grad for p in params]]


@habit
def habit_conv_pool(torch, init):
    nn = torch.nn
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten())
    net = init(net.double())
    x = torch.tensor(IMAGES)
    out = net(x)
    out.sum().backward()
    return [out, net[0].weight.grad, net[0].bias.grad]


@habit
def habit_cross_entropy_ignore_index(torch):
    nn = torch.nn
    logits = torch.tensor(X64, requires_grad=True)
    target = torch.tensor([0, 2, -100, 2, 0, 1, -100, 0])
    loss = nn.CrossEntropyLoss(ignore_index=-100)(logits[:, :3], target)
    loss.backward()
    return [loss, logits.grad]


@habit
def habit_cross_entropy_label_smoothing(torch):
    F = torch.nn.functional
    logits = torch.tensor(X64, requires_grad=True)
    loss = torch.nn.CrossEntropyLoss(label_smoothing=0.1)(logits, torch.tensor(Y))
    loss.backward()
    return [loss, logits.grad, F.cross_entropy(logits, torch.tensor(Y), reduction="sum")]


@habit
def habit_losses(torch):
    F = torch.nn.functional
    x = torch.tensor(X64)
    y = torch.tensor(X64[::-1].copy())
    return [
        F.mse_loss(x, y),
        F.l1_loss(x, y),
        F.smooth_l1_loss(x, y),
        F.nll_loss(F.log_softmax(x, dim=1), torch.tensor(Y)),
        F.binary_cross_entropy_with_logits(x, (y > 0).double()),
        F.binary_cross_entropy(torch.sigmoid(x), (y > 0).double()),
    ]


@habit
def habit_one_hot(torch):
    return [torch.nn.functional.one_hot(torch.tensor(Y), 3)]


# -- optim ---------------------------------------------------------------------------------------
def _train(torch, model, optimizer, steps, scheduler=None):
    """The standard loop; the losses and the model's final output."""
    criterion = torch.nn.CrossEntropyLoss()
    x, y = torch.tensor(X64), torch.tensor(Y)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        optimizer.step()
        if scheduler is not None:
            scheduler.step()
        losses.append(loss.item())
    return [losses, model(x)]


@habit
def habit_training_loop_sgd(torch, init):
    model = _Mlp.build(torch, init)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    return _train(torch, model, optimizer, 5)


@habit
def habit_training_loop_adam(torch, init):
    model = _Mlp.build(torch, init)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2, weight_decay=1e-4)
    return _train(torch, model, optimizer, 5)


@habit
def habit_step_lr(torch, init):
    model = _Mlp.build(torch, init)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    result = _train(torch, model, optimizer, 5, scheduler)
    return [*result, scheduler.get_last_lr(), optimizer.param_groups[0]["lr"]]


@habit
def habit_clip_grad_norm(torch, init):
    model = _Mlp.build(torch, init)
    model(x64(torch)).pow(2).sum().backward()
    total = torch.nn.utils.clip_grad_norm_(model.parameters(), max_norm=1.0)
    return [total, [p.grad for p in model.parameters()]]


@habit
def habit_optimizer_state_dict(torch, init):
    model = _Mlp.build(torch, init)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    _train(torch, model, optimizer, 2)
    again = torch.optim.Adam(model.parameters(), lr=1.0)
    again.load_state_dict(optimizer.state_dict())
    return [again.param_groups[0]["lr"], _train(torch, model, again, 2)]


@habit
def habit_schedulers(torch, init):
    model = _Mlp.build(torch, init)
    sched = torch.optim.lr_scheduler
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    multi = sched.MultiStepLR(optimizer, milestones=[1, 3], gamma=0.1)
    cosine = torch.optim.SGD(model.parameters(), lr=0.1)
    annealing = sched.CosineAnnealingLR(cosine, T_max=4)
    lrs = []
    for _ in range(4):
        optimizer.step()
        multi.step()
        cosine.step()
        annealing.step()
        lrs.append([multi.get_last_lr()[0], annealing.get_last_lr()[0]])
    return [lrs, multi.state_dict()["last_epoch"]]


@habit
def habit_module_dict_apply_init(torch, init):
    nn = torch.nn
    heads = nn.ModuleDict({"a": nn.Linear(5, 2), "b": nn.Linear(5, 3)})

    def reset(m):
        if isinstance(m, nn.Linear):
            nn.init.constant_(m.weight, 0.1)
            nn.init.zeros_(m.bias)

    heads.apply(reset)
    heads = init(heads.double())
    return [list(heads.keys()), heads["b"](x64(torch)), heads.state_dict()]


@habit
def habit_register_buffer_parameter(torch, init):
    nn = torch.nn

    class Scale(nn.Module):
        def __init__(self):
            super().__init__()
            self.weight = nn.Parameter(torch.ones(5, dtype=torch.float64))
            self.register_buffer("offset", torch.zeros(5, dtype=torch.float64))

        def forward(self, x):
            return x * self.weight + self.offset

    m = init(Scale())
    return [m(x64(torch)), list(m.state_dict()), [n for n, _ in m.named_buffers()]]


@pytest.mark.parametrize("fn", HABITS)
def test_habit(fn):
    got, want = run_both(fn)
    assert_same(got, want)


def test_one_hot_errors_as_torch():
    import gpugrad as gg
    import gpugrad.nn.functional as F

    with pytest.raises(RuntimeError, match="non-negative"):
        F.one_hot(gg.tensor([0, -1]))
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        F.one_hot(gg.tensor([0, 3]), 3)
    with pytest.raises(RuntimeError, match="index tensors"):
        F.one_hot(gg.tensor([0.0, 1.0]))
