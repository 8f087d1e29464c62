"""A two-layer MLP on the shipped 8x8 digits, written as PyTorch code.

    EXAMPLE_LIB=gpugrad python examples/digits_mlp.py --epochs 10
    EXAMPLE_LIB=torch python examples/digits_mlp.py --epochs 10

Both runs print the same numbers when they start from the same weights
(``--save-init w.npz`` on one, ``--init w.npz`` on the other).
"""

import common

torch = common.library()  # the one line that differs from PyTorch: EXAMPLE_LIB=torch|gpugrad
nn = torch.nn


def build():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 64), nn.ReLU(), nn.Linear(64, 10))


def run(**kwargs):
    return common.run(torch, build, **kwargs)


if __name__ == "__main__":
    common.main(torch, build, __doc__)
