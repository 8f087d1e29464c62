"""The benchmarks run at a tiny size and write valid JSON (never a timed assertion); they
live in bench/, and nothing in the library imports torch."""

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import gpugrad
from gpugrad import cli

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # `bench` is a package at the top of the checkout
from bench import common, compile_bench, models, train_bench  # noqa: E402


@pytest.mark.parametrize("op", ["chain20", "matmul", "sigmoid"])
def test_ops_worker_runs(op):
    out = train_bench.worker(
        {"case": "ops", "op": op, "lib": "gpugrad", "device": "cpu", "reps": 2, "inner": 2}
    )
    assert out["median_s"] > 0 and out["ops_per_step"] >= 2


@pytest.mark.parametrize("case", ["mlp", "cnn"])
def test_train_worker_runs(case):
    out = train_bench.worker(
        {"case": case, "batch": 8, "lib": "gpugrad", "device": "cpu", "reps": 2}
    )
    assert out["median_s"] > 0


@pytest.mark.parametrize("case,batch", [("chain20", None), ("mlp", 4), ("cnn", 2)])
@pytest.mark.parametrize("variant", ["gpugrad eager", "gpugrad compiled"])
def test_compile_worker_runs(case, batch, variant):
    spec = {"case": case, "batch": batch, "variant": variant, "device": "cpu", "reps": 2}
    assert compile_bench.worker(spec)["median_s"] > 0


def test_compile_bench_writes_json(tmp_path, monkeypatch):
    """Eager and compiled gpugrad next to torch eager, ratios in one row per case."""
    pytest.importorskip("torch")
    monkeypatch.setattr(compile_bench, "QUICK_CASES", [("chain20", None)])
    assert compile_bench.main(["--quick", "--device", "cpu", "--out", str(tmp_path)]) == 0
    doc = json.loads((tmp_path / "compile-cpu.json").read_text())
    (row,) = doc["results"]
    assert row["case"] == "chain20"
    for key in ("gpugrad_eager_s", "gpugrad_compiled_s", "torch_eager_s"):
        assert row[key] > 0
    assert row["compiled_vs_torch"] == row["torch_eager_s"] / row["gpugrad_compiled_s"]


@pytest.mark.parametrize("kind", ["mlp", "cnn"])
def test_one_model_builder_serves_both_libraries(kind):
    torch = pytest.importorskip("torch")
    ours = models.BUILDERS[kind](gpugrad.nn)
    theirs = models.BUILDERS[kind](torch.nn)
    assert [tuple(p.shape) for p in ours.parameters()] == [
        tuple(p.shape) for p in theirs.parameters()
    ]


def test_bench_command_writes_json(tmp_path, capsys):
    assert (
        train_bench.main(
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
    assert train_bench.main(["--only", "nope"]) == 2


def test_quick_run_never_overwrites_committed_results(capsys):
    assert train_bench.main(["--quick", "--only", "ops", "--out", str(common.RESULTS)]) == 2
    assert "never writes bench/results" in capsys.readouterr().err
    quick = train_bench.build_parser().parse_args(["--quick"])
    assert common.output_dir(quick) == common.QUICK_RESULTS != common.RESULTS
    assert common.output_dir(train_bench.build_parser().parse_args([])) == common.RESULTS


def test_gpugrad_bench_runs_the_checkouts_benchmarks(tmp_path):
    command = [sys.executable, "-m", "gpugrad", "bench", "--quick", "--only", "ops"]
    command += ["--device", "cpu", "--threads", "1", "--out", str(tmp_path)]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # this checkout's gpugrad, from any folder
    r = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert r.returncode == 0, r.stderr
    doc = json.loads((tmp_path / "ops-cpu.json").read_text())
    assert doc["benchmark"] == "ops"
    assert [row["op"] for row in doc["results"]] == list(train_bench.OPS)
    assert "speedup_vs_torch" in r.stdout


def test_gpugrad_bench_outside_a_checkout_says_where(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(cli, "__file__", str(tmp_path / "site-packages" / "gpugrad" / "cli.py"))
    assert cli.main(["bench", "--quick"]) == 2
    err = capsys.readouterr().err
    assert "bench/" in err and len(err.strip().splitlines()) == 1


def test_no_library_module_imports_torch():
    offenders = []
    for path in sorted(Path(gpugrad.__file__).parent.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            if any(n == "torch" or n.startswith("torch.") for n in names):
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
