"""What the digits examples share, written in PyTorch spelling: the library choice, the
data, initial weights in and out, and the training loop.

``EXAMPLE_LIB=torch|gpugrad`` picks the library (gpugrad by default); every example runs
the same code on either, so their numbers can be compared from the same initial weights.
"""

from __future__ import annotations

import argparse
import importlib
import os
from pathlib import Path

import numpy as np

DIGITS = Path(__file__).resolve().parents[1] / "gpugrad" / "data_files" / "digits.npz"
LIBRARIES = ("gpugrad", "torch")


def library():
    """The module named by ``EXAMPLE_LIB`` (``torch`` or ``gpugrad``), imported."""
    name = os.environ.get("EXAMPLE_LIB", "gpugrad")
    if name not in LIBRARIES:
        raise SystemExit(f"EXAMPLE_LIB must be one of {', '.join(LIBRARIES)}, got {name!r}")
    return importlib.import_module(name)


def load_digits(seed: int = 0, test_fraction: float = 0.2):
    """The shipped 8x8 digits as NumPy: x (N, 1, 8, 8) float64 in [0, 1], labels int64,
    split by a seeded permutation into (x_train, y_train, x_test, y_test)."""
    with np.load(DIGITS) as archive:
        images, labels = archive["images"], archive["labels"].astype(np.int64)
    x = (images / 16.0)[:, None, :, :]
    order = np.random.default_rng(seed).permutation(len(x))
    test, train = np.split(order, [round(len(x) * test_fraction)])
    return x[train], labels[train], x[test], labels[test]


def weights(model) -> dict:
    """The model's state as NumPy arrays (the same for either library)."""
    return {k: v.detach().cpu().numpy().copy() for k, v in model.state_dict().items()}


def fit(torch, model, data, epochs: int, batch_size: int, lr: float, dtype, seed: int, log):
    """SGD with momentum on cross-entropy, batches in a seeded NumPy order; after each
    epoch the test accuracy.  Returns (losses per step, final test accuracy)."""
    x_train, y_train, x_test, y_test = data
    x_train, x_test = torch.tensor(x_train).to(dtype), torch.tensor(x_test).to(dtype)
    y_train, y_test = torch.tensor(y_train), torch.tensor(y_test)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    criterion = torch.nn.CrossEntropyLoss()
    rng = np.random.default_rng(seed)
    losses, accuracy = [], 0.0
    for epoch in range(epochs):
        model.train()
        order = rng.permutation(x_train.size(0))
        for start in range(0, len(order), batch_size):
            idx = torch.tensor(order[start : start + batch_size])
            optimizer.zero_grad()
            loss = criterion(model(x_train[idx]), y_train[idx])
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        model.eval()
        with torch.no_grad():
            _, pred = model(x_test).max(1)
            accuracy = (pred == y_test).float().mean().item()
        log(f"epoch {epoch}  loss {losses[-1]:.4f}  test accuracy {accuracy:.3f}")
    return losses, accuracy


def run(
    torch, build, epochs=3, batch_size=64, lr=0.05, dtype="float32", init=None, seed=0, log=print
):
    """Build the model (seeded, or from ``init``: name -> array), train it on the digits.
    Returns {"init": the initial weights, "losses": [...], "accuracy": float}."""
    torch.manual_seed(seed)
    dtype = getattr(torch, dtype)
    model = build().to(dtype)
    if init is not None:
        model.load_state_dict({k: torch.tensor(v) for k, v in init.items()})
    start = weights(model)
    losses, accuracy = fit(torch, model, load_digits(), epochs, batch_size, lr, dtype, seed, log)
    return {"init": start, "losses": losses, "accuracy": accuracy}


def main(torch, build, doc: str) -> None:
    """The command line of a digits example."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    p.add_argument("--epochs", type=int, default=10)
    p.add_argument("--lr", type=float, default=0.05)
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32")
    p.add_argument("--init", help="start from these weights (.npz, as --save-init writes)")
    p.add_argument("--save-init", help="write the initial weights here (.npz)")
    args = p.parse_args()
    init = dict(np.load(args.init)) if args.init else None
    result = run(torch, build, args.epochs, lr=args.lr, dtype=args.dtype, init=init)
    if args.save_init:
        np.savez(args.save_init, **result["init"])
    loss, accuracy = result["losses"][-1], result["accuracy"]
    print(f"{torch.__name__}: final loss {loss:.6f}, test accuracy {accuracy:.4f}")
