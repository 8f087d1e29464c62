"""Modules (gpugrad/nn/module.py): registration, children, train/eval, zero_grad, repr,
state dicts; a load_state_dict that checks every entry before it assigns any, and a failed
load from a bad file that leaves the model as it was (the file format: tests/test_io.py)."""

import numpy as np
import pytest

import gpugrad as gg
from gpugrad import nn


def test_module_registration_and_state_dict(device):
    m = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)
    ).to(device)
    names = [n for n, _ in m.named_parameters()]
    assert names == ["0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias"]
    buffers = ["1.running_mean", "1.running_var", "1.num_batches_tracked"]
    assert list(m.state_dict()) == names[:4] + buffers + names[4:]
    assert all(p.device == device for p in m.parameters())
    assert len(list(m.children())) == 5
    y = m(gg.randn(2, 1, 6, 6, device=device))
    assert y.shape == (2, 3)
    m.eval()
    assert not m[1].training
    m.train()
    assert m[1].training
    y.sum().backward()
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    assert "Conv2d(1, 2" in repr(m)


def test_load_state_dict_checks_everything_first(device):
    a = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)).to(device)
    b = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2)).to(device)
    before = [p.numpy().copy() for p in b.parameters()]
    bad = dict(a.state_dict())
    bad["1.weight"] = gg.zeros(3, 3)  # wrong shape, after good keys
    with pytest.raises(ValueError, match="1.weight"):
        b.load_state_dict(bad)
    missing = dict(a.state_dict())
    del missing["1.bias"]
    with pytest.raises(KeyError, match="1.bias"):
        b.load_state_dict(missing)
    wrong_dtype = dict(a.state_dict())
    wrong_dtype["0.bias"] = gg.zeros(4, dtype="float64")
    with pytest.raises(TypeError, match="0.bias"):
        b.load_state_dict(wrong_dtype)
    for p, old in zip(b.parameters(), before):
        np.testing.assert_array_equal(p.numpy(), old)  # untouched
    b.load_state_dict(a.state_dict())
    for p, q in zip(a.parameters(), b.parameters()):
        np.testing.assert_array_equal(p.numpy(), q.numpy())


# -- a failed load leaves the model as it was (file formats: tests/test_io.py) --------------
def _corruptions(raw: bytes):
    header_len = int.from_bytes(raw[:8], "little")
    yield "empty", b""
    for cut in (4, 8, 20, 8 + header_len, len(raw) - 1):
        yield f"truncated at {cut}", raw[:cut]
    flipped = bytearray(raw)
    flipped[-2] ^= 0x40
    yield "flipped data byte", bytes(flipped)
    flipped = bytearray(raw)
    flipped[12] ^= 0x01
    yield "flipped header byte", bytes(flipped)
    yield "random bytes", np.random.default_rng(0).bytes(300)
    yield "huge header length", (2**62).to_bytes(8, "little") + raw[8:]
    import pickle

    yield "a pickle", pickle.dumps({"weight": np.zeros(3)})
    from safetensors.numpy import save

    yield "foreign safetensors", save({"w": np.zeros(3, np.float32)})


def test_corrupt_files_raise_and_leave_the_model_untouched(tmp_path):
    model = nn.Linear(3, 2)
    path = tmp_path / "m.ggt"
    gg.save(model.state_dict(), path)
    raw = path.read_bytes()
    target = nn.Linear(3, 2)
    before = target.weight.numpy().copy()
    for label, data in _corruptions(raw):
        bad = tmp_path / "bad.ggt"
        bad.write_bytes(data)
        with pytest.raises(ValueError):
            target.load_state_dict(gg.load(bad))
        np.testing.assert_array_equal(target.weight.numpy(), before, err_msg=label)
    with pytest.raises(FileNotFoundError):
        gg.load(tmp_path / "missing.ggt")
