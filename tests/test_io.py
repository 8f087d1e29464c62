"""gg.save / gg.load: bit-identical round trips, files other tools read, every kind of bad
file refused with ValueError, and saves that are atomic even when the process is killed."""

import copy
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
from collections import OrderedDict

import numpy as np
import pytest
import torch

import gpugrad as gg
from gpugrad import io, optim

DTYPES = ["float16", "float32", "float64", "int32", "int64", "uint8", "bool"]


def _sample(dtype, shape, seed=0):
    """Random values of ``dtype``, with the awkward ones (±0, ±inf, NaNs with payloads,
    subnormals, extremes) mixed in for floats."""
    rng = np.random.default_rng(seed)
    n = int(np.prod(shape))
    dt = np.dtype(dtype)
    if dt.kind == "f":
        a = (rng.standard_normal(n) * 100).astype(dt)
        info = np.finfo(dt)
        special = np.array(
            [0.0, -0.0, np.inf, -np.inf, info.max, info.min, info.tiny, info.smallest_subnormal], dt
        )
        a[: min(n, len(special))] = special[: min(n, len(special))]
        if n > len(special):  # a quiet NaN with a payload, negative
            bits = a.view(f"u{dt.itemsize}")
            bits[len(special)] = np.array(-1, f"i{dt.itemsize}").view(f"u{dt.itemsize}") >> 1
        return a.reshape(shape)
    if dt.kind == "b":
        return (rng.random(n) < 0.5).reshape(shape)
    info = np.iinfo(dt)
    a = rng.integers(info.min, info.max, n, dtype=dt, endpoint=True)
    a[:2] = [info.min, info.max][: min(n, 2)]
    return a.reshape(shape)


def assert_same(a, b, where="obj"):
    """Same structure, same types, tensors bit-identical (dtype, shape and bytes)."""
    if isinstance(a, gg.Tensor):
        assert isinstance(b, gg.Tensor), where
        assert b.dtype == a.dtype and b.shape == a.shape, where
        assert b.numpy().tobytes() == a.numpy().tobytes(), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(b) == list(a), where
        for k in a:
            assert type(k) is type(next(x for x in b if x == k)), where
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, (list, tuple)):
        assert type(b) is type(a) and len(b) == len(a), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and a != a:
        assert isinstance(b, float) and b != b, where
    else:
        assert type(b) is type(a) and b == a, where


# -- round trips -----------------------------------------------------------------------------
@pytest.mark.parametrize("shape", [(3, 5), (), (0, 4), (2, 1, 3)], ids=str)
@pytest.mark.parametrize("dtype", DTYPES)
def test_tensor_round_trip_is_bit_identical(dtype, shape, device, tmp_path):
    a = _sample(dtype, shape)
    t = gg.tensor(a, device=device)
    gg.save(t, tmp_path / "t.ggt")
    back = gg.load(tmp_path / "t.ggt", device=device)
    assert isinstance(back, gg.Tensor) and back.device == device
    assert back.dtype == a.dtype and back.shape == a.shape
    assert back.numpy().tobytes() == a.tobytes()
    if device.kind == "cpu":  # a fresh array the caller may update
        assert back.array.flags.writeable and back.array.flags.owndata


def test_non_contiguous_and_big_endian_tensors(tmp_path):
    a = np.arange(24.0).reshape(4, 6)
    views = {
        "transposed": gg.Tensor(a.T),
        "strided": gg.Tensor(a[::2, 1::3]),
        "big_endian": gg.Tensor(a.astype(">f4")),
    }
    gg.save(views, tmp_path / "v.ggt")
    back = gg.load(tmp_path / "v.ggt", device="cpu")
    for name, t in views.items():
        np.testing.assert_array_equal(back[name].numpy(), t.numpy(), err_msg=name)
    assert back["big_endian"].dtype == np.float32


def _checkpoint(device):
    """A nested checkpoint: model-like tensors, two optimizers' state after a few steps, and
    every kind of non-tensor value."""
    rng = np.random.default_rng(3)
    w = gg.tensor(rng.standard_normal((4, 3)), device=device, requires_grad=True)
    b = gg.tensor(rng.standard_normal(4).astype(np.float32), device=device, requires_grad=True)
    sgd = optim.SGD([w], lr=0.1, momentum=0.9, nesterov=True)
    adam = optim.AdamW([{"params": [b]}], lr=1e-3, betas=(0.8, 0.95))
    for _ in range(3):
        w.grad = gg.tensor(rng.standard_normal((4, 3)), device=device)
        b.grad = gg.tensor(rng.standard_normal(4).astype(np.float32), device=device)
        sgd.step()
        adam.step()
    model = OrderedDict(
        [
            ("0.weight", w),
            ("0.bias", b),
            ("bn.running_mean", gg.zeros(4, device=device)),
            ("bn.num_batches_tracked", gg.tensor(np.int64(3), device=device)),
            ("mask", gg.tensor(rng.random(5) < 0.5, device=device)),
            ("codes", gg.tensor(rng.integers(0, 255, 6).astype(np.uint8), device=device)),
        ]
    )
    return {
        "model": model,
        "optimizers": [sgd.state_dict(), adam.state_dict()],
        "epoch": 7,
        "lr": 1e-3,
        "best": float("nan"),
        "huge": 2**70,
        "neg_zero": -0.0,
        "done": False,
        "name": 'run "α" \n#1',
        "nothing": None,
        "history": [{"loss": 0.5, "acc": [0.1, 0.2]}, ()],
        "pair": (1, 2.5),
        3: "int key",
        "3": "str key",
        np.int64(4): np.float32(0.25),
    }


def test_nested_checkpoint_round_trip_is_exact(device, tmp_path):
    ckpt = _checkpoint(device)
    gg.save(ckpt, tmp_path / "c.ggt")
    back = gg.load(tmp_path / "c.ggt", device=device)
    expected = dict(ckpt)
    expected[4] = expected.pop(np.int64(4))  # NumPy scalars come back as Python values
    expected[4] = 0.25
    assert_same(expected, back)
    assert back[3] == "int key" and back["3"] == "str key"
    assert set(back["optimizers"][0]["state"]) == {0}  # int keys stay ints
    assert back["optimizers"][1]["param_groups"][0]["betas"] == (0.8, 0.95)
    assert back["model"]["0.weight"].device == device


def test_load_puts_tensors_on_the_requested_device(device, tmp_path):
    gg.save({"w": gg.ones(3, device=device)}, tmp_path / "w.ggt")
    assert gg.load(tmp_path / "w.ggt", device="cpu")["w"].device == gg.device("cpu")
    assert gg.load(tmp_path / "w.ggt", device=device)["w"].device == device
    assert gg.load(tmp_path / "w.ggt")["w"].device == gg.default_device()


def test_keys_never_collide(tmp_path):
    """Dotted keys, nested dicts that flatten to the same dotted name, the name safetensors
    reserves, and keys that look like gpugrad's own structure markers."""
    t = [gg.tensor([float(i)]) for i in range(7)]
    obj = {
        "a.b": t[0],
        "a": {"b": t[1], "b#": t[2]},
        "a.b#": t[3],
        "__metadata__": t[4],
        "$tensor": {"$dict": t[5]},
        "": [t[6], {"$list": "x"}],
    }
    gg.save(obj, tmp_path / "k.ggt")
    assert_same(obj, gg.load(tmp_path / "k.ggt", device="cpu"))


def test_other_tools_read_the_file(tmp_path):
    ckpt = _checkpoint("cpu")
    path = tmp_path / "c.ggt"
    gg.save(ckpt, path)
    from safetensors import safe_open
    from safetensors.numpy import load_file as numpy_load_file
    from safetensors.torch import load_file as torch_load_file

    by_torch = torch_load_file(str(path))
    by_numpy = numpy_load_file(str(path))
    assert set(by_torch) == set(by_numpy)
    for name, t in ckpt["model"].items():
        assert by_torch[f"model.{name}"].numpy().tobytes() == t.numpy().tobytes()
        assert by_numpy[f"model.{name}"].tobytes() == t.numpy().tobytes()
    np.testing.assert_array_equal(
        by_torch["optimizers.0.state.0.momentum_buffer"].numpy(),
        ckpt["optimizers"][0]["state"][0]["momentum_buffer"].numpy(),
    )
    with safe_open(str(path), framework="np") as f:
        meta = f.metadata()
    assert meta["format"] == "gpugrad" and meta["format_version"] == io.FORMAT_VERSION
    assert len(meta["sha256"]) == 64
    assert json.loads(meta["structure"])["$dict"][2] == ["epoch", 7]  # human-readable


def test_a_model_state_dict_from_torch_names_loads_back(tmp_path):
    """What torch users expect: the keys of a state_dict are the tensor names in the file."""
    tm = torch.nn.Linear(3, 2)
    sd = {k: gg.tensor(v.detach().numpy()) for k, v in tm.state_dict().items()}
    gg.save(sd, tmp_path / "m.ggt")
    from safetensors.torch import load_file

    loaded = load_file(str(tmp_path / "m.ggt"))
    tm2 = torch.nn.Linear(3, 2)
    tm2.load_state_dict(loaded)
    assert torch.equal(tm2.weight, tm.weight)


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"x": object()}, "object"),
        ({"x": np.zeros(3)}, "ndarray"),
        ({1.5: gg.ones(1)}, "float"),
        ({True: 1}, "bool"),
        ({"x": {1, 2}}, "set"),
        ([gg.tensor(np.zeros(2, np.complex64))], "complex64"),
        ({"x": gg.tensor(np.zeros(2, np.float32)), "y": 1j}, "complex"),
    ],
)
def test_save_refuses_what_it_cannot_store_and_writes_nothing(bad, message, tmp_path):
    path = tmp_path / "x.ggt"
    gg.save({"old": gg.ones(2)}, path)
    before = path.read_bytes()
    with pytest.raises(TypeError, match=message):
        gg.save(bad, path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["x.ggt"]


# -- bad files -------------------------------------------------------------------------------
def _safetensors_file(header: dict, data: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + data


def _bad_files(raw: bytes):
    """(label, bytes, what the error must say) for truncated, corrupt, foreign and hostile files."""
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8 : 8 + n])
    for cut in (
        0,
        4,
        7,
        8,
        9,
        20,
        8 + n // 2,
        8 + n - 1,
        8 + n,
        8 + n + 1,
        len(raw) - 9,
        len(raw) - 1,
    ):
        yield f"truncated at {cut}", raw[:cut], "truncated|not a safetensors|not JSON"
    yield "trailing bytes", raw + b"\0" * 16, "after the last tensor"
    data = bytearray(raw)
    data[-3] ^= 0x01
    yield "a flipped bit in the data", bytes(data), "checksum"
    data = bytearray(raw)
    at = raw.index(b'\\"epoch\\",7') + len(b'\\"epoch\\",')
    data[at] = ord("8")  # still valid JSON: only the checksum knows
    yield "an edited value in the header", bytes(data), "checksum"
    data = bytearray(raw)
    at = raw.index(b'"sha256":"') + len(b'"sha256":"')
    data[at] = ord("0") if data[at] != ord("0") else ord("1")
    yield "an edited checksum", bytes(data), "checksum"
    yield "wrong magic", b"\x89PNG\r\n\x1a\n" + raw[8:], "implausible"
    yield "random bytes", np.random.default_rng(0).bytes(4096), "implausible|not JSON|truncated"
    yield "huge header length", (2**62).to_bytes(8, "little") + raw[8:], "implausible"
    yield "max header length", (2**64 - 1).to_bytes(8, "little") + raw[8:], "implausible"
    yield "header past the end", (len(raw)).to_bytes(8, "little") + raw[8:], "truncated"
    yield "a pickle", pickle.dumps({"weight": np.zeros(3)}), "implausible|truncated|not JSON"
    yield "an empty file", b"", "truncated"
    yield "header not an object", _safetensors_file([1, 2]), "not a JSON object"
    yield "header not UTF-8", (4).to_bytes(8, "little") + b"\xff\xfe\xfd\xfc", "not JSON"
    from safetensors.numpy import save

    yield "foreign safetensors", save({"w": np.zeros(3, np.float32)}), "not a gpugrad file"
    foreign_meta = save({"w": np.zeros(3, np.float32)}, metadata={"format": "pt"})
    yield "safetensors with other metadata", foreign_meta, "not a gpugrad file"
    future = copy.deepcopy(header)
    future["__metadata__"]["format_version"] = "99"
    yield "a future format version", _safetensors_file(future, raw[8 + n :]), "version '99'"
    hostile = copy.deepcopy(header)
    name = next(k for k in hostile if k != "__metadata__")
    hostile[name]["data_offsets"] = [0, 2**62]
    yield "offsets beyond the file", _safetensors_file(hostile, raw[8 + n :]), "truncated"
    hostile[name]["data_offsets"] = [8, 4]
    yield "reversed offsets", _safetensors_file(hostile, raw[8 + n :]), "offsets"
    hostile[name]["data_offsets"] = "everything"
    yield "offsets not a list", _safetensors_file(hostile, raw[8 + n :]), "offsets"
    overlap = copy.deepcopy(header)
    for info in overlap.values():
        if "data_offsets" in info:
            info["data_offsets"] = [0, info["data_offsets"][1] - info["data_offsets"][0]]
    yield "overlapping tensors", _safetensors_file(overlap, raw[8 + n :]), "corrupt"
    dtype = copy.deepcopy(header)
    dtype[name]["dtype"] = "BF16"
    yield "a dtype NumPy lacks", _safetensors_file(dtype, raw[8 + n :]), "corrupt"
    meta = copy.deepcopy(header)
    meta["__metadata__"]["structure"] = '{"$tensor": "nope"}'
    yield "a structure naming a missing tensor", _safetensors_file(meta, raw[8 + n :]), "checksum"


@pytest.fixture
def saved(tmp_path):
    """A small checkpoint on disk, its bytes, and a model-like dict to load it into."""
    path = tmp_path / "good.ggt"
    state = {
        "weight": gg.tensor(_sample("float32", (3, 4))),
        "bias": gg.tensor(_sample("float64", (3,))),
        "steps": gg.tensor(np.arange(4, dtype=np.int64)),
    }
    gg.save({"model": state, "epoch": 7}, path)
    return path, path.read_bytes(), state


def test_bad_files_raise_value_error_naming_the_problem(saved, tmp_path):
    path, raw, state = saved
    target = {k: gg.tensor(np.zeros(v.shape, v.dtype)) for k, v in state.items()}
    for label, data, message in _bad_files(raw):
        bad = tmp_path / "bad.ggt"
        bad.write_bytes(data)
        with pytest.raises(ValueError, match=message) as info:
            loaded = gg.load(bad)
            for k, t in target.items():  # (never reached) a caller's load
                t.array[...] = loaded["model"][k].array
        assert str(bad) in str(info.value), label  # the message names the file
        for t in target.values():
            assert not t.numpy().any(), label  # nothing was written anywhere
    assert_same({"model": state, "epoch": 7}, gg.load(path))


def test_every_single_bit_flip_is_caught(saved, tmp_path):
    """Flip one bit at every byte of a small file (length field, header, data): each
    variant must raise ValueError, never load wrong values or crash otherwise."""
    _, raw, _ = saved
    bad = tmp_path / "flipped.ggt"
    for bit in (0x01, 0x20, 0x80):
        for i in range(len(raw)):
            data = bytearray(raw)
            data[i] ^= bit
            bad.write_bytes(bytes(data))
            with pytest.raises(ValueError):
                gg.load(bad)


def test_a_torch_pickle_is_refused_without_unpickling(tmp_path, monkeypatch):
    path = tmp_path / "model.pt"
    torch.save({"weight": torch.zeros(3)}, path)
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: pytest.fail("unpickled"))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: pytest.fail("unpickled"))
    with pytest.raises(ValueError, match=str(path)):
        gg.load(path)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError):
        gg.load(tmp_path / "missing.ggt")
    with pytest.raises(FileNotFoundError):
        gg.save(gg.ones(1), tmp_path / "no-such-dir" / "x.ggt")


# -- atomic saves ----------------------------------------------------------------------------
def _stray(directory, target="ckpt.ggt"):
    return [n for n in os.listdir(directory) if n != target]


@pytest.mark.parametrize("failing", ["write", "fsync", "replace"])
def test_a_failed_save_leaves_the_old_file_and_no_temporary(failing, tmp_path, monkeypatch):
    path = tmp_path / "ckpt.ggt"
    gg.save({"w": gg.ones(4)}, path)
    before = path.read_bytes()

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(io.os, failing, broken)
    with pytest.raises(OSError, match="No space"):
        gg.save({"w": gg.zeros(1000)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == before and _stray(tmp_path) == []


def test_save_replaces_through_a_symlink_and_keeps_permissions(tmp_path):
    real = tmp_path / "real.ggt"
    link = tmp_path / "link.ggt"
    gg.save(gg.ones(2), real)
    os.symlink(real, link)
    gg.save(gg.zeros(3), link)
    assert link.is_symlink() and gg.load(real, device="cpu").shape == (3,)
    reference = tmp_path / "reference"
    reference.write_bytes(b"")
    assert (real.stat().st_mode & 0o777) == (reference.stat().st_mode & 0o777)  # the umask's


KILLED_SAVE = textwrap.dedent("""
    import os, sys, time
    import gpugrad as gg
    from gpugrad import io
    stage, path = sys.argv[1], sys.argv[2]
    real_write = os.write
    def hang(*args):
        sys.stdout.write("hanging\\n"); sys.stdout.flush()
        time.sleep(120)
    if stage == "mid-write":          # write part of the temporary file, then hang
        def partial(fd, data):
            real_write(fd, bytes(data[: len(data) // 3]))
            hang()
        io.os.write = partial
    else:                             # the temporary file is complete, not yet renamed
        io.os.replace = hang
    gg.save({"w": gg.zeros(20000), "epoch": 2}, path)
""")


@pytest.mark.parametrize("stage", ["mid-write", "before-rename"])
def test_a_save_killed_midway_leaves_the_previous_file(stage, tmp_path):
    path = tmp_path / "ckpt.ggt"
    gg.save({"w": gg.ones(4), "epoch": 1}, path)
    before = path.read_bytes()
    env = dict(os.environ, GPUGRAD_DEVICE="cpu")
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_SAVE, stage, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout.readline().strip() == "hanging"
        (tmp,) = _stray(tmp_path)  # the save really was under way
        assert tmp.startswith(".ckpt.ggt.") and tmp.endswith(io.TEMP_SUFFIX)
        assert (tmp_path / tmp).stat().st_size > 0
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert path.read_bytes() == before
    back = gg.load(path, device="cpu")
    assert back["epoch"] == 1 and back["w"].numpy().tolist() == [1.0] * 4
    if stage == "mid-write":  # a half-written file is never valid
        with pytest.raises(ValueError, match="truncated"):
            gg.load(tmp_path / tmp)
    gg.save({"w": gg.zeros(2), "epoch": 3}, path)  # the next save is unaffected
    assert gg.load(path, device="cpu")["epoch"] == 3
