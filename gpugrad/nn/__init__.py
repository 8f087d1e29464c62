"""Neural-network modules: ``gg.nn.Linear``, ``gg.nn.Sequential``, ``gg.nn.init`` ..."""

from . import init
from .activation import ELU, LeakyReLU, ReLU, Sigmoid, Softplus, Tanh
from .layers import (
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    CrossEntropyLoss,
    Dropout,
    Flatten,
    L1Loss,
    Linear,
    Maxout,
    MaxPool2d,
    MSELoss,
    MultiMarginLoss,
)
from .module import Module, Parameter, Sequential
from .penalties import elastic_net_penalty, l1_penalty, l2_penalty
