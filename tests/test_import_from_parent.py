"""Python started in the folder that contains the clone imports the installed package, not
the clone's folder as a namespace package (the README's editable install puts the clone on
sys.path, as a regular path entry)."""

import os
import subprocess
import sys
from pathlib import Path

import gpugrad

ROOT = Path(gpugrad.__file__).resolve().parent.parent


def test_import_from_the_folder_that_contains_the_clone(tmp_path):
    if ROOT.name != "gpugrad":  # make the situation: a folder holding a clone named gpugrad
        (tmp_path / "gpugrad").symlink_to(ROOT, target_is_directory=True)
        cwd = tmp_path
    else:
        cwd = ROOT.parent
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    r = subprocess.run(
        [sys.executable, "-c", "import gpugrad; print(gpugrad.tensor([1.0, 2.0]).sum().item())"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "3.0"
