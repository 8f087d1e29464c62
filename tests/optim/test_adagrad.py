"""Adagrad (gpugrad/optim/adagrad.py) against torch.optim.Adagrad: lr decay, weight decay, an
initial accumulator, eps, in float64 and float32; state dicts that resume a run identically;
bad hyper-parameters.  What every optimizer shares: test_optimizer.py."""

from optimspec import OptimizerTests

from gpugrad import optim


class TestAdagrad(OptimizerTests):
    CONFIGS = (
        ("Adagrad", dict()),
        ("Adagrad", dict(lr=0.1, lr_decay=0.05)),
        ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.5, eps=1e-6)),
        ("Adagrad", dict(lr=0.05, weight_decay=0.1, lr_decay=0.01)),
    )
    BAD_HYPER_PARAMETERS = (
        (lambda p: optim.Adagrad(p, lr=-0.01), "lr"),
        (lambda p: optim.Adagrad(p, lr_decay=-0.1), "lr_decay"),
        (lambda p: optim.Adagrad(p, weight_decay=-0.1), "weight_decay"),
        (lambda p: optim.Adagrad(p, initial_accumulator_value=-1.0), "initial_accumulator_value"),
        (lambda p: optim.Adagrad(p, eps=float("nan")), "eps"),
    )
