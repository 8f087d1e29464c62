"""The training curves the trainer writes (``OUT/curves.png``): loss and test accuracy per
epoch, side by side."""

from __future__ import annotations

import io

from .io import write_atomically


def plot_curves(history: list, path: str, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.5))
    left.plot(epochs, [h["train_loss"] for h in history], marker="o", ms=3)
    left.set_xlabel("epoch")
    left.set_ylabel("training loss")
    left.set_yscale("log")
    left.grid(alpha=0.3)
    right.plot(epochs, [100 * h["test_accuracy"] for h in history], marker="o", ms=3, color="C2")
    right.set_xlabel("epoch")
    right.set_ylabel("test accuracy (%)")
    right.grid(alpha=0.3)
    fig.suptitle(title)
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png", dpi=110)
    plt.close(fig)
    write_atomically(path, png.getvalue())
