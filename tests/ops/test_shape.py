"""Shape ops (gpugrad/ops/shape.py): reshape, transpose, flatten, squeeze, unsqueeze and
broadcast_to against PyTorch; a reshape to the wrong size."""

import pytest
from opspec import OpSpec, cases, check_op

import gpugrad as gg

SPECS = [
    OpSpec(
        "reshape", lambda a: a.reshape(4, -1), lambda a: a.reshape(4, -1), [((2, 6),), ((4, 2, 2),)]
    ),
    OpSpec(
        "transpose",
        lambda a: a.transpose(),
        lambda a: a.permute(*reversed(range(a.ndim))),
        [((3, 4),), ((2, 3, 4),)],
    ),
    OpSpec(
        "transpose_axes",
        lambda a: a.transpose(1, 2, 0),
        lambda a: a.permute(1, 2, 0),
        [((2, 3, 4),)],
    ),
    OpSpec("T", lambda a: a.T, lambda a: a.T, [((3, 4),)]),
    OpSpec("flatten", lambda a: a.flatten(), lambda a: a.flatten(), [((2, 3, 4),), ((),)]),
    OpSpec("flatten_1", lambda a: a.flatten(1), lambda a: a.flatten(1), [((2, 3, 4),)]),
    OpSpec("squeeze", lambda a: a.squeeze(), lambda a: a.squeeze(), [((1, 3, 1),)]),
    OpSpec("squeeze_axis", lambda a: a.squeeze(0), lambda a: a.squeeze(0), [((1, 3, 1),)]),
    OpSpec("unsqueeze", lambda a: a.unsqueeze(-1), lambda a: a.unsqueeze(-1), [((3, 4),), ((),)]),
    OpSpec("unsqueeze_mid", lambda a: a.unsqueeze(1), lambda a: a.unsqueeze(1), [((3, 4),)]),
    OpSpec(
        "broadcast_to",
        lambda a: gg.broadcast_to(a, (2, 3, 4)),
        lambda a: a.broadcast_to((2, 3, 4)),
        [((3, 1),), ((4,),), ((),)],
    ),
]


@pytest.mark.parametrize("spec, dtype", cases(SPECS))
def test_matches_torch(spec, dtype, device):
    check_op(spec, device, dtype)


def test_reshape_to_the_wrong_size_raises(device):
    with pytest.raises(ValueError, match="reshape"):
        gg.zeros(2, 3, device=device).reshape(4, 2)
