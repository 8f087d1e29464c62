"""F.conv2d (gpugrad/ops/conv.py, through im2col) against PyTorch, over strides, paddings
and kernel sizes."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from opspec import OpSpec, cases, check_op

import gpugrad as gg
import gpugrad.functional as F
from gpugrad.ops.conv import channel_bias_activation, conv2d_activation

SPECS = [
    OpSpec(
        f"conv2d_s{stride}_p{padding}_k{k}",
        lambda x, w, b, s=stride, p=padding: F.conv2d(x, w, b, stride=s, padding=p),
        lambda x, w, b, s=stride, p=padding: TF.conv2d(x, w, b, stride=s, padding=p),
        [((2, 3, 7, 6), (4, 3, k, k), (4,))],
    )
    for stride, padding, k in [(1, 0, 3), (2, 1, 3), (1, 2, 2), (3, 0, 1)]
]


@pytest.mark.parametrize("spec, dtype", cases(SPECS, float32=("conv2d_s2_p1_k3",)))
def test_matches_torch(spec, dtype, device):
    check_op(spec, device, dtype)


# -- padding 'same'/'valid', asymmetric 'same', dilation and groups --------------------------
OPTION_CASES = [
    ("same_k3", (2, 3, 6, 5), (4, 3, 3, 3), dict(padding="same")),
    ("same_k4_dilated", (1, 2, 7, 6), (3, 2, 4, 2), dict(padding="same", dilation=(2, 1))),
    ("valid", (1, 2, 5, 5), (3, 2, 2, 3), dict(padding="valid")),
    ("dilation", (2, 2, 9, 8), (3, 2, 3, 3), dict(dilation=2, stride=2, padding=(1, 2))),
    ("groups", (2, 4, 6, 6), (6, 2, 3, 3), dict(groups=2, padding=1)),
    ("depthwise", (1, 3, 5, 5), (3, 1, 3, 3), dict(groups=3, stride=(1, 2))),
]
OPTION_SPECS = [
    OpSpec(
        f"conv2d_{name}",
        lambda x, w, b, kw=kw: F.conv2d(x, w, b, **kw),
        lambda x, w, b, kw=kw: TF.conv2d(x, w, b, **kw),
        [(x_shape, w_shape, (w_shape[0],))],
    )
    for name, x_shape, w_shape, kw in OPTION_CASES
]


@pytest.mark.parametrize("spec, dtype", cases(OPTION_SPECS, float32=("conv2d_groups",)))
def test_conv_options_match_torch(spec, dtype, device):
    check_op(spec, device, dtype)


def test_same_rejects_strides():
    import gpugrad as gg

    with pytest.raises(ValueError, match="same"):
        F.conv2d(gg.ones(1, 1, 4, 4), gg.ones(1, 1, 3, 3), padding="same", stride=2)


# -- the CPU path in chunks of samples (conv.CHUNK_BYTES) ------------------------------------
CHUNK_CASES = [  # name, x shape, W shape, options: five samples, so chunks of 2 leave 1
    ("pad1", (5, 3, 7, 6), (4, 3, 3, 3), dict(padding=1)),
    (
        "stride_dilation",
        (5, 2, 9, 8),
        (3, 2, 3, 3),
        dict(dilation=2, stride=(2, 1), padding=(1, 2)),
    ),
    ("groups_same", (5, 4, 6, 5), (6, 2, 4, 3), dict(groups=2, padding="same")),
    # taps 4 apart with padding 4 on a 3x3 image: whole kernel offsets read only padding
    ("offsets_in_padding", (5, 2, 3, 3), (3, 2, 3, 3), dict(dilation=4, padding=4)),
]


@pytest.mark.parametrize("samples_per_chunk", [1, 2])
@pytest.mark.parametrize("name, x_shape, w_shape, kw", CHUNK_CASES, ids=[c[0] for c in CHUNK_CASES])
def test_chunks_match_torch(name, x_shape, w_shape, kw, samples_per_chunk, device, monkeypatch):
    """Forward, the three gradients and gradcheck when the batch goes through in chunks
    (one sample each, or two with a ragged last chunk)."""
    from gpugrad.ops import conv

    probe = F.conv2d(gg.zeros(*x_shape[1:]).unsqueeze(0), gg.zeros(*w_shape), **kw)
    per_sample = w_shape[1] * w_shape[2] * w_shape[3] * x_shape[1] // w_shape[1]
    per_sample *= probe.shape[2] * probe.shape[3] * 8  # float64
    monkeypatch.setattr(conv, "CHUNK_BYTES", samples_per_chunk * per_sample)
    spec = OpSpec(
        f"conv2d_chunks_{name}",
        lambda x, w, b: F.conv2d(x, w, b, **kw),
        lambda x, w, b: TF.conv2d(x, w, b, **kw),
        [(x_shape, w_shape, (w_shape[0],))],
    )
    check_op(spec, device)


@pytest.mark.parametrize("one_sample_chunks", [False, True])
def test_cnn_stack_matches_torch_in_float32(one_sample_chunks, device, monkeypatch):
    """conv-relu-pool-conv-relu-pool (the trainer's CNN): each layer gets the previous
    one's (C, N, H, W)-ordered output and its gradient in whatever layout comes back
    (flat runs over each channel's samples in im2col and col2im), in one chunk or one
    sample per chunk."""
    import torch

    from gpugrad.ops import conv

    if one_sample_chunks:
        monkeypatch.setattr(conv, "CHUNK_BYTES", 1)

    rng = np.random.default_rng(3)
    host = [
        rng.standard_normal(s).astype(np.float32)
        for s in [(6, 1, 12, 12), (4, 1, 3, 3), (4,), (5, 4, 3, 3), (5,), (6, 5, 3, 3)]
    ]

    def net(lib, x, w1, b1, w2, b2, upstream):
        h = lib.max_pool2d(lib.relu(lib.conv2d(x, w1, b1, padding=1)), 2)
        h = lib.max_pool2d(lib.relu(lib.conv2d(h, w2, b2, padding=1)), 2)
        return (h * upstream).sum()

    ours = [gg.tensor(h, device=device, requires_grad=True) for h in host[:5]]
    theirs = [torch.tensor(h, requires_grad=True) for h in host[:5]]
    net(F, *ours, gg.tensor(host[5], device=device)).backward()
    net(TF, *theirs, torch.tensor(host[5])).backward()
    for a, t in zip(ours, theirs):
        expected = t.grad.numpy()  # float32 sums of terms of either sign: a scaled atol
        atol = 1e-5 * np.abs(expected).max()
        np.testing.assert_allclose(a.grad.numpy(), expected, rtol=1e-4, atol=atol)


def test_second_order_matches_torch(device):
    """The gradient of conv2d is differentiable again (create_graph records im2col, the
    matmuls and col2im): d/dW of <d out/dx · v, u> against torch's double backward."""
    import torch

    rng = np.random.default_rng(5)
    x0, w0 = rng.standard_normal((3, 2, 6, 5)), rng.standard_normal((4, 2, 3, 2))
    v0 = rng.standard_normal((3, 4, 3, 6))
    u0 = rng.standard_normal((3, 2, 6, 5))
    kw = dict(stride=(2, 1), padding=1)
    x = gg.tensor(x0, device=device, requires_grad=True)
    w = gg.tensor(w0, device=device, requires_grad=True)
    (gx,) = gg.grad(
        F.conv2d(x, w, **kw), [x], grad_outputs=[gg.tensor(v0, device=device)], create_graph=True
    )
    (gw,) = gg.grad((gx * gg.tensor(u0, device=device)).sum(), [w])
    tx, tw = torch.tensor(x0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    (tgx,) = torch.autograd.grad(
        TF.conv2d(tx, tw, **kw), [tx], grad_outputs=[torch.tensor(v0)], create_graph=True
    )
    (tgw,) = torch.autograd.grad((tgx * torch.tensor(u0)).sum(), [tw])
    np.testing.assert_allclose(gx.detach().numpy(), tgx.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(gw.numpy(), tgw.numpy(), rtol=1e-12)


@pytest.mark.parametrize("kw", [dict(padding=1), dict(stride=2), dict(padding="same", groups=2)])
def test_large_arrays_from_the_host_pool_match_torch(kw, device):
    """Columns, output and gradients large enough for the host pool (host_memory.empty):
    float64 against torch, and a second call's output never in the first one's memory."""
    import torch

    rng = np.random.default_rng(7)
    x0, w0 = (
        rng.standard_normal((8, 6, 20, 20)),
        rng.standard_normal((12, 6 // kw.get("groups", 1), 3, 3)),
    )
    gy = None
    x = gg.tensor(x0, device=device, requires_grad=True)
    w = gg.tensor(w0, device=device, requires_grad=True)
    y = F.conv2d(x, w, **kw)
    gy = rng.standard_normal(y.shape)
    y.backward(gg.tensor(gy, device=device))
    tx, tw = torch.tensor(x0, requires_grad=True), torch.tensor(w0, requires_grad=True)
    ty = TF.conv2d(tx, tw, **kw)
    ty.backward(torch.tensor(gy))
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-12, atol=1e-11)
    y2 = F.conv2d(x.detach() * 2, w.detach(), **kw)
    assert not np.shares_memory(y.numpy(), y2.numpy())
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)


# -- act(conv2d(x, W) + b): conv2d_activation and its channel bias-activation node ----------
FUSED_CASES = [  # name, activation and its parameter, x shape, W shape, conv options
    ("relu_pad1", "relu", {}, (2, 3, 7, 6), (4, 3, 3, 3), dict(padding=1)),
    (
        "leaky_relu_stride_dilation",
        "leaky_relu",
        dict(negative_slope=0.2),
        (2, 2, 9, 8),
        (3, 2, 3, 3),
        dict(dilation=2, stride=2, padding=(1, 2)),
    ),
    (
        "elu_groups_same",
        "elu",
        dict(alpha=0.5),
        (2, 4, 6, 5),
        (6, 2, 4, 3),
        dict(groups=2, padding="same"),
    ),
    ("sigmoid_valid", "sigmoid", {}, (1, 2, 5, 5), (3, 2, 2, 3), dict(padding="valid")),
    ("tanh_depthwise", "tanh", {}, (1, 3, 5, 5), (3, 1, 3, 3), dict(groups=3, stride=(1, 2))),
]


def _torch_activation(kind, params):
    return lambda t: getattr(TF, kind)(t, **params)


FUSED_SPECS = [
    OpSpec(
        f"conv2d_{name}",
        lambda x, w, b, a=act, p=params, kw=kw: conv2d_activation(x, w, b, a, **kw, **p),
        lambda x, w, b, a=act, p=params, kw=kw: _torch_activation(a, p)(TF.conv2d(x, w, b, **kw)),
        [(x_shape, w_shape, (w_shape[0],))],
    )
    for name, act, params, x_shape, w_shape, kw in FUSED_CASES
] + [  # a channels-last (non-contiguous) input: x given as (N, H, W, C)
    OpSpec(
        "conv2d_relu_channels_last_input",
        lambda x, w, b: conv2d_activation(x.permute(0, 3, 1, 2), w, b, "relu", padding=1),
        lambda x, w, b: TF.relu(TF.conv2d(x.permute(0, 3, 1, 2), w, b, padding=1)),
        [((2, 6, 5, 3), (4, 3, 3, 3), (4,))],
    )
]


@pytest.mark.parametrize("spec, dtype", cases(FUSED_SPECS, float32=[s.name for s in FUSED_SPECS]))
def test_conv2d_activation_matches_torch(spec, dtype, device):
    """act(conv2d(x, W) + b) in value and in the three gradients (the bias gradient summed
    by the fused backward on CUDA), float32 and float64, and gradcheck."""
    check_op(spec, device, dtype)


LAYOUTS = {  # x's memory layout: the permutation that makes the stored array (N, C, H, W)
    "nchw": (0, 1, 2, 3),  # on CUDA copied once into (C, N, H, W) before the kernel
    "channels_outer": (1, 0, 2, 3),  # a convolution's output: the kernels' own layout
    "channels_last": (0, 3, 1, 2),
}


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("kind, params", [("relu", {}), ("elu", dict(alpha=0.5))])
def test_channel_bias_activation_matches_torch_in_any_layout(kind, params, layout, device):
    perm = LAYOUTS[layout]
    stored = tuple(np.argsort(perm))  # the shape (2, 3, 4, 5) stored in that order
    shape = tuple((2, 3, 4, 5)[axis] for axis in stored)
    spec = OpSpec(
        f"channel_bias_{kind}_{layout}",
        lambda x, b: channel_bias_activation(x.permute(*perm), b, kind, **params),
        lambda x, b: _torch_activation(kind, params)(x.permute(*perm) + b[:, None, None]),
        [(shape, (3,))],
    )
    check_op(spec, device)


def test_channel_bias_activation_rejects_bad_shapes_and_keywords():
    with pytest.raises(ValueError, match=r"bias of shape \(4,\)"):
        channel_bias_activation(gg.ones(2, 3, 4, 4), gg.zeros(4), "relu")
    with pytest.raises(TypeError, match="unexpected keyword"):
        conv2d_activation(gg.ones(1, 1, 3, 3), gg.ones(1, 1, 3, 3), gg.zeros(1), "relu", alpha=1)
    with pytest.raises(ValueError, match="unknown activation"):
        channel_bias_activation(gg.ones(2, 3, 4, 4), gg.zeros(3), "swish")


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_channel_bias_activation_on_rows_longer_than_one_block_pass(dtype, device):
    """Rows of 8·30·30 = 7200 elements: on CUDA the bias gradient is summed in two launches
    (per-chunk partial sums, then their sum), against torch."""
    rng = np.random.default_rng(5)
    host = rng.standard_normal((3, 8, 30, 30)).astype(dtype)  # stored (C, N, H, W)
    bias, upstream = rng.standard_normal(3).astype(dtype), rng.standard_normal((8, 3, 30, 30))
    x = gg.tensor(host, device=device, requires_grad=True)
    b = gg.tensor(bias, device=device, requires_grad=True)
    tx, tb = torch.tensor(host, requires_grad=True), torch.tensor(bias, requires_grad=True)
    y = channel_bias_activation(x.permute(1, 0, 2, 3), b, "leaky_relu", negative_slope=0.1)
    ty = TF.leaky_relu(tx.permute(1, 0, 2, 3) + tb[:, None, None], 0.1)
    (y * gg.tensor(upstream.astype(dtype), device=device)).sum().backward()
    (ty * torch.tensor(upstream.astype(dtype))).sum().backward()
    tol = dict(rtol=1e-5, atol=1e-4) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(y.numpy(), ty.detach().numpy(), **tol)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), **tol)
    np.testing.assert_allclose(b.grad.numpy(), tb.grad.numpy(), **tol)
