"""RMSprop (gpugrad/optim/rmsprop.py) against torch.optim.RMSprop: plain, momentum, centered,
weight decay, in float64 and float32; state dicts that resume a run identically; bad
hyper-parameters.  What every optimizer shares: test_optimizer.py."""

from optimspec import OptimizerTests

import gpugrad as gg
from gpugrad import optim


class TestRMSprop(OptimizerTests):
    CONFIGS = (
        ("RMSprop", dict()),
        ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6)),
        ("RMSprop", dict(lr=0.01, momentum=0.9)),
        ("RMSprop", dict(lr=0.01, centered=True)),
        ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5, weight_decay=0.1)),
        ("RMSprop", dict(lr=0.005, alpha=0.3, weight_decay=0.01)),
    )
    BAD_HYPER_PARAMETERS = (
        (lambda p: optim.RMSprop(p, lr=-0.01), "lr"),
        (lambda p: optim.RMSprop(p, alpha=-0.1), "alpha"),
        (lambda p: optim.RMSprop(p, alpha=1.5), "alpha"),
        (lambda p: optim.RMSprop(p, eps=-1e-8), "eps"),
        (lambda p: optim.RMSprop(p, momentum=-0.9), "momentum"),
        (lambda p: optim.RMSprop(p, weight_decay=-1.0), "weight_decay"),
        (lambda p: optim.RMSprop(p, centered="yes"), "centered"),
    )


def test_state_names_are_torchs():
    w = gg.tensor([1.0, 2.0], requires_grad=True)
    opt = optim.RMSprop([w], momentum=0.9, centered=True)
    w.grad = gg.tensor([0.5, -0.5])
    opt.step()
    assert set(opt.state_dict()["state"][0]) == {
        "step",
        "square_avg",
        "momentum_buffer",
        "grad_avg",
    }
