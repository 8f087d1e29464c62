"""The benchmarks run at a tiny size and write valid JSON (never a timed assertion)."""

import json
import sys

import pytest

from gpugrad import benchmarks


@pytest.mark.parametrize("op", ["chain20", "matmul", "sigmoid"])
def test_ops_worker_runs(op):
    out = benchmarks.worker(
        {"case": "ops", "op": op, "lib": "gpugrad", "device": "cpu", "reps": 2, "inner": 2}
    )
    assert out["median_s"] > 0 and out["ops_per_step"] >= 2


@pytest.mark.parametrize("case", ["mlp", "cnn"])
def test_train_worker_runs(case):
    out = benchmarks.worker(
        {"case": case, "batch": 8, "lib": "gpugrad", "device": "cpu", "reps": 2}
    )
    assert out["median_s"] > 0


def test_bench_command_writes_json(tmp_path, capsys):
    assert (
        benchmarks.main(
            [
                "--quick",
                "--only",
                "mlp",
                "--device",
                "cpu",
                "--threads",
                "1",
                "--out",
                str(tmp_path),
            ]
        )
        == 0
    )
    doc = json.loads((tmp_path / "mlp-cpu.json").read_text())
    assert doc["benchmark"] == "mlp"
    assert {"cpu_model", "threads", "numpy", "torch", "blas"} <= set(doc["machine"])
    # results are committed: they must not carry this machine's paths
    assert sys.prefix not in json.dumps(doc) and "filepath" not in json.dumps(doc)
    rows = doc["results"]
    assert [r["batch"] for r in rows] == [64, 256]
    for r in rows:
        assert r["gpugrad_samples_per_s"] > 0 and r["torch_samples_per_s"] > 0
        assert r["speedup_vs_torch"] == pytest.approx(r["torch_s"] / r["gpugrad_s"])
    assert "speedup_vs_torch" in capsys.readouterr().out


def test_unknown_benchmark_exits_2(capsys):
    assert benchmarks.main(["--only", "nope"]) == 2
