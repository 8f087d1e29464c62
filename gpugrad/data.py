"""Data sets and a DataLoader that keeps the whole data set on the device.

* ``load_digits()``: the 1,797 UCI 8×8 digits shipped inside the package (no network).
* ``make_spiral()``: the notes' 3-class spiral.
* ``load_idx(directory)``: MNIST / Fashion-MNIST IDX files, gzip or raw, validated.
* ``DataLoader``: the trainer's loader (``gg.utils.data.DataLoader`` over x and y): moves
  the data set to the device once; each epoch draws a permutation on the device and
  gathers batches there by index — no host round trip per batch.
"""

from __future__ import annotations

import gzip
import os
import struct
from dataclasses import dataclass
from importlib import resources

import numpy

from . import backend
from .tensor import Tensor
from .utils import data as utils_data

__all__ = ["DataLoader", "Dataset", "load", "load_digits", "load_idx", "make_spiral"]


@dataclass
class Dataset:
    """Train and test splits as host arrays: x float32 (N, ...), y int64 (N,)."""

    name: str
    x_train: numpy.ndarray
    y_train: numpy.ndarray
    x_test: numpy.ndarray
    y_test: numpy.ndarray
    num_classes: int

    @property
    def input_shape(self) -> tuple:
        return self.x_train.shape[1:]

    def standardized(self, floor: float = 0.1) -> Dataset:
        """Each input feature shifted and scaled by the TRAINING set's mean and std
        (std + ``floor``: some digit border pixels never vary)."""
        mean = self.x_train.mean(axis=0)
        scale = self.x_train.std(axis=0) + floor
        return Dataset(
            self.name,
            ((self.x_train - mean) / scale).astype(numpy.float32),
            self.y_train,
            ((self.x_test - mean) / scale).astype(numpy.float32),
            self.y_test,
            self.num_classes,
        )


def _stratified_split(y: numpy.ndarray, test_fraction: float, seed: int):
    """Indices of a split that keeps each class's share in both parts."""
    rng = numpy.random.default_rng(seed)
    train, test = [], []
    for c in numpy.unique(y):
        idx = rng.permutation(numpy.flatnonzero(y == c))
        n_test = round(len(idx) * test_fraction)
        test.append(idx[:n_test])
        train.append(idx[n_test:])
    return numpy.sort(numpy.concatenate(train)), numpy.sort(numpy.concatenate(test))


def load_digits(test_fraction: float = 0.2, seed: int = 0) -> Dataset:
    """UCI handwritten digits: x (N, 1, 8, 8) float32 in [0, 1], a fixed stratified split."""
    with resources.files("gpugrad.data_files").joinpath("digits.npz").open("rb") as f:
        archive = numpy.load(f)
        images, labels = archive["images"], archive["labels"]
    x = (images.astype(numpy.float32) / 16.0)[:, None, :, :]
    train, test = _stratified_split(labels, test_fraction, seed)
    return Dataset("digits", x[train], labels[train], x[test], labels[test], 10)


def make_spiral(
    points_per_class: int = 100, classes: int = 3, seed: int = 0, test_fraction: float = 0.2
) -> Dataset:
    """The notes' spiral: ``classes`` arms of 2-d points, noisy, not linearly separable."""
    if points_per_class < 2 or classes < 2:
        raise ValueError("make_spiral needs at least 2 classes and 2 points per class")
    rng = numpy.random.default_rng(seed)
    x = numpy.zeros((points_per_class * classes, 2), numpy.float32)
    y = numpy.zeros(points_per_class * classes, numpy.int64)
    for c in range(classes):
        i = slice(points_per_class * c, points_per_class * (c + 1))
        r = numpy.linspace(0.0, 1, points_per_class)
        t = (
            numpy.linspace(c * 4, (c + 1) * 4, points_per_class)
            + rng.standard_normal(points_per_class) * 0.2
        )
        x[i] = numpy.c_[r * numpy.sin(t), r * numpy.cos(t)]
        y[i] = c
    train, test = _stratified_split(y, test_fraction, seed)
    return Dataset("spiral", x[train], y[train], x[test], y[test], classes)


# -- IDX (MNIST) ---------------------------------------------------------------------
_IDX_DTYPES = {
    0x08: numpy.uint8,
    0x09: numpy.int8,
    0x0B: ">i2",
    0x0C: ">i4",
    0x0D: ">f4",
    0x0E: ">f8",
}
_IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def read_idx(path: str) -> numpy.ndarray:
    """One IDX file (gzip or raw) as an array, with its header checked against its size."""
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as e:
        raise ValueError(f"{path}: cannot be read ({e})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{path}: not an IDX file (bad magic number)")
    code, ndim = raw[2], raw[3]
    if code not in _IDX_DTYPES or not 1 <= ndim <= 4:
        raise ValueError(f"{path}: not an IDX file (type code {code:#x}, {ndim} dimensions)")
    if len(raw) < 4 + 4 * ndim:
        raise ValueError(f"{path}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    dtype = numpy.dtype(_IDX_DTYPES[code])
    expected = int(numpy.prod(dims)) * dtype.itemsize
    body = raw[4 + 4 * ndim :]
    if len(body) != expected:
        raise ValueError(
            f"{path}: dimensions {dims} need {expected} bytes of data, the file has {len(body)}"
        )
    return numpy.frombuffer(body, dtype=dtype).reshape(dims)


def _find_idx(directory: str, stem: str) -> str:
    for name in (
        stem,
        stem + ".gz",
        stem.replace("-idx", ".idx"),
        stem.replace("-idx", ".idx") + ".gz",
    ):
        p = os.path.join(directory, name)
        if os.path.isfile(p):
            return p
    raise FileNotFoundError(f"{directory}: missing {stem} (or {stem}.gz)")


def load_idx(directory: str) -> Dataset:
    """MNIST or Fashion-MNIST from the four standard IDX files in ``directory``."""
    if not os.path.isdir(directory):
        raise FileNotFoundError(f"IDX directory {directory!r} does not exist")
    arrays = {key: read_idx(_find_idx(directory, stem)) for key, stem in _IDX_FILES.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1:
            raise ValueError(
                f"{directory}: {split} images must be 3-d and labels 1-d, got "
                f"{images.shape} and {labels.shape}"
            )
        if len(images) != len(labels):
            raise ValueError(f"{directory}: {len(images)} {split} images but {len(labels)} labels")
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            raise ValueError(f"{directory}: {split} labels outside 0..9")
    if arrays["train_images"].shape[1:] != arrays["test_images"].shape[1:]:
        raise ValueError(f"{directory}: train and test images differ in size")

    def prep(a):
        return (a.astype(numpy.float32) / 255.0)[:, None, :, :]

    return Dataset(
        "idx",
        prep(arrays["train_images"]),
        arrays["train_labels"].astype(numpy.int64),
        prep(arrays["test_images"]),
        arrays["test_labels"].astype(numpy.int64),
        10,
    )


def load(spec: str, seed: int = 0) -> Dataset:
    """``digits``, ``spiral`` or ``idx:DIR``."""
    if spec == "digits":
        return load_digits()
    if spec == "spiral":
        return make_spiral(seed=seed)
    if spec.startswith("idx:") and len(spec) > 4:
        return load_idx(spec[4:])
    raise ValueError(f"unknown dataset {spec!r}: expected digits, spiral or idx:DIR")


# -- loading batches on the device -------------------------------------------------------------
class DataLoader(utils_data.DataLoader):
    """Batches of (x, y) Tensors gathered on the device (``gg.utils.data.DataLoader`` over
    a ``TensorDataset`` of the two, with the trainer's epoch-seeded, sharded order).

    The arrays are moved to ``device`` once.  Each epoch a permutation is drawn on the
    device from a generator seeded with ``(seed, epoch)`` — so an epoch's order does not
    depend on what ran before, which makes resuming exact — and batches are gathered by
    index there.  With ``world_size > 1`` each rank takes a disjoint, equal share of every
    epoch's permutation (data-parallel training).
    """

    def __init__(
        self,
        x,
        y,
        batch_size: int,
        shuffle: bool = True,
        drop_last: bool = False,
        device=None,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        if len(x) != len(y):
            raise ValueError(f"x has {len(x)} samples but y has {len(y)}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is not in [0, {world_size})")
        self.device = backend.device(device) if device is not None else backend.default_device()
        raw = lambda a: a.array if isinstance(a, Tensor) else numpy.asarray(a)
        self.x = backend.to_device(raw(x), self.device)
        self.y = backend.to_device(raw(y), self.device)
        dataset = utils_data.TensorDataset(Tensor.wrap(self.x), Tensor.wrap(self.y))
        super().__init__(dataset, batch_size, shuffle, drop_last=drop_last)
        self.seed, self.rank, self.world_size = seed, rank, world_size
        self.epoch = 0

    @property
    def num_samples(self) -> int:
        """Samples this rank sees per epoch."""
        return len(self.x) // self.world_size

    def __len__(self) -> int:
        n = self.num_samples
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _order(self):
        xp = self.device.xp
        n = len(self.x)
        if not isinstance(self.sampler, utils_data.RandomSampler):
            order = xp.arange(n)
        elif self.device.kind == "cpu":
            order = numpy.random.default_rng([self.seed, self.epoch]).permutation(n)
        else:
            order = xp.random.RandomState(self.seed * 1_000_003 + self.epoch).permutation(n)
        share = self.num_samples
        return order[self.rank * share : (self.rank + 1) * share]

    def __iter__(self):
        order = self._order()
        self.epoch += 1
        yield from self._gather(self.dataset.tensors, order)
