"""gpugrad.host_memory's pool of large host blocks (empty, empty_like): a block is handed out
again only once no array uses it, sizes share a block within their size class, the limit
holds, and a training step's convolutions, ReLUs and max pools take no fresh pages once
warm (page faults counted in a fresh process, as tests/test_host_memory.py does)."""

import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from gpugrad import host_memory

BIG = (512, 256)  # 512 KiB of float32: pooled


@pytest.fixture
def fresh_pool():
    """The pool without idle blocks, its limit restored and idle blocks freed afterwards;
    yields the bytes it still holds (blocks of arrays alive elsewhere)."""
    host_memory.release_pool()
    limit = host_memory.pool_limit()
    yield host_memory.pool_bytes()
    host_memory.set_pool_limit(limit)
    host_memory.release_pool()


def test_a_block_comes_back_once_its_array_dies(fresh_pool):
    a = host_memory.empty(BIG, np.float32)
    address = a.ctypes.data
    held = host_memory.pool_bytes()
    del a
    b = host_memory.empty(BIG, np.float32)
    assert b.ctypes.data == address and host_memory.pool_bytes() == held


@pytest.mark.parametrize(
    "keep",
    [
        lambda a: a.T[::2],  # a view
        lambda a: np.asarray(a).reshape(-1),
        lambda a: memoryview(a),
        lambda a: np.lib.stride_tricks.as_strided(a, (2, 2), (8, 4)),
        lambda a: a[3],  # a row
    ],
    ids=["view", "reshape", "memoryview", "as_strided", "row"],
)
def test_a_block_in_use_is_never_handed_out(fresh_pool, keep):
    a = host_memory.empty(BIG, np.float32)
    a[...] = 7
    kept = keep(a)
    del a
    b = host_memory.empty(BIG, np.float32)
    b[...] = 0
    assert (np.asarray(kept) == 7).all()


def test_sizes_share_their_size_class(fresh_pool):
    a = host_memory.empty((BIG[0] + 8, BIG[1]), np.float32)  # 1/8 more, rounded up
    address = a.ctypes.data
    del a
    b = host_memory.empty((BIG[0] + 50, BIG[1]), np.float32)  # the same class
    assert b.ctypes.data == address
    c = host_memory.empty((BIG[0] * 2, BIG[1]), np.float32)  # another class: a new block
    assert not np.shares_memory(b, c)


def test_small_arrays_are_numpys_own(fresh_pool):
    a = host_memory.empty(100, np.float64)
    assert a.shape == (100,) and host_memory.pool_bytes() == fresh_pool


def test_empty_like_keeps_the_memory_order(fresh_pool):
    channels_outer = np.empty((16, 8, 28, 28), np.float32).transpose(1, 0, 2, 3)
    out = host_memory.empty_like(channels_outer)
    assert out.shape == channels_outer.shape and out.strides == channels_outer.strides
    as_bool = host_memory.empty_like(channels_outer, bool)
    assert as_bool.dtype == bool and as_bool.transpose(1, 0, 2, 3).flags.c_contiguous
    assert host_memory.pooled_like(np.empty(10)) is None


def test_the_limit_holds_and_idle_blocks_make_room(fresh_pool):
    size = BIG[0] * BIG[1] * 4
    host_memory.set_pool_limit(fresh_pool + 2 * size)
    a, b = host_memory.empty(BIG, np.float32), host_memory.empty(BIG, np.float32)
    c = host_memory.empty(BIG, np.float32)  # the pool is full of blocks in use: NumPy's
    assert host_memory.pool_bytes() == fresh_pool + 2 * size and c.base is None
    del a, c
    d = host_memory.empty((BIG[0] * 2, BIG[1]), np.float32)  # needs the idle block's room
    assert host_memory.pool_bytes() == fresh_pool + size and d.base is None  # b's is in use
    del b
    e = host_memory.empty((BIG[0] * 2, BIG[1]), np.float32)
    assert e.base is not None and host_memory.pool_bytes() == fresh_pool + 2 * size
    host_memory.set_pool_limit(0)  # off: idle blocks freed, nothing pooled
    f = host_memory.empty(BIG, np.float32)
    assert f.base is None and host_memory.pool_bytes() == fresh_pool + 2 * size  # e's
    del e
    assert host_memory.release_pool() == 2 * size and host_memory.pool_bytes() == fresh_pool
    with pytest.raises(ValueError, match=">= 0"):
        host_memory.set_pool_limit(-1)


def test_release_frees_idle_blocks_only(fresh_pool):
    a = host_memory.empty(BIG, np.float32)
    host_memory.empty(BIG, np.float32)  # dies at once: idle
    assert host_memory.release_pool() == BIG[0] * BIG[1] * 4
    a[...] = 1  # still ours
    assert host_memory.pool_bytes() == fresh_pool + a.nbytes


def test_threads_never_share_a_block(fresh_pool):
    errors = []

    def work(value):
        for _ in range(300):
            a = host_memory.empty(BIG, np.float32)
            a[...] = value
            b = host_memory.empty(BIG, np.float32)
            b[...] = -value
            if not ((a == value).all() and (b == -value).all()):
                errors.append(value)

    threads = [threading.Thread(target=work, args=(v,)) for v in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


STEP = """
import resource, sys
from bench import models
from gpugrad import host_memory
if sys.argv[1] == "off":
    host_memory.set_pool_limit(0)
step = models.train_step(models.library("gpugrad"), "cnn", 64, "cpu")  # the trainer's CNN
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(3):
    step()
before = faults()
for _ in range(10):
    step()
print((faults() - before) // 10)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc is Linux's")
def test_the_warm_cnn_step_takes_few_page_faults():
    """Its convolutions', ReLUs' and max pools' arrays come from the pool; what is left
    (the Linear's and the flatten's, a few hundred KiB) may still fault."""

    def faults(mode):
        out = subprocess.run(
            [sys.executable, "-c", STEP, mode],
            cwd=Path(__file__).resolve().parent.parent,  # the checkout, for `bench`
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        )
        return int(out.stdout.split()[-1])

    pooled = faults("on")
    assert pooled < 500  # about 120 measured
    # the pool off: NumPy makes them and glibc hands them back (about 2,000 measured)
    assert faults("off") > 4 * max(pooled, 250)


@pytest.mark.parametrize("value, expected", [("12", 12 << 20), ("0", 0), (None, 256 << 20)])
def test_the_environment_sets_the_limit_at_import(value, expected):
    import os

    env = {k: v for k, v in os.environ.items() if k != "GPUGRAD_HOST_POOL_MIB"}
    if value is not None:
        env["GPUGRAD_HOST_POOL_MIB"] = value
    code = "import gpugrad; print(gpugrad.host_memory.pool_limit())"
    out = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0 and int(out.stdout) == expected
    for bad in ("a lot", "\u00b2"):  # "²" is a digit to str.isdigit, not to int()
        env["GPUGRAD_HOST_POOL_MIB"] = bad
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
        assert out.returncode != 0 and "GPUGRAD_HOST_POOL_MIB" in out.stderr


def test_a_lowered_limit_stops_handing_out_blocks_that_were_in_use(fresh_pool):
    """A block in use when the limit drops to 0 is not handed out again once idle: freed
    at the next request instead, and the pool ends empty."""
    a = host_memory.empty(BIG, np.float32)
    address = a.ctypes.data
    host_memory.set_pool_limit(0)
    del a  # idle now, over the limit
    b = host_memory.empty(BIG, np.float32)
    assert b.base is None or b.ctypes.data != address  # NumPy's own
    assert host_memory.pool_bytes() == fresh_pool


def test_a_request_over_the_limit_leaves_the_idle_blocks(fresh_pool):
    size = BIG[0] * BIG[1] * 4
    host_memory.set_pool_limit(fresh_pool + 2 * size)
    host_memory.empty(BIG, np.float32)  # dies at once: an idle block
    huge = host_memory.empty((BIG[0] * 8, BIG[1]), np.float32)  # could never be pooled
    assert huge.base is None and host_memory.pool_bytes() == fresh_pool + size


def test_numpy_integers_as_the_shape(fresh_pool):
    a = host_memory.empty((np.int64(BIG[0]), BIG[1]), np.float32)
    b = host_memory.empty(np.int64(BIG[0] * BIG[1]), np.float32)
    assert a.shape == BIG and b.shape == (BIG[0] * BIG[1],)
