"""Windows of an NCHW image as columns, and back: the pair of linear maps that
convolution and overlapping pooling are built on.

* ``im2col`` gathers every kh×kw window (its taps ``dilation`` apart) of an image padded
  with a constant (0; -inf for max pooling), each side on its own, into a column:
  (N, C, H, W) -> (C, kh, kw, N, Ho, Wo), Caffe's layout: one strided copy per kernel
  offset (i, j), each of whole output rows, so the copies run at memory speed (a layout
  with the tiny kh, kw axes innermost copies 4-6x slower in NumPy).  The padding is never
  built: each offset copies the windows that read inside the image and fills the border
  strips of its block, which saves a padded copy of the image (an allocation, and on the
  CPU its page faults, per call);
* ``col2im`` is its adjoint: it adds each offset's block back to where it came from (a loop
  over the kh·kw offsets, never over the batch), into an unpadded (C, N, H, W) array
  returned as its (N, C, H, W) view, the layout in which the blocks are whole rows.

Each is the other's backward, so everything built on them is differentiable to any order.
"""

from __future__ import annotations

from .. import backend
from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor


def pair(v, name):
    """An int or a pair of ints as a pair (kernel_size, stride, padding, dilation)."""
    if isinstance(v, int):
        return v, v
    v = tuple(v)
    if len(v) != 2 or not all(isinstance(n, int) for n in v):
        raise ValueError(f"{name} must be an int or a pair of ints, got {v!r}")
    return v


def sides(padding):
    """Padding as ((top, bottom), (left, right)): from an int, a pair (each side of an axis
    alike) or already per side."""
    if not isinstance(padding, int) and all(not isinstance(p, int) for p in padding):
        (t, b), (left, r) = padding
        return (t, b), (left, r)
    ph, pw = pair(padding, "padding")
    return (ph, ph), (pw, pw)


def output_size(size, k, stride, padding, name, dilation=1):
    """The number of windows along one axis (``padding`` an int or a (before, after)
    pair); ValueError if the kernel does not fit."""
    before, after = (padding, padding) if isinstance(padding, int) else padding
    out = (size + before + after - dilation * (k - 1) - 1) // stride + 1
    if out < 1:
        raise ValueError(
            f"{name}: kernel {k} (dilation {dilation}) with padding {padding} does not fit an "
            f"input of size {size}"
        )
    return out


def inside(offset, stride, count, size):
    """The outputs [lo, hi) of ``count`` whose tap, at ``offset + o * stride`` of an axis
    of ``size`` (the padding at negative positions and from ``size`` on), is inside."""
    lo = min(count, max(0, -(offset // stride)))
    hi = min(count, max(lo, (size - 1 - offset) // stride + 1))
    return lo, hi


def offset_blocks(kernel, out_hw, in_hw, stride, padding, dilation):
    """Per kernel offset (i, j) whose taps are not all in the padding: (i, j, block,
    image), ``block`` the (rows, cols) slices of its (Ho, Wo) block that read inside the
    image, ``image`` the (rows, cols) slices of the image they read."""
    (ho, wo), (h, w), (sh, sw) = out_hw, in_hw, stride
    found = []
    for i in range(kernel[0]):
        top = i * dilation[0] - padding[0][0]
        r0, r1 = inside(top, sh, ho, h)
        for j in range(kernel[1]):
            left = j * dilation[1] - padding[1][0]
            c0, c1 = inside(left, sw, wo, w)
            if r0 == r1 or c0 == c1:
                continue
            y0, x0 = top + r0 * sh, left + c0 * sw
            block = slice(r0, r1), slice(c0, c1)
            image = (
                slice(y0, y0 + sh * (r1 - r0 - 1) + 1, sh),
                slice(x0, x0 + sw * (c1 - c0 - 1) + 1, sw),
            )
            found.append((i, j, block, image))
    return found


def window_counts(in_hw, kernel, stride, padding, dilation):
    """(Ho, Wo): how many windows fit along each axis of a padded image."""
    return tuple(
        (size + before + after - d * (k - 1) - 1) // st + 1
        for size, k, st, (before, after), d in zip(in_hw, kernel, stride, padding, dilation)
    )


def _flat_shifts(blocks, in_hw, out_hw, stride, span):
    """With stride 1 and an output the size of the image ('same' padding), each offset's
    block is the image shifted by one flat offset s: output (r, c) reads image element
    (r, c) + (di, dj), that is flat element p + s.  Copying flat runs of ``span``
    elements (H·W, or N·H·W when each channel's samples are contiguous) instead of rows
    of W runs several times faster in NumPy; what a run wraps around into (the next row
    or sample) lies in the block's border strips, which are then rewritten.  Per block:
    (a, b, s), the run [a, b) reading [a + s, b + s); None where this does not apply."""
    if stride != (1, 1) or in_hw != out_hw:
        return None
    runs = []
    for _, _, (rows, cols), (image_rows, image_cols) in blocks:
        shift = (image_rows.start - rows.start) * in_hw[1] + image_cols.start - cols.start
        runs.append((max(0, -shift), span - max(0, shift), shift))
    return runs


def _span(a):
    """N·H·W if each channel of the (C, N, H, W) array ``a`` is one contiguous run, H·W
    if each image is, else None."""
    n, h, w = a.shape[1:]
    if a.strides[3] != a.itemsize or a.strides[2] != w * a.itemsize:
        return None
    return n * h * w if a.strides[1] == h * w * a.itemsize else h * w


def _strips(block, rows, cols, value):
    """Set the border strips of a (C, N, Ho, Wo) block around rows × cols to value."""
    ho, wo = block.shape[2:]
    if rows.start:
        block[:, :, : rows.start] = value
    if rows.stop < ho:
        block[:, :, rows.stop :] = value
    if cols.start:
        block[:, :, rows, : cols.start] = value
    if cols.stop < wo:
        block[:, :, rows, cols.stop :] = value


def fill_columns(x, cols, kernel, stride, padding, dilation=(1, 1), fill=0.0):
    """im2col of the raw (N, C, H, W) array ``x`` into ``cols`` (C, kh, kw, N, Ho, Wo),
    a C-contiguous array."""
    (c, h, w), (ho, wo) = x.shape[1:], cols.shape[4:]
    by_channel = x.transpose(1, 0, 2, 3)  # (C, N, H, W), a view
    blocks = offset_blocks(kernel, (ho, wo), (h, w), stride, padding, dilation)
    span = _span(by_channel) or h * w  # else the reshape below copies x once
    runs = _flat_shifts(blocks, (h, w), (ho, wo), stride, span)
    if runs is not None:
        flat_x = by_channel.reshape(c, -1, span)
        flat_cols = cols.reshape(c, kernel[0] * kernel[1], -1, span)
    if len(blocks) < kernel[0] * kernel[1]:  # offsets that read only padding
        cols[...] = fill
    for k, (i, j, (rows, cols_at), (image_rows, image_cols)) in enumerate(blocks):
        block = cols[:, i, j]  # (C, N, Ho, Wo)
        if runs is None:
            block[:, :, rows, cols_at] = by_channel[:, :, image_rows, image_cols]
        else:
            a, b, shift = runs[k]
            flat_cols[:, i * kernel[1] + j, :, a:b] = flat_x[:, :, a + shift : b + shift]
        _strips(block, rows, cols_at, fill)  # they read the padding


def add_columns(cols, out, kernel, stride, padding, dilation=(1, 1), scratch=False):
    """col2im of ``cols`` (C, kh, kw, N, Ho, Wo) into the raw (C, N, H, W) array ``out``,
    whose contents are overwritten.  With ``scratch`` (cols C-contiguous and free to
    overwrite), 'same' convolutions add flat runs (see _flat_shifts) after zeroing what
    fell in the padding."""
    (kh, kw), (sh, sw) = kernel, stride
    (c, _, h, w), (ho, wo) = out.shape, cols.shape[4:]
    blocks = offset_blocks(kernel, (ho, wo), (h, w), stride, padding, dilation)
    # Windows that do not overlap (pooling) are placed, not added; when they tile the
    # padded image, every element is written and nothing needs zeroing.  Overlapping
    # ones are added, after a first block that is placed: one that covers the whole
    # image if there is one (stride 1, e.g. the middle tap of a 'same' convolution),
    # so that again nothing needs zeroing.
    (pt, pb), (pl, pr) = padding
    disjoint = dilation == (1, 1) and sh >= kh and sw >= kw
    tiles = (sh, sw) == (kh, kw) and (sh * ho, sw * wo) == (h + pt + pb, w + pl + pr)
    whole = [b for b in blocks if _reads_all(b[3], h, w)]
    if whole and not disjoint:
        blocks.remove(whole[0])
        blocks.insert(0, whole[0])
    if not ((disjoint and tiles) or (not disjoint and whole)):
        out[...] = 0
    span = _span(out)  # the flat runs write through a reshape of out: it must be a view
    runs = _flat_shifts(blocks, (h, w), (ho, wo), stride, span) if scratch and span else None
    if runs is not None:
        flat_out, flat_cols = out.reshape(c, -1, span), cols.reshape(c, kh * kw, -1, span)
    for k, (i, j, (rows, cols_at), (image_rows, image_cols)) in enumerate(blocks):
        if runs is None:
            source = cols[:, i, j, :, rows, cols_at]
            target = out[:, :, image_rows, image_cols]
        else:
            _strips(cols[:, i, j], rows, cols_at, 0)
            a, b, shift = runs[k]
            source = flat_cols[:, i * kw + j, :, a:b]
            target = flat_out[:, :, a + shift : b + shift]
        if disjoint or k == 0:
            target[...] = source
        else:
            target += source


class Im2Col(Function):
    """(N, C, H, W) -> (C, kh, kw, N, Ho, Wo): every window as a column."""

    def __init__(self, kernel, stride, padding, dilation=(1, 1), fill=0.0):
        self.kernel, self.stride, self.padding = kernel, stride, sides(padding)
        self.dilation, self.fill = dilation, fill

    def forward(self, x):
        xp = backend.get_array_module(x)
        self.in_shape = n, c, h, w = x.shape
        ho, wo = window_counts((h, w), self.kernel, self.stride, self.padding, self.dilation)
        cols = xp.empty((c, *self.kernel, n, ho, wo), dtype=x.dtype)
        fill_columns(x, cols, self.kernel, self.stride, self.padding, self.dilation, self.fill)
        return cols

    def backward(self, ns, gy):
        adjoint = Col2Im(self.in_shape, self.kernel, self.stride, self.padding, self.dilation)
        return ns.apply(adjoint, gy)


class Col2Im(Function):
    """The adjoint of Im2Col: (C, kh, kw, N, Ho, Wo) -> (N, C, H, W), overlaps added (what
    fell in the padding dropped, whatever it was filled with); a view of a (C, N, H, W)
    array."""

    def __init__(self, in_shape, kernel, stride, padding, dilation=(1, 1)):
        self.in_shape, self.kernel, self.stride = in_shape, kernel, stride
        self.padding, self.dilation = sides(padding), dilation

    def forward(self, cols):
        xp = backend.get_array_module(cols)
        n, c, h, w = self.in_shape
        out = xp.empty((c, n, h, w), dtype=cols.dtype)
        add_columns(cols, out, self.kernel, self.stride, self.padding, self.dilation)
        return out.transpose(1, 0, 2, 3)

    def backward(self, ns, gy):
        return ns.apply(Im2Col(self.kernel, self.stride, self.padding, self.dilation), gy)


def _reads_all(image_at, h, w):
    """Whether an offset's image slices are the whole h×w image."""
    return image_at == (slice(0, h, 1), slice(0, w, 1))


def im2col(x, kernel_size, stride=1, padding=0, dilation=1, fill=0.0) -> Tensor:
    """Windows of an NCHW tensor as columns: (C, kh, kw, N, Ho, Wo).  ``padding``: an int,
    a pair, or ((top, bottom), (left, right)); the padding holds ``fill``."""
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"expected an NCHW tensor (4-d), got shape {x.shape}")
    k, s = pair(kernel_size, "kernel_size"), pair(stride, "stride")
    d, p = pair(dilation, "dilation"), sides(padding)
    if min(s) < 1 or min(p[0] + p[1]) < 0 or min(k) < 1 or min(d) < 1:
        raise ValueError(
            f"need kernel_size >= 1, stride >= 1, padding >= 0, dilation >= 1; "
            f"got {k}, {s}, {p}, {d}"
        )
    output_size(x.shape[2], k[0], s[0], p[0], "height", d[0])
    output_size(x.shape[3], k[1], s[1], p[1], "width", d[1])
    return Im2Col(k, s, p, d, fill)(x)
