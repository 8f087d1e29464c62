"""The tests every optimizer passes (``OptimizerTests``): its trajectory beside
torch.optim's on the same parameters and gradients, a state dict that resumes a run
identically, bad hyper-parameters refused; and the helpers they share.

torch.optim (on the CPU, float64 and float32) is the oracle.  Our CPU update performs
PyTorch's operations in PyTorch's order, but PyTorch's CPU kernels may fuse a multiply
and an add (FMA) where NumPy rounds twice, so trajectories agree to rounding, not bit
for bit: rtol 1e-12 in float64 and 1e-5 in float32 over the whole trajectory.
"""

import numpy as np
import pytest
import torch

import gpugrad as gg
from gpugrad import optim

TOL = {np.float64: dict(rtol=1e-12, atol=1e-14), np.float32: dict(rtol=1e-5, atol=1e-6)}
SHAPES = [(3, 4), (37, 29), (5,), ()]  # several vector widths, a tail, a 0-d tensor
STEPS = 8


def config_ids(configs):
    """Test ids for ``(optimizer name, kwargs)`` pairs: ``SGD(lr=0.1, momentum=0.9)``."""
    return [f"{n}({', '.join(f'{k}={v}' for k, v in kw.items())})" for n, kw in configs]


def pair(shapes, dtype, device, seed=0):
    """The same initial parameters as gpugrad leaves on ``device`` and torch leaves."""
    rng = np.random.default_rng(seed)
    start = [rng.standard_normal(s).astype(dtype) for s in shapes]
    ours = [gg.tensor(a, device=device, requires_grad=True) for a in start]
    theirs = [torch.tensor(a, requires_grad=True) for a in start]
    return ours, theirs


def random_grads(shapes, dtype, steps, seed=1):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(steps)]


def set_grads(params, tparams, step_grads, device):
    for p, tp, g in zip(params, tparams, step_grads):
        p.grad = None if g is None else gg.tensor(g, device=device)
        tp.grad = None if g is None else torch.tensor(g)


def assert_close(params, tparams, dtype):
    for p, tp in zip(params, tparams):
        assert p.dtype == dtype and p.shape == tuple(tp.shape)
        np.testing.assert_allclose(p.numpy(), tp.detach().numpy(), **TOL[dtype])


class OptimizerTests:
    """The tests every optimizer passes, over the tables of the subclass that each
    ``tests/optim/test_<optimizer>.py`` declares (pytest collects its ``Test...`` class)::

        class TestSGD(OptimizerTests):
            CONFIGS = (("SGD", dict(lr=0.1)), ...)  # run beside torch.optim
            BAD_HYPER_PARAMETERS = ((lambda p: optim.SGD(p, lr=-0.1), "lr"), ...)
    """

    CONFIGS: tuple = ()  # (optimizer name, kwargs)
    BAD_HYPER_PARAMETERS: tuple = ()  # (make(params), what the ValueError must say)

    def pytest_generate_tests(self, metafunc):
        if "kwargs" in metafunc.fixturenames:
            metafunc.parametrize("name, kwargs", self.CONFIGS, ids=config_ids(self.CONFIGS))
        if "make" in metafunc.fixturenames:
            metafunc.parametrize("make, message", self.BAD_HYPER_PARAMETERS)

    @pytest.mark.parametrize("dtype", [np.float64, np.float32])
    def test_trajectory_matches_torch(self, name, kwargs, dtype, device):
        """STEPS updates of ``optim.<name>(**kwargs)`` equal torch.optim's, made in place."""
        params, tparams = pair(SHAPES, dtype, device)
        opt = getattr(optim, name)(params, **kwargs)
        topt = getattr(torch.optim, name)(tparams, **kwargs)
        arrays = [p.array for p in params]
        for step_grads in random_grads(SHAPES, dtype, STEPS):
            set_grads(params, tparams, step_grads, device)
            opt.step()
            topt.step()
        assert_close(params, tparams, dtype)
        assert all(p.array is a for p, a in zip(params, arrays)), (
            "p.array was replaced, not updated"
        )
        assert all(p.device == device for p in params)

    @pytest.mark.parametrize("through_file", [False, True], ids=["in-memory", "gg.save/gg.load"])
    def test_state_dict_round_trip_continues_identically(
        self, name, kwargs, through_file, device, tmp_path
    ):
        """A run stopped halfway, its state dict loaded into a fresh optimizer (built with
        other hyper-parameters), goes on exactly as the run that never stopped."""
        shapes = [(3, 4), (5,)]
        all_grads = random_grads(shapes, np.float32, 6)

        def run(split):
            params, _ = pair(shapes, np.float32, device)
            opt = getattr(optim, name)(params, **kwargs)
            for i, step_grads in enumerate(all_grads):
                if i == split:  # a new process would do this
                    state = opt.state_dict()
                    if through_file:
                        gg.save({"optimizer": state}, tmp_path / "opt.ggt")
                        state = gg.load(tmp_path / "opt.ggt", device=device)["optimizer"]
                    params = [
                        gg.tensor(p.numpy(), device=device, requires_grad=True) for p in params
                    ]
                    opt = getattr(optim, name)(params, lr=123.0)  # hyper-parameters come back
                    opt.load_state_dict(state)
                for p, g in zip(params, step_grads):
                    p.grad = gg.tensor(g, device=device)
                opt.step()
            return [p.numpy() for p in params], opt.state_dict()

        straight, straight_state = run(split=None)
        resumed, resumed_state = run(split=3)
        for a, b in zip(straight, resumed):
            np.testing.assert_array_equal(a, b)
        assert straight_state["param_groups"] == resumed_state["param_groups"]

    def test_bad_hyper_parameters_raise_value_error_naming_them(self, make, message):
        with pytest.raises(ValueError, match=message):
            make([gg.tensor([1.0], requires_grad=True)])
