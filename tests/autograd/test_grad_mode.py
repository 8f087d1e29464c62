"""Grad modes (gpugrad/autograd/grad_mode.py): no_grad and enable_grad as blocks and
decorators, detect_anomaly naming the forward or backward op that made a NaN or inf."""

import pytest

import gpugrad as gg


def test_no_grad_and_enable_grad(device):
    x = gg.tensor([1.0], device=device, requires_grad=True)
    with gg.no_grad():
        assert not gg.is_grad_enabled()
        y = x * 2
        with gg.enable_grad():
            z = x * 2
    assert gg.is_grad_enabled()
    assert not y.requires_grad and y.creator is None
    assert z.requires_grad

    @gg.no_grad()
    def f(t):
        return t * 2

    assert not f(x).requires_grad


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the NaN/Inf is the point
def test_detect_anomaly_names_forward_op(device):
    x = gg.tensor([-1.0, 1.0], device=device, requires_grad=True)
    with gg.detect_anomaly(), pytest.raises(FloatingPointError, match="Log"):
        x.log()


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # the NaN/Inf is the point
def test_detect_anomaly_names_backward_op(device):
    x = gg.tensor([0.0, 1.0], device=device, requires_grad=True)
    with gg.detect_anomaly():
        y = x.sqrt().sum()  # sqrt(0) = 0 is fine; its gradient is inf
        with pytest.raises(FloatingPointError, match="backward of Sqrt"):
            y.backward()
