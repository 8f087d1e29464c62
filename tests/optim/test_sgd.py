"""SGD (gpugrad/optim/sgd.py) against torch.optim.SGD: plain (the default lr), momentum,
dampening, Nesterov and weight decay, in float64 and float32; state dicts that resume a run
identically; bad hyper-parameters; torch's defaults and argument order.  What every
optimizer shares: test_optimizer.py."""

from optimspec import OptimizerTests

import gpugrad as gg
from gpugrad import optim


class TestSGD(OptimizerTests):
    CONFIGS = (
        ("SGD", dict(lr=0.1)),
        ("SGD", dict(lr=0.1, momentum=0.9)),
        ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
        ("SGD", dict(lr=0.05, weight_decay=0.1)),
        ("SGD", dict(lr=0.1, momentum=0.5, weight_decay=0.01)),
        ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
        ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.5)),
        ("SGD", dict(lr=0.1, momentum=0.5, dampening=0.1, weight_decay=0.05)),
        ("SGD", dict()),  # PyTorch 2.x's default lr=1e-3
    )
    BAD_HYPER_PARAMETERS = (
        (lambda p: optim.SGD(p, lr=-0.1), "lr"),
        (lambda p: optim.SGD(p, lr=float("nan")), "lr"),
        (lambda p: optim.SGD(p, lr="0.1"), "lr"),
        (lambda p: optim.SGD(p, lr=0.1, momentum=-0.1), "momentum"),
        (lambda p: optim.SGD(p, lr=0.1, momentum=1.0), "momentum"),
        (lambda p: optim.SGD(p, lr=0.1, momentum=1.5), "momentum"),
        (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "nesterov"),
        (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, nesterov="yes"), "nesterov"),
        (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1e-4), "weight_decay"),
        (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=-0.1), "dampening"),
        (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.5, nesterov=True), "dampening"),
    )


def test_defaults_and_argument_order_are_pytorchs():
    """lr=1e-3 by default and torch's positional order (lr, momentum, dampening,
    weight_decay, nesterov)."""
    w = gg.tensor([1.0], requires_grad=True)
    assert optim.SGD([w]).defaults["lr"] == 1e-3
    hyper = optim.SGD([w], 0.1, 0.9, 0.0, 0.01, True).defaults
    assert (hyper["momentum"], hyper["dampening"], hyper["weight_decay"], hyper["nesterov"]) == (
        0.9,
        0.0,
        0.01,
        True,
    )
