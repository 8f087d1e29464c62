"""Elementwise unary ops (gpugrad/ops/unary.py): exp, log, sqrt, abs and clip against
PyTorch, over 0-d and empty tensors.  The activations (tanh, sigmoid, relu ...) are tested in
tests/ops/test_activation.py."""

import pytest
import torch
from opspec import UNARY_SHAPES, OpSpec, cases, check_op

SPECS = [
    OpSpec("exp", lambda a: a.exp(), torch.exp, UNARY_SHAPES),
    OpSpec("log", lambda a: a.log(), torch.log, UNARY_SHAPES, positive=True),
    OpSpec("sqrt", lambda a: a.sqrt(), torch.sqrt, UNARY_SHAPES, positive=True),
    OpSpec("abs", lambda a: a.abs(), torch.abs, UNARY_SHAPES, distinct=True),
    OpSpec("clip", lambda a: a.clip(-0.5, 0.7), lambda a: a.clamp(-0.5, 0.7), UNARY_SHAPES),
    OpSpec("clip_min", lambda a: a.clip(min=0.1), lambda a: a.clamp(min=0.1), UNARY_SHAPES),
]


@pytest.mark.parametrize("spec, dtype", cases(SPECS, float32=("exp",)))
def test_matches_torch(spec, dtype, device):
    check_op(spec, device, dtype)
