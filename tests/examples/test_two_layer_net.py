"""The notes' two-layer network example runs and its loss falls as in the notes."""

import importlib.util
import itertools
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "two_layer_net.py"


def test_two_layer_net_loss_falls(device):
    spec = importlib.util.spec_from_file_location("two_layer_net", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    losses = module.train(steps=60, device=device, log_every=0)
    assert losses[-1] < losses[0] / 20
    assert all(b <= a * 1.5 for a, b in itertools.pairwise(losses))  # no blow-up
