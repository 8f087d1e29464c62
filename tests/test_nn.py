"""Modules: registration, state dicts, default initialisation, layers as modules, penalties,
losses; and that a failed load leaves a model as it was.  Optimizers are tested in
test_optim.py, the file format in test_io.py."""

import math

import numpy as np
import pytest

import gpugrad as gg
from gpugrad import nn


# -- modules ----------------------------------------------------------------------------
def test_module_registration_and_state_dict(device):
    m = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)
    ).to(device)
    names = [n for n, _ in m.named_parameters()]
    assert names == ["0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias"]
    assert list(m.state_dict()) == names[:4] + ["1.running_mean", "1.running_var"] + names[4:]
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


def test_default_init_matches_torch_bounds():
    gg.manual_seed(0)
    lin = nn.Linear(100, 50)
    bound = 1 / math.sqrt(100)
    w = lin.weight.numpy()
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.9 * bound
    assert abs(w.std() - bound / math.sqrt(3)) < 0.05 * bound
    conv = nn.Conv2d(3, 8, 5)
    assert np.abs(conv.weight.numpy()).max() <= 1 / math.sqrt(75)
    assert np.abs(conv.bias.numpy()).max() <= 1 / math.sqrt(75)
    t = gg.zeros(64, 32)
    nn.init.kaiming_normal_(t, nonlinearity="relu")
    assert abs(t.numpy().std() - math.sqrt(2 / 32)) < 0.02
    nn.init.xavier_uniform_(t)
    assert np.abs(t.numpy()).max() <= math.sqrt(6 / 96)
    nn.init.zeros_(t)
    assert not t.numpy().any()


def test_maxout_and_dropout_modules(device):
    m = nn.Maxout(4, 3, pieces=2).to(device)
    assert m(gg.randn(5, 4, device=device)).shape == (5, 3)
    d = nn.Dropout(0.5)
    x = gg.ones(10, device=device)
    d.eval()
    assert d(x) is x


def test_penalties(device):
    w = gg.tensor([1.0, -2.0], device=device, requires_grad=True)
    v = gg.tensor([[3.0]], device=device, requires_grad=True)
    assert nn.l1_penalty([w, v]).item() == 6.0
    assert nn.l2_penalty([w, v]).item() == 14.0
    e = nn.elastic_net_penalty([w, v], l1=0.5, l2=0.1)
    assert e.item() == pytest.approx(3.0 + 1.4)
    e.backward()
    np.testing.assert_allclose(w.grad.numpy(), [0.5 + 0.2, -0.5 - 0.4])


def test_module_losses(device):
    logits = gg.randn(4, 3, device=device)
    labels = gg.tensor([0, 1, 2, 0], device=device)
    assert nn.CrossEntropyLoss()(logits, labels).shape == ()
    assert nn.MultiMarginLoss(reduction="none")(logits, labels).shape == (4,)
    assert nn.MSELoss()(logits, logits).item() == 0


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
