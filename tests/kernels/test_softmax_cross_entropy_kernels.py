"""The fused softmax cross-entropy of ``kernels/softmax_cross_entropy.cu`` (launchers:
``gpugrad.kernels.softmax_cross_entropy``) against torch, emulated on the CPU and on a GPU
(the ``impl`` fixture); the online log-sum-exp of ``common.cuh`` over any number of lanes;
the label check deferred to the next host read."""

import ctypes

import numpy as np
import pytest
import torch
from kernel_cases import DTYPES, on_gpu, on_kernels

import gpugrad as gg
import gpugrad.functional as F
from gpugrad import backend
from gpugrad.kernels import softmax_cross_entropy as sce

SHAPES = [(0, 5), (1, 1), (9, 10), (64, 10), (70, 3), (3, 1000), (5, 1000), (2, 50000), (70000, 3)]
TOO_LARGE_TO_EMULATE = (70000, 3)  # 70000 warps of 32 fibers: seconds on the CPU


def _lse_reference(x) -> np.ndarray:
    """The log-sum-exp of each row, in long double, as float64."""
    x = x.astype(np.longdouble)
    with np.errstate(all="ignore"):
        m = x.max(axis=1, keepdims=True)
        shift = np.where(np.isfinite(m), m, 0)
        return (np.log(np.exp(x - shift).sum(axis=1)) + shift[:, 0]).astype(np.float64)


def _torch_cross_entropy(logits, labels, gy):
    """torch's per-row loss and gradient (float64) for the upstream gy (N,)."""
    t = torch.tensor(logits.astype(np.float64), requires_grad=True)
    loss = torch.nn.functional.cross_entropy(t, torch.tensor(labels), reduction="none")
    loss.backward(torch.tensor(np.asarray(gy, np.float64)))
    return loss.detach().numpy(), t.grad.numpy()


@on_kernels
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_cross_entropy_matches_torch(impl, dtype, shape):
    if impl.launches is not None and shape == TOO_LARGE_TO_EMULATE:
        pytest.skip("too many warps to emulate; runs on a GPU")
    rng = np.random.default_rng(4)
    rows, cols = shape
    logits = (rng.standard_normal(shape) * 4).astype(dtype)
    labels = rng.integers(0, cols, rows)
    loss, lse, flag = sce.forward(impl.asarray(logits), impl.asarray(labels))
    assert loss.dtype == dtype and lse.dtype == np.float64
    sce.check_label_flag(flag, cols)
    l64 = logits.astype(np.float64)
    ref_lse = _lse_reference(l64)
    np.testing.assert_allclose(
        impl.asnumpy(lse), ref_lse, **impl.tol[np.float32 if dtype == np.float16 else dtype]
    )
    np.testing.assert_allclose(
        impl.asnumpy(loss).astype(np.float64),
        ref_lse - l64[np.arange(rows), labels],
        **impl.tol[dtype],
    )
    gy = (rng.standard_normal(rows)).astype(dtype)
    gx = sce.backward(impl.asarray(logits), lse, impl.asarray(labels), impl.asarray(gy))
    ref_loss, ref_gx = _torch_cross_entropy(logits, labels, gy)
    np.testing.assert_allclose(impl.asnumpy(loss).astype(np.float64), ref_loss, **impl.tol[dtype])
    np.testing.assert_allclose(impl.asnumpy(gx).astype(np.float64), ref_gx, **impl.tol[dtype])
    mean = sce.backward(impl.asarray(logits), lse, impl.asarray(labels), 1.0 / max(rows, 1))
    assert mean.shape == logits.shape  # a scalar upstream gradient


@on_kernels
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_extreme_logits(impl, dtype):
    # the gradient from a given log-sum-exp: logits of ±1000 and a row of -1000
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((6, 9)) * 10).astype(dtype)
    x[0, 0], x[1, :] = 200.0, -1000.0
    labels = np.array([0, 3, 8, 2, 2, 5], dtype=np.int64)
    gy = np.array([1.0, 0.5, -2.0, 0.0, 3.0, 1 / 6], dtype=dtype)
    gx = sce.backward(
        impl.asarray(x), impl.asarray(_lse_reference(x)), impl.asarray(labels), impl.asarray(gy)
    )
    _, ref_gx = _torch_cross_entropy(x, labels, gy)
    rtol = 1e-12 if dtype == np.float64 else 2e-6
    atol = max(1e-7, impl.tol[dtype]["atol"])
    np.testing.assert_allclose(impl.asnumpy(gx), ref_gx, rtol=rtol, atol=atol)
    # forward and backward: infinite, equal and huge logits
    x = np.array([[1000.0, -1000.0, 0.0], [-np.inf, 0.0, -np.inf], [1e4, 1e4, 1e4]], dtype)
    labels = np.array([0, 1, 2])
    loss, lse, _ = sce.forward(impl.asarray(x), impl.asarray(labels))
    ref_loss, ref_gx = _torch_cross_entropy(x, labels, np.ones(3))
    np.testing.assert_allclose(impl.asnumpy(loss), ref_loss, atol=1e-6)
    gx = sce.backward(impl.asarray(x), lse, impl.asarray(labels), 1.0)
    np.testing.assert_allclose(impl.asnumpy(gx), ref_gx, atol=1e-6)


@pytest.mark.parametrize("lanes", [1, 2, 32])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_online_logsumexp_matches_numpy(formulas, dtype, lanes):
    rng = np.random.default_rng(0)
    rows = [
        rng.standard_normal(40) * 30,
        np.full(40, -1000.0),
        np.full(40, 1000.0),
        np.r_[np.full(39, -np.inf), 3.0],
        np.full(40, -np.inf),
        np.r_[np.inf, np.zeros(39)],
        np.r_[np.zeros(20), np.nan, np.zeros(19)],
        np.r_[88.0, -88.0, np.zeros(38)],
        np.r_[np.full(20, 1e-310), np.full(20, -5e-324)],
        np.r_[65504.0, np.zeros(39)],
    ]
    x = np.ascontiguousarray(np.stack(rows), dtype=dtype)
    out = np.empty(len(rows))
    lse = getattr(formulas, "lse_f64" if dtype == np.float64 else "lse_f32")
    lse.argtypes = [ctypes.c_void_p, ctypes.c_long, ctypes.c_long, ctypes.c_int, ctypes.c_void_p]
    lse(x.ctypes.data, x.shape[0], x.shape[1], lanes, out.ctypes.data)
    rtol = 1e-13 if dtype == np.float64 else 1e-6
    np.testing.assert_allclose(out, _lse_reference(x), rtol=rtol, atol=0)
    assert out[4] == -np.inf and out[5] == np.inf and np.isnan(out[6])


@on_kernels
def test_label_out_of_range_sets_a_flag_checked_at_the_next_read(impl):
    logits = impl.xp.zeros((4, 3), np.float32)
    for labels in ([0, 1, 3, 2], [0, 1, -1, 2], [0, 1, 3, -1]):
        bad = np.isin(labels, [3, -1])
        loss, _, flag = sce.forward(logits, impl.asarray(np.array(labels)))  # no sync here
        loss = impl.asnumpy(loss)
        assert np.isnan(loss[bad]).all() and np.isfinite(loss[~bad]).all()
        with pytest.raises(ValueError, match=r"label out of range \[0, 3\)"):
            sce.check_label_flag(flag, 3)
        sce.defer_label_check(flag, 3)
    sce.defer_label_check(sce.forward(logits, impl.asarray(np.array([0, 1, 2, 2])))[2], 3)
    with pytest.raises(ValueError, match=r"\[0, 3\)"):
        backend.run_deferred_checks()
    backend.run_deferred_checks()  # reported once, then cleared


@on_kernels
@pytest.mark.parametrize("ignore_index", [-100, 1])
def test_an_ignored_label_costs_nothing_and_sets_no_flag(impl, ignore_index):
    rng = np.random.default_rng(5)
    logits = rng.standard_normal((5, 3)).astype(np.float32)
    labels = np.array([0, ignore_index, 2, ignore_index, 1])
    loss, _, flag = sce.forward(impl.asarray(logits), impl.asarray(labels), ignore_index)
    sce.check_label_flag(flag, 3)  # -100 is ignored, not out of range
    loss = impl.asnumpy(loss)
    ignored = labels == ignore_index
    assert (loss[ignored] == 0).all()
    kept = np.flatnonzero(~ignored)
    l64 = logits.astype(np.float64)
    expected = _lse_reference(l64)[kept] - l64[kept, labels[kept]]
    np.testing.assert_allclose(loss[kept], expected, **impl.tol[np.float32])
    _, _, flag = sce.forward(impl.asarray(logits), impl.asarray(labels), ignore_index=7)
    if ignore_index == -100:  # now -100 is a label out of range
        with pytest.raises(ValueError, match=r"\[0, 3\)"):
            sce.check_label_flag(flag, 3)


@on_kernels
def test_the_standing_label_flag_is_made_once_and_zeroed_after_it_is_reported(impl):
    logits = impl.xp.zeros((2, 3), np.float32)
    flag = sce.label_flag(logits)
    assert sce.label_flag(logits) is flag
    assert sce.label_flag(impl.xp.zeros((2, 4), np.float32)) is not flag  # 4 classes
    backend.run_deferred_checks()  # nothing set: nothing raised
    for _ in range(2):
        sce.forward(logits, impl.asarray(np.array([0, 5])), None, sce.label_flag(logits))
        with pytest.raises(ValueError, match=r"label out of range \[0, 3\)"):
            backend.run_deferred_checks()
        assert int(flag[0]) == 0  # zeroed: reported once
        backend.run_deferred_checks()
    sce.forward(logits, impl.asarray(np.array([0, 2])), None, sce.label_flag(logits))
    backend.run_deferred_checks()


@on_gpu
def test_label_out_of_range_is_reported_at_the_next_item(impl):
    logits = gg.randn(4, 3, device="cuda")
    loss = F.cross_entropy(logits, gg.tensor([0, 1, 5, 2], device="cuda"))  # no sync here
    with pytest.raises(ValueError, match="out of range"):
        loss.item()


@on_kernels
def test_empty_logits_launch_nothing(impl):
    for dtype in DTYPES:
        loss, _, flag = sce.forward(impl.xp.empty((0, 5), dtype), impl.xp.empty(0, np.int64))
        assert loss.shape == (0,) and int(flag[0]) == 0
    assert not impl.launches


@on_kernels
def test_bad_inputs_raise_before_launching(impl):
    x = impl.xp.ones((3, 4), np.float32)
    with pytest.raises(ValueError, match="labels of shape"):
        sce.forward(x, impl.xp.zeros(4, np.int64))
    with pytest.raises(TypeError, match="integer"):
        sce.forward(x, impl.xp.zeros(3, np.float32))
    assert not impl.launches


REDUCE_SHAPES = [(0, 5), (1, 1), (9, 10), (64, 10), (70, 3), (3, 1000), (33, 7)]


@on_kernels
@pytest.mark.parametrize("shape", REDUCE_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("ignore_index", [None, -100, 2])
def test_the_one_block_mean_or_sum_matches_torch(impl, dtype, shape, reduction, ignore_index):
    """reduce_forward/backward: the batch's mean or sum in one launch each way, the rows
    whose label is ignore_index left out, against torch's cross_entropy."""
    rng = np.random.default_rng(7)
    rows, cols = shape
    logits = (rng.standard_normal(shape) * 4).astype(dtype)
    labels = rng.integers(0, cols, rows)
    if ignore_index is not None:
        labels[::3] = ignore_index  # every third row ignored (-100, or class 2 where C > 2)
    flag = sce.label_flag(impl.asarray(logits))
    out, saved = sce.reduce_forward(
        impl.asarray(logits), impl.asarray(labels), ignore_index, reduction == "mean", flag
    )
    sce.check_label_flag(flag, cols)
    assert out.shape == () and out.dtype == dtype and saved.shape == (rows + 1,)
    t = torch.tensor(logits.astype(np.float64), requires_grad=True)
    ref = torch.nn.functional.cross_entropy(
        t, torch.tensor(labels), reduction=reduction,
        ignore_index=-100 if ignore_index is None else ignore_index,
    )  # fmt: skip
    gy = np.asarray(0.75, dtype)
    ref.backward(torch.tensor(0.75, dtype=torch.float64))
    tol = impl.tol[dtype]
    np.testing.assert_allclose(impl.asnumpy(out).astype(np.float64), ref.item(), **tol)
    gx = sce.reduce_backward(
        impl.asarray(logits), saved, impl.asarray(labels), impl.asarray(gy), ignore_index
    )
    assert gx.shape == shape and gx.dtype == dtype
    np.testing.assert_allclose(impl.asnumpy(gx).astype(np.float64), t.grad.numpy(), **tol)
    again, _ = sce.reduce_forward(
        impl.asarray(logits), impl.asarray(labels), ignore_index, reduction == "mean", flag
    )
    np.testing.assert_array_equal(impl.asnumpy(again), impl.asnumpy(out))  # no atomics


@on_kernels
def test_a_mean_over_only_ignored_rows_is_nan_and_a_bad_label_sets_the_flag(impl):
    logits = impl.asarray(np.zeros((4, 3), np.float32))
    flag = sce.label_flag(logits)
    out, saved = sce.reduce_forward(logits, impl.asarray(np.full(4, -100)), -100, True, flag)
    assert np.isnan(impl.asnumpy(out)) and impl.asnumpy(saved)[-1] == 0
    gx = sce.reduce_backward(
        logits, saved, impl.asarray(np.full(4, -100)), impl.asarray(np.float32(1)), -100
    )
    assert (impl.asnumpy(gx) == 0).all()  # every row ignored: no gradient, as torch
    out, _ = sce.reduce_forward(logits, impl.asarray(np.array([0, 3, 1, 2])), -100, False, flag)
    assert np.isnan(impl.asnumpy(out))
    with pytest.raises(ValueError, match=r"label out of range \[0, 3\)"):
        sce.check_label_flag(flag, 3)


def test_only_batches_one_block_can_take_are_reduced_in_one_launch():
    assert sce.reduces_in_one_block(np.empty((1024, 256), np.float32))
    assert not sce.reduces_in_one_block(np.empty((1024, 257), np.float32))
