"""Matrix products: ``matmul`` (1-d, 2-d and batched, broadcast over leading axes, like
NumPy's) and PyTorch's checked forms of it: ``mm`` (2-d), ``bmm`` (3-d), ``mv``, ``dot``
(1-d), ``outer``."""

from __future__ import annotations

from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor
from .promotion import operands


class MatMul(Function):
    """y = a @ b.  Backward: ga = gy @ b^T, gb = a^T @ gy — the vectorized gradient, no
    Jacobian.  1-d operands are treated as a row (a) or a column (b) and squeezed back."""

    symbol = "@"

    save_inputs = (0, 1)

    def forward(self, a, b):
        return a @ b

    def backward(self, ns, gy, a, b):
        need_a, need_b = self.needs_grad
        a_vec, b_vec = a.ndim == 1, b.ndim == 1
        # View both operands as matrices and gy as their product's shape.
        if a_vec:
            a = ns.reshape(a, (1,) + a.shape)
        if b_vec:
            b = ns.reshape(b, b.shape + (1,))
        if a_vec and b_vec:
            gy = ns.reshape(gy, (1, 1))
        elif a_vec:
            gy = ns.expand_dims(gy, -2)
        elif b_vec:
            gy = ns.expand_dims(gy, -1)
        ga = gb = None
        if need_a:
            ga = ns.matmul(gy, ns.swapaxes(b, -1, -2))
            if a_vec:
                ga = ns.reshape(ns.sum_to(ga, (1,) + ga.shape[-1:]), ga.shape[-1:])
        if need_b:
            gb = ns.matmul(ns.swapaxes(a, -1, -2), gy)
            if b_vec:
                gb = ns.reshape(ns.sum_to(gb, gb.shape[-2:-1] + (1,)), gb.shape[-2:-1])
        return ga, gb


def matmul(a, b) -> Tensor:
    a = as_tensor(a)
    a, b = operands(a, b, "matmul")
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul needs at least 1-d operands, got shapes {a.shape} and {b.shape}")
    k_a = a.shape[-1]
    k_b = b.shape[0] if b.ndim == 1 else b.shape[-2]
    if k_a != k_b:
        raise ValueError(f"matmul: shapes {a.shape} and {b.shape} do not align ({k_a} != {k_b})")
    return MatMul()(a, b)


def _checked(a, b, name: str, ndims: tuple) -> Tensor:
    a, b = as_tensor(a), as_tensor(b)
    if (a.ndim, b.ndim) != ndims:
        raise ValueError(
            f"{name} expects {ndims[0]}-d and {ndims[1]}-d tensors, got shapes "
            f"{a.shape} and {b.shape}"
        )
    if name == "bmm" and a.shape[0] != b.shape[0]:
        raise ValueError(f"bmm: batch sizes differ ({a.shape[0]} and {b.shape[0]})")
    return matmul(a, b)


def mm(a, b) -> Tensor:
    """(n, k) @ (k, m)."""
    return _checked(a, b, "mm", (2, 2))


def bmm(a, b) -> Tensor:
    """(B, n, k) @ (B, k, m)."""
    return _checked(a, b, "bmm", (3, 3))


def mv(a, v) -> Tensor:
    """(n, k) @ (k,)."""
    return _checked(a, v, "mv", (2, 1))


def dot(a, b) -> Tensor:
    """The inner product of two 1-d tensors."""
    return _checked(a, b, "dot", (1, 1))


def outer(a, b) -> Tensor:
    """(n,) x (m,) -> (n, m): a[i] * b[j]."""
    from .shape import reshape

    a, b = as_tensor(a), as_tensor(b)
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"outer expects 1-d tensors, got shapes {a.shape} and {b.shape}")
    return reshape(a, (-1, 1)) * reshape(b, (1, -1))
