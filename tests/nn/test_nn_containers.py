"""Containers and the Module API against PyTorch's: Sequential (OrderedDict, slicing),
ModuleList, ModuleDict, module names, apply, requires_grad_, to(dtype), hooks, zero_grad,
num_batches_tracked, state dicts from torch loaded strictly, and repr."""

from collections import OrderedDict

import numpy as np
import pytest
import torch

import gpugrad as gg
from gpugrad import nn


def _pair():
    """The same small CNN in gpugrad and in torch."""
    ours = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)
    )
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3),
        torch.nn.BatchNorm2d(2),
        torch.nn.ReLU(),
        torch.nn.Flatten(),
        torch.nn.Linear(2 * 4 * 4, 3),
    )
    return ours, theirs


def test_torch_state_dict_loads_strictly_and_gives_the_same_outputs():
    ours, theirs = _pair()
    x = np.random.default_rng(0).normal(size=(4, 1, 6, 6)).astype(np.float32)
    theirs(torch.tensor(x))  # one training step moves the running stats and the counter
    assert list(ours.state_dict()) == list(theirs.state_dict())
    result = ours.load_state_dict(theirs.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert ours[1].num_batches_tracked.dtype == np.int64
    assert ours[1].num_batches_tracked.item() == 1
    for mode in ("train", "eval"):
        getattr(ours, mode)(), getattr(theirs, mode)()
        y = ours(gg.tensor(x))
        np.testing.assert_allclose(
            y.numpy(), theirs(torch.tensor(x)).detach(), rtol=1e-5, atol=1e-6
        )
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key].numpy(), value.numpy(), rtol=1e-6)


def test_batch_norm_counts_batches_and_momentum_none_is_a_cumulative_average():
    ours, theirs = nn.BatchNorm1d(3, momentum=None), torch.nn.BatchNorm1d(3, momentum=None)
    rng = np.random.default_rng(1)
    for _ in range(3):
        x = rng.normal(size=(5, 3)).astype(np.float32)
        ours(gg.tensor(x)), theirs(torch.tensor(x))
    for key, value in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[key].numpy(), value.numpy(), rtol=1e-5)
    plain = nn.BatchNorm1d(3, track_running_stats=False)
    assert list(plain.state_dict()) == list(
        torch.nn.BatchNorm1d(3, track_running_stats=False).state_dict()
    )
    plain.eval()
    x = rng.normal(size=(5, 3)).astype(np.float32)
    expected = torch.nn.BatchNorm1d(3, track_running_stats=False).eval()(torch.tensor(x))
    np.testing.assert_allclose(plain(gg.tensor(x)).numpy(), expected.detach(), rtol=1e-5, atol=1e-6)


def test_named_modules_children_and_repr_as_torch():
    ours, theirs = _pair()
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [n for n, _ in ours.named_children()] == [n for n, _ in theirs.named_children()]
    assert len(list(ours.modules())) == len(list(theirs.modules()))
    assert repr(ours) == repr(theirs)
    nested = nn.Sequential(OrderedDict(block=nn.Sequential(nn.Linear(2, 2)), out=nn.Linear(2, 1)))
    torch_nested = torch.nn.Sequential(
        OrderedDict(block=torch.nn.Sequential(torch.nn.Linear(2, 2)), out=torch.nn.Linear(2, 1))
    )
    assert [n for n, _ in nested.named_modules()] == ["", "block", "block.0", "out"]
    assert [n for n, _ in nested.named_parameters()] == [
        n for n, _ in torch_nested.named_parameters()
    ]
    assert repr(nested) == repr(torch_nested)


def test_sequential_indexing_slicing_and_shared_modules():
    ours, _ = _pair()
    head = ours[:2]
    assert isinstance(head, nn.Sequential) and len(head) == 2 and head[1] is ours[1]
    assert [n for n, _ in ours[2:].named_children()] == ["2", "3", "4"]  # names kept
    assert ours[-1] is list(ours)[-1]
    with pytest.raises(IndexError):
        ours[5]
    shared = nn.Linear(2, 2)
    twice = nn.Sequential(shared, shared)
    assert len(list(twice.parameters())) == 2  # shared parameters listed once, as torch
    del ours[0]
    assert [n for n, _ in ours.named_children()] == ["0", "1", "2", "3"]


def test_module_list_and_module_dict():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(3, 3) for _ in range(2)])
            self.heads = nn.ModuleDict({"a": nn.Linear(3, 1), "b": nn.Linear(3, 2)})

        def forward(self, x):
            for layer in self.layers:
                x = layer(x)
            return self.heads["a"](x), self.heads["b"](x)

    class TorchNet(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList([torch.nn.Linear(3, 3) for _ in range(2)])
            self.heads = torch.nn.ModuleDict(
                {"a": torch.nn.Linear(3, 1), "b": torch.nn.Linear(3, 2)}
            )

    net, tnet = Net(), TorchNet()
    assert list(net.state_dict()) == list(tnet.state_dict())
    net.load_state_dict(tnet.state_dict())
    x = np.ones((2, 3), np.float32)
    a, b = net(gg.tensor(x))
    ta = tnet.heads["a"](tnet.layers[1](tnet.layers[0](torch.tensor(x))))
    np.testing.assert_allclose(a.numpy(), ta.detach(), rtol=1e-6)
    assert b.shape == (2, 2)
    net.layers.append(nn.Linear(3, 3))
    net.layers.insert(0, nn.Identity())
    assert len(net.layers) == 4 and isinstance(net.layers[0], nn.Identity)
    assert isinstance(net.layers[1:], nn.ModuleList)
    assert list(net.heads) == ["a", "b"] and "a" in net.heads
    net.heads.pop("a")
    assert list(net.heads.keys()) == ["b"]
    assert not any(n.startswith("heads.a") for n, _ in net.named_parameters())
    assert repr(tnet.heads).startswith("ModuleDict(") and repr(net.heads).startswith("ModuleDict(")


def test_apply_requires_grad_and_to_dtype():
    ours, _ = _pair()
    seen = []
    ours.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Conv2d", "BatchNorm2d", "ReLU", "Flatten", "Linear", "Sequential"]
    ours.requires_grad_(False)
    assert not any(p.requires_grad for p in ours.parameters())
    ours.requires_grad_()
    params = list(ours.parameters())
    ours.double()
    assert all(p.dtype == np.float64 for p in ours.parameters())
    assert [id(p) for p in ours.parameters()] == [id(p) for p in params]  # same objects
    assert ours[1].num_batches_tracked.dtype == np.int64  # integer buffers keep their dtype
    ours.to(gg.float32)
    assert all(p.dtype == np.float32 for p in ours.parameters())
    ours.to("cpu", dtype="float64").half().float()
    assert ours[0].weight.dtype == np.float32
    with pytest.raises(TypeError):
        ours.to("int64")


def test_forward_hooks_and_removable_handles():
    lin = nn.Linear(2, 2)
    calls = []
    pre = lin.register_forward_pre_hook(lambda m, args: (args[0] * 0,))
    post = lin.register_forward_hook(lambda m, args, out: calls.append(out.shape) or out + 1)
    y = lin(gg.ones(3, 2))
    np.testing.assert_allclose(y.numpy(), np.broadcast_to(lin.bias.numpy() + 1, (3, 2)), rtol=1e-6)
    assert calls == [(3, 2)]
    pre.remove(), post.remove()
    y = lin(gg.ones(3, 2))
    assert calls == [(3, 2)]
    with lin.register_forward_hook(lambda m, a, o: calls.append(1)):
        lin(gg.ones(1, 2))
    lin(gg.ones(1, 2))
    assert calls == [(3, 2), 1]


def test_zero_grad_to_none_or_in_place():
    lin = nn.Linear(2, 2)
    lin(gg.ones(1, 2)).sum().backward()
    grad = lin.weight.grad
    lin.zero_grad(set_to_none=False)
    assert lin.weight.grad is grad and not grad.numpy().any()
    lin.zero_grad()
    assert lin.weight.grad is None


def test_strict_and_non_strict_loading():
    ours, theirs = _pair()
    state = theirs.state_dict()
    del state["1.num_batches_tracked"]
    with pytest.raises(RuntimeError, match="num_batches_tracked"):
        ours.load_state_dict(state)
    state["extra"] = torch.zeros(1)
    missing, unexpected = ours.load_state_dict(state, strict=False)
    assert missing == ["1.num_batches_tracked"] and unexpected == ["extra"]
    assert torch.nn.Sequential(*theirs).load_state_dict(state, strict=False) == (
        missing,
        unexpected,
    )


def test_buffers_and_registration():
    m = nn.Module()
    m.register_buffer("kept", gg.zeros(2))
    m.register_buffer("scratch", gg.zeros(2), persistent=False)
    m.register_parameter("w", nn.Parameter(gg.ones(2)))
    m.add_module("sub", nn.Identity())
    assert list(m.state_dict()) == ["w", "kept"]
    assert [n for n, _ in m.named_buffers()] == ["kept", "scratch"]
    assert m.get_submodule("sub") is m.sub
    m.sub = None
    assert list(m.named_children()) == []


@pytest.mark.parametrize(
    "build",
    [
        lambda nn: nn.Conv2d(2, 4, (3, 2), stride=2, padding=1, dilation=2, groups=2, bias=False),
        lambda nn: nn.Conv2d(2, 4, 3, padding="same"),
        lambda nn: nn.MaxPool2d(3, 2, 1),
        lambda nn: nn.AvgPool2d(2, padding=1),
        lambda nn: nn.Dropout(0.2),
        lambda nn: nn.Flatten(),
        lambda nn: nn.Unflatten(1, (2, 3)),
        lambda nn: nn.Identity(),
        lambda nn: nn.BatchNorm1d(3, affine=False),
    ],
)
def test_module_repr_as_torch(build):
    assert repr(build(nn)) == repr(build(torch.nn))


def test_conv_and_pool_modules_match_torch():
    ours = nn.Sequential(
        nn.Conv2d(2, 4, 3, padding="same", groups=2), nn.MaxPool2d(3, 2, 1), nn.AvgPool2d(2)
    )
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(2, 4, 3, padding="same", groups=2),
        torch.nn.MaxPool2d(3, 2, 1),
        torch.nn.AvgPool2d(2),
    )
    ours.load_state_dict(theirs.state_dict())
    x = np.random.default_rng(2).normal(size=(2, 2, 8, 8)).astype(np.float32)
    y = ours(gg.tensor(x))
    np.testing.assert_allclose(y.numpy(), theirs(torch.tensor(x)).detach(), rtol=1e-5, atol=1e-6)
    assert nn.Unflatten(1, (2, 3))(gg.ones(4, 6)).shape == (4, 2, 3)
