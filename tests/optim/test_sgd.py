"""SGD (gpugrad/optim/sgd.py) against torch.optim.SGD: plain, momentum, Nesterov and weight
decay, in float64 and float32; state dicts that resume a run identically; bad
hyper-parameters.  What every optimizer shares: test_optimizer.py."""

from optimspec import OptimizerTests

from gpugrad import optim


class TestSGD(OptimizerTests):
    CONFIGS = (
        ("SGD", dict(lr=0.1)),
        ("SGD", dict(lr=0.1, momentum=0.9)),
        ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
        ("SGD", dict(lr=0.05, weight_decay=0.1)),
        ("SGD", dict(lr=0.1, momentum=0.5, weight_decay=0.01)),
        ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
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
    )
