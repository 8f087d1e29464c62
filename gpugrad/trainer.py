"""``python -m gpugrad train``: train a small network, keep the whole minibatch on the device.

Writes ``DIR/metrics.json``, ``DIR/curves.png`` and ``DIR/model.ggt``, the checkpoint
(model, optimizer, epoch, history, settings) that ``--resume`` continues with the same
settings; each epoch's order depends only on (seed, epoch), so a resumed run ends as an
uninterrupted one.  Bad input: one line, exit code 2, nothing written; a NaN/Inf loss
stops the run at the first read, exit code 1, keeping the last checkpoint.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy

from . import backend, data, functional as F, nn, optim
from .autograd import no_grad
from .cli import parse_args
from .compile import compile as compile_step
from .curves import plot_curves
from .host_memory import keep_freed_memory
from .io import write_json as _write_json
from .random import get_rng_state, manual_seed, set_rng_state

CHECKPOINT = "model.ggt"
REPORT_EVERY = 10  # steps between reads of the loss (each read synchronizes a GPU)
# What defines a run: a resumed run takes these from its checkpoint (lr None: by optimizer).
SETTINGS = {"data": "digits", "model": "mlp", "optimizer": "adam", "lr": None}
SETTINGS.update(batch_size=32, seed=0)


class UsageError(Exception):
    """Bad input: reported as one line, exit code 2."""


class Diverged(Exception):
    """The loss became NaN or Inf: reported as one line, exit code 1."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m gpugrad train", description="Train a small network with gpugrad."
    )
    # The run's settings default to None, so that --resume can tell which were given.
    p.add_argument("--data", help="digits | spiral | idx:DIR (default digits)")
    p.add_argument("--model", choices=["mlp", "cnn"], help="(default mlp)")
    p.add_argument("--epochs", type=int, default=60)
    p.add_argument("--batch-size", type=int, help="(default 32)")
    p.add_argument(
        "--lr",
        type=float,
        default=None,
        help="learning rate (default 0.001 for adam, 0.05 for sgd)",
    )
    p.add_argument("--optimizer", choices=["adam", "sgd"], help="(default adam)")
    p.add_argument(
        "--device", default=None, help="cpu | cuda | cuda:N (default: the best available)"
    )
    p.add_argument("--out", default=os.path.join("runs", "latest"), help="output directory")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue from OUT/model.ggt, with its data, model, optimizer, lr, batch size, seed",
    )
    p.add_argument("--seed", type=int, help="(default 0)")
    p.add_argument(
        "--distributed",
        action="store_true",
        help="data-parallel over MPI ranks (launch with mpiexec)",
    )
    p.add_argument(
        "--compile",
        action="store_true",
        help="record the train step once and replay it (gg.compile): same numbers, less overhead",
    )
    p.add_argument(
        "--cuda-graph",
        action="store_true",
        help="with --compile on a GPU: capture the step as one CUDA graph, launched once per "
        "step (gg.compile(cuda_graph=True); not yet run on a GPU); no effect on the CPU",
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    return p


def build_model(kind: str, input_shape: tuple, num_classes: int, device) -> nn.Module:
    if kind == "mlp":
        features = int(numpy.prod(input_shape))
        return nn.Sequential(
            nn.Flatten(),
            nn.Linear(features, 256, device=device),
            nn.ReLU(),
            nn.Linear(256, num_classes, device=device),
        )
    if len(input_shape) != 3:
        raise UsageError(
            f"--model cnn needs image data (C, H, W), this data has shape {input_shape}"
        )
    c, h, w = input_shape
    if h % 4 or w % 4:
        raise UsageError(f"--model cnn needs images whose sides divide by 4, got {h}x{w}")
    return nn.Sequential(
        nn.Conv2d(c, 16, 3, padding=1, device=device),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3, padding=1, device=device),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(32 * (h // 4) * (w // 4), num_classes, device=device),
    )


def evaluate(model, loader) -> float:
    """Accuracy over a loader; one host read at the end."""
    model.eval()
    correct = None
    with no_grad():
        for x, y in loader:
            hits = (model(x).argmax(axis=1) == y).sum()
            correct = hits if correct is None else correct + hits
    model.train()
    return float(correct.item()) / loader.num_samples if correct is not None else 0.0


def _validate(args):
    if args.epochs < 1:
        raise UsageError(f"--epochs must be at least 1, got {args.epochs}")
    if args.compile and args.distributed:
        raise UsageError("--compile does not support --distributed yet (the gradient sync)")
    if args.cuda_graph and not args.compile:
        raise UsageError("--cuda-graph captures the compiled step: add --compile")
    if args.batch_size is not None and args.batch_size < 1:
        raise UsageError(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.lr is not None and not args.lr > 0:
        raise UsageError(f"--lr must be positive, got {args.lr}")
    if args.seed is not None and args.seed < 0:
        raise UsageError(f"--seed must be non-negative, got {args.seed}")
    if os.path.exists(args.out) and not os.path.isdir(args.out):
        raise UsageError(f"--out {args.out} is a file; name a folder")


def _settle(args, saved: dict) -> str:
    """Fill the run's settings: the checkpoint's (``saved``, its args) first, then the
    defaults.  Returns a note naming the given settings the checkpoint overrode, or ''."""
    overridden = []
    for name in SETTINGS:
        given, kept = getattr(args, name), saved.get(name)
        if kept is None:
            continue
        if given is not None and given != kept:
            overridden.append(f"--{name.replace('_', '-')} {kept} (not {given})")
        setattr(args, name, kept)
    for name, default in SETTINGS.items():
        if getattr(args, name) is None:
            setattr(args, name, default)
    if args.lr is None:
        args.lr = 0.001 if args.optimizer == "adam" else 0.05
    if not overridden:
        return ""
    return "--resume continues the checkpoint's run: " + ", ".join(overridden)


def _check_finite(loss: float, where: str) -> None:
    if not math.isfinite(loss):
        raise Diverged(f"the loss is {loss} at {where}; the run diverged (try a smaller --lr)")


def _kept(history: list, ckpt_path: str) -> str:
    if not history:
        return "no checkpoint was written"
    return f"the checkpoint of epoch {len(history)} is in {ckpt_path} (continue with --resume)"


def _load_checkpoint(path: str, dev) -> dict:
    from . import io

    if not os.path.isfile(path):
        raise UsageError(f"--resume: no checkpoint at {path}")
    try:
        return io.load(path, device=dev)
    except ValueError as e:
        raise UsageError(f"--resume: {e}") from None


def _device(spec, distributed: bool):
    """--device; under --distributed ``cuda`` is this rank's GPU (distributed.init's choice)."""
    rank_gpu = distributed and spec is not None and spec.strip().lower() in ("cuda", "gpu")
    return backend.default_device() if spec is None or rank_gpu else backend.device(spec)


def run(args) -> dict:
    """Train as ``args`` says; returns the metrics (also written to OUT/metrics.json)."""
    _validate(args)
    dist = None
    if args.distributed:
        from . import distributed as dist

        try:
            dist.init()  # first: it picks this rank's GPU
        except ImportError as e:
            raise UsageError(str(e)) from None
    try:
        dev = _device(args.device, distributed=dist is not None)
    except (ValueError, RuntimeError, TypeError) as e:
        raise UsageError(str(e)) from None
    rank, world = (dist.get_rank(), dist.get_world_size()) if dist is not None else (0, 1)
    out = args.out
    ckpt_path = os.path.join(out, CHECKPOINT)
    ckpt = _load_checkpoint(ckpt_path, dev) if args.resume else {}
    note = _settle(args, ckpt.get("args", {}))
    if note and rank == 0:
        print(f"gpugrad train: note: {note}", file=sys.stderr)
    try:
        dataset = data.load(args.data, seed=args.seed).standardized()
    except (ValueError, FileNotFoundError) as e:
        raise UsageError(str(e)) from None
    if args.batch_size % world:
        raise UsageError(f"--batch-size {args.batch_size} does not split over {world} ranks")
    local_batch = args.batch_size // world

    manual_seed(args.seed)
    model = build_model(args.model, dataset.input_shape, dataset.num_classes, dev)
    opt = (
        optim.Adam(model.parameters(), lr=args.lr)
        if args.optimizer == "adam"
        else optim.SGD(model.parameters(), lr=args.lr, momentum=0.9)
    )
    history, start_epoch = [], 0
    if args.resume:
        try:
            model.load_state_dict(ckpt["model"])
            opt.load_state_dict(ckpt["optimizer"])
        except (KeyError, ValueError, TypeError) as e:
            raise UsageError(f"--resume: checkpoint does not fit the model: {e}") from None
        history, start_epoch = list(ckpt["history"]), int(ckpt["epoch"])
        if "cpu" in ckpt.get("rng", {}):  # checkpoints from before any draw have none
            set_rng_state(json.loads(ckpt["rng"]["cpu"]))
        if start_epoch >= args.epochs:
            raise UsageError(
                f"--resume: the checkpoint already has {start_epoch} epochs; "
                f"ask for more with --epochs"
            )
    is_main = rank == 0
    if is_main:
        try:
            os.makedirs(out, exist_ok=True)
        except OSError as e:
            raise UsageError(f"--out {out}: {e.strerror}") from None

    train_loader = data.DataLoader(
        dataset.x_train,
        dataset.y_train,
        local_batch,
        shuffle=True,
        device=dev,
        seed=args.seed,
        rank=rank,
        world_size=world,
    )
    test_loader = data.DataLoader(dataset.x_test, dataset.y_test, 512, shuffle=False, device=dev)
    trainer = dist.DataParallel(model) if dist is not None else None  # broadcasts rank 0's weights

    def save_checkpoint(epoch):
        if not is_main:
            return
        from . import io

        io.save(
            {
                "model": model.state_dict(),
                "optimizer": opt.state_dict(),
                "epoch": epoch,
                "history": history,
                "rng": {"cpu": json.dumps(get_rng_state())},
                "args": {k: v for k, v in vars(args).items() if k != "resume"},
            },
            ckpt_path,
        )

    def train_step(x, y):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        if trainer is not None:
            trainer.sync_gradients()
        opt.step()
        return loss

    if args.compile:  # recorded on its second call, replayed from the third
        train_step = compile_step(train_step, cuda_graph=args.cuda_graph)

    from tqdm import tqdm

    steps_per_epoch = len(train_loader)
    bar = tqdm(
        total=(args.epochs - start_epoch) * steps_per_epoch,
        unit="step",
        disable=args.no_progress or not is_main,
        file=sys.stderr,
        dynamic_ncols=True,
        desc=f"{args.model} on {args.data} ({dev})",
    )
    wall = time.perf_counter()
    epoch = start_epoch
    try:
        for epoch in range(start_epoch, args.epochs):
            train_loader.set_epoch(epoch)
            started = time.perf_counter()
            total_loss = None
            for step, (x, y) in enumerate(train_loader):
                loss = train_step(x, y)
                total_loss = loss.detach() if total_loss is None else total_loss + loss.detach()
                bar.update(1)
                if step % REPORT_EVERY == 0:  # the only host reads of the step loop
                    value = loss.item()
                    _check_finite(value, f"epoch {epoch + 1}, step {step + 1}/{steps_per_epoch}")
                    bar.set_postfix(loss=f"{value:.4f}", refresh=False)
            seconds = time.perf_counter() - started
            train_loss = total_loss.item() / steps_per_epoch
            _check_finite(train_loss, f"epoch {epoch + 1} (its mean training loss)")
            accuracy = evaluate(model, test_loader)
            history.append(
                {
                    "epoch": epoch + 1,
                    "train_loss": train_loss,
                    "test_accuracy": accuracy,
                    "seconds": seconds,
                    "samples_per_second": train_loader.num_samples * world / seconds,
                }
            )
            bar.set_postfix(
                loss=f"{train_loss:.4f}",
                acc=f"{accuracy:.3f}",
                samples_s=f"{history[-1]['samples_per_second']:.0f}",
            )
            save_checkpoint(epoch + 1)
    except Diverged as e:
        bar.close()
        raise Diverged(f"{e}; {_kept(history, ckpt_path)}") from None
    except KeyboardInterrupt:
        bar.close()
        if is_main:
            print(
                f"\ninterrupted during epoch {epoch + 1}; {_kept(history, ckpt_path)}",
                file=sys.stderr,
            )
        raise
    bar.close()
    metrics = {
        "test_accuracy": history[-1]["test_accuracy"],
        "epochs": history,
        "device": str(dev),
        "model": args.model,
        "data": args.data,
        "seed": args.seed,
        "optimizer": args.optimizer,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "world_size": world,
        "wall_seconds": time.perf_counter() - wall,
        "resumed_from_epoch": start_epoch if args.resume else None,
    }
    if is_main:
        _write_json(os.path.join(out, "metrics.json"), metrics)
        plot_curves(
            history,
            os.path.join(out, "curves.png"),
            f"gpugrad: {args.model} on {args.data} ({dev})",
        )
        print(
            f"test accuracy {metrics['test_accuracy']:.4f} after {len(history)} epochs "
            f"({metrics['wall_seconds']:.1f} s on {dev}); wrote {out}/metrics.json, "
            f"curves.png, {CHECKPOINT}"
        )
    return metrics


def main(argv=None) -> int:
    args = parse_args(build_parser(), argv)
    if isinstance(args, int):  # --help, or argparse printed its one-line usage error
        return args
    keep_freed_memory()  # this process is the trainer's: reuse freed host memory, no faults
    try:
        with numpy.errstate(over="ignore", invalid="ignore"):  # a divergence is told once
            run(args)
    except UsageError as e:
        print(f"gpugrad train: error: {e}", file=sys.stderr)
        return 2
    except Diverged as e:
        print(f"gpugrad train: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
