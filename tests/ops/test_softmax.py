"""softmax, log_softmax and logsumexp (gpugrad/ops/softmax.py) against PyTorch, including
logsumexp over large values and over all axes."""

import pytest
import torch
from opspec import REDUCE_SHAPES, OpSpec, cases, check_op

import gpugrad as gg
import gpugrad.functional as F

SPECS = [
    OpSpec("softmax", lambda x: F.softmax(x, axis=1), lambda x: torch.softmax(x, 1), [((3, 5),)]),
    OpSpec(
        "log_softmax", F.log_softmax, lambda x: torch.log_softmax(x, -1), [((3, 5),), ((2, 3, 4),)]
    ),
    OpSpec(
        "logsumexp",
        lambda a: gg.logsumexp(a, axis=-1),
        lambda a: torch.logsumexp(a, dim=-1),
        REDUCE_SHAPES,
        domain=(-30, 30),
    ),
    OpSpec(
        "logsumexp_all",
        lambda a: a.logsumexp(),
        lambda a: torch.logsumexp(a.reshape(-1), 0),
        REDUCE_SHAPES,
    ),
]


@pytest.mark.parametrize("spec, dtype", cases(SPECS))
def test_matches_torch(spec, dtype, device):
    check_op(spec, device, dtype)
