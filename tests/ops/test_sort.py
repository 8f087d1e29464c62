"""sort, argsort and topk (gpugrad/ops/sort.py) against PyTorch, values and indices, for
every dtype's order: NaN the largest (last ascending, first descending), -0.0 equal to 0.0,
+-inf, unsigned ints and the most negative int (which a negated key gets wrong), bool,
float16; ties in their original order both ways (torch's ``stable=True``, which gpugrad's
sort always is); 0-d and empty inputs, negative dims; the gradient routed by the indices.

torch's ``topk`` leaves which of tied elements it picks unspecified: its values are
compared with ``torch.topk`` (-0.0 and 0.0 as equal), its indices (and so which zero) with
the first ``k`` of torch's stable sort."""

import numpy as np
import pytest
import torch

import gpugrad as gg

NAN, INF = float("nan"), float("inf")
I64 = np.iinfo(np.int64)

CASES = {
    "float32_specials": np.array([1, NAN, 2, NAN, INF, -INF, 0.0, -0.0, 2, -0.0], np.float32),
    "float16_specials": np.array([0.5, NAN, -1, 0.5, INF, -0.0, 0.0, -INF], np.float16),
    "float64_ties": np.array([3, 1, 3, 2, 1, 3, NAN], np.float64),
    "uint8": np.array([0, 1, 2, 255, 1, 0], np.uint8),
    "int8_min": np.array([5, -128, 127, -128, 0, -1], np.int8),
    "int16": np.array([-32768, 7, -1, 32767, 7], np.int16),
    "int32": np.array([4, -2, 4, 0, -(2**31)], np.int32),
    "int64_min": np.array([I64.min, 3, I64.max, I64.min, 0], np.int64),
    "bool": np.array([True, False, True, False, False]),
    "float32_2d": np.array([[1, NAN, -0.0, 2], [0.0, 1, 1, NAN], [NAN, -INF, 0.0, 1]], np.float32),
    "uint8_2d": np.array([[0, 200, 1], [255, 0, 255], [3, 3, 0]], np.uint8),
    "empty_rows": np.zeros((0, 3), np.float32),
    "empty_cols": np.zeros((3, 0), np.int64),
    "scalar": np.array(2.5, np.float32),
}
DIMS = {1: (-1, 0), 2: (-1, 0, 1, -2), 0: (0, -1)}


def _cases():
    return [
        pytest.param(name, dim, id=f"{name}-dim{dim}")
        for name, h in CASES.items()
        for dim in DIMS[h.ndim]
    ]


def _same(got, want, signs=True):
    """Equal arrays (NaN equal to NaN), dtypes and (``signs``) the sign of every zero."""
    got, want = got.numpy(), want.numpy()
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)
    if signs and got.dtype.kind == "f":
        np.testing.assert_array_equal(np.signbit(got), np.signbit(want))


@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("name, dim", _cases())
def test_sort_and_argsort_are_torch_stable_sort(name, dim, descending, device):
    h = CASES[name]
    x, t = gg.tensor(h, device=device), torch.from_numpy(h.copy())
    want = torch.sort(t, dim=dim, descending=descending, stable=True)
    got = gg.sort(x, dim=dim, descending=descending)
    _same(got.values, want.values)
    _same(got.indices, want.indices)
    _same(x.sort(dim, descending=descending, stable=True).indices, want.indices)
    want_order = torch.argsort(t, dim=dim, descending=descending, stable=True)
    _same(gg.argsort(x, dim=dim, descending=descending), want_order)


@pytest.mark.parametrize("largest", [True, False])
@pytest.mark.parametrize("sorted_", [True, False])
@pytest.mark.parametrize("name, dim", _cases())
def test_topk_is_torch_topk(name, dim, largest, sorted_, device):
    h = CASES[name]
    x, t = gg.tensor(h, device=device), torch.from_numpy(h.copy())
    n = h.shape[dim] if h.ndim else 1
    for k in sorted({0, min(1, n), n // 2, n}):
        got = gg.topk(x, k, dim=dim, largest=largest, sorted=sorted_)
        order = torch.sort(t, dim=dim, descending=largest, stable=True).indices
        first = order.narrow(dim, 0, k) if h.ndim else order
        _same(got.indices, first)
        assert got.indices.is_contiguous() and got.values.is_contiguous()  # as torch's
        if h.dtype == np.bool_:  # torch has no topk for bool: the sort's first k
            _same(got.values, torch.take_along_dim(t, first, dim) if h.ndim else t)
            continue
        want = torch.topk(t, k, dim=dim, largest=largest, sorted=sorted_).values
        if not sorted_:  # torch's order is then unspecified: ours is sorted, so sort its
            want = torch.sort(want, dim=dim, descending=largest, stable=True).values
        _same(got.values, want, signs=False)  # which of -0.0 and 0.0: a tie, unspecified


def test_topk_k_out_of_range():
    with pytest.raises(ValueError, match="out of range"):
        gg.topk(gg.tensor(2.0), 2)
    with pytest.raises(ValueError, match="out of range"):
        gg.topk(gg.tensor([1.0, 2.0]), 3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("dim", [-1, 0])
def test_gradients_follow_the_indices(dtype, descending, dim, device):
    """The values' gradient goes back to where each came from, ties and NaNs included
    (torch's topk gradient is checked through its stable sort: its ties are unspecified)."""
    h = np.array([[2, NAN, 2, -0.0, 5], [0.0, 1, NAN, 1, 1], [NAN, NAN, 3, -1, 3]], dtype)
    weights = np.arange(1, h.size + 1, dtype=dtype).reshape(h.shape)
    x = gg.tensor(h, device=device, requires_grad=True)
    t = torch.tensor(h, requires_grad=True)
    k = 2
    values = gg.sort(x, dim=dim, descending=descending).values
    top = gg.topk(x, k, dim=dim, largest=descending).values
    ((values * gg.tensor(weights, device=device)).sum() + (top * 100).sum()).backward()
    want = torch.sort(t, dim=dim, descending=descending, stable=True).values
    ((want * torch.from_numpy(weights)).sum() + (want.narrow(dim, 0, k) * 100).sum()).backward()
    np.testing.assert_array_equal(x.grad.numpy(), t.grad.numpy())
