"""The main job: short runs, the files it writes, exact resume, and bad input."""

import json
import os
import subprocess
import sys

import pytest

from gpugrad import backend, cli


def train(*args):
    return cli.main(["train", "--no-progress", *args])


def test_spiral_run_writes_the_three_files(tmp_path):
    out = tmp_path / "run"
    assert train("--data", "spiral", "--epochs", "3", "--lr", "0.01", "--out", str(out)) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert len(metrics["epochs"]) == 3
    assert {"test_accuracy", "epochs", "device", "model", "data", "seed", "wall_seconds"} <= set(
        metrics
    )
    assert metrics["data"] == "spiral" and metrics["device"] == str(backend.default_device())
    assert 0 <= metrics["test_accuracy"] <= 1
    assert (out / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (out / "model.ggt").stat().st_size > 0


def test_digits_mlp_learns(tmp_path):
    out = tmp_path / "run"
    assert train("--epochs", "8", "--out", str(out)) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.93
    losses = [e["train_loss"] for e in metrics["epochs"]]
    assert losses[-1] < losses[0] / 5


def test_digits_cnn_runs(tmp_path):
    out = tmp_path / "run"
    assert train("--model", "cnn", "--epochs", "2", "--out", str(out)) == 0
    assert json.loads((out / "metrics.json").read_text())["test_accuracy"] > 0.6


def test_resume_matches_an_uninterrupted_run(tmp_path):
    whole, split = tmp_path / "whole", tmp_path / "split"
    common = ["--data", "spiral", "--lr", "0.01", "--seed", "3"]
    assert train(*common, "--epochs", "4", "--out", str(whole)) == 0
    assert train(*common, "--epochs", "2", "--out", str(split)) == 0
    assert train(*common, "--epochs", "4", "--out", str(split), "--resume") == 0
    a = json.loads((whole / "metrics.json").read_text())
    b = json.loads((split / "metrics.json").read_text())
    assert b["resumed_from_epoch"] == 2
    assert a["test_accuracy"] == b["test_accuracy"]
    assert [e["train_loss"] for e in a["epochs"]] == [e["train_loss"] for e in b["epochs"]]


@pytest.mark.parametrize("model", ["mlp", "cnn"])
def test_compile_gives_the_eager_runs_numbers(tmp_path, model):
    """--compile replays the recorded step: the same losses and accuracy, bit for bit."""
    common = ["--model", model, "--optimizer", "sgd", "--epochs", "2", "--seed", "1"]
    assert train(*common, "--out", str(tmp_path / "eager")) == 0
    assert train(*common, "--compile", "--out", str(tmp_path / "compiled")) == 0
    a = json.loads((tmp_path / "eager" / "metrics.json").read_text())
    b = json.loads((tmp_path / "compiled" / "metrics.json").read_text())
    assert [e["train_loss"] for e in a["epochs"]] == [e["train_loss"] for e in b["epochs"]]
    assert a["test_accuracy"] == b["test_accuracy"]
    if model == "mlp":  # --cuda-graph changes nothing on the CPU
        assert train(*common, "--compile", "--cuda-graph", "--out", str(tmp_path / "g")) == 0
        c = json.loads((tmp_path / "g" / "metrics.json").read_text())
        assert [e["train_loss"] for e in c["epochs"]] == [e["train_loss"] for e in a["epochs"]]


@pytest.mark.parametrize(
    "args, message",
    [
        (["--compile", "--distributed"], "--compile does not support --distributed"),
        (["--cuda-graph"], "--cuda-graph captures the compiled step: add --compile"),
        (["--data", "mnist"], "unknown dataset"),
        (["--data", "idx:/nonexistent-dir"], "does not exist"),
        (["--batch-size", "0"], "batch-size"),
        (["--lr", "-0.1"], "--lr"),
        (["--epochs", "0"], "--epochs"),
        (["--data", "spiral", "--model", "cnn"], "image data"),
        (["--device", "tpu"], "unknown device"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(tmp_path, capsys, args, message):
    out = tmp_path / "out"
    out.mkdir()
    (out / "metrics.json").write_text("previous")
    assert train(*args, "--out", str(out)) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert (out / "metrics.json").read_text() == "previous"
    assert sorted(os.listdir(out)) == ["metrics.json"]


def test_resume_takes_the_run_settings_from_the_checkpoint(tmp_path, capsys):
    whole, split = tmp_path / "whole", tmp_path / "split"
    common = ["--data", "spiral", "--optimizer", "sgd", "--lr", "0.02", "--batch-size", "16"]
    assert train(*common, "--seed", "5", "--epochs", "2", "--out", str(whole)) == 0
    assert train(*common, "--seed", "5", "--epochs", "1", "--out", str(split)) == 0
    capsys.readouterr()
    other = ["--model", "cnn", "--optimizer", "adam", "--lr", "0.5", "--seed", "1"]
    assert train(*other, "--epochs", "2", "--out", str(split), "--resume") == 0
    note = capsys.readouterr().err.strip()
    assert len(note.splitlines()) == 1 and "checkpoint's run" in note
    for said in ["--model mlp (not cnn)", "--optimizer sgd (not adam)", "--lr 0.02 (not 0.5)"]:
        assert said in note
    assert "--data" not in note  # not given, so not overridden
    a = json.loads((whole / "metrics.json").read_text())
    b = json.loads((split / "metrics.json").read_text())
    assert (b["model"], b["data"], b["optimizer"], b["lr"]) == ("mlp", "spiral", "sgd", 0.02)
    assert (b["batch_size"], b["seed"]) == (16, 5)
    assert [e["train_loss"] for e in a["epochs"]] == [e["train_loss"] for e in b["epochs"]]
    # nothing but --resume: the same run continues, silently
    assert train("--epochs", "3", "--out", str(split), "--resume") == 0
    assert capsys.readouterr().err == ""
    assert json.loads((split / "metrics.json").read_text())["data"] == "spiral"


@pytest.mark.parametrize("where", ["file", "file/below"])
def test_out_naming_a_file_exits_2_and_writes_nothing(tmp_path, capsys, where):
    (tmp_path / "file").write_text("mine")
    out = tmp_path / where
    assert train("--data", "spiral", "--epochs", "1", "--out", str(out)) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "--out" in err
    assert (tmp_path / "file").read_text() == "mine"
    assert os.listdir(tmp_path) == ["file"]


def test_diverging_run_stops_with_exit_1_and_writes_no_metrics(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["--data", "spiral", "--optimizer", "sgd", "--lr", "1e6", "--epochs", "2"]
    assert train(*args, "--out", str(out)) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "diverged" in err and "epoch 1" in err and "no checkpoint was written" in err
    assert not (out / "metrics.json").exists() and not (out / "model.ggt").exists()


def test_divergence_keeps_the_last_good_checkpoint(tmp_path, monkeypatch, capsys):
    from gpugrad import functional, io, trainer

    evaluated = []

    def cross_entropy(logits, y):  # NaN from the first step of epoch 2
        loss = functional.cross_entropy(logits, y)
        return loss * float("nan") if evaluated else loss

    def evaluate(model, loader):
        evaluated.append(1)
        return 0.5

    monkeypatch.setattr(trainer, "F", type("F", (), {"cross_entropy": staticmethod(cross_entropy)}))
    monkeypatch.setattr(trainer, "evaluate", evaluate)
    out = tmp_path / "run"
    assert train("--data", "spiral", "--epochs", "3", "--out", str(out)) == 1
    err = capsys.readouterr().err.strip()
    assert "the loss is nan at epoch 2, step 1/" in err and len(err.splitlines()) == 1
    assert f"checkpoint of epoch 1 is in {out / 'model.ggt'}" in err
    assert io.load(out / "model.ggt")["epoch"] == 1
    assert not (out / "metrics.json").exists()


def test_resume_without_checkpoint_is_refused(tmp_path, capsys):
    assert train("--data", "spiral", "--out", str(tmp_path / "none"), "--resume") == 2
    assert "no checkpoint" in capsys.readouterr().err


def test_malformed_idx_directory(tmp_path, capsys):
    d = tmp_path / "idx"
    d.mkdir()
    for name in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ]:
        (d / name).write_bytes(b"\x00\x00\x08\x03garbage")
    assert train("--data", f"idx:{d}", "--out", str(tmp_path / "o")) == 2
    assert "idx3-ubyte" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def test_command_line_entry_point(tmp_path):
    out = tmp_path / "run"
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "gpugrad",
            "train",
            "--data",
            "spiral",
            "--epochs",
            "1",
            "--out",
            str(out),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0, r.stderr
    assert "test accuracy" in r.stdout
    assert "step" in r.stderr  # the progress bar


def test_ctrl_c_keeps_the_last_checkpoint_and_exits_130(tmp_path, monkeypatch, capsys):
    from gpugrad import io, trainer

    real_evaluate = trainer.evaluate
    calls = []

    def interrupted(model, loader):
        calls.append(1)
        if len(calls) == 2:  # during epoch 2
            raise KeyboardInterrupt
        return real_evaluate(model, loader)

    monkeypatch.setattr(trainer, "evaluate", interrupted)
    out = tmp_path / "run"
    assert train("--data", "spiral", "--epochs", "5", "--out", str(out)) == 130
    assert "interrupted during epoch 2" in capsys.readouterr().err
    assert io.load(out / "model.ggt")["epoch"] == 1
    monkeypatch.setattr(trainer, "evaluate", real_evaluate)
    assert train("--data", "spiral", "--epochs", "3", "--out", str(out), "--resume") == 0


def test_distributed_cuda_means_the_ranks_gpu(monkeypatch):
    """Under --distributed, --device cuda is the rank's GPU (the default device that
    distributed.init chose), not cuda:0 for every rank; other specs are taken as given."""
    from gpugrad import backend, trainer

    rank_gpu = object()
    monkeypatch.setattr(backend, "default_device", lambda: rank_gpu)
    assert trainer._device("cuda", distributed=True) is rank_gpu
    assert trainer._device(None, distributed=False) is rank_gpu
    assert trainer._device("cpu", distributed=True) == backend.device("cpu")
