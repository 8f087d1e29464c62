"""``nn.Sequential`` runs a Linear followed by an activation as one GEMM plus one fused
bias-activation node (issue 17), and a Conv2d followed by an activation as
``conv2d_activation`` (on CUDA the GEMM plus one channel bias-activation node): the same
numbers as the modules one by one and as torch, in value and gradient; hooks or
``inplace=True`` keep the modules separate."""

import numpy as np
import pytest

import gpugrad as gg
from gpugrad import nn
from gpugrad.ops.activation import BiasActivation
from gpugrad.ops.conv import ChannelBiasActivation


def _model():
    gg.manual_seed(0)
    return nn.Sequential(
        nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 5), nn.ELU(0.5), nn.Linear(5, 3), nn.Sigmoid()
    )


def _one_by_one(model, x):
    for m in model:
        x = m(x)
    return x


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_sequential_gives_the_same_values_and_gradients(dtype, device):
    model = _model().to(device=device, dtype=getattr(gg, dtype))
    x0 = np.random.default_rng(1).standard_normal((7, 4))
    outs, grads = [], []
    for run in (model, lambda x: _one_by_one(model, x)):
        model.zero_grad()
        x = gg.tensor(x0, dtype=dtype, device=device, requires_grad=True)
        y = run(x)
        (y * y).sum().backward()
        outs.append(y.numpy())
        grads.append([x.grad.numpy()] + [p.grad.numpy() for p in model.parameters()])
    np.testing.assert_array_equal(outs[0], outs[1])
    for fused, separate in zip(*grads):
        np.testing.assert_allclose(fused, separate, rtol=1e-6 if dtype == "float32" else 1e-14)


def _bias_activation_nodes(y) -> list:
    """The activations (by name) of the BiasActivation nodes in y's graph."""
    found, stack, seen = [], [y.creator], set()
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen or not hasattr(node, "next_edges"):
            continue
        seen.add(id(node))
        if isinstance(node, (BiasActivation, ChannelBiasActivation)):
            found.append(node.spec.name)
        stack.extend(node.next_edges)
    return sorted(found)


def test_fusion_records_one_bias_activation_node_per_pair(device):
    model = _model().to(device=device)
    y = model(gg.randn(2, 4, device=device))
    assert _bias_activation_nodes(y) == ["elu", "relu", "sigmoid"]


def test_hooks_and_inplace_keep_the_modules_separate(device):
    model = _model().to(device=device)
    calls = []
    model[1].register_forward_hook(lambda m, args, out: calls.append(type(m).__name__))
    model[3].inplace = True
    y = model(gg.randn(2, 4, device=device))
    assert calls == ["ReLU"]
    assert _bias_activation_nodes(y) == ["sigmoid"]


# -- Conv2d + activation ----------------------------------------------------------------------
def _cnn(lib):
    """conv-act-pool twice, then a Linear: every padding mode Conv2d supports, a stride,
    dilation, groups; the pools get the fused node's (C, N, H, W)-ordered output."""
    return lib.nn.Sequential(
        lib.nn.Conv2d(2, 4, 3, padding=1),
        lib.nn.ReLU(),
        lib.nn.MaxPool2d(2),
        lib.nn.Conv2d(4, 6, 3, padding="same", dilation=2, groups=2),
        lib.nn.ELU(0.5),
        lib.nn.Conv2d(6, 6, 2, stride=2, padding="valid"),
        lib.nn.LeakyReLU(0.2),
        lib.nn.MaxPool2d(2),
        lib.nn.Flatten(),
        lib.nn.Linear(24, 3),
    )


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fused_cnn_matches_torch_and_the_modules_one_by_one(dtype, device):
    import torch

    gg.manual_seed(0)
    model = _cnn(gg).to(device=device, dtype=getattr(gg, dtype))
    reference = _cnn(torch).to(dtype=getattr(torch, dtype))
    with torch.no_grad():
        for p, q in zip(model.parameters(), reference.parameters(), strict=True):
            q.copy_(torch.tensor(p.numpy()))
    rng = np.random.default_rng(2)
    # a channels-last input: a non-contiguous (N, C, H, W) view
    x0 = rng.standard_normal((3, 16, 16, 2)).astype(dtype)
    upstream = rng.standard_normal((3, 3)).astype(dtype)
    results = []
    for run in (model, lambda x: _one_by_one(model, x)):
        model.zero_grad()
        x = gg.tensor(x0, device=device, requires_grad=True)
        y = run(x.permute(0, 3, 1, 2))
        (y * gg.tensor(upstream, device=device)).sum().backward()
        results.append([y.numpy(), x.grad.numpy()] + [p.grad.numpy() for p in model.parameters()])
    tx = torch.tensor(x0, requires_grad=True)
    ty = reference(tx.permute(0, 3, 1, 2))
    (ty * torch.tensor(upstream)).sum().backward()
    expected = [ty.detach().numpy(), tx.grad.numpy()] + [
        q.grad.numpy() for q in reference.parameters()
    ]
    rtol = 1e-4 if dtype == "float32" else 1e-10
    for fused, separate, theirs in zip(*results, expected, strict=True):
        atol = rtol * np.abs(theirs).max()  # sums of terms of either sign
        np.testing.assert_allclose(fused, theirs, rtol=rtol, atol=atol)
        np.testing.assert_allclose(fused, separate, rtol=rtol, atol=atol)


def test_conv_fusion_records_the_channel_node_on_cuda_only(device):
    """On CUDA one ChannelBiasActivation node per Conv2d + activation pair; on the CPU the
    bias stays in the convolution's GEMM loop and the activation is its own node."""
    gg.manual_seed(0)
    model = _cnn(gg).to(device=device)
    y = model(gg.randn(2, 2, 16, 16, device=device))
    fused = ["elu", "leaky_relu", "relu"] if device.type == "cuda" else []
    assert _bias_activation_nodes(y) == fused


def test_conv_with_hooks_inplace_or_without_bias_is_not_fused(device):
    gg.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3, bias=False), nn.ReLU(),
        nn.Conv2d(2, 2, 1), nn.ReLU(inplace=True), nn.Conv2d(2, 2, 1), nn.Sigmoid(),
    ).to(device=device)  # fmt: skip
    calls = []
    model[0].register_forward_pre_hook(lambda m, args: calls.append(type(m).__name__))
    y = model(gg.randn(1, 1, 9, 9, device=device))
    assert calls == ["Conv2d"]
    assert _bias_activation_nodes(y) == (["sigmoid"] if device.type == "cuda" else [])


def test_softplus_fuses_with_torchs_defaults_only(device):
    """nn.Softplus() is the registry's softplus: fused after a Linear; nn.Softplus(beta=2)
    or threshold=5 runs on its own, with its own numbers (torch's)."""
    import torch

    gg.manual_seed(0)
    x = gg.randn(5, 3, device=device)
    for kwargs, fused in [({}, True), ({"beta": 2.0}, False), ({"threshold": 5.0}, False)]:
        model = nn.Sequential(nn.Linear(3, 4), nn.Softplus(**kwargs)).to(device)
        y = model(x)
        assert isinstance(y.creator, BiasActivation) == fused, kwargs
        reference = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Softplus(**kwargs))
        with torch.no_grad():
            for ours, theirs in zip(model.parameters(), reference.parameters()):
                theirs.copy_(torch.tensor(ours.detach().numpy()))
        want = reference(torch.tensor(x.numpy())).detach().numpy()
        np.testing.assert_allclose(y.detach().numpy(), want, rtol=1e-6, atol=1e-6)
