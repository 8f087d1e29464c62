"""``linear(x, W, b)``: y = x @ W.T + b, one node instead of three (transpose, matmul,
add) — the hot path of every MLP.  x: (..., in), W: (out, in), b: (out,) -> (..., out)."""

from __future__ import annotations

from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor
from .arithmetic import check_same

__all__ = ["linear"]


class LinearFunction(Function):
    """y = x @ W.T + b.  x: (..., in), W: (out, in), b: (out,) -> (..., out).
    One node instead of three (transpose, matmul, add): the hot path of every MLP."""

    name, symbol = "Linear", "linear"  # as errors and explain show it
    save_inputs = (0, 1)

    def forward(self, x, W, b=None):
        y = x @ W.T
        if b is not None:
            y += b  # in place: y is ours
        return y

    def backward(self, ns, gy, x, W):
        needs = self.needs_grad
        gx = ns.matmul(gy, W) if needs[0] else None
        g2 = ns.reshape(gy, (-1, gy.shape[-1])) if gy.ndim != 2 else gy
        gW = (
            ns.matmul(ns.transpose(g2), ns.reshape(x, (-1, x.shape[-1])) if x.ndim != 2 else x)
            if needs[1]
            else None
        )
        if len(needs) == 2:
            return gx, gW
        return gx, gW, (ns.sum(g2, axis=0) if needs[2] else None)


def linear(x, W, b=None) -> Tensor:
    x = as_tensor(x)
    W = as_tensor(W, like=x)
    check_same(x, W, "linear")
    if W.ndim != 2 or x.ndim < 1 or x.shape[-1] != W.shape[1]:
        raise ValueError(
            f"linear: input of shape {x.shape} does not match weight of shape "
            f"{W.shape} (out_features, in_features)"
        )
    if b is None:
        return LinearFunction()(x, W)
    b = as_tensor(b, like=x)
    check_same(x, b, "linear")
    if b.shape != (W.shape[0],):
        raise ValueError(f"linear: bias of shape {b.shape}, expected ({W.shape[0]},)")
    return LinearFunction()(x, W, b)
