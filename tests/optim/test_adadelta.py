"""Adadelta (gpugrad/optim/adadelta.py) against torch.optim.Adadelta: the default lr=1.0, rho,
eps, weight decay, in float64 and float32; state dicts that resume a run identically; bad
hyper-parameters.  What every optimizer shares: test_optimizer.py."""

from optimspec import OptimizerTests

from gpugrad import optim


class TestAdadelta(OptimizerTests):
    CONFIGS = (
        ("Adadelta", {}),  # lr=1.0, rho=0.9, eps=1e-6
        ("Adadelta", dict(lr=0.5, rho=0.5, eps=1e-4)),
        ("Adadelta", dict(rho=0.95, weight_decay=0.1)),
    )
    BAD_HYPER_PARAMETERS = (
        (lambda p: optim.Adadelta(p, lr=-1.0), "lr"),
        (lambda p: optim.Adadelta(p, rho=1.5), "rho"),
        (lambda p: optim.Adadelta(p, rho=-0.1), "rho"),
        (lambda p: optim.Adadelta(p, eps=-1e-6), "eps"),
        (lambda p: optim.Adadelta(p, weight_decay=-1.0), "weight_decay"),
    )
