"""Data sets and the on-device DataLoader."""

import gzip
import struct

import numpy as np
import pytest

from gpugrad import data


def test_digits_shipped_split_is_fixed_and_stratified():
    d = data.load_digits()
    assert d.x_train.shape == (1438, 1, 8, 8) and d.x_test.shape == (359, 1, 8, 8)
    assert d.x_train.dtype == np.float32 and d.x_train.min() >= 0 and d.x_train.max() <= 1
    train_share = np.bincount(d.y_train) / len(d.y_train)
    test_share = np.bincount(d.y_test) / len(d.y_test)
    assert np.abs(train_share - test_share).max() < 0.01
    again = data.load_digits()
    np.testing.assert_array_equal(d.y_test, again.y_test)


def test_standardized_uses_training_statistics():
    d = data.load_digits().standardized()
    assert abs(float(d.x_train.mean())) < 1e-5
    assert d.x_test.dtype == np.float32


def test_spiral():
    s = data.make_spiral(points_per_class=50, classes=4, seed=1)
    assert s.x_train.shape[1] == 2 and s.num_classes == 4
    assert len(s.x_train) + len(s.x_test) == 200
    np.testing.assert_array_equal(s.x_train, data.make_spiral(50, 4, seed=1).x_train)


def _write_idx(path, array, code=0x08, compress=False):
    header = struct.pack(">BBBB", 0, 0, code, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    raw = header + array.astype(">u1" if code == 0x08 else array.dtype).tobytes()
    (gzip.open if compress else open)(path, "wb").write(raw)


def _mnist_dir(tmp_path, compress=False, n_train=12, n_test=5):
    rng = np.random.default_rng(0)
    suffix = ".gz" if compress else ""
    _write_idx(
        tmp_path / f"train-images-idx3-ubyte{suffix}",
        rng.integers(0, 256, (n_train, 28, 28)),
        compress=compress,
    )
    _write_idx(
        tmp_path / f"train-labels-idx1-ubyte{suffix}",
        rng.integers(0, 10, n_train),
        compress=compress,
    )
    _write_idx(
        tmp_path / f"t10k-images-idx3-ubyte{suffix}",
        rng.integers(0, 256, (n_test, 28, 28)),
        compress=compress,
    )
    _write_idx(
        tmp_path / f"t10k-labels-idx1-ubyte{suffix}", rng.integers(0, 10, n_test), compress=compress
    )
    return tmp_path


@pytest.mark.parametrize("compress", [False, True])
def test_idx_loading(tmp_path, compress):
    d = data.load_idx(str(_mnist_dir(tmp_path, compress)))
    assert d.x_train.shape == (12, 1, 28, 28) and d.y_test.shape == (5,)
    assert d.x_train.max() <= 1.0 and d.y_train.dtype == np.int64


def test_idx_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        data.load_idx(str(tmp_path / "nope"))
    root = _mnist_dir(tmp_path)
    (root / "t10k-labels-idx1-ubyte").unlink()
    with pytest.raises(FileNotFoundError, match="t10k-labels"):
        data.load_idx(str(root))
    (root / "t10k-labels-idx1-ubyte").write_bytes(b"\x01\x02\x08\x01")
    with pytest.raises(ValueError, match="magic"):
        data.load_idx(str(root))
    _write_idx(root / "t10k-labels-idx1-ubyte", np.arange(4))  # 4 labels for 5 images
    with pytest.raises(ValueError, match="5 test images but 4 labels"):
        data.load_idx(str(root))
    raw = (root / "train-images-idx3-ubyte").read_bytes()
    (root / "train-images-idx3-ubyte").write_bytes(raw[:-10])
    with pytest.raises(ValueError, match="need .* bytes"):
        data.load_idx(str(root))


def test_load_spec_errors():
    with pytest.raises(ValueError, match="unknown dataset"):
        data.load("cifar")


def test_loader_covers_each_sample_once_and_reshuffles(device):
    x = np.arange(50, dtype=np.float32)[:, None]
    y = np.arange(50)
    loader = data.DataLoader(x, y, batch_size=8, device=device, seed=1)
    assert len(loader) == 7
    epochs = []
    for _ in range(2):
        seen = np.concatenate([yb.numpy() for _, yb in loader])
        assert sorted(seen.tolist()) == list(range(50))
        epochs.append(seen)
    assert not np.array_equal(epochs[0], epochs[1])
    xb, yb = next(iter(loader))
    assert xb.device == device and yb.device == device
    np.testing.assert_array_equal(xb.numpy()[:, 0], yb.numpy())


def test_loader_is_deterministic_by_seed_and_epoch(device):
    x = np.arange(30, dtype=np.float32)
    a = data.DataLoader(x, x, 30, device=device, seed=5)
    b = data.DataLoader(x, x, 30, device=device, seed=5)
    b.set_epoch(0)
    np.testing.assert_array_equal(next(iter(a))[1].numpy(), next(iter(b))[1].numpy())


def test_loader_shards_are_disjoint(device):
    x = np.arange(40, dtype=np.float32)
    parts = [
        np.concatenate(
            [
                yb.numpy()
                for _, yb in data.DataLoader(x, x, 7, device=device, seed=2, rank=r, world_size=4)
            ]
        )
        for r in range(4)
    ]
    together = np.concatenate(parts)
    assert len(together) == 40 and len(set(together.tolist())) == 40


def test_loader_drop_last_and_errors():
    x = np.zeros((10, 2), np.float32)
    assert len(data.DataLoader(x, np.zeros(10), 4, drop_last=True)) == 2
    assert sum(1 for _ in data.DataLoader(x, np.zeros(10), 4, drop_last=True)) == 2
    with pytest.raises(ValueError, match="batch_size"):
        data.DataLoader(x, np.zeros(10), 0)
    with pytest.raises(ValueError, match="samples"):
        data.DataLoader(x, np.zeros(9), 2)
