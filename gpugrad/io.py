"""Save and load tensors, state dicts and checkpoints as safetensors files.

The file is a standard safetensors file, so other tools (PyTorch's ``safetensors.torch``)
read gpugrad weights.  Tensors are stored under their dotted path (``model.0.weight``);
everything else — step counts, hyper-parameters, the nesting of dicts and lists — goes in
the string metadata as JSON, together with a format version and a SHA-256 of the tensor
bytes.  Nothing is ever unpickled.

Saving is atomic: the bytes go to a temporary file in the same directory, which is
flushed, fsynced and renamed over the target; a crash mid-save leaves the old file.
Loading checks the header, the offsets and the checksum before it returns anything, and
raises ValueError naming the problem for a truncated, corrupt, foreign or hostile file.
"""
from __future__ import annotations

import hashlib
import json
import os
import struct
import tempfile

import numpy

from . import backend
from .tensor import Tensor

__all__ = ["save", "load"]

FORMAT = "gpugrad"
FORMAT_VERSION = "1"
MAX_HEADER_BYTES = 64 * 2**20      # a larger header is hostile, not a checkpoint


# -- structure <-> JSON with tensor references -------------------------------------------------
def _encode(obj, path: str, tensors: dict):
    if isinstance(obj, Tensor):
        name = path or "tensor"
        while name in tensors:             # keys like "a.b" and {"a": {"b"}} must not collide
            name += "#"
        tensors[name] = numpy.ascontiguousarray(obj.numpy())
        return {"$tensor": name}
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if not isinstance(k, (str, int)) or isinstance(k, bool):
                raise TypeError(f"save: dict keys must be str or int, got {type(k).__name__}")
            items.append([k, _encode(v, f"{path}.{k}" if path else str(k), tensors)])
        return {"$dict": items}
    if isinstance(obj, (list, tuple)):
        kind = "$list" if isinstance(obj, list) else "$tuple"
        return {kind: [_encode(v, f"{path}.{i}" if path else str(i), tensors) for i, v in enumerate(obj)]}
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, numpy.generic):
        return obj.item()
    raise TypeError(f"save: cannot store a {type(obj).__name__} (at '{path}'): only tensors, "
                    f"dicts, lists, tuples, numbers, strings, booleans and None")


def _decode(node, tensors: dict, device):
    if isinstance(node, dict):
        if set(node) == {"$tensor"}:
            name = node["$tensor"]
            if name not in tensors:
                raise ValueError(f"corrupt gpugrad file: tensor {name!r} is missing")
            return Tensor(backend.to_device(tensors[name], device))
        if set(node) == {"$dict"}:
            return {k: _decode(v, tensors, device) for k, v in node["$dict"]}
        if set(node) == {"$list"}:
            return [_decode(v, tensors, device) for v in node["$list"]]
        if set(node) == {"$tuple"}:
            return tuple(_decode(v, tensors, device) for v in node["$tuple"])
        raise ValueError(f"corrupt gpugrad file: unknown node {sorted(node)}")
    return node


def _checksum(tensors: dict) -> str:
    h = hashlib.sha256()
    for name in sorted(tensors):
        a = tensors[name]
        h.update(f"{name}|{a.dtype.str}|{a.shape}|".encode())
        h.update(numpy.ascontiguousarray(a).tobytes())
    return h.hexdigest()


# -- save ---------------------------------------------------------------------------------
def save(obj, path) -> None:
    """Write a Tensor, a dict of Tensors, a state_dict or a nested checkpoint to ``path``
    atomically (the previous file survives any failure)."""
    from safetensors.numpy import save as st_save
    tensors: dict = {}
    structure = _encode(obj, "", tensors)
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION,
                "structure": json.dumps(structure), "sha256": _checksum(tensors)}
    payload = st_save(tensors, metadata=metadata)
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".gpugrad-save-", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(payload)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:       # some platforms cannot open directories; the rename is done
        return
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


# -- load ---------------------------------------------------------------------------------
def _read_header(raw: bytes, path) -> dict:
    if len(raw) < 8:
        raise ValueError(f"{path}: not a gpugrad file (only {len(raw)} bytes)")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > MAX_HEADER_BYTES or n > len(raw) - 8:
        raise ValueError(f"{path}: corrupt or truncated safetensors header (declared length {n}, "
                         f"file has {len(raw)} bytes)")
    try:
        header = json.loads(raw[8:8 + n].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a safetensors file (header is not JSON: {e})") from None
    if not isinstance(header, dict):
        raise ValueError(f"{path}: not a safetensors file (header is not an object)")
    meta = header.get("__metadata__")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path}: a safetensors file, but not one written by gpugrad "
                         f"(no gpugrad metadata)")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: gpugrad format version {meta.get('format_version')!r}, this "
                         f"gpugrad reads version {FORMAT_VERSION}")
    end = 8 + n
    for name, info in header.items():
        if name == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if (not isinstance(offsets, list) or len(offsets) != 2 or not 0 <= offsets[0] <= offsets[1]
                or end + offsets[1] > len(raw)):
            raise ValueError(f"{path}: tensor {name!r} lies outside the file (truncated or corrupt)")
    return meta


def load(path, device=None):
    """Read what :func:`save` wrote; tensors go to ``device`` (default: the default device)."""
    from safetensors.numpy import load as st_load
    path = os.fspath(path)
    dev = backend.device(device) if device is not None else backend.default_device()
    with open(path, "rb") as f:            # FileNotFoundError passes through, as it should
        raw = f.read()
    meta = _read_header(raw, path)
    try:
        tensors = st_load(raw)
    except Exception as e:                 # safetensors raises its own error types
        raise ValueError(f"{path}: corrupt safetensors data ({type(e).__name__}: {e})") from None
    if _checksum(tensors) != meta.get("sha256"):
        raise ValueError(f"{path}: checksum mismatch: the tensor data is corrupt")
    try:
        structure = json.loads(meta["structure"])
    except (KeyError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: corrupt gpugrad metadata ({e})") from None
    return _decode(structure, tensors, dev)
