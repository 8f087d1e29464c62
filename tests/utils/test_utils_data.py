"""gg.utils.data against torch.utils.data: batches, shuffling, collate, random_split."""

import collections
import warnings

import numpy as np
import pytest
import torch
import torch.utils.data as tud

import gpugrad as gg
from gpugrad import backend
from gpugrad.utils import data as gud

Point = collections.namedtuple("Point", "x y")


def plain(obj):
    """A nested structure with every tensor (either library's) as (dtype, values)."""
    if isinstance(obj, gg.Tensor | torch.Tensor):
        values = obj.detach().numpy() if isinstance(obj, torch.Tensor) else obj.numpy()
        return ("tensor", str(values.dtype), values.tolist())
    if isinstance(obj, dict):
        return {key: plain(v) for key, v in obj.items()}
    if isinstance(obj, tuple | list):
        return (type(obj).__name__, [plain(v) for v in obj])
    return obj


def pair(n=10, device="cpu"):
    x = np.arange(n * 2, dtype=np.float32).reshape(n, 2)
    y = np.arange(n)
    mine = gud.TensorDataset(gg.tensor(x, device=device), gg.tensor(y, device=device))
    return mine, tud.TensorDataset(torch.tensor(x), torch.tensor(y))


class Records(gud.Dataset):
    """A map-style data set of nested samples, as a user writes one."""

    def __init__(self, n, wrap=np.asarray):
        self.n, self.wrap = n, wrap

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {
            "image": self.wrap(np.full((2, 3), i, np.float32)),
            "label": i,
            "weight": i / 2,
            "flag": i % 2 == 0,
            "pair": (np.int32(i), [float(i), "s"]),
            "point": Point(i, i + 1.0),
            "name": f"n{i}",
        }


class TorchRecords(Records, tud.Dataset):
    pass


@pytest.mark.parametrize("batch_size,drop_last", [(1, False), (3, False), (3, True), (10, True)])
def test_sequential_batches_equal_torch(device, batch_size, drop_last):
    mine, theirs = pair(10, device)
    a = gud.DataLoader(mine, batch_size=batch_size, drop_last=drop_last)
    b = tud.DataLoader(theirs, batch_size=batch_size, drop_last=drop_last)
    assert len(a) == len(b)
    got = list(a)
    assert plain(got) == plain(list(b))
    assert all(t.device == device for batch in got for t in batch)


def test_on_device_path_is_taken_and_equals_the_generic_path(device):
    mine, _ = pair(23, device)
    gathered = gud.DataLoader(mine, batch_size=5, shuffle=True)
    generic = gud.DataLoader(mine, batch_size=5, shuffle=True, collate_fn=gud.default_collate)
    assert gathered._on_device() is not None and generic._on_device() is None
    if device.kind == "cpu":  # both draw from the CPU generator: the same order
        gg.manual_seed(3)
        first = plain(list(gathered))
        gg.manual_seed(3)
        assert first == plain(list(generic))


def test_nested_collate_equals_torch():
    for batch_size in (1, 4):
        a = gud.DataLoader(Records(6), batch_size=batch_size)
        b = tud.DataLoader(TorchRecords(6), batch_size=batch_size)
        assert plain(list(a)) == plain(list(b))
    tensors = [gg.tensor([float(i), 1.0]) for i in range(3)]
    assert plain(gud.default_collate(tensors)) == plain(
        tud.default_collate([torch.tensor([float(i), 1.0]) for i in range(3)])
    )
    same = [[1, 2], [3, 4]]
    assert plain(gud.default_collate(same)) == plain(tud.default_collate(same))


def test_collate_errors_as_torch():
    for bad in ([[1, 2], [3]], [object(), object()], [np.array(["a"]), np.array(["b"])]):
        with pytest.raises(Exception) as theirs:
            tud.default_collate(bad)
        with pytest.raises(type(theirs.value)):
            gud.default_collate(bad)


def test_no_batching_converts_as_torch():
    a = gud.DataLoader(Records(3), batch_size=None)
    b = tud.DataLoader(TorchRecords(3), batch_size=None)
    assert len(a) == len(b) == 3
    assert plain(list(a)) == plain(list(b))


def test_shuffle_sizes_coverage_and_repeatability(device):
    mine, theirs = pair(25, device)
    sizes = [len(y) for _, y in tud.DataLoader(theirs, batch_size=4, shuffle=True)]
    loader = gud.DataLoader(mine, batch_size=4, shuffle=True)
    epochs = []
    for seed in (7, 7, 8):
        gg.manual_seed(seed)
        batches = [y.numpy() for _, y in loader]
        assert [len(y) for y in batches] == sizes
        epoch = np.concatenate(batches)
        assert sorted(epoch.tolist()) == list(range(25))
        epochs.append(epoch)
    np.testing.assert_array_equal(epochs[0], epochs[1])
    assert not np.array_equal(epochs[0], epochs[2])
    again = np.concatenate([y.numpy() for _, y in loader])  # the next epoch is another order
    assert not np.array_equal(epochs[2], again)


@pytest.mark.parametrize("make", [lambda: 5, lambda: np.random.default_rng(5)])
def test_shuffle_generator_argument(make):
    mine, _ = pair(12)
    runs = []
    for global_seed in (1, 2):  # the global seed does not move a loader with its own generator
        gg.manual_seed(global_seed)
        loader = gud.DataLoader(mine, batch_size=12, shuffle=True, generator=make())
        epochs = [next(iter(loader))[1].tolist() for _ in range(2)]
        assert epochs[0] != epochs[1]  # the generator goes on from epoch to epoch
        runs.append(epochs)
    assert runs[0] == runs[1]
    generic = gud.DataLoader(Records(12), batch_size=12, shuffle=True, generator=make())
    assert next(iter(generic))["label"].tolist() == runs[0][0]


def test_samplers_equal_torch():
    mine, theirs = pair(10)
    order = [3, 1, 4, 1, 5, 9, 2, 6]
    a = gud.DataLoader(mine, batch_size=3, sampler=order)
    b = tud.DataLoader(theirs, batch_size=3, sampler=order)
    assert plain(list(a)) == plain(list(b)) and len(a) == len(b)
    batches = [[0, 1], [9], [2, 2, 2]]
    a = gud.DataLoader(mine, batch_sampler=batches)
    b = tud.DataLoader(theirs, batch_sampler=batches)
    assert plain(list(a)) == plain(list(b)) and len(a) == len(b)
    s = gud.RandomSampler(range(4), num_samples=10)
    drawn = list(s)  # without replacement: whole permutations, then part of one
    assert len(s) == 10 and sorted(drawn[:4]) == sorted(drawn[4:8]) == [0, 1, 2, 3]
    assert len(set(drawn[8:])) == 2
    r = list(gud.RandomSampler(range(4), replacement=True, num_samples=20))
    assert len(r) == 20 and set(r) <= {0, 1, 2, 3}
    for bs in (gud.BatchSampler(range(7), 3, True), gud.BatchSampler(range(7), 3, False)):
        t = tud.BatchSampler(range(7), 3, bs.drop_last)
        assert list(bs) == list(t) and len(bs) == len(t)


def test_loader_errors_as_torch():
    mine, theirs = pair(4)
    for kwargs in (
        {"sampler": [0, 1], "shuffle": True},
        {"batch_sampler": [[0]], "batch_size": 2},
        {"batch_sampler": [[0]], "drop_last": True},
        {"batch_size": None, "drop_last": True},
        {"batch_size": 0},
        {"num_workers": -1},
    ):
        with pytest.raises(ValueError):
            tud.DataLoader(theirs, **kwargs)
        with pytest.raises(ValueError):
            gud.DataLoader(mine, **kwargs)
    quiet = gud.DataLoader(mine, num_workers=2, pin_memory=True, persistent_workers=True)
    assert quiet.num_workers == 2 and quiet.persistent_workers and len(quiet) == 4
    with pytest.raises(TypeError, match="bogus"):
        gud.DataLoader(mine, bogus=1)
    with pytest.raises(ValueError, match="Size mismatch"):
        gud.TensorDataset(gg.zeros(3), gg.zeros(4))
    with pytest.raises(NotImplementedError):
        gud.Dataset()[0]


@pytest.mark.parametrize(
    "n,lengths",
    [(10, [3, 7]), (10, [0.3, 0.3, 0.4]), (11, [0.5, 0.5]), (7, [0.33, 0.33, 0.34]), (5, [1.0])],
)
def test_random_split_lengths_as_torch(n, lengths):
    mine = gud.random_split(range(n), lengths)
    theirs = tud.random_split(range(n), lengths)
    assert [len(s) for s in mine] == [len(s) for s in theirs]
    items = [i for s in mine for i in s]
    assert sorted(items) == list(range(n))
    assert all(isinstance(s, gud.Subset) for s in mine)


def test_random_split_errors_warnings_and_seeds():
    for lengths in ([3, 3], [1.2, -0.2]):
        with pytest.raises(ValueError):
            tud.random_split(range(5), lengths)
        with pytest.raises(ValueError):
            gud.random_split(range(5), lengths)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gud.random_split(range(1), [0.1, 0.9])
    assert any("Length of split at index 1 is 0" in str(w.message) for w in caught)
    gg.manual_seed(4)
    a = [list(s) for s in gud.random_split(range(9), [4, 5])]
    gg.manual_seed(4)
    assert a == [list(s) for s in gud.random_split(range(9), [4, 5])]
    b = [list(s) for s in gud.random_split(range(9), [4, 5], generator=1)]
    assert b == [list(s) for s in gud.random_split(range(9), [4, 5], generator=1)]


def test_split_of_tensors_loads_on_device(device):
    mine, _ = pair(20, device)
    train, _ = gud.random_split(mine, [0.75, 0.25])
    loader = gud.DataLoader(train, batch_size=4, shuffle=True)
    assert loader._on_device() is not None
    ys = np.concatenate([y.numpy() for _, y in loader])
    assert sorted(ys.tolist()) == sorted(int(train[i][1].item()) for i in range(len(train)))
    x, y = next(iter(loader))
    np.testing.assert_array_equal(x.numpy()[:, 0], 2 * y.numpy())
    assert backend.device_of(x.array) == device


def test_subset_and_graph():
    s = gud.Subset(np.arange(10), [5, 2, 7])
    assert [s[i] for i in range(3)] == [5, 2, 7] and len(s) == 3
    assert s[[0, 2]].tolist() == tud.Subset(np.arange(10), [5, 2, 7])[[0, 2]].tolist()
    w = gg.ones(4, 2, requires_grad=True)  # tensors in the graph: batches stay in it
    x, _ = next(iter(gud.DataLoader(gud.TensorDataset(w, gg.zeros(4)), batch_size=4)))
    x.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), np.ones((4, 2)))


def test_reachable_as_gg_utils_data():
    assert gg.utils.data.DataLoader is gud.DataLoader
    assert {"Dataset", "TensorDataset", "DataLoader", "random_split", "Subset"} <= set(gud.__all__)
