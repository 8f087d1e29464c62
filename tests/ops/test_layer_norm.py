"""F.layer_norm (gpugrad/ops/layer_norm.py) and nn.LayerNorm against PyTorch."""

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from opspec import OpSpec, cases, check_op

import gpugrad as gg
import gpugrad.functional as F
from gpugrad import nn

SPECS = [
    OpSpec(
        "layer_norm_affine",
        lambda x, w, b: F.layer_norm(x, (4,), w, b),
        lambda x, w, b: TF.layer_norm(x, (4,), w, b),
        [((3, 4), (4,), (4,)), ((2, 3, 4), (4,), (4,))],
    ),
    OpSpec(
        "layer_norm_2d",
        lambda x, w: F.layer_norm(x, (3, 4), w, eps=1e-3),
        lambda x, w: TF.layer_norm(x, (3, 4), w, eps=1e-3),
        [((2, 3, 4), (3, 4))],
    ),
    OpSpec(
        "layer_norm_plain",
        lambda x: F.layer_norm(x, 5),
        lambda x: TF.layer_norm(x, (5,)),
        [((2, 5),)],
    ),
]


@pytest.mark.parametrize("spec, dtype", cases(SPECS, float32=("layer_norm_affine",)))
def test_matches_torch(spec, dtype, device):
    check_op(spec, device, dtype)


def test_module_loads_torch_state_and_matches():
    theirs = torch.nn.LayerNorm((2, 3), eps=1e-4)
    with torch.no_grad():
        theirs.weight.uniform_(), theirs.bias.uniform_()
    ours = nn.LayerNorm((2, 3), eps=1e-4)
    ours.load_state_dict(theirs.state_dict())
    assert repr(ours) == repr(theirs)
    assert repr(nn.LayerNorm(4, elementwise_affine=False)) == repr(
        torch.nn.LayerNorm(4, elementwise_affine=False)
    )
    assert list(nn.LayerNorm(4, bias=False).state_dict()) == ["weight"]
    x = np.random.default_rng(0).normal(size=(4, 2, 3)).astype(np.float32)
    np.testing.assert_allclose(
        ours(gg.tensor(x)).numpy(), theirs(torch.tensor(x)).detach(), rtol=1e-5, atol=1e-6
    )


def test_shape_mismatch_is_an_error():
    with pytest.raises(ValueError, match="normalized_shape"):
        F.layer_norm(gg.ones(2, 3), (4,))
