"""``einsum(equation, *operands)``: Einstein summation.  The gradient of each operand is
itself an einsum of the upstream gradient and the other operands (a summed-out index
that appears in no other term is broadcast back by the engine's ``sum_to`` after an
expansion)."""

from __future__ import annotations

from .. import backend
from ..autograd.engine import Function
from ..creation import as_tensor
from ..tensor import Tensor
from .promotion import promote_all


def _parse(equation: str, ndims) -> tuple:
    """(input subscripts, output subscripts) with ``...`` expanded and the output implied
    (sorted indices that appear once) when no ``->`` is given."""
    equation = equation.replace(" ", "")
    lhs, arrow, rhs = equation.partition("->")
    terms = lhs.split(",")
    if len(terms) != len(ndims):
        raise ValueError(f"einsum: {len(terms)} terms for {len(ndims)} operands")
    spare = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in equation]
    width = max(
        (n - len(t.replace("...", "")) for t, n in zip(terms, ndims) if "..." in t), default=0
    )
    ell = "".join(spare[:width])
    out_terms = [
        t.replace("...", ell[len(ell) - (n - len(t) + 3) :]) if "..." in t else t
        for t, n in zip(terms, ndims)
    ]
    if arrow:
        out = rhs.replace("...", ell)
    else:
        letters = "".join(out_terms)
        out = ell + "".join(
            sorted(c for c in set(letters) if letters.count(c) == 1 and c not in ell)
        )
    return out_terms, out


class Einsum(Function):
    def __init__(self, terms, out):
        self.terms, self.out = terms, out
        self.save_inputs = tuple(range(len(terms)))

    def forward(self, *xs):
        self.shapes = [x.shape for x in xs]
        spec = ",".join(self.terms) + "->" + self.out
        return backend.get_array_module(xs[0]).einsum(spec, *xs)

    def backward(self, ns, gy, *xs):
        grads = []
        for i, (term, need) in enumerate(zip(self.terms, self.needs_grad)):
            if not need:
                grads.append(None)
                continue
            others = [(t, x) for j, (t, x) in enumerate(zip(self.terms, xs)) if j != i]
            # Indices of x_i that appear in neither gy nor the others: the forward summed
            # them out alone, so their gradient is gy's broadcast along them.
            known = set(self.out).union(*[set(t) for t, _ in others])
            lone = [c for c in dict.fromkeys(term) if c not in known]
            target = "".join(c if c not in lone else "" for c in term)
            g = ns.apply(
                Einsum([self.out] + [t for t, _ in others], target), gy, *[x for _, x in others]
            )
            if lone:
                g = ns.apply(_Place(term, target, self.shapes[i]), g)
            grads.append(g)
        return tuple(grads)


class _Place(Function):
    """A gradient over ``target``'s indices broadcast into x's shape (``term``) along the
    indices the forward summed out alone."""

    def __init__(self, term, target, shape):
        self.term, self.target, self.shape = term, target, shape

    def forward(self, g):
        xp = backend.get_array_module(g)
        order = list(self.target) + [c for c in self.term if c not in self.target]
        for _ in range(len(self.term) - len(self.target)):
            g = xp.expand_dims(g, -1)
        g = xp.transpose(g, [order.index(c) for c in self.term])
        return xp.ascontiguousarray(xp.broadcast_to(g, self.shape))

    def backward(self, ns, gy):
        return ns.apply(Einsum([self.term], self.target), gy)


def einsum(equation: str, *operands) -> Tensor:
    """``einsum("ij,jk->ik", a, b)`` as NumPy's and PyTorch's (operands may be one list)."""
    if len(operands) == 1 and isinstance(operands[0], (list, tuple)):
        operands = tuple(operands[0])
    ts = promote_all([as_tensor(t) for t in operands], "einsum")
    terms, out = _parse(equation, [t.ndim for t in ts])
    if any(len(set(t)) != len(t) for t in terms) and any(t.requires_grad for t in ts):
        raise NotImplementedError("einsum: gradients through a repeated index (a diagonal)")
    return Einsum(terms, out)(*ts)
