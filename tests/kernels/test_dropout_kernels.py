"""Inverted dropout on Philox4x32-10 (``kernels/philox.cuh``, ``kernels/dropout.cu``,
launcher ``gpugrad.kernels.dropout``): Philox against Random123's known answers (the header
compiled with g++, and the NumPy reference of tests/philox_reference.py); the kernel,
emulated on the CPU and on a GPU (the ``impl`` fixture), draws exactly the reference's masks
(so the mask does not depend on the grid), keeps 1-p of the elements, scales them exactly,
gives the backward the same mask, and reads (seed, offset) from a device buffer for a launch
captured in a CUDA graph."""

import ctypes
import math
import shutil
import subprocess
from pathlib import Path

import numpy as np
import philox_reference as ref
import pytest
from kernel_cases import DTYPES, on_kernels

from gpugrad import kernels
from gpugrad.kernels import _build, dropout
from gpugrad.random import PhiloxDraw

SEED = 0x0123456789ABCDEF  # both key words non-zero
CPP = Path(__file__).resolve().parent / "cpp"
CXX = shutil.which("g++") or shutil.which("c++")


@pytest.fixture(scope="module")
def philox_cpp(tmp_path_factory):
    """tests/kernels/cpp/philox.cpp (the header's functions) built with g++, for ctypes."""
    if CXX is None:
        pytest.skip("needs a host C++ compiler (g++)")
    so = tmp_path_factory.mktemp("philox") / "philox.so"
    command = [CXX, "-std=c++17", "-O1", "-shared", "-fPIC", f"-I{kernels.source_dir()}"]
    subprocess.run([*command, str(CPP / "philox.cpp"), "-o", str(so)], check=True)
    library = ctypes.CDLL(str(so))
    pointer, n = ctypes.c_void_p, ctypes.c_long
    library.philox4x32_10.argtypes = [pointer, pointer, pointer, n]
    library.philox_stream.argtypes = [ctypes.c_ulonglong, ctypes.c_ulonglong, pointer, n]
    return library


def _cpp_philox(library, counter, key) -> np.ndarray:
    counter, key = np.ascontiguousarray(counter, np.uint32), np.ascontiguousarray(key, np.uint32)
    out = np.empty_like(counter)
    library.philox4x32_10(counter.ctypes.data, key.ctypes.data, out.ctypes.data, len(counter))
    return out


def test_philox_gives_random123s_known_answers(philox_cpp):
    counter, key, expected = (np.array(column, np.uint32) for column in zip(*ref.KNOWN_ANSWERS))
    np.testing.assert_array_equal(_cpp_philox(philox_cpp, counter, key), expected)
    np.testing.assert_array_equal(ref.philox4x32_10(counter, key), expected)


def test_the_header_and_the_numpy_reference_agree_on_random_counters_and_streams(philox_cpp):
    rng = np.random.default_rng(0)
    counter = rng.integers(0, 2**32, (1000, 4), dtype=np.uint32)
    key = rng.integers(0, 2**32, (1000, 2), dtype=np.uint32)
    np.testing.assert_array_equal(
        _cpp_philox(philox_cpp, counter, key), ref.philox4x32_10(counter, key)
    )
    # a stream position past 2^32 counters carries into the counter's second word
    for seed, offset in [(0, 0), (SEED, 4 * (2**32 - 3)), (2**64 - 1, 2**40)]:
        out = np.empty(4 * 8, np.uint32)
        philox_cpp.philox_stream(seed, offset, out.ctypes.data, 8)
        np.testing.assert_array_equal(out, ref.stream(seed, offset, 32))


def _draw(impl, offset, seed=SEED, base=None):
    """A PhiloxDraw: eager values, or (``base`` = (seed, offset)) a captured launch's."""
    if base is None:
        return PhiloxDraw(seed, offset)
    buffer = impl.asarray(np.array(base, np.uint64).view(np.int64))
    return PhiloxDraw(0, offset, buffer)


@on_kernels
@pytest.mark.parametrize("n", [1, 3, 4, 5, 1031, 70001])
@pytest.mark.parametrize("dtype", DTYPES)
def test_the_kernel_draws_the_reference_mask_and_scales_exactly(impl, dtype, n):
    """Forward and backward are x · mask with the reference's mask, bit for bit: 1/(1-p)
    rounded to the dtype, times x, rounded once (as the CPU's x · mask)."""
    p, offset = 0.3, 4 * 12345
    rng = np.random.default_rng(n)
    x = rng.standard_normal(n).astype(dtype)
    expected = x * ref.mask(SEED, offset, (n,), p, dtype)
    y = dropout.apply(impl.asarray(x), p, _draw(impl, offset))
    assert y.dtype == dtype and y.shape == (n,)
    np.testing.assert_array_equal(impl.asnumpy(y), expected)
    gy = rng.standard_normal(n).astype(dtype)
    gx = dropout.apply(impl.asarray(gy), p, _draw(impl, offset), shape=(n,))
    np.testing.assert_array_equal(impl.asnumpy(gx), gy * ref.mask(SEED, offset, (n,), p, dtype))
    if impl.launches is not None:  # one launch each way, a thread per four elements
        name = f"dropout_{kernels.SUFFIX[np.dtype(dtype)]}"
        grid = (_build.grid(-(-n // 4))[0], 1, 1)
        assert impl.launches == [(name, grid, (_build.THREADS, 1, 1))] * 2


@on_kernels
@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
def test_the_share_kept_is_1_minus_p_and_offsets_give_fresh_masks(impl, p):
    n = 1 << 16
    ones = impl.asarray(np.ones(n, np.float32))
    masks = [impl.asnumpy(dropout.apply(ones, p, _draw(impl, 4 * k * n))) != 0 for k in range(3)]
    bound = 5 * math.sqrt(p * (1 - p) / n)  # five standard deviations of the share
    for kept in masks:
        assert abs(kept.mean() - (1 - p)) < bound
    # disjoint draws: as independent as two coin-flip sequences
    agree = (masks[0] == masks[1]).mean()
    assert abs(agree - (p * p + (1 - p) ** 2)) < bound * 2
    again = impl.asnumpy(dropout.apply(ones, p, _draw(impl, 0))) != 0
    np.testing.assert_array_equal(again, masks[0])  # same (seed, offset): same mask
    other_seed = impl.asnumpy(dropout.apply(ones, p, _draw(impl, 0, seed=SEED + 1))) != 0
    assert not np.array_equal(other_seed, masks[0])


@on_kernels
def test_a_captured_launch_reads_seed_and_offset_from_the_device_buffer(impl):
    """A launch captured in a CUDA graph: (seed, offset) from the base buffer plus its offset
    inside the graph; the same numbers as an eager launch at the sum.  Seeds past 2^63 are
    carried through the int64 buffer bit for bit."""
    n, p = 1000, 0.5
    x = np.arange(1, n + 1, dtype=np.float32)
    for seed, base, inside in [(SEED, 4096, 0), (SEED, 4096, 1000), (2**64 - 5, 2**36, 8)]:
        captured = dropout.apply(impl.asarray(x), p, _draw(impl, inside, base=(seed, base)))
        eager = dropout.apply(impl.asarray(x), p, _draw(impl, base + inside, seed=seed))
        np.testing.assert_array_equal(impl.asnumpy(captured), impl.asnumpy(eager))
        np.testing.assert_array_equal(
            impl.asnumpy(eager), x * ref.mask(seed, base + inside, (n,), p, x.dtype)
        )


@on_kernels
def test_dropped_infinities_and_nans_give_nan_as_on_the_cpu(impl):
    p, n = 0.5, 64
    x = np.full(n, np.inf, np.float32)
    x[::2] = np.nan
    keep = ref.keep(SEED, 0, n, p)
    y = impl.asnumpy(dropout.apply(impl.asarray(x), p, _draw(impl, 0)))
    with np.errstate(invalid="ignore"):
        np.testing.assert_array_equal(y, x * np.where(keep, np.float32(2), np.float32(0)))
    assert np.isnan(y[~keep]).all() and keep.any() and (~keep).any()


@on_kernels
def test_shapes_layouts_and_bad_arguments(impl):
    """An empty array launches nothing; a non-contiguous input is copied first (the mask
    follows the C order of the result); the backward broadcasts its upstream gradient to the
    forward's shape; p outside (0, 1) and integer arrays are refused."""
    empty = dropout.apply(impl.asarray(np.ones((0, 3), np.float32)), 0.5, _draw(impl, 0))
    assert empty.shape == (0, 3)
    if impl.launches is not None:
        assert impl.launches == []
    x = np.arange(1, 13, dtype=np.float64).reshape(3, 4)
    m = ref.mask(SEED, 0, (4, 3), 0.5, np.float64)
    np.testing.assert_array_equal(
        impl.asnumpy(dropout.apply(impl.asarray(x).T, 0.5, _draw(impl, 0))), x.T * m
    )
    g = dropout.apply(impl.asarray(np.float64(3.0)), 0.5, _draw(impl, 0), shape=(4, 3))
    np.testing.assert_array_equal(impl.asnumpy(g), 3.0 * m)
    for p in (0.0, 1.0, -0.5):
        with pytest.raises(ValueError, match="0 < p < 1"):
            dropout.apply(impl.asarray(x), p, _draw(impl, 0))
    with pytest.raises(TypeError, match="float16, float32 and float64"):
        dropout.apply(impl.asarray(np.ones(4, np.int64)), 0.5, _draw(impl, 0))


def test_threshold_and_scale_are_exact():
    assert dropout.threshold(0.5) == 2**31
    assert dropout.threshold(0.3) == math.ceil(0.3 * 2**32)
    assert dropout.threshold(1 - 2**-40) == 2**32  # never kept: no number reaches 2^32
    assert dropout.threshold(2**-40) == 1  # only 0 is dropped
    assert dropout.scale(0.3, np.float16) == float(np.float16(1 / 0.7))
    assert dropout.scale(0.3, np.float64) == 1 / 0.7
