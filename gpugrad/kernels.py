"""Loads the CUDA sources in ``kernels/`` and launches them with CuPy.

The sources ship inside the package (``gpugrad/_kernels`` in a wheel; ``kernels/`` at
the top of a source checkout).  Each file is compiled once with ``cupy.RawModule`` (which
caches the binary on disk) and each kernel function, one per dtype, is looked up once and
kept in a dict.  Every launcher takes and returns CuPy arrays:

* inputs that are not C-contiguous are made contiguous once, explicitly, before launch;
* an empty array launches nothing;
* float16 is computed in float32, float32 in float32, float64 in float64;
  any other dtype raises TypeError.

cupy is imported lazily: importing this module on a machine without CUDA works.
"""
from __future__ import annotations

from pathlib import Path

import numpy

ACTIVATIONS = {"sigmoid": 0, "tanh": 1, "relu": 2, "leaky_relu": 3, "elu": 4, "softplus": 5}
SUFFIX = {numpy.dtype(numpy.float16): "f16", numpy.dtype(numpy.float32): "f32",
          numpy.dtype(numpy.float64): "f64"}
THREADS = 256

_modules: dict = {}      # file name -> cupy.RawModule
_functions: dict = {}    # kernel name -> cupy.RawKernel
_pending_label_flags: list = []


def source_dir() -> Path:
    """Where the .cu/.cuh files are: inside the installed package, or the repo's kernels/."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_kernels", here.parent / "kernels"):
        if (candidate / "common.cuh").is_file():
            return candidate
    raise FileNotFoundError(f"gpugrad's CUDA sources were not found in {here / '_kernels'} or "
                            f"{here.parent / 'kernels'}: the installation is incomplete")


def kernel_sources() -> dict:
    """{file name: source text} of every .cu file (what the tests compile with NVRTC)."""
    return {p.name: p.read_text() for p in sorted(source_dir().glob("*.cu"))}


def header_sources() -> dict:
    return {p.name: p.read_text() for p in sorted(source_dir().glob("*.cuh"))}


def _cupy():
    import cupy
    return cupy


def _function(file: str, name: str):
    fn = _functions.get(name)
    if fn is None:
        module = _modules.get(file)
        if module is None:
            cupy = _cupy()
            source = (source_dir() / file).read_text()
            # The header is pasted in, so that CuPy's on-disk cache (keyed by the source
            # text) sees a change to common.cuh too.
            for name, text in header_sources().items():
                source = source.replace(f'#include "{name}"', text)
            module = cupy.RawModule(code=source, options=("-std=c++14",))
            _modules[file] = module
        fn = _functions[name] = module.get_function(name)
    return fn


def _suffix(a) -> str:
    try:
        return SUFFIX[a.dtype]
    except KeyError:
        raise TypeError(f"gpugrad kernels support float16, float32 and float64, not {a.dtype}") from None


def _contiguous(a):
    return a if a.flags.c_contiguous else _cupy().ascontiguousarray(a)


def _grid(n: int) -> tuple:
    # Enough blocks to fill the GPU; the grid-stride loop covers the rest.
    return (int(min(max((n + THREADS - 1) // THREADS, 1), 65535)),)


def _activation_code(name: str) -> int:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r}: expected one of {sorted(ACTIVATIONS)}") from None


def _param(name: str, slope: float, alpha: float) -> numpy.float64:
    return numpy.float64(slope if name == "leaky_relu" else alpha if name == "elu" else 0.0)


# -- activations ------------------------------------------------------------------------
def activation_forward(name: str, x, *, slope: float = 0.01, alpha: float = 1.0):
    """y = act(x), one pass."""
    code, sfx = _activation_code(name), _suffix(x)
    x = _contiguous(x)
    y = _cupy().empty_like(x)
    if x.size:
        _function("activation.cu", f"activation_forward_{sfx}")(
            _grid(x.size), (THREADS,), (numpy.int32(code), x, y, numpy.int64(x.size),
                                        _param(name, slope, alpha)))
    return y


def activation_backward(name: str, y, gy, *, slope: float = 0.01, alpha: float = 1.0):
    """gx = gy * act'(x), computed from the forward's output y, one pass."""
    code, sfx = _activation_code(name), _suffix(y)
    cupy = _cupy()
    y, gy = _contiguous(y), _contiguous(cupy.broadcast_to(gy, y.shape).astype(y.dtype, copy=False))
    gx = cupy.empty_like(y)
    if y.size:
        _function("activation.cu", f"activation_backward_{sfx}")(
            _grid(y.size), (THREADS,), (numpy.int32(code), y, gy, gx, numpy.int64(y.size),
                                        _param(name, slope, alpha)))
    return gx


def column_sum(g):
    """Sum over the leading axes: (..., C) -> (C,), deterministic."""
    cupy = _cupy()
    g = _contiguous(g)
    cols = g.shape[-1]
    rows = g.size // cols if cols else 0
    out = cupy.zeros(cols, dtype=g.dtype)
    if rows and cols:
        _function("activation.cu", f"column_sum_{_suffix(g)}")(
            ((cols + 31) // 32,), (32, 8), (g, out, numpy.int64(rows), numpy.int64(cols)))
    return out


def bias_activation_forward(name: str, x, b, *, slope: float = 0.01, alpha: float = 1.0):
    """y = act(x + b) with b (C,) broadcast over the rows of x (..., C), one pass."""
    code, sfx = _activation_code(name), _suffix(x)
    x, b = _contiguous(x), _contiguous(b)
    y = _cupy().empty_like(x)
    if x.size:
        _function("activation.cu", f"bias_activation_forward_{sfx}")(
            _grid(x.size), (THREADS,), (numpy.int32(code), x, b, y, numpy.int64(x.size),
                                        numpy.int64(x.shape[-1]), _param(name, slope, alpha)))
    return y


def bias_activation_backward(name: str, y, gy, *, slope: float = 0.01, alpha: float = 1.0):
    """(gx, gb): gx = gy * act'(y) in one pass, gb = column sum of gx."""
    gx = activation_backward(name, y, gy, slope=slope, alpha=alpha)
    return gx, column_sum(gx)


# -- softmax cross-entropy ----------------------------------------------------------------
def softmax_cross_entropy_forward(logits, labels):
    """Per-row loss (N,), the rows' log-sum-exp (N,, float32 or float64) and a device flag
    that is set when a label lies outside [0, C)."""
    cupy = _cupy()
    sfx = _suffix(logits)
    logits = _contiguous(logits)
    labels = _contiguous(labels.astype(numpy.int64, copy=False))
    rows, cols = logits.shape
    loss = cupy.empty(rows, dtype=logits.dtype)
    lse = cupy.empty(rows, dtype=numpy.float64 if sfx == "f64" else numpy.float32)
    flag = cupy.zeros(1, dtype=numpy.int32)
    if rows:
        _function("softmax_cross_entropy.cu", f"sce_forward_{sfx}")(
            (int(min(rows, 65535)),), (THREADS,),
            (logits, labels, loss, lse, flag, numpy.int64(rows), numpy.int64(cols)))
    return loss, lse, flag


def softmax_cross_entropy_backward(logits, lse, labels, gy_rows):
    """gx = (softmax(logits) - onehot(labels)) * gy_rows[:, None], one pass."""
    cupy = _cupy()
    sfx = _suffix(logits)
    logits = _contiguous(logits)
    rows, cols = logits.shape
    gy = _contiguous(cupy.broadcast_to(gy_rows, (rows,)).astype(logits.dtype, copy=False))
    gx = cupy.empty_like(logits)
    if logits.size:
        _function("softmax_cross_entropy.cu", f"sce_backward_{sfx}")(
            _grid(logits.size), (THREADS,),
            (logits, lse, _contiguous(labels.astype(numpy.int64, copy=False)), gy, gx,
             numpy.int64(rows), numpy.int64(cols)))
    return gx


def defer_label_check(flag, num_classes: int) -> None:
    """Remember a device flag; :func:`check_labels` reads it at the next synchronization.
    Flags are folded together on the device so that the list never grows."""
    if _pending_label_flags:
        previous, _ = _pending_label_flags[0]
        _cupy().maximum(previous, flag, out=previous)
        return
    _pending_label_flags.append((flag, num_classes))


def check_labels() -> None:
    """Raise ValueError if a cross-entropy since the last check had a label outside
    [0, C).  Synchronizes (reads one int); called by Tensor.item()."""
    if not _pending_label_flags:
        return
    flag, num_classes = _pending_label_flags.pop()
    if int(flag[0]):
        raise ValueError(f"cross_entropy: a label was out of range [0, {num_classes}) "
                         f"(detected on the GPU; the loss of that row is NaN)")


# -- optimizer updates ------------------------------------------------------------------------
def _require_contiguous(*arrays):
    for a in arrays:
        if a is not None and not a.flags.c_contiguous:
            raise ValueError("optimizer kernels update parameters and state in place: they must "
                             "be C-contiguous")


def sgd_update(p, grad, buf, *, lr, momentum, nesterov, weight_decay, first_step):
    """In-place SGD step on p (and the momentum buffer), one launch."""
    sfx = _suffix(p)
    _require_contiguous(p, buf)
    grad = _contiguous(grad.astype(p.dtype, copy=False))
    if p.size:
        _function("optimizer.cu", f"sgd_update_{sfx}")(
            _grid(p.size), (THREADS,),
            (p, grad, buf if buf is not None else p, numpy.int64(p.size), numpy.float64(lr),
             numpy.float64(momentum), numpy.float64(weight_decay), numpy.int32(bool(nesterov)),
             numpy.int32(bool(first_step))))


def adam_update(p, grad, m, v, *, lr, beta1, beta2, eps, weight_decay, decoupled,
                bias_correction1, bias_correction2):
    """In-place Adam/AdamW step on p, m, v, one launch."""
    sfx = _suffix(p)
    _require_contiguous(p, m, v)
    grad = _contiguous(grad.astype(p.dtype, copy=False))
    if p.size:
        _function("optimizer.cu", f"adam_update_{sfx}")(
            _grid(p.size), (THREADS,),
            (p, grad, m, v, numpy.int64(p.size), numpy.float64(lr), numpy.float64(beta1),
             numpy.float64(beta2), numpy.float64(eps), numpy.float64(weight_decay),
             numpy.int32(bool(decoupled)), numpy.float64(bias_correction1),
             numpy.float64(bias_correction2)))
