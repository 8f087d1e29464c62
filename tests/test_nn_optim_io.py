"""Modules, optimizers (trajectories vs torch.optim) and save/load (round trips, corruption,
a save killed midway)."""
import math
import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import gpugrad as gg
from gpugrad import nn, optim


# -- modules ----------------------------------------------------------------------------
def test_module_registration_and_state_dict(device):
    m = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)).to(device)
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
    bad["1.weight"] = gg.zeros(3, 3)                       # wrong shape, after good keys
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
        np.testing.assert_array_equal(p.numpy(), old)     # untouched
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


# -- optimizers ---------------------------------------------------------------------------
CONFIGS = [("SGD", dict(lr=0.1)), ("SGD", dict(lr=0.1, momentum=0.9)),
           ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
           ("SGD", dict(lr=0.05, weight_decay=0.1)),
           ("Adam", dict(lr=0.01)), ("Adam", dict(lr=0.01, weight_decay=0.1, betas=(0.8, 0.99))),
           ("AdamW", dict(lr=0.01)), ("AdamW", dict(lr=0.01, weight_decay=0.1))]


@pytest.mark.parametrize("name, kwargs", CONFIGS, ids=[f"{n}-{sorted(k.items())}" for n, k in CONFIGS])
def test_optimizer_trajectory_matches_torch(name, kwargs, device):
    rng = np.random.default_rng(0)
    w0 = rng.standard_normal((3, 4))
    w = gg.tensor(w0, device=device, requires_grad=True)
    tw = torch.tensor(w0, requires_grad=True)
    opt, topt = getattr(optim, name)([w], **kwargs), getattr(torch.optim, name)([tw], **kwargs)
    for _ in range(6):
        g = rng.standard_normal((3, 4))
        w.grad, tw.grad = gg.tensor(g, device=device), torch.tensor(g)
        opt.step()
        topt.step()
    np.testing.assert_allclose(w.numpy(), tw.detach().numpy(), rtol=1e-12, atol=1e-14)


def test_optimizer_never_touches_grad_and_skips_none(device):
    w = gg.tensor([1.0, 2.0], device=device, requires_grad=True)
    u = gg.tensor([1.0], device=device, requires_grad=True)
    opt = optim.SGD([w, u], lr=0.1, momentum=0.9, weight_decay=0.1)
    g = gg.tensor([0.5, 0.5], device=device)
    w.grad = g
    opt.step()
    np.testing.assert_array_equal(g.numpy(), [0.5, 0.5])
    assert u.numpy()[0] == 1.0


def test_optimizer_state_dict_round_trip(device):
    rng = np.random.default_rng(1)
    w0 = rng.standard_normal(5)
    grads = [rng.standard_normal(5) for _ in range(6)]

    def run(split):
        w = gg.tensor(w0, device=device, requires_grad=True)
        opt = optim.Adam([w], lr=0.01)
        for i, g in enumerate(grads):
            if i == split:
                state = opt.state_dict()
                w2 = gg.tensor(w.numpy(), device=device, requires_grad=True)
                opt = optim.Adam([w2], lr=0.5)
                opt.load_state_dict(state)
                w = w2
            w.grad = gg.tensor(g, device=device)
            opt.step()
        return w.numpy()
    np.testing.assert_array_equal(run(split=None), run(split=3))


@pytest.mark.parametrize("make", [
    lambda p: optim.SGD(p, lr=-1), lambda p: optim.SGD(p, lr=0.1, momentum=1.5),
    lambda p: optim.SGD(p, lr=0.1, nesterov=True), lambda p: optim.Adam(p, betas=(1.0, 0.9)),
    lambda p: optim.AdamW(p, weight_decay=-1), lambda p: optim.SGD([], lr=0.1)])
def test_bad_hyper_parameters(make):
    with pytest.raises(ValueError):
        make([gg.tensor([1.0], requires_grad=True)])


# -- save / load --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int32", "int64", "uint8", "bool"])
def test_round_trip_is_bit_identical(tmp_path, dtype, device):
    rng = np.random.default_rng(0)
    a = (rng.standard_normal((3, 4)) * 100).astype(dtype)
    t = gg.tensor(a, device=device)
    gg.save(t, tmp_path / "t.ggt")
    back = gg.load(tmp_path / "t.ggt", device=device)
    assert back.dtype == a.dtype and back.device == device
    assert back.numpy().tobytes() == a.tobytes()


def test_nested_checkpoint_round_trip_and_torch_reads_it(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    model(gg.randn(5, 3)).sum().backward()
    opt.step()
    ckpt = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 7,
            "history": [{"loss": 0.5}], "name": "run", "none": None, "pair": (1, 2.5)}
    gg.save(ckpt, tmp_path / "c.ggt")
    back = gg.load(tmp_path / "c.ggt")
    assert back["epoch"] == 7 and back["history"] == [{"loss": 0.5}] and back["pair"] == (1, 2.5)
    assert back["none"] is None and back["name"] == "run"
    assert set(back["optimizer"]["state"]) == {0, 1, 2, 3}
    np.testing.assert_array_equal(back["model"]["0.weight"].numpy(), model[0].weight.numpy())
    fresh = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    fresh.load_state_dict(back["model"])
    from safetensors.torch import load_file
    tensors = load_file(str(tmp_path / "c.ggt"))
    np.testing.assert_array_equal(tensors["model.0.weight"].numpy(), model[0].weight.numpy())


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


def test_save_rejects_unstorable_objects(tmp_path):
    with pytest.raises(TypeError, match="object"):
        gg.save({"x": object()}, tmp_path / "x.ggt")
    assert not any(p.name.startswith(".gpugrad-save") for p in tmp_path.iterdir())


def test_save_killed_midway_leaves_previous_file(tmp_path):
    path = tmp_path / "ckpt.ggt"
    gg.save({"w": gg.ones(4)}, path)
    script = textwrap.dedent(f"""
        import os, sys, time
        import gpugrad as gg
        real_fsync = os.fsync
        def hang(fd):
            sys.stdout.write("writing\\n"); sys.stdout.flush()
            time.sleep(60)
        os.fsync = hang                    # the temp file is written, not yet renamed
        gg.save({{"w": gg.zeros(1000)}}, {str(path)!r})
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    back = gg.load(path)
    np.testing.assert_array_equal(back["w"].numpy(), np.ones(4, np.float32))
