"""The examples run unchanged on torch and on gpugrad and give the same numbers.

Each example file is loaded twice, with ``EXAMPLE_LIB=torch`` and ``EXAMPLE_LIB=gpugrad``.
torch's run draws the initial weights (and, for the two-layer net, the data); gpugrad's
run starts from a copy of them.  Both run in float64, so the only differences are
rounding in a different order of summation (about 1e-16 per operation); over the few
dozen steps here they stay far below the 1e-9 relative tolerance on the losses, and the
test accuracies (counts of argmax hits) are equal.
"""

import importlib.util
import itertools
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load(name, lib, monkeypatch):
    """examples/<name>.py imported with EXAMPLE_LIB=lib, as its own module."""
    monkeypatch.setenv("EXAMPLE_LIB", lib)
    monkeypatch.syspath_prepend(str(EXAMPLES))
    spec = importlib.util.spec_from_file_location(f"{name}_{lib}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.torch.__name__ == lib
    return module


@pytest.mark.parametrize("name, epochs", [("digits_mlp", 2), ("digits_cnn", 3)])
def test_digits_example_matches_torch(name, epochs, monkeypatch):
    settings = {"epochs": epochs, "dtype": "float64", "log": lambda line: None}
    want = load(name, "torch", monkeypatch).run(**settings)
    got = load(name, "gpugrad", monkeypatch).run(init=want["init"], **settings)
    assert list(got["init"]) == list(want["init"])  # the same state_dict keys, in order
    np.testing.assert_allclose(got["losses"], want["losses"], rtol=1e-9)
    assert got["accuracy"] == want["accuracy"]
    assert want["accuracy"] > 0.6  # it learns


def test_two_layer_net_matches_torch(monkeypatch):
    reference = load("two_layer_net", "torch", monkeypatch)
    init = {k: v.numpy() for k, v in reference.initial(dtype=reference.torch.float64).items()}
    want = reference.train(steps=40, log_every=0, init=init)
    got = load("two_layer_net", "gpugrad", monkeypatch).train(steps=40, log_every=0, init=init)
    np.testing.assert_allclose(got, want, rtol=1e-9)


def test_two_layer_net_loss_falls(device, monkeypatch):
    """On gpugrad (and on CUDA when present) the loss falls as in the notes."""
    losses = load("two_layer_net", "gpugrad", monkeypatch).train(
        steps=60, device=device, log_every=0
    )
    assert losses[-1] < losses[0] / 20
    assert all(b <= a * 1.5 for a, b in itertools.pairwise(losses))  # no blow-up
