"""Run by tests/test_distributed.py under `mpiexec -n 2`.  Modes:

train: each rank trains on its half of every batch with DataParallel; afterwards the
       parameters must be identical on all ranks and equal to one process training on
       the union of the batches.  Rank 0 prints OK.
die:   rank 1 exits at once; rank 0's all_reduce must end the job (not hang).
"""

import os
import sys

import numpy as np

import gpugrad as gg
import gpugrad.functional as F
from gpugrad import distributed as dist, nn, optim


def make_model():
    gg.manual_seed(1 + dist.get_rank())  # different on purpose: DataParallel must broadcast
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3))


def train(model, batches, wrap):
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    for x, y in batches:
        opt.zero_grad()
        F.cross_entropy(wrap(x), y).backward()
        if hasattr(wrap, "sync_gradients"):
            wrap.sync_gradients()
        opt.step()


def main(mode):
    rank, world = dist.init(timeout=float(os.environ.get("GPUGRAD_DIST_TIMEOUT", "20")))
    if mode == "die":
        if rank == 1:
            os._exit(0)  # gone without a word
        dist.all_reduce(gg.ones(4), "sum")
        print("all_reduce returned: this should not happen", flush=True)
        return 0
    rng = np.random.default_rng(0)
    data = [
        (rng.standard_normal((8, 6)).astype(np.float32), rng.integers(0, 3, 8)) for _ in range(4)
    ]
    model = make_model()
    initial = [p.numpy().copy() for p in dist.DataParallel(model).parameters()]
    share = 8 // world
    mine = [
        (
            gg.tensor(x[rank * share : (rank + 1) * share]),
            gg.tensor(y[rank * share : (rank + 1) * share]),
        )
        for x, y in data
    ]
    train(model, mine, dist.DataParallel(model))
    # identical everywhere?
    mpi_comm = dist._state["comm"]
    flat = np.concatenate([p.numpy().ravel() for p in model.parameters()])
    gathered = mpi_comm.allgather(flat)
    assert all(np.array_equal(gathered[0], g) for g in gathered), "ranks disagree"
    if rank == 0:
        single = make_model()
        for p, v in zip(single.parameters(), initial):
            p.array[...] = v
        train(single, [(gg.tensor(x), gg.tensor(y)) for x, y in data], single)
        reference = np.concatenate([p.numpy().ravel() for p in single.parameters()])
        np.testing.assert_allclose(flat, reference, rtol=1e-5, atol=1e-6)
        print("OK", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
