"""GPU benchmark of the fused kernels (issue: fused kernels at memory bandwidth).

For 2^20 ... 2^28 float32 elements it times, with CUDA events after warm-up:
fused sigmoid forward+backward, fused ReLU forward+backward, fused bias+ReLU forward+backward,
against (a) the same maths as unfused CuPy expressions, (b) torch on the same GPU, and
(c) a device-to-device copy of the same number of bytes.  GB/s counts the bytes each
fused pass must move (reads + writes).
"""
from __future__ import annotations

import statistics

from . import kernels


def _events_time(fn, reps: int) -> float:
    import cupy
    for _ in range(3):
        fn()
    start, stop = cupy.cuda.Event(), cupy.cuda.Event()
    times = []
    for _ in range(reps):
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(cupy.cuda.get_elapsed_time(start, stop) / 1e3)
    return statistics.median(times)


def _torch_time(fn, reps: int) -> float | None:
    try:
        import torch
        if not torch.cuda.is_available():
            return None
    except ImportError:
        return None
    for _ in range(3):
        fn()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for _ in range(reps):
        start.record()
        fn()
        stop.record()
        stop.synchronize()
        times.append(start.elapsed_time(stop) / 1e3)
    return statistics.median(times)


def bench_kernels(quick: bool, out_dir: str) -> str:
    import cupy
    from .benchmarks import print_table, write_result
    exponents = [20, 22] if quick else [20, 22, 24, 26, 28]
    reps = 5 if quick else 30
    rows = []
    for e in exponents:
        n = 2 ** e
        x = cupy.random.standard_normal(n, dtype=cupy.float32)
        gy = cupy.random.standard_normal(n, dtype=cupy.float32)
        rows_c = 1024
        x2, b = x.reshape(-1, rows_c), cupy.random.standard_normal(rows_c, dtype=cupy.float32)
        gy2 = gy.reshape(-1, rows_c)
        copy_dst = cupy.empty_like(x)
        t_copy = _events_time(lambda: copy_dst.__setitem__(Ellipsis, x), reps)   # reads n, writes n

        def fused_sigmoid():
            y = kernels.activation_forward("sigmoid", x)
            kernels.activation_backward("sigmoid", y, gy)

        def unfused_sigmoid():
            y = 1 / (1 + cupy.exp(-x))
            gy * y * (1 - y)

        def fused_relu():
            y = kernels.activation_forward("relu", x)
            kernels.activation_backward("relu", y, gy)

        def unfused_relu():
            y = cupy.maximum(x, 0)
            gy * (y > 0)

        def fused_bias_relu():
            y = kernels.bias_activation_forward("relu", x2, b)
            kernels.bias_activation_backward("relu", y, gy2)

        def unfused_bias_relu():
            y = cupy.maximum(x2 + b, 0)
            g = gy2 * (y > 0)
            g.sum(axis=0)

        row = {"elements": n, "copy_s": t_copy, "copy_GBps": 2 * 4 * n / t_copy / 1e9}
        # bytes each fused pair must move: forward reads x writes y; backward reads y, gy writes gx
        moved = 5 * 4 * n
        for name, fused, unfused in [("sigmoid", fused_sigmoid, unfused_sigmoid),
                                     ("relu", fused_relu, unfused_relu),
                                     ("bias_relu", fused_bias_relu, unfused_bias_relu)]:
            tf, tu = _events_time(fused, reps), _events_time(unfused, reps)
            row[f"{name}_fused_s"], row[f"{name}_unfused_s"] = tf, tu
            row[f"{name}_fused_GBps"] = moved / tf / 1e9
            row[f"{name}_fraction_of_copy_bandwidth"] = row[f"{name}_fused_GBps"] / row["copy_GBps"]
            row[f"{name}_speedup_vs_unfused"] = tu / tf
        try:
            import torch
            tx = torch.as_tensor(x, device="cuda").requires_grad_()
            tgy = torch.as_tensor(gy, device="cuda")
            tx2 = torch.as_tensor(x2, device="cuda").requires_grad_()
            tb = torch.as_tensor(b, device="cuda").requires_grad_()
            tgy2 = torch.as_tensor(gy2, device="cuda")
            for name, fn in [("sigmoid", lambda: torch.sigmoid(tx).backward(tgy)),
                             ("relu", lambda: torch.relu(tx).backward(tgy)),
                             ("bias_relu", lambda: torch.relu(tx2 + tb).backward(tgy2))]:
                tt = _torch_time(fn, reps)
                if tt is not None:
                    row[f"{name}_torch_s"] = tt
                    row[f"{name}_speedup_vs_torch"] = tt / row[f"{name}_fused_s"]
        except ImportError:
            pass
        rows.append(row)
    keys = [("elements", str), ("copy_GBps", lambda v: f"{v:.0f}")]
    for name in ("sigmoid", "relu", "bias_relu"):
        keys += [(f"{name}_fraction_of_copy_bandwidth", lambda v: f"{v:.2f}"),
                 (f"{name}_speedup_vs_unfused", lambda v: f"{v:.2f}x"),
                 (f"{name}_speedup_vs_torch", lambda v: "-" if v is None else f"{v:.2f}x")]
    print_table("fused kernels, float32, forward+backward", rows, keys)
    return write_result("kernels", "cuda", 0, {"dtype": "float32", "reps": reps, "timing": "CUDA events"},
                        rows, out_dir)
