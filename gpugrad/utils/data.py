"""``gg.utils.data``: PyTorch's data sets, ``random_split``, samplers, ``DataLoader`` and
default collate.  A DataLoader over a ``TensorDataset`` (or ``Subset``s of one, as
``random_split`` gives) with the default sampler and collate gathers each batch where the
tensors live, by index: the epoch's order is drawn on that device, no sample goes through
the host.  Shuffling draws from gpugrad's generator of the device (``gg.manual_seed``
makes it repeatable) unless ``generator`` (a seed or a NumPy ``Generator``) is given.

>>> import gpugrad as gg
>>> from gpugrad.utils.data import DataLoader, TensorDataset
>>> ds = TensorDataset(gg.arange(5.0), gg.arange(5))
>>> [y.tolist() for _, y in DataLoader(ds, batch_size=2)]
[[0, 1], [2, 3], [4]]
"""

from __future__ import annotations

import collections.abc as abc
import itertools
import math
import numbers
import warnings

import numpy

from .. import backend, random as _random
from ..creation import as_tensor, tensor
from ..ops.concatenate import stack
from ..tensor import Tensor

__all__ = [
    "BatchSampler",
    "DataLoader",
    "Dataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "Subset",
    "TensorDataset",
    "default_collate",
    "default_convert",
    "random_split",
]


# -- data sets ---------------------------------------------------------------------------
class Dataset:
    """A map-style data set: subclasses define ``__getitem__`` (and usually ``__len__``)."""

    def __getitem__(self, index):
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")


class TensorDataset(Dataset):
    """Samples are the tensors' rows: ``ds[i] == (t[i] for t in tensors)``."""

    def __init__(self, *tensors: Tensor):
        if any(t.shape[0] != tensors[0].shape[0] for t in tensors):
            raise ValueError("Size mismatch between tensors")
        self.tensors = tensors

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]


class Subset(Dataset):
    """The samples of ``dataset`` at ``indices``, in that order."""

    def __init__(self, dataset, indices):
        self.dataset, self.indices = dataset, indices

    def __getitem__(self, idx):
        if isinstance(idx, list):
            return self.dataset[[self.indices[i] for i in idx]]
        return self.dataset[self.indices[idx]]

    def __len__(self) -> int:
        return len(self.indices)


def _host_rng(generator):
    """The generator shuffling draws from: None means gpugrad's own (looked up at each draw,
    so that ``gg.manual_seed`` takes effect); a seed makes a NumPy generator."""
    if generator is None or hasattr(generator, "permutation"):
        return generator
    if isinstance(generator, numbers.Integral):
        return numpy.random.default_rng(int(generator))
    if hasattr(generator, "initial_seed"):  # a torch-style Generator object
        return numpy.random.default_rng(int(generator.initial_seed()))
    raise TypeError(f"generator must be None, a seed or a random generator, got {generator!r}")


def _draw(rng, dev: backend.Device, n: int, size: int | None = None):
    """On ``dev``: a permutation of range(n), or ``size`` draws from it with replacement."""
    g = rng if rng is not None else _random.generator(dev)
    if size is None:
        out = g.permutation(n)
    else:
        out = (g.integers if hasattr(g, "integers") else g.randint)(0, n, size=size)
    return backend.to_device(out, dev)


def random_split(dataset, lengths, generator=None) -> list[Subset]:
    """Split ``dataset`` at random into Subsets of the given lengths, or fractions of its
    length (what the floors leave is dealt one by one to the splits, first to last)."""
    n = len(dataset)
    if math.isclose(sum(lengths), 1) and sum(lengths) <= 1:
        sizes = []
        for i, frac in enumerate(lengths):
            if not 0 <= frac <= 1:
                raise ValueError(f"Fraction at index {i} is not between 0 and 1")
            sizes.append(math.floor(n * frac))
        for i in range(n - sum(sizes)):
            sizes[i % len(sizes)] += 1
        for i, size in enumerate(sizes):
            if size == 0:
                warnings.warn(
                    f"Length of split at index {i} is 0. This might result in an empty dataset.",
                    stacklevel=2,
                )
        lengths = sizes
    if sum(lengths) != n:
        raise ValueError("Sum of input lengths does not equal the length of the input dataset!")
    order = _draw(_host_rng(generator), backend.CPU, n).tolist()
    ends = itertools.accumulate(lengths)
    return [Subset(dataset, order[end - size : end]) for end, size in zip(ends, lengths)]


# -- samplers ----------------------------------------------------------------------------
class Sampler:
    """Iterates over the indices of a data set."""

    def __iter__(self):
        raise NotImplementedError


class SequentialSampler(Sampler):
    """0, 1, ..., len(data_source) - 1."""

    def __init__(self, data_source):
        self.data_source = data_source

    def order(self, dev: backend.Device):
        return dev.xp.arange(len(self.data_source))

    def __iter__(self):
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler):
    """A fresh random order each epoch (with ``replacement``: independent draws)."""

    def __init__(self, data_source, replacement=False, num_samples=None, generator=None):
        if not isinstance(replacement, bool):
            raise TypeError(f"replacement should be a boolean value, but got {replacement}")
        self.data_source, self.replacement = data_source, replacement
        self._num_samples = num_samples
        self.generator, self._rng = generator, _host_rng(generator)
        if not isinstance(self.num_samples, int) or self.num_samples <= 0:
            raise ValueError(
                f"num_samples should be a positive integer value, but got "
                f"num_samples={self.num_samples}"
            )

    @property
    def num_samples(self) -> int:
        return len(self.data_source) if self._num_samples is None else self._num_samples

    def order(self, dev: backend.Device):
        """This epoch's indices, drawn on ``dev``."""
        n, m = len(self.data_source), self.num_samples
        if self.replacement:
            return _draw(self._rng, dev, n, m)
        return dev.xp.concatenate([_draw(self._rng, dev, n) for _ in range(-(-m // n))])[:m]

    def __iter__(self):
        return iter(self.order(backend.CPU).tolist())

    def __len__(self) -> int:
        return self.num_samples


class BatchSampler(Sampler):
    """Lists of ``batch_size`` indices from ``sampler``."""

    def __init__(self, sampler, batch_size: int, drop_last: bool):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size}"
            )
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        self.sampler, self.batch_size, self.drop_last = sampler, batch_size, drop_last

    def __iter__(self):
        it = iter(self.sampler)
        while batch := list(itertools.islice(it, self.batch_size)):
            if self.drop_last and len(batch) < self.batch_size:
                return
            yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)


# -- collate -----------------------------------------------------------------------------
_COLLATE_ERROR = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"
)


def _rebuild(elem, parts):
    """A container like ``elem`` holding ``parts`` (a dict for a mapping, else a list); a
    tuple becomes a list, as PyTorch's collate gives."""
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*parts)
    if isinstance(elem, tuple):
        return list(parts)
    try:
        return type(elem)(parts)
    except TypeError:
        return parts


def _is_text(a) -> bool:
    return isinstance(a, numpy.ndarray | numpy.generic) and a.dtype.kind in "SUO"


def default_collate(batch):
    """PyTorch's default collate: stacks Tensors (NumPy arrays and numbers become Tensors
    first: floats float64, ints int64), and recurses into dicts, tuples and lists."""
    elem = batch[0]
    if isinstance(elem, Tensor):
        return stack(list(batch))
    if _is_text(elem):
        raise TypeError(_COLLATE_ERROR.format(elem.dtype))
    if isinstance(elem, numpy.ndarray):
        return stack([as_tensor(b) for b in batch])
    if isinstance(elem, numpy.generic):
        return as_tensor(numpy.asarray(batch))
    if isinstance(elem, float):
        return tensor(batch, dtype=numpy.float64)
    if isinstance(elem, int):
        return tensor(batch)
    if isinstance(elem, str | bytes):
        return batch
    if isinstance(elem, abc.Mapping):
        return _rebuild(elem, {key: default_collate([d[key] for d in batch]) for key in elem})
    if isinstance(elem, abc.Sequence):
        if any(len(sample) != len(elem) for sample in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        return _rebuild(elem, [default_collate(s) for s in zip(*batch)])
    raise TypeError(_COLLATE_ERROR.format(type(elem)))


def default_convert(data):
    """What the DataLoader does to each sample when ``batch_size=None``: NumPy arrays
    become Tensors, containers are walked, anything else is left as it is."""
    if isinstance(data, numpy.ndarray | numpy.number | numpy.bool_) and not _is_text(data):
        return as_tensor(data)
    if isinstance(data, abc.Mapping):
        return _rebuild(data, {key: default_convert(v) for key, v in data.items()})
    if isinstance(data, abc.Sequence) and not isinstance(data, str | bytes):
        return _rebuild(data, [default_convert(d) for d in data])
    return data


# -- the loader --------------------------------------------------------------------------
# PyTorch's keyword-only worker options: accepted, kept as attributes, without effect here.
_WORKER_OPTIONS = {
    "prefetch_factor": None,
    "persistent_workers": False,
    "pin_memory_device": "",
    "in_order": True,
}


class DataLoader:
    """Batches of samples from ``dataset``, as PyTorch's DataLoader (loading runs in this
    process: the worker and memory-pinning options are accepted and have no effect)."""

    def __init__(
        self,
        dataset,
        batch_size: int | None = 1,
        shuffle: bool | None = None,
        sampler=None,
        batch_sampler=None,
        num_workers: int = 0,
        collate_fn=None,
        pin_memory: bool = False,
        drop_last: bool = False,
        timeout: float = 0,
        worker_init_fn=None,
        multiprocessing_context=None,
        generator=None,
        **options,
    ):
        unknown = set(options) - set(_WORKER_OPTIONS)
        if unknown:
            raise TypeError(f"DataLoader got an unexpected keyword argument {min(unknown)!r}")
        if num_workers < 0:
            raise ValueError(
                "num_workers option should be non-negative; use num_workers=0 to disable "
                "multiprocessing."
            )
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        if batch_sampler is not None:
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError(
                    "batch_sampler option is mutually exclusive with batch_size, shuffle, "
                    "sampler, and drop_last"
                )
            batch_size, drop_last = None, False
        elif batch_size is None and drop_last:
            raise ValueError(
                "batch_size=None option disables auto-batching and is mutually exclusive "
                "with drop_last"
            )
        if sampler is None and shuffle:
            sampler = RandomSampler(dataset, generator=generator)
        elif sampler is None:
            sampler = SequentialSampler(dataset)
        if batch_size is not None and batch_sampler is None:
            batch_sampler = BatchSampler(sampler, batch_size, drop_last)
        self.dataset, self.batch_size, self.drop_last = dataset, batch_size, drop_last
        self.sampler, self.batch_sampler, self.generator = sampler, batch_sampler, generator
        self._default_collate = collate_fn is None
        if collate_fn is None:
            collate_fn = default_convert if batch_sampler is None else default_collate
        self.collate_fn, self.num_workers, self.pin_memory = collate_fn, num_workers, pin_memory
        self.timeout, self.worker_init_fn = timeout, worker_init_fn
        self.multiprocessing_context = multiprocessing_context
        self.__dict__.update(_WORKER_OPTIONS, **options)

    def __len__(self) -> int:
        return len(self.sampler if self.batch_sampler is None else self.batch_sampler)

    def _on_device(self):
        """``(tensors, order on their device)`` when the data set is a TensorDataset (or
        Subsets of one) outside the graph on one device, loaded the default way."""
        bs, dataset, index = self.batch_sampler, self.dataset, None
        sampler = getattr(bs, "sampler", None)
        if not (self._default_collate and type(bs) is BatchSampler):
            return None
        if (
            type(sampler) not in (SequentialSampler, RandomSampler)
            or sampler.data_source is not dataset
        ):
            return None
        while isinstance(dataset, Subset):  # compose the Subsets' index maps
            idx = dataset.indices
            idx = numpy.asarray(idx.tolist() if isinstance(idx, Tensor) else idx)
            index = idx if index is None else idx[index]
            dataset = dataset.dataset
        tensors = dataset.tensors if isinstance(dataset, TensorDataset) else ()
        if not tensors or any(t.requires_grad for t in tensors):
            return None
        dev = tensors[0].device
        if any(t.device != dev for t in tensors):
            return None
        order = sampler.order(dev)
        return tensors, order if index is None else backend.to_device(index, dev)[order]

    def _gather(self, tensors, order):
        """Batches ``[t[order[i:i+b]] for t in tensors]``, indexed on the tensors' device."""
        size, drop_last = self.batch_sampler.batch_size, self.batch_sampler.drop_last
        for start in range(0, len(order), size):
            index = order[start : start + size]
            if drop_last and len(index) < size:
                return
            yield [Tensor.wrap(t.array[index]) for t in tensors]

    def __iter__(self):
        on_device = self._on_device()
        if on_device is not None:
            yield from self._gather(*on_device)
        elif self.batch_sampler is None:
            for i in self.sampler:
                yield self.collate_fn(self.dataset[i])
        else:
            for indices in self.batch_sampler:
                yield self.collate_fn([self.dataset[i] for i in indices])
