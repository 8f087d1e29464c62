"""A training step on the GPU never waits for the GPU.

The test queues a kernel that keeps the GPU busy for about a second, then runs a whole
training step (forward, loss, backward, optimizer update).  If anything in the step
synchronized with the device (a .item(), a device-to-host copy, a boolean-mask
index, a stream synchronize), the host would be stuck behind the busy kernel and the
step would take about a second on the host; without synchronization it returns at once.
"""

import time

import pytest

import gpugrad as gg
from gpugrad import backend

pytestmark = pytest.mark.skipif(
    not backend.cuda_available(), reason=f"needs a CUDA device: {backend.cuda_unavailable_reason()}"
)

SPIN_SOURCE = r"""
extern "C" __global__ void spin(long long cycles) {
    long long start = clock64();
    while (clock64() - start < cycles) { }
}
"""


def _busy_gpu(cupy, seconds=1.0):
    rate_khz = cupy.cuda.runtime.getDeviceProperties(0)["clockRate"]
    cycles = int(rate_khz * 1000 * seconds)
    kernel = cupy.RawKernel(SPIN_SOURCE, "spin")
    kernel((1,), (1,), (cupy.int64(cycles),))


def _mlp_step_factory():
    import gpugrad.functional as F
    from gpugrad import nn, optim

    model = nn.Sequential(
        nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(), nn.Linear(512, 10)
    ).to("cuda")
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    x = gg.randn(256, 784, device="cuda")
    y = gg.tensor((gg.rand(256, device="cuda") * 10).astype("int64"), device="cuda")

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step


def test_training_step_does_not_synchronize():
    cupy = backend.cupy_or_none()
    step = _mlp_step_factory()
    for _ in range(3):  # warm-up: kernels compiled, memory pool filled
        step()
    cupy.cuda.Device().synchronize()
    _busy_gpu(cupy, seconds=1.0)
    start = time.perf_counter()
    loss = step()
    host_seconds = time.perf_counter() - start
    cupy.cuda.Device().synchronize()
    assert host_seconds < 0.5, (
        f"the training step blocked the host for {host_seconds:.2f} s: "
        f"something in it synchronized with the GPU"
    )
    assert loss.item() == loss.item()  # finite and readable afterwards
