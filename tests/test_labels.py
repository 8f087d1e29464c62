"""Class-index labels: those held on the host are range-checked before they go to the
device (free, on every device); those already on a GPU are flagged there, without a
sync, and the next host read raises; raw arrays are accepted as labels and data."""

import numpy as np
import pytest

import gpugrad as gg
import gpugrad.functional as F
from gpugrad import backend
from gpugrad.ops.class_targets import label_flag

LOSSES = [F.cross_entropy, F.nll_loss, F.multi_margin_loss]


def no_upload(value, dev):
    raise AssertionError("labels went to the device before their range was checked")


@pytest.mark.parametrize("loss", [F.nll_loss, F.multi_margin_loss], ids=lambda f: f.__name__)
@pytest.mark.parametrize("labels", [[0, 3, 1], np.array([0, -1, 2])], ids=["list", "numpy"])
def test_host_labels_out_of_range_raise_before_any_device_work(device, loss, labels, monkeypatch):
    scores = gg.randn(3, 3, device=device)
    monkeypatch.setattr(backend, "to_device", no_upload)
    with pytest.raises(ValueError, match=r"label -?\d is out of range \[0, 3\)"):
        loss(scores, labels)


@pytest.mark.parametrize("labels", [[0, 3, 1], np.array([0, -1, 2])], ids=["list", "numpy"])
def test_host_labels_out_of_range_raise_at_the_cross_entropy_call(device, labels):
    # checked on the host values, at the call, on every device (no device flag, no sync)
    with pytest.raises(ValueError, match=r"label -?\d is out of range \[0, 3\)"):
        F.cross_entropy(gg.randn(3, 3, device=device), labels)


@pytest.mark.parametrize("loss", [F.cross_entropy, F.nll_loss], ids=lambda f: f.__name__)
def test_ignored_host_labels_are_not_range_checked(device, loss):
    scores = gg.randn(3, 3, device=device)
    value = loss(scores, np.array([0, -100, 2])).item()
    assert np.isfinite(value)


@pytest.mark.parametrize("loss", LOSSES, ids=lambda f: f.__name__)
def test_raw_arrays_as_labels_and_data(device, loss):
    scores = gg.randn(4, 3, device=device)
    labels = gg.tensor([0, 2, 1, 2], device=device)
    expected = loss(scores, labels).item()
    assert loss(scores.array, labels.array).item() == pytest.approx(expected)


def test_the_device_label_flag_is_computed_with_array_ops():
    assert label_flag(np.array([0, 2, 1]), 3).tolist() == [0]
    assert label_flag(np.array([0, 3]), 3).tolist() == [1]
    assert label_flag(np.array([-1, 0]), 3).tolist() == [1]
    assert label_flag(np.array([], dtype=np.int64), 3).tolist() == [0]
    assert label_flag(np.array([1]), 3).dtype == np.int32
    assert label_flag(np.array([0, -100, 2]), 3, ignore_index=-100).tolist() == [0]
    assert label_flag(np.array([0, -100, 3]), 3, ignore_index=-100).tolist() == [1]


@pytest.mark.parametrize("loss", LOSSES, ids=lambda f: f.__name__)
def test_device_labels_out_of_range_raise_at_the_next_read(device, loss):
    scores = gg.randn(3, 3, device=device)
    labels = gg.tensor([0, 3, 1], device=device)
    if device.type == "cpu":  # on the host the check is free: at once
        with pytest.raises(ValueError, match="out of range"):
            loss(scores, labels)
        return
    out = loss(scores, labels)  # no sync here
    with pytest.raises(ValueError, match=r"out of range \[0, 3\)"):
        out.item()
    assert gg.ones(1, device=device).item() == 1.0  # reported once, then cleared
