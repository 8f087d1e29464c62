"""The activations of ``kernels/activation.cu`` (launchers: ``gpugrad.kernels.activation``)
and their NumPy twins (``gpugrad.ops.activation``): every body runs on the twin, on the
kernel emulated on the CPU and on the kernel on a GPU (the ``impl`` fixture), for every
record of the registry (``kernel_cases.CASES``) and dtype; the kernel's enum against the
registry; the grid-stride row/column advance of ``common.cuh``."""

import ctypes
import re

import numpy as np
import pytest
import torch
from kernel_cases import (
    CASES,
    DTYPES,
    SELECTING,
    SELECTING_BACKWARDS,
    edge_values,
    on_gpu,
    on_kernels,
    special_values,
    torch_elementwise,
)

from gpugrad import kernels
from gpugrad.ops import activation_twins
from gpugrad.ops.activation import ACTIVATIONS

SHAPES = [(), (0,), (1,), (1000,), (9000,), (37, 11), (37, 129), (3, 0, 4), (2, 3, 5, 7)]


def _random(rng, shape, dtype, scale=4.0) -> np.ndarray:
    return np.asarray(rng.standard_normal(shape) * scale, dtype=dtype)  # 0-d stays an array


def test_kernel_enum_matches_the_registry():
    """``enum GgActivation`` in activation.cu names every record (GG_LEAKY_RELU for
    "leaky_relu") with its code."""
    header = kernels.kernel_sources()["activation.cu"]
    (body,) = re.findall(r"enum\s+GgActivation\s*\{([^}]*)\}", header)
    enum, code = {}, -1
    for entry in filter(None, (e.strip() for e in body.split(","))):
        name, _, value = (part.strip() for part in entry.partition("="))
        code = int(value) if value else code + 1
        assert name.startswith("GG_"), entry
        enum[name[3:].lower()] = code
    assert enum == {name: spec.code for name, spec in ACTIVATIONS.items()}


def test_kernel_softplus_threshold_is_the_twins():
    """The softplus threshold and softplus(threshold) in activation.cu are the twin's."""
    source = kernels.kernel_sources()["activation.cu"]
    for name in ("SOFTPLUS_THRESHOLD", "SOFTPLUS_AT_THRESHOLD"):
        (value,) = re.findall(rf"#define\s+GG_{name}\s+(\S+)", source)
        assert float(value) == getattr(activation_twins, name), name


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_nan_infinities_and_kinks_take_torchs_side(impl, case, dtype):
    """At NaN, ±inf, ±0 and the kinks (and the floats either side), the forward, the
    backward and bias + activation both ways give torch's numbers, one element at a time
    (``torch_elementwise``): relu's gradient at NaN is gy and elu's too (0 and NaN before),
    softplus is x above 20 with gradient gy (log1p(exp(x)) and gy·sigmoid(x) before).  The
    values are tiled past 40,000 elements, where the twins select with bit masks."""
    x = special_values(case.name, dtype)
    if impl.machine == "gpu" and dtype == np.float32:  # CuPy flushes subnormals to zero
        x = x[~(np.abs(x) < np.finfo(np.float32).tiny) | (x == 0)]
    gy = np.linspace(-2, 3, x.size).astype(dtype)
    gy[gy == 0] = 1  # a zero upstream would hide the local gradient
    ty, tgx, _ = torch_elementwise(case.torch, x, gy)
    repeats = -(-40_000 // x.size)
    x, gy, ty, tgx = (np.tile(a, repeats) for a in (x, gy, ty, tgx))
    close = dict(rtol=impl.tol[dtype]["rtol"], atol=0)  # NaN and ±inf where torch has them
    y = impl.forward(case, impl.asarray(x))
    np.testing.assert_allclose(impl.asnumpy(y), ty, err_msg="forward", **close)
    gx = impl.backward(case, y, impl.asarray(gy))
    np.testing.assert_allclose(impl.asnumpy(gx), tgx, err_msg="backward", **close)
    # one column with a zero bias: act(x + 0), so -0.0 becomes 0.0, as in torch's x + b
    column = impl.asarray(x.reshape(-1, 1))
    y = impl.bias_forward(case, column, impl.asarray(np.zeros(1, dtype)))
    np.testing.assert_allclose(impl.asnumpy(y).ravel(), ty, err_msg="bias forward", **close)
    gx, _ = impl.bias_backward(case, y, impl.asarray(gy.reshape(-1, 1)))
    np.testing.assert_allclose(impl.asnumpy(gx).ravel(), tgx, err_msg="bias backward", **close)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_forward_and_backward_match_the_float64_twin(impl, case, dtype):
    rng = np.random.default_rng(0)
    for shape in SHAPES:
        x = _random(rng, shape, dtype)
        y = impl.forward(case, impl.asarray(x))
        assert y.dtype == dtype and y.shape == shape
        close = dict(err_msg=f"shape {shape}", **impl.tol[dtype])
        np.testing.assert_allclose(
            impl.asnumpy(y).astype(np.float64), case.twin_forward(x), **close
        )
        gy = _random(rng, shape, dtype, 1.0)
        gx = impl.backward(case, y, impl.asarray(gy))
        assert gx.dtype == dtype and gx.shape == shape
        expected = case.twin_backward(impl.asnumpy(y), gy)
        np.testing.assert_allclose(impl.asnumpy(gx).astype(np.float64), expected, **close)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_forward_on_edge_values(impl, case, dtype):
    """The edge values, then random ones past 4096 elements (where the twins' select()
    takes bit masks): against the textbook formula in long double and against torch.  NaN
    passes through every forward; relu is exact in every dtype; nothing overflows in NumPy."""
    edges = edge_values(dtype)
    n = edges.size
    x = np.concatenate([edges, _random(np.random.default_rng(9), 12_000, dtype, 10.0)])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = impl.asnumpy(impl.forward(case, impl.asarray(x)))
    assert y.dtype == dtype and y.shape == x.shape
    expected = case.reference(x)
    if impl.machine == "gpu" and dtype == np.float32:  # CuPy compiles with -ftz=true
        tiny = np.finfo(np.float32).tiny
        expected = np.where(np.abs(expected) < tiny, np.float32(0), expected)
        x = np.where(np.abs(x) < tiny, np.float32(0), x)  # what the kernel read
    # one unit in the last place of the subnormals: CUDA's maths may round there differently
    atol = 2 * float(np.finfo(dtype).smallest_subnormal) if impl.machine == "gpu" else 0
    np.testing.assert_allclose(y[:n], expected[:n], rtol=impl.tol[dtype]["rtol"], atol=atol)
    np.testing.assert_allclose(y[n:], expected[n:], **impl.tol[dtype])
    assert np.isnan(y[np.isnan(x)]).all() and not np.isnan(y[~np.isnan(x)]).any()
    if case.name == "relu":
        np.testing.assert_array_equal(y, expected)
    if dtype != np.float16:
        np.testing.assert_allclose(y, case.torch(torch.from_numpy(x)).numpy(), **impl.tol[dtype])
    if not impl.is_kernel:  # into a buffer it owns: the same numbers
        np.testing.assert_array_equal(case.spec.forward_numpy(x.copy(), case.p, owned=True), y)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_backward_and_local_gradient_on_edge_values(impl, case, dtype):
    """gx from the output y: the float64 twin's; gy times the local gradient (gx for gy = 1);
    and the local gradient is the derivative of the textbook forward, where that is smooth."""
    x = edge_values(dtype, finite=True)
    y = impl.forward(case, impl.asarray(x))
    gy = np.linspace(-2, 3, x.size).astype(dtype)
    gx = impl.asnumpy(impl.backward(case, y, impl.asarray(gy)))
    local = impl.asnumpy(impl.backward(case, y, impl.xp.ones_like(y)))
    y = impl.asnumpy(y)
    info = np.finfo(dtype)
    atol = impl.tol[dtype]["atol"] if dtype == np.float16 else float(info.tiny)
    rtol = impl.tol[dtype]["rtol"]
    np.testing.assert_allclose(gx, case.twin_backward(y, gy), rtol=rtol, atol=atol)
    np.testing.assert_allclose(gx, gy * local, rtol=rtol, atol=atol)
    x64 = x.astype(np.float64)
    h = 1e-6 * np.maximum(1, np.abs(x64))
    smooth = (np.abs(x64) > 1e-3) & (np.abs(x64) < 30)
    with np.errstate(all="ignore"):
        numeric = (case.reference(x64 + h) - case.reference(x64 - h)) / (2 * h)
    np.testing.assert_allclose(
        local[smooth], numeric[smooth], rtol=max(1e-4, 4 * float(info.eps)), atol=1e-7
    )


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", SELECTING, ids=str)
def test_inactive_unit_gives_zero_even_for_an_infinite_or_nan_upstream(impl, case, dtype):
    """The piecewise backwards SELECT gy where the unit is on, as torch's: an infinite or NaN
    gy where it is off gives 0 · ..., not NaN; a broadcast (0-stride) gy works."""
    rng = np.random.default_rng(5)
    for rows in (8, 256):  # the twins' select(): where() below 4096 elements, bit masks above
        x = rng.standard_normal((rows, 33)).astype(dtype)
        y = impl.asnumpy(impl.forward(case, impl.asarray(x)))
        gy = rng.standard_normal((rows, 33)).astype(dtype)
        gy[0, :8] = [np.inf, -np.inf, np.nan, 1, np.inf, -np.inf, np.nan, 2]
        y[0, :8] = [-0.5, -0.5, -0.5, -0.5, 1, 1, 1, 1]
        gx = impl.asnumpy(impl.backward(case, impl.asarray(y), impl.asarray(gy)))
        assert gx.dtype == dtype and gx.shape == y.shape
        theirs = SELECTING_BACKWARDS[case.name](
            torch.from_numpy(y.astype(np.float64)), torch.from_numpy(gy.astype(np.float64)), case.p
        )
        np.testing.assert_allclose(
            gx.astype(np.float64), theirs.numpy(), rtol=2 * float(np.finfo(dtype).eps)
        )
        row = impl.asarray(rng.standard_normal(33).astype(dtype))
        broadcast = impl.xp.broadcast_to(row, y.shape)
        y = impl.asarray(y)
        np.testing.assert_array_equal(
            impl.asnumpy(impl.backward(case, y, broadcast)),
            impl.asnumpy(impl.backward(case, y, impl.xp.ascontiguousarray(broadcast))),
        )
    # a NaN y (relu passes NaN) is "on" for relu: torch's threshold_backward zeroes y <= 0
    y = np.array([-0.0, 0.0, np.nan, -1.0, 2.0], dtype)
    gy = np.array([np.inf, np.nan, 1.0, 5.0, np.inf], dtype)
    gx = impl.asnumpy(impl.backward(case, impl.asarray(y), impl.asarray(gy)))
    if case.name == "relu":
        np.testing.assert_array_equal(gx, [0, 0, 1, 0, np.inf])
    assert gx[-1] == np.inf


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_and_softplus_never_overflow(impl, dtype):
    big = float(np.finfo(dtype).max)
    x = np.array([-big, -1e4, -800.0, -745.2, -710.0, 710.0, 800.0, 1e4, big], dtype)
    cases = {case.name: case for case in CASES}
    with np.errstate(over="raise"):
        s = impl.asnumpy(impl.forward(cases["sigmoid"], impl.asarray(x)))
        sp = impl.asnumpy(impl.forward(cases["softplus"], impl.asarray(x)))
    assert np.isfinite(s).all() and np.isfinite(sp).all()
    ends = [0, 1, 2, -3, -2, -1]
    np.testing.assert_array_equal(s[ends], [0, 0, 0, 1, 1, 1])
    np.testing.assert_array_equal(sp[ends], [0, 0, 0, *x[-3:]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_non_contiguous_and_broadcast_inputs(impl, dtype):
    """A non-contiguous x (and bias) is read as it is, or copied once for a kernel; the
    upstream gradient is broadcast to y's shape and cast to its dtype."""
    rng = np.random.default_rng(1)
    base = impl.asarray(_random(rng, (64, 48), dtype))
    x = base[:, ::3].T  # (16, 64)
    bias = impl.asarray(_random(rng, 128, dtype))[::2]
    gy = 2 * impl.xp.ones((1, 64))  # float64
    for case in CASES:
        y = impl.forward(case, x)
        if impl.is_kernel:
            assert y.flags.c_contiguous
        np.testing.assert_allclose(
            impl.asnumpy(y), case.twin_forward(impl.asnumpy(x)), **impl.tol[dtype]
        )
        gx = impl.backward(case, y, gy)
        expected = case.twin_backward(impl.asnumpy(y), np.full((16, 64), 2.0))
        np.testing.assert_allclose(impl.asnumpy(gx), expected, **impl.tol[dtype])
        s = (impl.asnumpy(x).astype(np.float64) + impl.asnumpy(bias)).astype(np.float32)
        np.testing.assert_allclose(
            impl.asnumpy(impl.bias_forward(case, x, bias)),
            case.twin_forward(s if dtype == np.float16 else impl.asnumpy(x) + impl.asnumpy(bias)),
            **impl.tol[dtype],
        )


BIAS_SHAPES = [(1, 1), (5, 7), (600, 40), (1500, 3), (2, 3, 33), (4, 5, 33), (1, 300), (300, 1)]
BIAS_SHAPES_ON_A_GPU = [(300, 77), (100000, 3), (3000, 1000), (2, 70000)]  # a pass is 1M threads


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", CASES, ids=str)
def test_bias_activation(impl, case, dtype):
    """act(x + b) and its backward (gx, and gb the column sum of gx), over shapes that take
    the single-pass and the two-pass column reduction, narrow and wide."""
    rng = np.random.default_rng(2)
    shapes = BIAS_SHAPES + (BIAS_SHAPES_ON_A_GPU if impl.machine == "gpu" else [])
    for shape in shapes:
        x, b = _random(rng, shape, dtype), _random(rng, shape[-1:], dtype)
        y = impl.bias_forward(case, impl.asarray(x), impl.asarray(b))
        # a kernel adds in the compute type (float32 for float16) and rounds once, at the end
        s = x.astype(np.float64) + b
        s = s.astype(np.float64 if dtype == np.float64 else np.float32)
        np.testing.assert_allclose(
            impl.asnumpy(y).astype(np.float64), case.twin_forward(s), **impl.tol[dtype]
        )
        gy = _random(rng, shape, dtype, 1.0)
        gx, gb = impl.bias_backward(case, y, impl.asarray(gy))
        ref_gx = case.twin_backward(impl.asnumpy(y), gy)
        np.testing.assert_allclose(impl.asnumpy(gx).astype(np.float64), ref_gx, **impl.tol[dtype])
        columns = ref_gx.reshape(-1, shape[-1])
        # a sum's rounding error scales with the sum of magnitudes (float32 accumulates half)
        scale = np.abs(columns).sum(axis=0).max() + 1
        ulps = 16 if impl.machine == "gpu" else 8
        atol = ulps * np.finfo(np.float64 if dtype == np.float64 else np.float32).eps * scale
        if dtype == np.float16:
            atol += 2e-3 * np.sqrt(columns.shape[0])
        if impl.is_kernel or dtype != np.float16:  # NumPy sums float16 rows in float16
            np.testing.assert_allclose(
                impl.asnumpy(gb).astype(np.float64),
                columns.sum(axis=0),
                rtol=impl.tol[dtype]["rtol"],
                atol=atol,
            )
    if impl.launches is not None:
        suffix = kernels.SUFFIX[np.dtype(dtype)]
        launched = {name for name, _, _ in impl.launches}
        reductions = ("column_reduce", "column_finish", "column_reduce_direct")
        assert {f"{name}_{suffix}" for name in reductions} <= launched


@on_kernels
def test_column_sum_is_deterministic_and_accumulates_half_in_float32(impl):
    g = impl.asarray(np.full((4096, 3), 0.1, np.float16))  # a float16 sum would stall at 256
    out = kernels.activation.column_sum(g)
    assert out.dtype == np.float16
    expected = 4096 * float(np.float16(0.1))
    np.testing.assert_allclose(impl.asnumpy(out).astype(np.float64), expected, rtol=1e-3)
    np.testing.assert_array_equal(impl.asnumpy(kernels.activation.column_sum(g)), impl.asnumpy(out))
    g = np.random.default_rng(3).standard_normal((7, 9, 11))
    out = kernels.activation.column_sum(impl.asarray(g))
    np.testing.assert_allclose(impl.asnumpy(out), g.sum(axis=(0, 1)), rtol=1e-12)
    again = kernels.activation.column_sum(impl.asarray(g))
    np.testing.assert_array_equal(impl.asnumpy(again), impl.asnumpy(out))


def test_empty_arrays_launch_nothing(impl):
    relu, elu = (next(case for case in CASES if case.name == name) for name in ("relu", "elu"))
    for dtype in DTYPES:
        e = impl.xp.empty((0, 5), dtype)
        assert impl.forward(elu, e).shape == (0, 5)
        assert impl.backward(elu, e, e).shape == (0, 5)
        y = impl.bias_forward(relu, e, impl.xp.ones(5, dtype))
        gx, gb = impl.bias_backward(relu, y, y)
        assert gx.shape == (0, 5) and gb.dtype == dtype
        np.testing.assert_array_equal(impl.asnumpy(gb), np.zeros(5))
    assert not impl.launches


@on_kernels
def test_bad_inputs_raise_before_launching(impl):
    relu = ACTIVATIONS["relu"].code
    x = impl.xp.ones((3, 4), np.float32)
    with pytest.raises(TypeError, match="int32"):
        kernels.activation.forward(relu, impl.xp.ones(3, np.int32))
    if impl.name == "cuda":
        with pytest.raises(TypeError, match="ndarray"):
            kernels.activation.forward(relu, np.ones(3, np.float32))
    with pytest.raises(ValueError, match=r"bias of shape \(3,\)"):
        kernels.activation.bias_forward(relu, x, impl.xp.ones(3, np.float32))
    with pytest.raises(ValueError, match="broadcast"):
        kernels.activation.backward(relu, x, impl.xp.ones(5, np.float32))
    assert not impl.launches


@on_kernels
def test_an_unknown_activation_code_gives_nan_not_another_activation(impl):
    """The kernels' dispatch has no fallback case: a code outside the registry's gives NaN
    in every direction instead of, say, softplus."""
    unknown = max(spec.code for spec in ACTIVATIONS.values()) + 1
    x = impl.xp.linspace(-2, 2, 7).astype(np.float32)
    assert np.isnan(impl.asnumpy(kernels.activation.forward(unknown, x))).all()
    assert np.isnan(impl.asnumpy(kernels.activation.backward(unknown, x, x))).all()
    gx, gb = kernels.activation.bias_backward(unknown, x.reshape(7, 1), x.reshape(7, 1))
    assert np.isnan(impl.asnumpy(gx)).all() and np.isnan(impl.asnumpy(gb)).all()


@pytest.mark.parametrize(
    "n, cols, start, stride",
    [
        (10**6, 7, 3, 1000),
        (10**6, 1000, 999, 256),
        (5000, 1, 0, 33),
        (10**5, 4096, 17, 4096 * 3 + 5),
        (3 * 2**33, 2**33 + 1, 2**33, 2**32 + 3),
    ],
)
def test_row_column_advance_matches_division(formulas, n, cols, start, stride):
    formulas.advance_mismatches.restype = ctypes.c_long
    formulas.advance_mismatches.argtypes = [ctypes.c_longlong] * 4
    assert formulas.advance_mismatches(start, stride, n, cols) == 0


@pytest.mark.slow
@on_gpu
def test_more_than_2_to_the_31_elements(impl):
    cupy, relu = impl.xp, ACTIVATIONS["relu"].code
    n = 2**31 + 1024  # 4 GiB per float16 array
    x = cupy.full(n, -1.0, dtype=cupy.float16)
    x[-3:] = 2.0
    y = kernels.activation.forward(relu, x)
    assert float(y[-1]) == 2.0 and float(y[2**31 + 3]) == 0.0 and float(y[5]) == 0.0
    gx = kernels.activation.backward(relu, y, x)  # gy = x: 2.0 where the unit is on
    assert float(gx[-1]) == 2.0 and float(gx[2**31]) == 0.0
    del y, gx
    rows = n // 1024  # bias + activation: a 64-bit row index and column sum
    x2 = x.reshape(rows, 1024)
    b = cupy.zeros(1024, cupy.float16)
    b[-1] = 3.0
    y2 = kernels.activation.bias_forward(relu, x2, b)
    assert float(y2[-1, -1]) == 5.0 and float(y2[-1, 0]) == 0.0 and float(y2[2**20, -1]) == 2.0
    # gy = 2^-12 keeps the float16 column sums in range: column 1023 is on in every row,
    # 1021 and 1022 only in the last (x = 2 there), the others never
    gx2, gb = kernels.activation.bias_backward(relu, y2, cupy.full_like(y2, 2.0**-12))
    assert float(gb[-1]) == 512.0 and float(gb[-2]) == 2.0**-12 and float(gb[0]) == 0.0
    del x, x2, y2, gx2
