"""gg.matmul and ``@`` (gpugrad/ops/matmul.py) against PyTorch: matrices, vectors and
broadcast batches; mismatched inner sizes."""

import pytest
import torch
from opspec import OpSpec, cases, check_op

import gpugrad as gg

SPECS = [
    OpSpec("matmul_2d", gg.matmul, torch.matmul, [((3, 4), (4, 5))]),
    OpSpec("matmul_vec_mat", gg.matmul, torch.matmul, [((4,), (4, 5))]),
    OpSpec("matmul_mat_vec", gg.matmul, torch.matmul, [((3, 4), (4,))]),
    OpSpec("matmul_vec_vec", gg.matmul, torch.matmul, [((4,), (4,))]),
    OpSpec(
        "matmul_batched",
        lambda a, b: a @ b,
        torch.matmul,
        [
            ((2, 3, 4), (2, 4, 5)),
            ((2, 3, 4), (4, 5)),
            ((3, 4), (2, 4, 5)),
            ((2, 1, 3, 4), (3, 4, 2)),
            ((4,), (2, 4, 5)),
        ],
    ),
]


@pytest.mark.parametrize("spec, dtype", cases(SPECS, float32=("matmul_2d",)))
def test_matches_torch(spec, dtype, device):
    check_op(spec, device, dtype)


def test_inner_size_mismatch_names_both_shapes(device):
    with pytest.raises(ValueError, match=r"\(2, 3\).*\(4, 2\)"):
        gg.zeros(2, 3, device=device) @ gg.zeros(4, 2, device=device)
