"""The fused kernels on a real GPU against their NumPy twins, for every dtype, over
0-d, empty, odd-sized and non-contiguous arrays.  Skipped without CUDA."""
import numpy as np
import pytest

import gpugrad as gg
import gpugrad.functional as F
from gpugrad import backend, kernels
from gpugrad.ops import activation

pytestmark = pytest.mark.skipif(not backend.cuda_available(),
                                reason=f"needs a CUDA device: {backend.cuda_unavailable_reason()}")

DTYPES = [np.float16, np.float32, np.float64]
TOL = {np.float16: dict(rtol=2e-3, atol=2e-3), np.float32: dict(rtol=1e-5, atol=1e-6),
       np.float64: dict(rtol=1e-12, atol=1e-14)}
PARAMS = {"sigmoid": {}, "tanh": {}, "relu": {}, "leaky_relu": {"slope": 0.1},
          "elu": {"alpha": 1.5}, "softplus": {}}


def _inputs(shape, dtype, rng):
    return (rng.standard_normal(shape) * 4).astype(dtype)


def _shapes():
    return [(), (0,), (1,), (1000,), (37, 129)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", sorted(PARAMS))
@pytest.mark.parametrize("shape", _shapes(), ids=str)
def test_activation_kernels_match_numpy(act, dtype, shape):
    import cupy
    rng = np.random.default_rng(0)
    x = _inputs(shape, dtype, rng)
    p = {"slope": 0.1, "alpha": 1.5}
    y = kernels.activation_forward(act, cupy.asarray(x), **PARAMS[act])
    ref = activation.CPU_FORWARD[act](x.astype(np.float64).reshape(-1), p).reshape(shape)
    np.testing.assert_allclose(y.get().astype(np.float64), ref, **TOL[dtype])
    gy = _inputs(shape, dtype, rng)
    gx = kernels.activation_backward(act, y, cupy.asarray(gy), **PARAMS[act])
    y64 = y.get().astype(np.float64).reshape(-1)
    ref_gx = activation._cpu_backward(act, y64, gy.astype(np.float64).reshape(-1), p).reshape(shape)
    np.testing.assert_allclose(gx.get().astype(np.float64), ref_gx, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_contiguous_inputs(dtype):
    import cupy
    x = cupy.asarray(_inputs((64, 48), dtype, np.random.default_rng(1)))[:, ::3].T
    y = kernels.activation_forward("sigmoid", x)
    ref = activation.CPU_FORWARD["sigmoid"](x.get().astype(np.float64).copy(), {})
    np.testing.assert_allclose(y.get().astype(np.float64), ref, **TOL[dtype])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("act", ["relu", "sigmoid"])
def test_bias_activation_kernels(act, dtype):
    import cupy
    rng = np.random.default_rng(2)
    x, b = _inputs((300, 77), dtype, rng), _inputs((77,), dtype, rng)
    y = kernels.bias_activation_forward(act, cupy.asarray(x), cupy.asarray(b))
    ref = activation.CPU_FORWARD[act]((x.astype(np.float64) + b), {})
    np.testing.assert_allclose(y.get().astype(np.float64), ref, **TOL[dtype])
    gy = _inputs((300, 77), dtype, rng)
    gx, gb = kernels.bias_activation_backward(act, y, cupy.asarray(gy))
    ref_gx = activation._cpu_backward(act, y.get().astype(np.float64), gy.astype(np.float64), {})
    np.testing.assert_allclose(gx.get().astype(np.float64), ref_gx, **TOL[dtype])
    tol = TOL[dtype] if dtype != np.float16 else dict(rtol=2e-2, atol=2e-1)
    np.testing.assert_allclose(gb.get().astype(np.float64), gx.get().astype(np.float64).sum(0), **tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(0, 5), (1, 1), (64, 10), (3, 1000)], ids=str)
def test_softmax_cross_entropy_kernels(shape, dtype):
    import cupy
    rng = np.random.default_rng(3)
    logits = _inputs(shape, dtype, rng)
    labels = rng.integers(0, shape[1], shape[0])
    loss, lse, flag = kernels.softmax_cross_entropy_forward(cupy.asarray(logits), cupy.asarray(labels))
    l64 = logits.astype(np.float64)
    m = l64.max(axis=1, keepdims=True) if shape[0] else np.zeros((0, 1))
    ref_lse = (np.log(np.exp(l64 - m).sum(axis=1)) + m[:, 0]) if shape[0] else np.zeros(0)
    ref = ref_lse - l64[np.arange(shape[0]), labels]
    np.testing.assert_allclose(loss.get().astype(np.float64), ref, **TOL[dtype])
    assert int(flag.get()[0]) == 0
    gy = rng.standard_normal(shape[0]).astype(dtype)
    gx = kernels.softmax_cross_entropy_backward(cupy.asarray(logits), lse, cupy.asarray(labels), cupy.asarray(gy))
    probs = np.exp(l64 - ref_lse[:, None])
    probs[np.arange(shape[0]), labels] -= 1
    np.testing.assert_allclose(gx.get().astype(np.float64), probs * gy.astype(np.float64)[:, None], **TOL[dtype])


def test_out_of_range_label_is_reported_at_the_next_sync():
    logits = gg.randn(4, 3, device="cuda")
    loss = F.cross_entropy(logits, gg.tensor([0, 1, 5, 2], device="cuda"))   # no sync here
    with pytest.raises(ValueError, match="out of range"):
        loss.item()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_optimizer_kernels_match_cpu(dtype):
    from gpugrad import optim
    rng = np.random.default_rng(4)
    w0 = rng.standard_normal(1001).astype(dtype)
    grads = [rng.standard_normal(1001).astype(dtype) for _ in range(4)]
    for make in [lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01),
                 lambda p: optim.Adam(p, lr=0.01, weight_decay=0.1), lambda p: optim.AdamW(p, lr=0.01)]:
        results = []
        for dev in ("cpu", "cuda"):
            w = gg.tensor(w0, device=dev, requires_grad=True)
            opt = make([w])
            for g in grads:
                w.grad = gg.tensor(g, device=dev)
                opt.step()
            results.append(w.numpy())
        np.testing.assert_allclose(results[1], results[0], **TOL[dtype])


def test_fused_ops_on_cuda_match_cpu():
    rng = np.random.default_rng(5)
    x0, b0 = rng.standard_normal((16, 8)), rng.standard_normal(8)
    out = {}
    for dev in ("cpu", "cuda"):
        x = gg.tensor(x0, device=dev, requires_grad=True)
        b = gg.tensor(b0, device=dev, requires_grad=True)
        (F.bias_relu(x, b) * F.bias_sigmoid(x, b)).sum().backward()
        out[dev] = (x.grad.numpy(), b.grad.numpy())
    for a, c in zip(out["cpu"], out["cuda"]):
        np.testing.assert_allclose(c, a, rtol=1e-12)


@pytest.mark.slow
def test_more_than_2_to_the_31_elements():
    import cupy
    n = 2**31 + 17
    x = cupy.full(n, -1.0, dtype=cupy.float16)
    x[-1] = 2.0
    y = kernels.activation_forward("relu", x)
    assert float(y[-1]) == 2.0 and float(y[2**31 + 3]) == 0.0
    del x, y
