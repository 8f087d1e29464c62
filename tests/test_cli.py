"""The command line (gpugrad/cli.py): ``python -m gpugrad info`` and an unknown command.
``train`` is tested in test_train_cli.py, ``explain`` in tests/explain/."""

import subprocess
import sys

from gpugrad import backend, cli


def test_info_command_reports_device_and_reason():
    r = subprocess.run(
        [sys.executable, "-m", "gpugrad", "info"], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, r.stderr
    assert "gpugrad" in r.stdout and "numpy" in r.stdout
    line = next(l for l in r.stdout.splitlines() if l.startswith("device"))
    assert "(" in line and ")" in line  # the reason is given


def test_unknown_command_exits_2():
    r = subprocess.run(
        [sys.executable, "-m", "gpugrad", "frobnicate"], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 2 and "unknown command" in r.stderr


INSUFFICIENT = (
    "cupy imported but CUDA did not answer (CUDARuntimeError: cudaErrorInsufficientDriver: "
    "CUDA driver version is insufficient for CUDA runtime version)"
)


def test_info_without_a_gpu_says_no_cuda_device(monkeypatch, capsys):
    monkeypatch.setattr(backend, "cupy_or_none", lambda: None)
    monkeypatch.setattr(backend, "cuda_unavailable_reason", lambda: INSUFFICIENT)
    monkeypatch.setattr(backend, "default_device", lambda: backend.CPU)
    monkeypatch.setattr(backend, "device_reason", f"CPU: {INSUFFICIENT}")
    assert cli.info([]) == 0
    lines = capsys.readouterr().out.splitlines()
    i = next(i for i, l in enumerate(lines) if l.startswith("device"))
    assert lines[i] == "device  cpu  (no CUDA device)"  # plainly, cupy's words not on it
    assert lines[i + 1].startswith(" ") and INSUFFICIENT in lines[i + 1]  # kept for debugging


def test_info_without_a_gpu_keeps_an_explicit_choice(monkeypatch, capsys):
    monkeypatch.setattr(backend, "cupy_or_none", lambda: None)
    monkeypatch.setattr(backend, "cuda_unavailable_reason", lambda: INSUFFICIENT)
    monkeypatch.setattr(backend, "default_device", lambda: backend.CPU)
    monkeypatch.setattr(backend, "device_reason", "GPUGRAD_DEVICE=cpu")
    assert cli.info([]) == 0
    out = capsys.readouterr().out
    assert "device  cpu  (no CUDA device; GPUGRAD_DEVICE=cpu)" in out


def test_info_with_a_gpu_gives_the_reason_it_was_chosen(monkeypatch, capsys):
    monkeypatch.setattr(backend, "cupy_or_none", lambda: None)  # no device table to print
    monkeypatch.setattr(backend, "cuda_unavailable_reason", lambda: None)
    monkeypatch.setattr(backend, "default_device", lambda: backend.CPU)
    monkeypatch.setattr(backend, "device_reason", "set_default_device()")
    assert cli.info([]) == 0
    out = capsys.readouterr().out
    assert "device  cpu  (set_default_device())" in out and "no CUDA device" not in out
