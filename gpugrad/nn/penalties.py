"""Regularization penalties R(W) from the notes, added to the data loss:
L1 = Σ|w|, L2 = Σw² (no ½), elastic net = l1·Σ|w| + l2·Σw²."""

from __future__ import annotations

from ..ops import reduce


def _params(params):
    params = list(params)
    if not params:
        raise ValueError("penalty of an empty parameter list")
    return params


def l1_penalty(params):
    ps = _params(params)
    return sum((reduce.sum(p.abs()) for p in ps[1:]), reduce.sum(ps[0].abs()))


def l2_penalty(params):
    ps = _params(params)
    return sum((reduce.sum(p * p) for p in ps[1:]), reduce.sum(ps[0] * ps[0]))


def elastic_net_penalty(params, l1: float, l2: float):
    ps = _params(params)
    return l1_penalty(ps) * l1 + l2_penalty(ps) * l2
