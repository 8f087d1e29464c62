"""Eager against compiled steps (``gg.compile``), next to PyTorch, ratios in one run.

``python bench/bench_compile.py [--quick] [--device cpu|cuda] [--threads N]`` times, each
in a fresh worker process and alternating round by round (bench/train_bench.py's method):

- the 20-op chain (forward+backward on 4x4 tensors), the MLP step (784-512-512-10) at
  batch 64, 256, 1024 and the CNN step at batch 64, 256 (SGD with momentum);
- gpugrad eager, gpugrad compiled, torch eager and, on CUDA, gpugrad compiled as one CUDA
  graph (``gg.compile(step, cuda_graph=True)``) and torch with the step captured as a CUDA
  graph (``torch.cuda.graph``, the optimizer's ``zero_grad`` outside the graph, as
  PyTorch's whole-network capture example does).

It prints one table and writes ``bench/results/compile-<device>.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys

from bench import common, models, train_bench

CASES = [("chain20", None), ("mlp", 64), ("mlp", 256), ("mlp", 1024), ("cnn", 64), ("cnn", 256)]
QUICK_CASES = [("chain20", None), ("mlp", 16), ("cnn", 8)]
VARIANTS = ("gpugrad eager", "gpugrad compiled", "gpugrad graph", "torch eager", "torch graph")
GRAPH_VARIANTS = ("gpugrad graph", "torch graph")  # CUDA only


def torch_graph_step(lib, kind: str, batch, device: str):
    """The step captured as one CUDA graph by torch (warm-up on a side stream first)."""
    torch = lib.module
    if kind == "chain20":
        step, _ = train_bench.ops_step(lib, device, "chain20")
    else:
        model, x, y, opt = models.train_parts(lib, kind, batch, device)

        def step():
            lib.F.cross_entropy(model(x), y).backward()
            opt.step()

        opt.zero_grad(set_to_none=True)
    side = torch.cuda.Stream()
    side.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(side):
        for _ in range(3):
            step()
    torch.cuda.current_stream().wait_stream(side)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        step()
    return graph.replay


def worker(spec: dict) -> dict:
    """Time one (case, variant) in this process: seconds per step (median)."""
    library, mode = spec["variant"].split()
    lib = models.library(library)
    device, case = spec["device"], spec["case"]
    if library == "torch" and spec.get("threads"):
        lib.module.set_num_threads(spec["threads"])
    if library == "torch" and mode == "graph":
        step = torch_graph_step(lib, case, spec["batch"], device)
    elif case == "chain20":
        step, _ = train_bench.ops_step(lib, device, "chain20")
    else:
        step = models.train_step(lib, case, spec["batch"], device)
    if mode == "compiled":
        step = lib.module.compile(step)
    elif library == "gpugrad" and mode == "graph":
        step = lib.module.compile(step, cuda_graph=True)
    clock = common.HostClock(None if device == "cpu" else lambda: lib.synchronize(device))
    inner = 50 if case == "chain20" else 1
    return {"median_s": common.median_time(step, clock, spec["reps"], inner=inner)}


def measure(cases: list, variants: list, device: str, threads: int, reps: int, rounds: int):
    rows = []
    env = common.worker_env(device, threads)
    for case, batch in cases:
        spec = {"case": case, "batch": batch, "device": device, "threads": threads, "reps": reps}
        times = {v: [] for v in variants}
        for _ in range(rounds):
            for v in variants:
                args = ["--worker", json.dumps({**spec, "variant": v})]
                times[v].append(common.run_worker("bench.compile_bench", args, env)["median_s"])
        row = {"case": case, "batch": batch}
        for v in variants:
            row[v.replace(" ", "_") + "_s"] = statistics.median(times[v])
            row[v.replace(" ", "_") + "_rounds_s"] = times[v]
        torch_eager = row["torch_eager_s"]
        row["eager_vs_torch"] = torch_eager / row["gpugrad_eager_s"]
        row["compiled_vs_torch"] = torch_eager / row["gpugrad_compiled_s"]
        row["compiled_vs_eager"] = row["gpugrad_eager_s"] / row["gpugrad_compiled_s"]
        if "torch_graph_s" in row:
            row["compiled_vs_torch_graph"] = row["torch_graph_s"] / row["gpugrad_compiled_s"]
            row["graph_vs_torch"] = torch_eager / row["gpugrad_graph_s"]
            row["graph_vs_torch_graph"] = row["torch_graph_s"] / row["gpugrad_graph_s"]
        rows.append(row)
    return rows


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bench/bench_compile.py", description=__doc__)
    common.add_run_arguments(parser, ("chain20", "mlp", "cnn"))
    parser.add_argument(
        "--rounds", type=int, default=None, help="alternating rounds (default 3; 1 if --quick)"
    )
    args = common.parse_or_work(parser, argv, worker)
    if isinstance(args, int):
        return args
    from gpugrad import backend

    device = args.device or ("cuda" if backend.cuda_available() else "cpu")
    variants = [v for v in VARIANTS if device != "cpu" or v not in GRAPH_VARIANTS]
    cases = QUICK_CASES if args.quick else CASES
    if args.only:
        chosen = args.only.split(",")
        unknown = sorted(set(chosen) - {case for case, _ in CASES})
        if unknown:
            return common.usage_error(parser, f"unknown case {unknown[0]!r}")
        cases = [(case, batch) for case, batch in cases if case in chosen]
    rounds = args.rounds or (1 if args.quick else 3)
    rows = measure(cases, variants, device, args.threads, 3 if args.quick else 20, rounds)
    time_keys = [(v.replace(" ", "_") + "_s", common.millis) for v in variants]
    ratio_keys = ["eager_vs_torch", "compiled_vs_torch", "compiled_vs_eager"]
    if device != "cpu":
        ratio_keys += ["compiled_vs_torch_graph", "graph_vs_torch", "graph_vs_torch_graph"]
    common.print_table(
        f"ms per step, eager and compiled ({device}, {args.threads} threads)",
        rows,
        [("case", str), ("batch", common.general), *time_keys]
        + [(k, common.ratio) for k in ratio_keys],
    )
    settings = {
        "dtype": "float32",
        "optimizer": "SGD(lr=0.01, momentum=0.9)",
        "tf32": False,
        "rounds": rounds,
    }
    path = common.write_result("compile", device, args.threads, settings, rows, args.out_dir)
    print(f"\nwrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
