"""A non-editable install carries the CUDA sources and the shipped data inside the package."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_wheel_install_finds_kernels_and_data_in_the_package(tmp_path):
    pytest.importorskip("setuptools", reason="building a wheel needs setuptools")
    wheels = tmp_path / "wheels"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(ROOT),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(wheels),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    site = tmp_path / "site"
    wheel = next(wheels.glob("gpugrad-*.whl"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--no-deps",
            "-q",
            "--target",
            str(site),
            str(wheel),
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    code = (
        "import gpugrad, gpugrad.kernels as k, gpugrad.data as d; "
        "print(gpugrad.__file__); print(k.source_dir()); print(sorted(k.kernel_sources())); "
        "print(d.load_digits().x_train.shape)"
    )
    env = {**os.environ, "PYTHONPATH": str(site)}
    r = subprocess.run(
        [sys.executable, "-c", code],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    package_file, kernel_dir, sources, shape = r.stdout.splitlines()
    assert package_file.startswith(str(site))
    assert kernel_dir.startswith(str(site)) and kernel_dir.endswith("_kernels")
    assert "activation.cu" in sources
    assert shape == "(1438, 1, 8, 8)"
