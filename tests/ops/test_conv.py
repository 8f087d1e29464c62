"""F.conv2d (gpugrad/ops/conv.py, through im2col) against PyTorch, over strides, paddings
and kernel sizes."""

import pytest
import torch.nn.functional as TF
from opspec import OpSpec, cases, check_op

import gpugrad.functional as F

SPECS = [
    OpSpec(
        f"conv2d_s{stride}_p{padding}_k{k}",
        lambda x, w, b, s=stride, p=padding: F.conv2d(x, w, b, stride=s, padding=p),
        lambda x, w, b, s=stride, p=padding: TF.conv2d(x, w, b, stride=s, padding=p),
        [((2, 3, 7, 6), (4, 3, k, k), (4,))],
    )
    for stride, padding, k in [(1, 0, 3), (2, 1, 3), (1, 2, 2), (3, 0, 1)]
]


@pytest.mark.parametrize("spec, dtype", cases(SPECS, float32=("conv2d_s2_p1_k3",)))
def test_matches_torch(spec, dtype, device):
    check_op(spec, device, dtype)


# -- padding 'same'/'valid', asymmetric 'same', dilation and groups --------------------------
OPTION_CASES = [
    ("same_k3", (2, 3, 6, 5), (4, 3, 3, 3), dict(padding="same")),
    ("same_k4_dilated", (1, 2, 7, 6), (3, 2, 4, 2), dict(padding="same", dilation=(2, 1))),
    ("valid", (1, 2, 5, 5), (3, 2, 2, 3), dict(padding="valid")),
    ("dilation", (2, 2, 9, 8), (3, 2, 3, 3), dict(dilation=2, stride=2, padding=(1, 2))),
    ("groups", (2, 4, 6, 6), (6, 2, 3, 3), dict(groups=2, padding=1)),
    ("depthwise", (1, 3, 5, 5), (3, 1, 3, 3), dict(groups=3, stride=(1, 2))),
]
OPTION_SPECS = [
    OpSpec(
        f"conv2d_{name}",
        lambda x, w, b, kw=kw: F.conv2d(x, w, b, **kw),
        lambda x, w, b, kw=kw: TF.conv2d(x, w, b, **kw),
        [(x_shape, w_shape, (w_shape[0],))],
    )
    for name, x_shape, w_shape, kw in OPTION_CASES
]


@pytest.mark.parametrize("spec, dtype", cases(OPTION_SPECS, float32=("conv2d_groups",)))
def test_conv_options_match_torch(spec, dtype, device):
    check_op(spec, device, dtype)


def test_same_rejects_strides():
    import gpugrad as gg

    with pytest.raises(ValueError, match="same"):
        F.conv2d(gg.ones(1, 1, 4, 4), gg.ones(1, 1, 3, 3), padding="same", stride=2)
