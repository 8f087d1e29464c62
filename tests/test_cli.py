"""The command line (gpugrad/cli.py): ``python -m gpugrad info`` and an unknown command.
``train`` is tested in test_train_cli.py, ``explain`` in tests/explain/."""

import subprocess
import sys


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
