"""Optimizers with PyTorch's update rules: SGD (momentum, Nesterov, weight decay), Adam,
AdamW.

    opt = gg.optim.AdamW(model.parameters(), lr=1e-3)
    loss.backward(); opt.step(); opt.zero_grad()

    optimizer  the base class: parameter groups, step, zero_grad, the state dict
    sgd        SGD
    adam       Adam and AdamW
"""

from .adam import Adam, AdamW
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer"]
