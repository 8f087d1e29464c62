"""Run one short program with gpugrad and with torch and compare what comes out: the
gradients of the leaves, the final values, or that both refuse with an error.

A program is Python text over float64 leaves that require grad (``x``, ``w``, ``r``,
``leaf`` of shape (3,), ``z`` = [0, 1], ``m`` of shape (3, 4)) and ``grad`` (``gg.grad`` or
``torch.autograd.grad``).  The same text runs on both libraries."""

import numpy as np
import torch

import gpugrad as gg

LEAVES = {
    "x": [1.0, 2.0, 3.0],
    "w": [2.0, -1.0, 0.5],
    "r": [0.5, 0.25, -0.5],
    "leaf": [1.0, 2.0, 3.0],
    "z": [0.0, 1.0],
    "m": np.arange(12.0).reshape(3, 4) / 7 - 0.5,
}


def _namespace(lib: str, device) -> dict:
    if lib == "torch":
        env = {
            k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in LEAVES.items()
        }
        env["grad"] = torch.autograd.grad
    else:
        env = {
            k: gg.tensor(v, dtype="float64", device=device, requires_grad=True)
            for k, v in LEAVES.items()
        }
        env["grad"] = gg.grad
    return env


def _numpy(v):
    if isinstance(v, torch.Tensor):
        return v.detach().numpy()
    return v.numpy()


def run(lib: str, program: str, device="cpu"):
    """("error", exception type name) or ("ok", {leaf: gradient or None}, {name: value})."""
    env = _namespace(lib, device)
    try:
        exec(program, {}, env)
    except Exception as e:
        return ("error", type(e).__name__)
    grads = {k: None if env[k].grad is None else _numpy(env[k].grad) for k in LEAVES}
    values = {
        k: _numpy(v)
        for k, v in env.items()
        if k not in LEAVES and isinstance(v, (torch.Tensor, gg.Tensor))
    }
    return ("ok", grads, values)


def assert_same_as_torch(program: str, device="cpu") -> None:
    ours, theirs = run("gpugrad", program, device), run("torch", program)
    if theirs[0] == "error" or ours[0] == "error":
        assert ours[0] == theirs[0], f"{program}\n gpugrad: {ours}\n torch: {theirs}"
        return
    for name, expected in theirs[1].items():
        got = ours[1][name]
        assert (got is None) == (expected is None), f"{program}: {name}.grad {got} vs {expected}"
        if got is not None:
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12, err_msg=program)
    for name, expected in theirs[2].items():
        np.testing.assert_allclose(ours[2][name], expected, rtol=1e-12, atol=1e-12, err_msg=name)
