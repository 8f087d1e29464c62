"""``nn.Softplus(beta=1.0, threshold=20.0)``, as torch's.

It is not the registry's module (``nn.activation.Softplus``, which takes no parameter):
``nn.Sequential`` fuses a Linear or Conv2d with the activation after it by the activation's
TYPE (``nn/container.py``), and a fused softplus has beta 1 and threshold 20, so a module
that may carry other values must be of another type.  The defaults still run the fused
registry kernel inside ``F.softplus``; only the Linear + Softplus fusion is given up."""

from __future__ import annotations

from .. import functional as F
from .module import Module


class Softplus(Module):
    """log(1 + exp(beta·x)) / beta, and x where beta·x > threshold."""

    def __init__(self, beta: float = 1.0, threshold: float = 20.0):
        super().__init__()
        self.beta, self.threshold = beta, threshold

    def forward(self, x):
        return F.softplus(x, self.beta, self.threshold)

    def extra_repr(self):
        return f"beta={self.beta}, threshold={self.threshold}"
