"""The fused kernels on a real GPU against their NumPy twins and PyTorch (CPU), for every
dtype, over 0-d, empty, odd-sized and non-contiguous arrays; one test (marked slow) over
more than 2^31 elements.  Skipped without a CUDA device."""

import numpy as np
import pytest


def _cuda_reason():
    try:
        import cupy

        if cupy.cuda.runtime.getDeviceCount() > 0:
            return None
        return "no CUDA device"
    except Exception as e:  # no cupy, no driver, no device: all mean "skip"
        return f"needs a CUDA device ({type(e).__name__}: {e})"


_REASON = _cuda_reason()
pytestmark = pytest.mark.skipif(_REASON is not None, reason=str(_REASON))

if _REASON is None:
    import cupy

import gpugrad as gg  # noqa: E402
import gpugrad.functional as F  # noqa: E402
from gpugrad import kernels  # noqa: E402
from gpugrad.ops import activation  # noqa: E402

DTYPES = [np.float16, np.float32, np.float64]
TOL = {
    np.float16: dict(rtol=2e-3, atol=2e-3),
    np.float32: dict(rtol=2e-6, atol=1e-6),
    np.float64: dict(rtol=1e-12, atol=1e-14),
}
ACTS = sorted(kernels.ACTIVATIONS)
KW = {"leaky_relu": {"slope": 0.1}, "elu": {"alpha": 1.5}}
PARAMS = {"slope": 0.1, "alpha": 1.5}
SHAPES = [(), (0,), (1,), (1000,), (37, 129), (3, 0, 4), (2, 3, 5, 7)]


def _rand(shape, dtype, rng, scale=4.0):
    return np.asarray(rng.standard_normal(shape) * scale, dtype=dtype)


def _twin_forward(act, x):
    return activation.forward_cpu(act, np.asarray(x, np.float64), PARAMS)


def _twin_backward(act, y, gy):
    return activation.cpu_backward(
        act, np.asarray(y, np.float64), np.asarray(gy, np.float64), PARAMS
    )


def _close(got, want, dtype, **tol):
    np.testing.assert_allclose(cupy.asnumpy(got).astype(np.float64), want, **(tol or TOL[dtype]))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_activation_kernels_match_numpy(act, dtype, shape):
    rng = np.random.default_rng(0)
    x = _rand(shape, dtype, rng)
    y = kernels.activation_forward(act, cupy.asarray(x), **KW.get(act, {}))
    assert y.dtype == dtype and y.shape == shape
    _close(y, _twin_forward(act, x), dtype)
    gy = _rand(shape, dtype, rng)
    gx = kernels.activation_backward(act, y, cupy.asarray(gy), **KW.get(act, {}))
    assert gx.dtype == dtype and gx.shape == shape
    _close(gx, _twin_backward(act, cupy.asnumpy(y), gy), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
def test_activation_edges(act, dtype):
    finfo = np.finfo(dtype)
    x = np.array(
        [
            -1000,
            1000,
            -0.0,
            0.0,
            np.nan,
            -np.inf,
            np.inf,
            finfo.tiny / 4,
            -finfo.tiny / 4,
            float(finfo.max),
            -float(finfo.max),
            20,
            -20,
            88,
            -88,
        ],
        dtype=dtype,
    )
    with np.errstate(all="ignore"):
        y = kernels.activation_forward(act, cupy.asarray(x), **KW.get(act, {}))
        want = _twin_forward(act, x).astype(dtype).astype(np.float64)  # rounded as the kernel's
        _close(y, want, dtype, rtol=TOL[dtype]["rtol"], atol=0, equal_nan=True)
    assert np.isnan(cupy.asnumpy(y)[4])
    # an inactive ReLU unit gives 0 even for an infinite upstream gradient
    gx = kernels.activation_backward(
        "relu",
        cupy.asarray(np.array([-1, 0, 2], dtype)),
        cupy.asarray(np.array([np.inf, np.nan, np.inf], dtype)),
    )
    np.testing.assert_array_equal(cupy.asnumpy(gx), np.array([0, 0, np.inf], dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_contiguous_inputs_are_made_contiguous(dtype):
    base = cupy.asarray(_rand((64, 48), dtype, np.random.default_rng(1)))
    x = base[:, ::3].T
    y = kernels.activation_forward("sigmoid", x)
    assert y.flags.c_contiguous
    _close(y, _twin_forward("sigmoid", cupy.asnumpy(x)), dtype)
    gy = cupy.ones((1, 64), dtype=dtype)  # broadcast upstream
    gx = kernels.activation_backward("sigmoid", y, gy)
    _close(gx, _twin_backward("sigmoid", cupy.asnumpy(y), np.ones((16, 64))), dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ACTS)
def test_bias_activation_kernels(act, dtype):
    rng = np.random.default_rng(2)
    # single-pass and two-pass column sums; narrow, wide, and more rows than one grid pass
    for shape in [(1, 1), (5, 7), (300, 77), (4, 5, 33), (100000, 3), (3000, 1000), (2, 70000)]:
        x, b = _rand(shape, dtype, rng), _rand(shape[-1:], dtype, rng)
        y = kernels.bias_activation_forward(
            act, cupy.asarray(x), cupy.asarray(b), **KW.get(act, {})
        )
        s = x.astype(np.float64) + b.astype(np.float64)
        _close(y, _twin_forward(act, s.astype(np.float32) if dtype == np.float16 else s), dtype)
        gy = _rand(shape, dtype, rng, 1.0)
        gx, gb = kernels.bias_activation_backward(act, y, cupy.asarray(gy), **KW.get(act, {}))
        ref_gx = _twin_backward(act, cupy.asnumpy(y), gy)
        _close(gx, ref_gx, dtype)
        columns = ref_gx.reshape(-1, shape[-1])
        scale = np.abs(columns).sum(axis=0).max() + 1
        eps = np.finfo(np.float64 if dtype == np.float64 else np.float32).eps
        atol = 16 * eps * scale + (2e-3 * np.sqrt(columns.shape[0]) if dtype == np.float16 else 0)
        _close(gb, columns.sum(axis=0), dtype, rtol=TOL[dtype]["rtol"], atol=atol)


def test_bias_activation_non_contiguous_and_column_sum():
    rng = np.random.default_rng(3)
    x = cupy.asarray(rng.standard_normal((40, 60)))[:, ::2]
    b = cupy.asarray(rng.standard_normal(60))[::2]
    y = kernels.bias_activation_forward("relu", x, b)
    np.testing.assert_allclose(cupy.asnumpy(y), np.maximum(cupy.asnumpy(x) + cupy.asnumpy(b), 0))
    g = cupy.asarray(rng.standard_normal((7, 9, 11)))
    np.testing.assert_allclose(
        cupy.asnumpy(kernels.column_sum(g)), cupy.asnumpy(g).sum(axis=(0, 1)), rtol=1e-12
    )
    assert cupy.array_equal(kernels.column_sum(g), kernels.column_sum(g))  # deterministic


def _torch_ce(logits, labels, gy):
    import torch

    t = torch.tensor(logits.astype(np.float64), requires_grad=True)
    loss = torch.nn.functional.cross_entropy(t, torch.tensor(labels), reduction="none")
    loss.backward(torch.tensor(gy.astype(np.float64)))
    return loss.detach().numpy(), t.grad.numpy()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    "shape", [(0, 5), (1, 1), (64, 10), (3, 1000), (70000, 3), (2, 50000)], ids=str
)
def test_softmax_cross_entropy_kernels(shape, dtype):
    rng = np.random.default_rng(4)
    logits = _rand(shape, dtype, rng)
    labels = rng.integers(0, shape[1], shape[0])
    loss, lse, flag = kernels.softmax_cross_entropy_forward(
        cupy.asarray(logits), cupy.asarray(labels)
    )
    assert loss.dtype == dtype and lse.dtype == np.float64
    kernels.check_label_flag(flag, shape[1])
    gy = _rand(shape[0], dtype, rng, 1.0)
    gx = kernels.softmax_cross_entropy_backward(
        cupy.asarray(logits), lse, cupy.asarray(labels), cupy.asarray(gy)
    )
    ref_loss, ref_gx = _torch_ce(logits, labels, gy)
    _close(loss, ref_loss, dtype)
    _close(gx, ref_gx, dtype)


def test_softmax_cross_entropy_extreme_logits():
    logits = np.array(
        [[1000.0, -1000.0, 0.0], [-np.inf, 0.0, -np.inf], [1e4, 1e4, 1e4]], np.float32
    )
    labels = np.array([0, 1, 2])
    loss, lse, _ = kernels.softmax_cross_entropy_forward(cupy.asarray(logits), cupy.asarray(labels))
    ref_loss, ref_gx = _torch_ce(logits, labels, np.ones(3))
    np.testing.assert_allclose(cupy.asnumpy(loss), ref_loss, atol=1e-6)
    gx = kernels.softmax_cross_entropy_backward(
        cupy.asarray(logits), lse, cupy.asarray(labels), 1.0
    )
    np.testing.assert_allclose(cupy.asnumpy(gx), ref_gx, atol=1e-6)


def test_out_of_range_label_sets_the_flag_without_synchronizing():
    logits = cupy.zeros((4, 3), cupy.float32)
    loss, _, flag = kernels.softmax_cross_entropy_forward(logits, cupy.asarray([0, 1, 3, -1]))
    with pytest.raises(ValueError, match=r"label out of range \[0, 3\)"):
        kernels.check_label_flag(flag, 3)
    assert np.isnan(cupy.asnumpy(loss)[2:]).all()


def test_out_of_range_label_is_reported_at_the_next_item():
    logits = gg.randn(4, 3, device="cuda")
    loss = F.cross_entropy(logits, gg.tensor([0, 1, 5, 2], device="cuda"))  # no sync here
    with pytest.raises(ValueError, match="out of range"):
        loss.item()


OPTIMIZERS = {
    "sgd": dict(lr=0.1, momentum=0.0, weight_decay=0.0, nesterov=False),
    "sgd_momentum_wd": dict(lr=0.05, momentum=0.9, weight_decay=0.01, nesterov=False),
    "sgd_nesterov": dict(lr=0.05, momentum=0.8, weight_decay=0.1, nesterov=True),
    "adam_l2": dict(lr=1e-2, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    "adamw": dict(lr=1e-2, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", sorted(OPTIMIZERS))
def test_optimizer_kernels_match_torch(kind, dtype):
    import torch

    if dtype == np.float16 and kind.startswith("adam"):
        pytest.skip(
            "float16 Adam state underflows (v ~ 1e-9 -> 0) exactly as in PyTorch; "
            "a float32 reference would not match"
        )
    rng = np.random.default_rng(5)
    w0 = rng.standard_normal(100003).astype(dtype)
    grads = [rng.standard_normal(w0.size).astype(dtype) for _ in range(5)]
    hp = OPTIMIZERS[kind]
    ref_dtype = np.float32 if dtype == np.float16 else dtype  # float16: compare with float32 maths
    tw = torch.tensor(w0.astype(ref_dtype), requires_grad=True)
    opt = (
        torch.optim.SGD([tw], **hp)
        if kind.startswith("sgd")
        else torch.optim.AdamW([tw], **hp)
        if kind == "adamw"
        else torch.optim.Adam([tw], **hp)
    )
    w = cupy.asarray(w0)
    state = (
        [cupy.empty_like(w)] if kind.startswith("sgd") else [cupy.zeros_like(w), cupy.zeros_like(w)]
    )
    for t, g in enumerate(grads, start=1):
        tw.grad = torch.tensor(g.astype(ref_dtype))
        opt.step()
        if kind.startswith("sgd"):
            kernels.sgd_update(
                w,
                cupy.asarray(g),
                state[0] if hp["momentum"] else None,
                lr=hp["lr"],
                momentum=hp["momentum"],
                nesterov=hp["nesterov"],
                weight_decay=hp["weight_decay"],
                first_step=t == 1,
            )
        else:
            b1, b2 = hp["betas"]
            kernels.adam_update(
                w,
                cupy.asarray(g),
                *state,
                lr=hp["lr"],
                beta1=b1,
                beta2=b2,
                eps=hp["eps"],
                weight_decay=hp["weight_decay"],
                decoupled=kind == "adamw",
                bias_correction1=1 - b1**t,
                bias_correction2=1 - b2**t,
            )
    tol = {
        np.float16: dict(rtol=1e-2, atol=1e-2),
        np.float32: dict(rtol=1e-5, atol=1e-6),
        np.float64: dict(rtol=1e-12, atol=1e-14),
    }[dtype]
    _close(w, tw.detach().numpy(), dtype, **tol)


def test_optimizers_on_cuda_match_cpu():
    from gpugrad import optim

    rng = np.random.default_rng(6)
    w0 = rng.standard_normal(1001).astype(np.float32)
    grads = [rng.standard_normal(1001).astype(np.float32) for _ in range(4)]
    for make in [
        lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
        lambda p: optim.Adam(p, lr=0.01, weight_decay=0.1),
        lambda p: optim.AdamW(p, lr=0.01),
    ]:
        results = []
        for dev in ("cpu", "cuda"):
            w = gg.tensor(w0, device=dev, requires_grad=True)
            opt = make([w])
            for g in grads:
                w.grad = gg.tensor(g, device=dev)
                opt.step()
            results.append(w.numpy())
        np.testing.assert_allclose(results[1], results[0], rtol=1e-5, atol=1e-6)


def test_fused_ops_on_cuda_match_cpu_with_second_derivatives():
    rng = np.random.default_rng(7)
    x0, b0 = rng.standard_normal((16, 8)), rng.standard_normal(8)
    out = {}
    for dev in ("cpu", "cuda"):
        x = gg.tensor(x0, device=dev, requires_grad=True)
        b = gg.tensor(b0, device=dev, requires_grad=True)
        (F.bias_relu(x, b) * F.bias_sigmoid(x, b)).sum().backward()
        first = (x.grad.numpy(), b.grad.numpy())
        z = gg.tensor(x0, device=dev, requires_grad=True)
        (gz,) = gg.grad(
            F.softplus(z).sum() + F.elu(z, 1.5).sum() + F.tanh(z).sum(), [z], create_graph=True
        )
        (ggz,) = gg.grad(gz.sum(), [z])
        out[dev] = (*first, ggz.numpy())
    for a, c in zip(out["cpu"], out["cuda"]):
        np.testing.assert_allclose(c, a, rtol=1e-12, atol=1e-14)


def test_wrong_inputs_raise_before_launching():
    x = cupy.ones((3, 4), cupy.float32)
    with pytest.raises(TypeError, match="int32"):
        kernels.activation_forward("relu", cupy.ones(3, cupy.int32))
    with pytest.raises(TypeError, match="ndarray"):
        kernels.activation_forward("relu", np.ones(3, np.float32))
    with pytest.raises(ValueError, match="bias of shape"):
        kernels.bias_activation_forward("relu", x, cupy.ones(3, cupy.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        kernels.sgd_update(x.T, x.T, None, lr=0.1)


@pytest.mark.slow
def test_more_than_2_to_the_31_elements():
    n = 2**31 + 1024  # 4 GiB per float16 array
    x = cupy.full(n, -1.0, dtype=cupy.float16)
    x[-3:] = 2.0
    y = kernels.activation_forward("relu", x)
    assert float(y[-1]) == 2.0 and float(y[2**31 + 3]) == 0.0 and float(y[5]) == 0.0
    gx = kernels.activation_backward("relu", y, x)  # gy = x: 2.0 where the unit is on
    assert float(gx[-1]) == 2.0 and float(gx[2**31]) == 0.0
    del y, gx
    rows = n // 1024  # bias + activation: a 64-bit row index and column sum
    x2 = x.reshape(rows, 1024)
    b = cupy.zeros(1024, cupy.float16)
    b[-1] = 3.0
    y2 = kernels.bias_activation_forward("relu", x2, b)
    assert float(y2[-1, -1]) == 5.0 and float(y2[-1, 0]) == 0.0 and float(y2[2**20, -1]) == 2.0
    # gy = 2^-12 keeps the float16 column sums in range: column 1023 is on in every row,
    # 1021 and 1022 only in the last (x = 2 there), the others never
    gx2, gb = kernels.bias_activation_backward("relu", y2, cupy.full_like(y2, 2.0**-12))
    assert float(gb[-1]) == 512.0 and float(gb[-2]) == 2.0**-12 and float(gb[0]) == 0.0
    del x, x2, y2, gx2
