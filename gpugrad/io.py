"""Save and load tensors, state dicts and checkpoints as safetensors files.

    gg.save({"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3}, "ckpt.ggt")
    ckpt = gg.load("ckpt.ggt", device="cuda")

The file is a standard safetensors file (written and read with the ``safetensors``
package's NumPy API), so other tools read gpugrad weights: a model's tensors appear under
their dotted paths (``model.0.weight``).  Those names are only labels: the shape of the
saved object — dicts (str or int keys), lists, tuples, tensors, and non-tensor values
(None, bools, ints, floats, strings) — is kept as JSON in the string metadata, where each
tensor is a reference ``{"$tensor": name}``.  Because the structure never has to be
re-derived by splitting names, no key can collide with another, whatever characters it
holds.  The metadata also holds a format version and a SHA-256 over the structure and
every tensor's name, dtype, shape and bytes.  Nothing is ever unpickled.

Saving is atomic: the bytes go to a temporary file next to the target, which is flushed,
fsynced and renamed over the target (``os.replace``), and the directory is fsynced; on
any failure the temporary file is removed and the previous file is left as it was.  (A
process killed outright may leave a hidden ``.<name>.<random>.gpugrad-tmp`` file; it is
never read in place of the target.)

Loading checks the header, the offsets, the file length, the checksum and the structure
before it returns anything, and raises ValueError naming the problem for a truncated,
corrupt, foreign (not safetensors, or safetensors not written by gpugrad) or hostile file.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import struct

import numpy

from . import backend
from .tensor import Tensor

__all__ = ["FORMAT", "FORMAT_VERSION", "load", "save", "write_atomically", "write_json"]

FORMAT = "gpugrad"
FORMAT_VERSION = "2"  # 1: development files whose checksum left out the structure
MAX_HEADER_BYTES = 100 * 2**20  # safetensors' own limit; a larger header is hostile
TEMP_SUFFIX = ".gpugrad-tmp"
CHUNK_BYTES = 16 * 2**20  # written in pieces: os.write may write less than asked
# dtypes that safetensors stores and NumPy has (bfloat16 is not a NumPy dtype).
DTYPES = {
    numpy.dtype(t)
    for t in (
        "bool",
        "uint8",
        "int8",
        "int16",
        "uint16",
        "int32",
        "uint32",
        "int64",
        "uint64",
        "float16",
        "float32",
        "float64",
    )
}


# -- structure <-> JSON with tensor references ---------------------------------------------
def _encode(obj, path: str, tensors: dict):
    """``obj`` as JSON-able nodes; its tensors go into ``tensors`` (name -> NumPy array)."""
    if isinstance(obj, Tensor):
        array = obj.numpy()  # a host copy for CUDA tensors
        if array.dtype.byteorder == ">":  # safetensors is little-endian
            array = array.astype(array.dtype.newbyteorder("<"))
        if array.dtype not in DTYPES:
            raise TypeError(
                f"save: tensor '{path}' has dtype {array.dtype}, which safetensors "
                f"cannot store (supported: {sorted(str(d) for d in DTYPES)})"
            )
        name = path or "tensor"
        while name in tensors or name == "__metadata__":  # the one name safetensors reserves
            name += "#"
        tensors[name] = numpy.asarray(array, order="C")  # (ascontiguousarray makes 0-d 1-d)
        return {"$tensor": name}
    if isinstance(obj, dict):
        items = []
        for k, v in obj.items():
            if isinstance(k, bool) or not isinstance(k, (str, int, numpy.integer)):
                raise TypeError(
                    f"save: dict keys must be str or int, got {type(k).__name__} "
                    f"{k!r} (at '{path}')"
                )
            k = str(k) if isinstance(k, str) else int(k)  # plain types: NumPy ints, IntEnum
            items.append([k, _encode(v, f"{path}.{k}" if path else str(k), tensors)])
        return {"$dict": items}
    if isinstance(obj, (list, tuple)):
        kind = "$list" if isinstance(obj, list) else "$tuple"
        return {
            kind: [
                _encode(v, f"{path}.{i}" if path else str(i), tensors) for i, v in enumerate(obj)
            ]
        }
    if obj is None or isinstance(obj, (bool, int, float, str)):
        return obj
    if isinstance(obj, (numpy.bool_, numpy.integer, numpy.floating)):
        return obj.item()  # NumPy scalars: plain Python values
    raise TypeError(
        f"save: cannot store a {type(obj).__name__} (at '{path or '<top>'}'): only "
        f"Tensors, dicts, lists, tuples, None, bools, ints, floats and strings"
    )


def _decode(node, tensors: dict, used: set):
    """The object described by ``node``; ``tensors`` are already on the target device."""
    if isinstance(node, dict):
        if len(node) == 1:
            ((kind, body),) = node.items()
            if kind == "$tensor":
                if not isinstance(body, str) or body not in tensors:
                    raise ValueError(f"tensor {str(body)[:80]!r} is not in the file")
                if body in used:
                    raise ValueError(f"tensor {body!r} is referenced twice")
                used.add(body)
                return tensors[body]
            if kind == "$dict" and isinstance(body, list):
                out = {}
                for item in body:
                    if (
                        not isinstance(item, list)
                        or len(item) != 2
                        or isinstance(item[0], bool)
                        or not isinstance(item[0], (str, int))
                        or item[0] in out
                    ):
                        raise ValueError(f"bad dict entry {str(item)[:80]}")
                    out[item[0]] = _decode(item[1], tensors, used)
                return out
            if kind in ("$list", "$tuple") and isinstance(body, list):
                items = [_decode(v, tensors, used) for v in body]
                return items if kind == "$list" else tuple(items)
        raise ValueError(f"bad structure node {str(node)[:80]}")
    if node is None or isinstance(node, (bool, int, float, str)):
        return node
    raise ValueError(f"bad structure value {str(node)[:80]}")


def _checksum(structure: str, tensors: dict) -> str:
    """SHA-256 over the format, the structure and each tensor's name, dtype, shape and bytes."""
    h = hashlib.sha256(f"{FORMAT}/{FORMAT_VERSION}\0{structure}\0".encode())
    for name in sorted(tensors):
        a = tensors[name]
        h.update(f"{name}\0{a.dtype.str}\0{a.shape}\0".encode())
        h.update(numpy.asarray(a, order="C").reshape(-1).view(numpy.uint8))  # no copy
    return h.hexdigest()


# -- save ------------------------------------------------------------------------------------
def save(obj, path) -> None:
    """Write a Tensor, a dict of Tensors, a state_dict or a nested checkpoint to ``path``
    atomically: after a failure or a crash at any point, ``path`` holds either the previous
    file or the new one, never a mixture.  Raises TypeError for what cannot be stored
    (before anything is written)."""
    from safetensors.numpy import save as safetensors_save

    tensors: dict = {}
    structure = json.dumps(_encode(obj, "", tensors), separators=(",", ":"))
    metadata = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "structure": structure,
        "sha256": _checksum(structure, tensors),
    }
    write_atomically(path, safetensors_save(tensors, metadata=metadata))


def write_atomically(path, data: bytes) -> None:
    """Write ``data`` to ``path`` so that ``path`` holds either its previous content or all
    of ``data``, never a mixture: a temporary file next to it, fsynced, renamed over it, and
    the directory fsynced.  On any failure the temporary file is removed."""
    path = os.fspath(path)
    if os.path.islink(path):  # replace the file the link points to
        path = os.path.realpath(path)
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(8)}{TEMP_SUFFIX}")
    # O_EXCL: never reuse someone else's file; mode 0o666 lets the umask decide, as open() does.
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        try:
            view = memoryview(data)
            while view:
                written = os.write(fd, view[:CHUNK_BYTES])
                view = view[written:]
            os.fsync(fd)  # the bytes are on disk before the rename
        finally:
            os.close(fd)
        os.replace(tmp, path)
    except BaseException:  # KeyboardInterrupt too: no stray temp file
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_directory(directory)  # the rename itself is durable


def write_json(path, obj) -> None:
    """``obj`` as indented JSON, written with :func:`write_atomically`."""
    write_atomically(path, (json.dumps(obj, indent=2) + "\n").encode())


def _fsync_directory(directory: str) -> None:
    try:
        dir_fd = os.open(directory, os.O_RDONLY)
    except OSError:  # e.g. Windows cannot open a directory
        return
    try:
        os.fsync(dir_fd)
    except OSError:  # some file systems refuse; the rename is done
        pass
    finally:
        os.close(dir_fd)


# -- load ------------------------------------------------------------------------------------
def _check_layout(raw: bytes, path: str) -> dict:
    """The gpugrad metadata of a safetensors file, after checking the header length, the
    header JSON, every tensor's offsets and the file length.  ValueError otherwise."""
    if len(raw) < 8:
        raise ValueError(f"{path}: truncated or not a safetensors file ({len(raw)} bytes)")
    (n,) = struct.unpack("<Q", raw[:8])
    if n > MAX_HEADER_BYTES:
        raise ValueError(
            f"{path}: not a gpugrad file: the safetensors header length {n} is "
            f"implausible (a foreign, corrupt or hostile file)"
        )
    if 8 + n > len(raw):
        raise ValueError(
            f"{path}: truncated: the header needs {8 + n} bytes, the file has {len(raw)}"
        )
    try:
        header = json.loads(raw[8 : 8 + n].decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as e:
        raise ValueError(
            f"{path}: corrupt or not a safetensors file: the header is not JSON "
            f"({type(e).__name__})"
        ) from None
    if not isinstance(header, dict):
        raise ValueError(
            f"{path}: corrupt or not a safetensors file: the header is not a JSON object"
        )
    meta = header.get("__metadata__")
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(
            f"{path}: not a gpugrad file: a safetensors header without gpugrad's "
            f"metadata (read foreign weights with safetensors.numpy.load_file)"
        )
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{path}: gpugrad format version {meta.get('format_version')!r}; this "
            f"gpugrad reads version {FORMAT_VERSION}"
        )
    if not isinstance(meta.get("structure"), str) or not isinstance(meta.get("sha256"), str):
        raise ValueError(f"{path}: corrupt gpugrad metadata: structure or checksum missing")
    data_bytes = 0
    for name, info in header.items():
        if name == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if (
            not isinstance(offsets, list)
            or len(offsets) != 2
            or not all(isinstance(o, int) and not isinstance(o, bool) for o in offsets)
            or not 0 <= offsets[0] <= offsets[1]
        ):
            raise ValueError(f"{path}: corrupt header: tensor {name!r} has offsets {offsets!r}")
        data_bytes = max(data_bytes, offsets[1])
    if 8 + n + data_bytes > len(raw):
        raise ValueError(
            f"{path}: truncated: the tensors need {8 + n + data_bytes} bytes, the "
            f"file has {len(raw)}"
        )
    if 8 + n + data_bytes < len(raw):
        raise ValueError(
            f"{path}: corrupt: {len(raw) - 8 - n - data_bytes} bytes after the last tensor"
        )
    return meta


def load(path, device=None):
    """Read what :func:`save` wrote, with its tensors on ``device`` (default: the default
    device).  Everything is checked before anything is returned: ValueError names the
    problem with a truncated, corrupt, foreign or hostile file; FileNotFoundError if there
    is no file."""
    from safetensors.numpy import load as safetensors_load

    path = os.fspath(path)
    dev = backend.device(device) if device is not None else backend.default_device()
    with open(path, "rb") as f:  # FileNotFoundError passes through
        raw = f.read()
    meta = _check_layout(raw, path)
    try:
        arrays = safetensors_load(raw)
    except Exception as e:  # safetensors raises its own error types
        raise ValueError(f"{path}: corrupt safetensors data ({type(e).__name__}: {e})") from None
    del raw
    if not hmac.compare_digest(_checksum(meta["structure"], arrays), meta["sha256"]):
        raise ValueError(
            f"{path}: checksum mismatch: the file is corrupt (its tensors or "
            f"metadata changed after it was written)"
        )
    try:
        structure = json.loads(meta["structure"])
    except (ValueError, RecursionError) as e:
        raise ValueError(
            f"{path}: corrupt gpugrad metadata: the structure is not JSON ({type(e).__name__})"
        ) from None
    # Fresh, writable arrays on the device (safetensors' arrays are read-only views).
    tensors = {
        name: Tensor(numpy.array(a) if dev.kind == "cpu" else backend.to_device(a, dev))
        for name, a in arrays.items()
    }
    used: set = set()
    try:
        obj = _decode(structure, tensors, used)
    except (ValueError, RecursionError) as e:
        raise ValueError(f"{path}: corrupt gpugrad structure: {e}") from None
    if used != set(tensors):
        raise ValueError(
            f"{path}: corrupt gpugrad structure: tensors "
            f"{sorted(set(tensors) - used)[:5]} are not referenced"
        )
    return obj
