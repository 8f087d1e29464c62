"""Loads the CUDA sources in ``kernels/`` and launches them with CuPy.

The sources ship inside the package (``gpugrad/_kernels`` in a wheel; ``kernels/`` at the
top of a source checkout).  Each ``.cu`` file holds one ``extern "C"`` kernel per dtype
(``<kernel>_f16``, ``_f32``, ``_f64``, listed in :data:`KERNELS`); it is compiled once per
device with ``cupy.RawModule`` (which also caches the binary on disk, keyed by the source
text) and every kernel function is looked up once and kept in a dict.

Every launcher takes and returns CuPy arrays:

* the output has the input's dtype; float16 is computed in float32, float32 in float32,
  float64 in float64; any other dtype raises TypeError naming it;
* inputs that are not C-contiguous are copied to a contiguous array once, explicitly,
  before the launch (the kernels index flat memory); arrays updated in place (optimizer
  parameters and state) must already be contiguous, or ValueError;
* an empty array launches nothing;
* nothing here synchronizes: a bad label in the cross-entropy sets a device flag that
  :func:`check_label_flag` (or :func:`check_labels`, at the next ``.item()``) reads.

cupy is imported lazily: importing this module on a machine without CUDA works.
"""

from __future__ import annotations

from pathlib import Path

import numpy

ACTIVATIONS = {"sigmoid": 0, "tanh": 1, "relu": 2, "leaky_relu": 3, "elu": 4, "softplus": 5}
SUFFIX = {
    numpy.dtype(numpy.float16): "f16",
    numpy.dtype(numpy.float32): "f32",
    numpy.dtype(numpy.float64): "f64",
}
# The kernels of each file; each exists once per suffix in SUFFIX (the NVRTC test checks).
KERNELS = {
    "activation.cu": [
        "activation_forward",
        "activation_backward",
        "bias_activation_forward",
        "column_reduce",
        "column_reduce_direct",
        "column_finish",
    ],
    "softmax_cross_entropy.cu": ["sce_forward", "sce_backward"],
    "optimizer.cu": ["sgd_update", "adam_update"],
}
COMPILE_OPTIONS = ("-std=c++17",)
THREADS = 256

_modules: dict = {}  # (device id, file name) -> cupy.RawModule
_functions: dict = {}  # (device id, kernel name) -> cupy.RawKernel
_max_blocks: dict = {}  # device id -> blocks worth launching for a grid-stride loop
_pending_label_flags: dict = {}  # number of classes -> device int32 flag (see defer_label_check)


# -- sources ------------------------------------------------------------------------------
def source_dir() -> Path:
    """Where the .cu/.cuh files are: inside the installed package, or the repo's kernels/."""
    here = Path(__file__).resolve().parent
    candidates = (here / "_kernels", here.parent / "kernels")
    for candidate in candidates:
        if (candidate / "common.cuh").is_file():
            return candidate
    raise FileNotFoundError(
        f"gpugrad's CUDA sources were not found in {candidates[0]} (an "
        f"installed wheel) or {candidates[1]} (a source checkout): the "
        f"installation is incomplete"
    )


def kernel_sources() -> dict:
    """{file name: source text} of every .cu file."""
    return {p.name: p.read_text() for p in sorted(source_dir().glob("*.cu"))}


def header_sources() -> dict:
    """{file name: source text} of every .cuh file."""
    return {p.name: p.read_text() for p in sorted(source_dir().glob("*.cuh"))}


def module_source(file: str) -> str:
    """The text that is compiled for ``file``: the .cu file with its headers pasted in, so
    that CuPy's on-disk cache (keyed by the source text) also sees a change to a header.
    The NVRTC test compiles exactly this."""
    source = (source_dir() / file).read_text()
    for name, text in header_sources().items():
        source = source.replace(f'#include "{name}"', text.replace("#pragma once", "", 1))
    return source


# -- compiling and launching ----------------------------------------------------------------
def _cupy():
    import cupy

    return cupy


def _function(file: str, name: str):
    cupy = _cupy()
    device = cupy.cuda.runtime.getDevice()  # a module is loaded per device
    fn = _functions.get((device, name))
    if fn is None:
        module = _modules.get((device, file))
        if module is None:
            module = cupy.RawModule(code=module_source(file), options=COMPILE_OPTIONS)
            _modules[(device, file)] = module
        fn = _functions[(device, name)] = module.get_function(name)
    return fn


def _blocks_cap() -> int:
    """32 blocks of 256 threads per SM: four full waves, after which the grid-stride loop
    gives each thread more elements instead of launching more blocks."""
    cupy = _cupy()
    device = cupy.cuda.runtime.getDevice()
    cap = _max_blocks.get(device)
    if cap is None:
        sms = cupy.cuda.Device(device).attributes["MultiProcessorCount"]
        cap = _max_blocks[device] = int(sms) * 32
    return cap


def _grid(n: int) -> tuple:
    return (int(min(max(-(-n // THREADS), 1), _blocks_cap())),)


def _suffix(a, what: str = "input") -> str:
    cupy = _cupy()
    if not isinstance(a, cupy.ndarray):
        raise TypeError(f"gpugrad kernels take cupy arrays; the {what} is a {type(a).__name__}")
    try:
        return SUFFIX[a.dtype]
    except KeyError:
        raise TypeError(
            f"gpugrad kernels support float16, float32 and float64; the {what} is {a.dtype}"
        ) from None


def _compute_dtype(a):
    return numpy.float64 if a.dtype == numpy.float64 else numpy.float32


def _contiguous(a):
    return a if a.flags.c_contiguous else _cupy().ascontiguousarray(a)


def _as(a, dtype, what: str, shape=None):
    """``a`` (a cupy array) as a contiguous array of ``dtype``, broadcast to ``shape`` if
    given; copied only when needed."""
    cupy = _cupy()
    if not isinstance(a, cupy.ndarray):
        raise TypeError(f"gpugrad kernels take cupy arrays; the {what} is a {type(a).__name__}")
    if shape is not None and a.shape != tuple(shape):
        try:
            a = cupy.broadcast_to(a, shape)
        except ValueError:
            raise ValueError(
                f"the {what} of shape {a.shape} does not broadcast to {tuple(shape)}"
            ) from None
    return _contiguous(a.astype(dtype, copy=False))


def _activation_code(name: str) -> int:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}: expected one of {sorted(ACTIVATIONS)}"
        ) from None


def _param(name: str, slope: float, alpha: float) -> numpy.float64:
    """The activation's one parameter.  The backward reads the sign of y as the sign of x,
    which needs slope >= 0 and alpha > 0."""
    if name == "leaky_relu":
        if not slope >= 0:
            raise ValueError(f"leaky_relu needs slope >= 0, got {slope}")
        return numpy.float64(slope)
    if name == "elu":
        if not alpha > 0:
            raise ValueError(f"elu needs alpha > 0, got {alpha}")
        return numpy.float64(alpha)
    return numpy.float64(0.0)


# -- activations ------------------------------------------------------------------------
def activation_forward(name: str, x, *, slope: float = 0.01, alpha: float = 1.0):
    """y = act(x), any shape, one pass.  Returns a new C-contiguous array like x."""
    code, p, sfx = _activation_code(name), _param(name, slope, alpha), _suffix(x)
    x = _contiguous(x)
    y = _cupy().empty_like(x)
    if x.size:
        _function("activation.cu", f"activation_forward_{sfx}")(
            _grid(x.size), (THREADS,), (numpy.int32(code), x, y, numpy.int64(x.size), p)
        )
    return y


def activation_backward(name: str, y, gy, *, slope: float = 0.01, alpha: float = 1.0):
    """gx = gy · act'(x), computed from the forward's output y (any shape) and the upstream
    gy (y's shape, or broadcastable to it; cast to y's dtype), one pass."""
    code, p, sfx = _activation_code(name), _param(name, slope, alpha), _suffix(y)
    cupy = _cupy()
    y = _contiguous(y)
    gy = _as(gy, y.dtype, "upstream gradient", y.shape)
    gx = cupy.empty_like(y)
    if y.size:
        _function("activation.cu", f"activation_backward_{sfx}")(
            _grid(y.size), (THREADS,), (numpy.int32(code), y, gy, gx, numpy.int64(y.size), p)
        )
    return gx


def _column_reduce(act: int, y, gy, gx, p):
    """Column sums (cols,) of the (rows, cols) view of y (act < 0), or of the activation
    backward of (y, gy), which is also written to gx (act >= 0).  All contiguous."""
    cupy = _cupy()
    sfx = SUFFIX[y.dtype]
    cols = y.shape[-1] if y.ndim else 1
    rows = y.size // cols if cols else 0
    out = cupy.empty(cols, dtype=y.dtype)
    if cols == 0:
        return out
    if rows == 0:
        out.fill(0)
        return out
    bx = min(32, 1 << (cols - 1).bit_length())  # a warp covers 32 // bx rows of bx columns
    by = THREADS // bx
    grid_x = -(-cols // bx)
    # Split the rows into chunks only when there are many of them (>= 16 per thread) and
    # the columns alone do not fill the GPU; each chunk leaves one partial row to add up.
    chunks = int(min(-(-rows // (by * 16)), max(1, _blocks_cap() // grid_x), 65535))
    args = (numpy.int32(act), y, gy, gx)
    shape = (numpy.int64(rows), numpy.int64(cols), numpy.float64(p))
    if chunks == 1:
        _function("activation.cu", f"column_reduce_direct_{sfx}")(
            (grid_x, 1), (bx, by), (*args, out, *shape)
        )
        return out
    partial = cupy.empty((chunks, cols), dtype=_compute_dtype(y))
    _function("activation.cu", f"column_reduce_{sfx}")(
        (grid_x, chunks), (bx, by), (*args, partial, *shape)
    )
    _function("activation.cu", f"column_finish_{sfx}")(
        (grid_x, 1), (bx, by), (partial, out, numpy.int64(chunks), numpy.int64(cols))
    )
    return out


def column_sum(g):
    """Sum over every axis but the last: (..., C) -> (C,), deterministic, accumulated in
    float32 for float16 and in the dtype otherwise."""
    _suffix(g)
    g = _contiguous(g)
    return _column_reduce(-1, g, g, g, 0.0)


def _check_bias(x, b):
    if x.ndim < 1 or b.ndim != 1 or b.shape[0] != x.shape[-1]:
        raise ValueError(
            f"bias of shape {b.shape} does not match the last axis of x with shape {x.shape}"
        )


def bias_activation_forward(name: str, x, b, *, slope: float = 0.01, alpha: float = 1.0):
    """y = act(x + b): x (..., C), b (C,) broadcast over the rows (cast to x's dtype), one pass."""
    code, p, sfx = _activation_code(name), _param(name, slope, alpha), _suffix(x)
    _suffix(b, "bias")
    _check_bias(x, b)
    x, b = _contiguous(x), _as(b, x.dtype, "bias")
    y = _cupy().empty_like(x)
    if x.size:
        _function("activation.cu", f"bias_activation_forward_{sfx}")(
            _grid(x.size),
            (THREADS,),
            (numpy.int32(code), x, b, y, numpy.int64(x.size), numpy.int64(x.shape[-1]), p),
        )
    return y


def bias_activation_backward(name: str, y, gy, *, slope: float = 0.01, alpha: float = 1.0):
    """(gx, gb) for y = act(x + b): gx = gy · act'(y) (y's shape) and gb = the column sum of
    gx (C,), in one pass over y and gy (plus a small pass over per-chunk partial sums)."""
    code, p, sfx = _activation_code(name), _param(name, slope, alpha), _suffix(y)
    cupy = _cupy()
    if y.ndim < 1:
        raise ValueError("bias_activation_backward needs y of shape (..., C), got a 0-d array")
    y = _contiguous(y)
    gy = _as(gy, y.dtype, "upstream gradient", y.shape)
    gx = cupy.empty_like(y)
    gb = _column_reduce(code, y, gy, gx, p)
    return gx, gb


# -- softmax cross-entropy ----------------------------------------------------------------
def _labels(labels, rows: int):
    cupy = _cupy()
    if not isinstance(labels, cupy.ndarray) or labels.dtype.kind not in "iu":
        raise TypeError(
            f"labels must be a cupy integer array, got "
            f"{getattr(labels, 'dtype', type(labels).__name__)}"
        )
    if labels.shape != (rows,):
        raise ValueError(f"labels of shape {labels.shape} do not match {rows} rows of logits")
    return _contiguous(labels.astype(numpy.int64, copy=False))


def _logits_and_labels(logits, labels):
    """(dtype suffix, contiguous (N, C) logits, contiguous int64 (N,) labels), checked."""
    sfx = _suffix(logits, "logits")
    if logits.ndim != 2:
        raise ValueError(f"logits must be (N, C), got shape {logits.shape}")
    return sfx, _contiguous(logits), _labels(labels, logits.shape[0])


def softmax_cross_entropy_forward(logits, labels):
    """(loss_rows, lse, flag) for logits (N, C) and integer labels (N,):
    loss_rows (N,) in the logits' dtype, lse (N,) the per-row log-sum-exp as float64 for
    every dtype (a float32 lse of logits ~1000 would be off by ~1e-4 in each probability),
    flag an int32 device array (1,) set to 1 when a label lies outside [0, C) (that row's
    loss is NaN).  Does not synchronize: pass the flag to
    :func:`check_label_flag` when you choose to."""
    cupy = _cupy()
    sfx, logits, labels = _logits_and_labels(logits, labels)
    rows, cols = logits.shape
    loss = cupy.empty(rows, dtype=logits.dtype)
    lse = cupy.empty(rows, dtype=numpy.float64)
    flag = cupy.zeros(1, dtype=numpy.int32)
    if rows:
        warps = THREADS // 32  # one warp per row
        blocks = int(min(-(-rows // warps), _blocks_cap()))
        _function("softmax_cross_entropy.cu", f"sce_forward_{sfx}")(
            (blocks,),
            (THREADS,),
            (logits, labels, loss, lse, flag, numpy.int64(rows), numpy.int64(cols)),
        )
    return loss, lse, flag


def softmax_cross_entropy_backward(logits, lse, labels, gy_rows):
    """gx (N, C) = (softmax(logits) - onehot(labels)) · gy_rows[:, None], one pass.
    gy_rows is the per-row upstream gradient (N,) (or a scalar): 1/N for a mean, 1 for a
    sum, the upstream of each row for no reduction."""
    cupy = _cupy()
    sfx, logits, labels = _logits_and_labels(logits, labels)
    rows, cols = logits.shape
    lse = _as(lse, numpy.float64, "log-sum-exp", (rows,))
    gy = _as(
        cupy.asarray(gy_rows) if numpy.isscalar(gy_rows) else gy_rows,
        logits.dtype,
        "upstream gradient",
        (rows,),
    )
    gx = cupy.empty_like(logits)
    if logits.size:
        _function("softmax_cross_entropy.cu", f"sce_backward_{sfx}")(
            _grid(logits.size),
            (THREADS,),
            (logits, lse, labels, gy, gx, numpy.int64(rows), numpy.int64(cols)),
        )
    return gx


def check_label_flag(flag, num_classes: int) -> None:
    """Raise ValueError "label out of range [0, C)" if the device flag of
    :func:`softmax_cross_entropy_forward` is set.  Reads one int: this synchronizes, so
    the caller decides when (e.g. at the next ``.item()``)."""
    if int(flag[0]):
        raise ValueError(
            f"label out of range [0, {num_classes}): a label given to the "
            f"softmax cross-entropy on the GPU was < 0 or >= {num_classes} "
            f"(that row's loss is NaN)"
        )


def defer_label_check(flag, num_classes: int) -> None:
    """Remember a flag for :func:`check_labels`.  Flags of the same number of classes are
    folded together on the device (no sync), so the pending set stays small."""
    pending = _pending_label_flags.get(num_classes)
    if pending is None:
        _pending_label_flags[num_classes] = flag
    else:
        _cupy().maximum(pending, flag, out=pending)


def check_labels() -> None:
    """Raise ValueError if a deferred cross-entropy since the last check had a label out of
    range.  Synchronizes if anything is pending (called by Tensor.item()); clears the
    pending flags either way, so an error is reported once."""
    if not _pending_label_flags:
        return
    pending = list(_pending_label_flags.items())
    _pending_label_flags.clear()
    for num_classes, flag in pending:
        check_label_flag(flag, num_classes)


# -- optimizer updates ------------------------------------------------------------------------
def _check_state(p, *named):
    """p and its state: cupy, same dtype and shape, C-contiguous (updated in place)."""
    sfx = _suffix(p, "parameter")
    for what, a in named:
        if a is None:
            continue
        _suffix(a, what)
        if a.dtype != p.dtype or a.shape != p.shape:
            raise ValueError(
                f"the {what} ({a.dtype}, {a.shape}) does not match the parameter "
                f"({p.dtype}, {p.shape})"
            )
    for what, a in (("parameter", p), *named):
        if a is not None and not a.flags.c_contiguous:
            raise ValueError(
                f"optimizer kernels update the {what} in place: it must be C-contiguous"
            )
    return sfx


def _grad(p, grad):
    _suffix(grad, "gradient")
    if grad.shape != p.shape:
        raise ValueError(f"gradient of shape {grad.shape} for a parameter of shape {p.shape}")
    return _as(grad, p.dtype, "gradient")


def sgd_update(
    p, grad, buf, *, lr, momentum=0.0, nesterov=False, weight_decay=0.0, first_step=False
):
    """One in-place SGD step on p (and the momentum buffer buf, p's shape; None only when
    momentum is 0), PyTorch's semantics with dampening 0.  ``first_step`` makes buf = g
    (PyTorch's fresh buffer) instead of reading it.  One launch."""
    if momentum != 0 and buf is None:
        raise ValueError("sgd_update with momentum needs a momentum buffer")
    sfx = _check_state(p, ("momentum buffer", buf))
    grad = _grad(p, grad)
    if p.size:
        _function("optimizer.cu", f"sgd_update_{sfx}")(
            _grid(p.size),
            (THREADS,),
            (
                p,
                grad,
                buf if buf is not None else p,
                numpy.int64(p.size),
                numpy.float64(lr),
                numpy.float64(momentum),
                numpy.float64(weight_decay),
                numpy.int32(bool(nesterov)),
                numpy.int32(bool(first_step)),
            ),
        )


def adam_update(
    p,
    grad,
    m,
    v,
    *,
    lr,
    beta1,
    beta2,
    eps,
    weight_decay,
    decoupled,
    bias_correction1,
    bias_correction2,
):
    """One in-place Adam (decoupled=False: g += wd·p) or AdamW (decoupled=True: p *= 1 - lr·wd)
    step on p, m, v (all p's shape), PyTorch's semantics.  The bias corrections 1 - β^t are
    computed by the caller from the step count t.  One launch."""
    sfx = _check_state(p, ("first moment", m), ("second moment", v))
    if m is None or v is None:
        raise ValueError("adam_update needs both moment buffers")
    grad = _grad(p, grad)
    if p.size:
        _function("optimizer.cu", f"adam_update_{sfx}")(
            _grid(p.size),
            (THREADS,),
            (
                p,
                grad,
                m,
                v,
                numpy.int64(p.size),
                numpy.float64(lr),
                numpy.float64(beta1),
                numpy.float64(beta2),
                numpy.float64(eps),
                numpy.float64(weight_decay),
                numpy.int32(bool(decoupled)),
                numpy.float64(bias_correction1),
                numpy.float64(bias_correction2),
            ),
        )
