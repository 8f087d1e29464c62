"""Neural-network modules: ``gg.nn.Linear``, ``gg.nn.Sequential``, ``gg.nn.init`` ..."""

from . import functional, init, utils
from .activation import (
    CELU,
    ELU,
    GELU,
    SELU,
    Hardsigmoid,
    Hardswish,
    Hardtanh,
    LeakyReLU,
    LogSigmoid,
    LogSoftmax,
    Mish,
    PReLU,
    ReLU,
    ReLU6,
    Sigmoid,
    SiLU,
    Softmax,
    Softsign,
    Tanh,
    Threshold,
)
from .batch_norm import BatchNorm1d, BatchNorm2d
from .container import ModuleDict, ModuleList, Sequential
from .conv import Conv2d
from .dropout import Dropout
from .embedding import Embedding
from .flatten import Flatten, Unflatten
from .identity import Identity
from .layer_norm import LayerNorm
from .linear import Linear, Maxout
from .loss import *  # noqa: F403  (every loss module, listed in loss.__all__)
from .module import Module, Parameter
from .penalties import elastic_net_penalty, l1_penalty, l2_penalty
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from .softplus import Softplus
