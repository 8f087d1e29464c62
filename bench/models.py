"""The benchmark models and train step, written once for gpugrad and PyTorch.

gpugrad's ``nn``, ``functional`` and ``optim`` mirror torch's, so each builder takes the
library's modules and returns the same network for either: ``mlp(torch.nn)`` and
``mlp(gpugrad.nn)`` are the same 784-512-512-10 MLP.
"""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import numpy

MLP_WIDTHS = (784, 512, 512, 10)
INPUT_SHAPES = {"mlp": (MLP_WIDTHS[0],), "cnn": (1, 28, 28)}
NUM_CLASSES = 10


def mlp(nn, widths=MLP_WIDTHS, flatten: bool = False):
    """Linear layers of the given widths with a ReLU between each two (a Flatten first if
    asked)."""
    layers = [nn.Flatten()] if flatten else []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(widths)):
        if i:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


def cnn(nn):
    """The trainer's CNN on 28x28 images: conv-pool-conv-pool-linear."""
    return nn.Sequential(
        nn.Conv2d(1, 16, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * 7 * 7, NUM_CLASSES),
    )


BUILDERS = {"mlp": mlp, "cnn": cnn}


def library(name: str) -> SimpleNamespace:
    """torch or gpugrad as the few names the benchmarks use (``nn``, ``F``, ``optim``,
    ``tensor``, ``randn``, ``manual_seed``, ``synchronize``).  TF32 is off for torch."""
    if name == "torch":
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        lib, F, optim = torch, torch.nn.functional, torch.optim
    else:
        import gpugrad as lib
        import gpugrad.functional as F
        from gpugrad import optim
    return SimpleNamespace(
        name=name,
        module=lib,
        nn=lib.nn,
        F=F,
        optim=optim,
        tensor=lib.tensor,
        randn=lib.randn,
        manual_seed=lib.manual_seed,
        synchronize=lib.cuda.synchronize,
    )


def train_parts(lib: SimpleNamespace, kind: str, batch: int, device: str):
    """``(model, x, y, opt)`` of :func:`train_step`: the model of ``kind``, one batch and SGD
    with momentum."""
    lib.manual_seed(0)
    model = BUILDERS[kind](lib.nn).to(device)
    rng = numpy.random.default_rng(0)
    x = lib.tensor(
        rng.standard_normal((batch, *INPUT_SHAPES[kind]), dtype=numpy.float32), device=device
    )
    y = lib.tensor(rng.integers(0, NUM_CLASSES, batch), device=device)
    opt = lib.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    return model, x, y, opt


def train_step(lib: SimpleNamespace, kind: str, batch: int, device: str):
    """One train step of model ``kind`` as a function: forward, cross-entropy, backward, SGD
    with momentum.  The weights come from the library's generator seeded with 0; the batch
    (NumPy, seed 0) is the same for both libraries."""
    model, x, y, opt = train_parts(lib, kind, batch, device)

    def step():
        opt.zero_grad()
        lib.F.cross_entropy(model(x), y).backward()
        opt.step()

    return step
