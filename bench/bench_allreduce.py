"""All-reduce bandwidth and data-parallel samples/s, 1 vs 2 MPI processes (CPU).

    python bench/bench_allreduce.py [--quick]

Re-launches itself under `mpiexec -n N` for N = 1 and 2; each run reports the median
time of MPI all-reduce over buffer sizes and the samples/s of the digits MLP trained with
gpugrad.distributed.DataParallel (global batch split over the ranks).  Writes
bench/results/allreduce-cpu.json.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SIZES = [2**10, 2**14, 2**18, 2**20, 2**22]


def worker(quick: bool):

    import gpugrad as gg
    import gpugrad.functional as F
    from gpugrad import data, nn, optim
    from gpugrad import distributed as dist

    rank, world = dist.init()
    out = {"world_size": world, "allreduce": []}
    for n in SIZES[:3] if quick else SIZES:
        t = gg.ones(n)
        for _ in range(3):
            dist.all_reduce(t)
        times = []
        for _ in range(5 if quick else 20):
            dist.barrier()
            start = time.perf_counter()
            dist.all_reduce(t)
            times.append(time.perf_counter() - start)
        med = statistics.median(times)
        # a ring all-reduce moves 2 (p-1)/p of the buffer through each rank
        algo_bytes = 2 * (world - 1) / world * n * 4
        out["allreduce"].append(
            {
                "elements": n,
                "median_s": med,
                "bus_GBps": algo_bytes / med / 1e9 if world > 1 else None,
            }
        )
    d = data.load_digits().standardized()
    gg.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 256), nn.ReLU(), nn.Linear(256, 10))
    par = dist.DataParallel(model)
    opt = optim.Adam(model.parameters(), lr=1e-3)
    loader = data.DataLoader(d.x_train, d.y_train, 64 // world, seed=0, rank=rank, world_size=world)
    epochs = 2 if quick else 6
    dist.barrier()
    start = time.perf_counter()
    for epoch in range(epochs):
        loader.set_epoch(epoch)
        for x, y in loader:
            opt.zero_grad()
            F.cross_entropy(par(x), y).backward()
            par.sync_gradients()
            opt.step()
    dist.barrier()
    seconds = time.perf_counter() - start
    out["mlp_samples_per_s"] = loader.num_samples * world * epochs / seconds
    if rank == 0:
        print("RESULT " + json.dumps(out), flush=True)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--quick", action="store_true")
    p.add_argument("--worker", action="store_true")
    p.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = p.parse_args()
    if args.worker:
        worker(args.quick)
        return 0
    mpiexec = Path(sys.executable).parent / "mpiexec"
    env = {
        **os.environ,
        "OMPI_ALLOW_RUN_AS_ROOT": "1",
        "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
        "GPUGRAD_DEVICE": "cpu",
        "OMP_NUM_THREADS": "1",
        "OPENBLAS_NUM_THREADS": "1",
    }
    runs = []
    for n in (1, 2):
        cmd = [
            str(mpiexec) if mpiexec.exists() else "mpiexec",
            "-n",
            str(n),
            "--oversubscribe",
            sys.executable,
            __file__,
            "--worker",
        ] + (["--quick"] if args.quick else [])
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200)
        if r.returncode != 0:
            print(r.stdout, r.stderr, file=sys.stderr)
            return 1
        runs.append(
            json.loads(next(l for l in r.stdout.splitlines() if l.startswith("RESULT "))[7:])
        )
    from gpugrad.benchmarks import write_result

    scaling = runs[1]["mlp_samples_per_s"] / runs[0]["mlp_samples_per_s"]
    print(f"{'elements':>10} {'1 proc ms':>10} {'2 proc ms':>10} {'2 proc GB/s':>12}")
    for a, b in zip(runs[0]["allreduce"], runs[1]["allreduce"]):
        print(
            f"{a['elements']:>10} {a['median_s'] * 1e3:>10.3f} {b['median_s'] * 1e3:>10.3f} {b['bus_GBps']:>12.2f}"
        )
    print(
        f"digits MLP: {runs[0]['mlp_samples_per_s']:,.0f} samples/s on 1 process, "
        f"{runs[1]['mlp_samples_per_s']:,.0f} on 2 ({scaling:.2f}x)"
    )
    path = write_result(
        "allreduce",
        "cpu",
        1,
        {"threads_per_process": 1, "global_batch": 64},
        [{"processes": r["world_size"], **r} for r in runs] + [{"mlp_scaling_2_vs_1": scaling}],
        args.out,
    )
    print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
