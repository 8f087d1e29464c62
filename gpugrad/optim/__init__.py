"""Optimizers with PyTorch's update rules and state names, and learning-rate schedules.

opt = gg.optim.AdamW(model.parameters(), lr=1e-3)
sched = gg.optim.lr_scheduler.StepLR(opt, step_size=10)
loss.backward(); opt.step(); opt.zero_grad(); sched.step()

optimizer     the base class: parameter groups, step, zero_grad, the state dict
multi_tensor  on CUDA: SGD's and Adam's buckets of parameters, a few launches per step
arithmetic    the in-place array arithmetic the update rules share
sgd           SGD (momentum, dampening, Nesterov, weight decay)
adam          Adam and AdamW (amsgrad)
rmsprop       RMSprop
adagrad       Adagrad
adadelta      Adadelta
lr_scheduler  StepLR, MultiStepLR, ExponentialLR, CosineAnnealingLR, LambdaLR,
              OneCycleLR, ReduceLROnPlateau
"""

from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = [
    "SGD",
    "Adadelta",
    "Adagrad",
    "Adam",
    "AdamW",
    "Optimizer",
    "RMSprop",
    "lr_scheduler",
]
