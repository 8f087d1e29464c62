"""``gpugrad.functional`` (``F``): activations, losses, layers as functions.

Every name here is defined next to its Function in the ``gpugrad.ops`` module named after
it; this module only gathers them.
"""

from .ops import (
    activation as _activation,
    adaptive_avg_pool2d as _adaptive_avg_pool2d,
    batch_norm as _batch_norm,
    conv as _conv,
    dropout as _dropout,
    embedding as _embedding,
    erf as _erf,
    gelu as _gelu,
    layer_norm as _layer_norm,
    linear as _linear,
    loss as _loss,
    maxout as _maxout,
    one_hot as _one_hot,
    piecewise_activations as _piecewise_activations,
    pooling as _pooling,
    silu as _silu,
    smooth_activations as _smooth_activations,
    softmax as _softmax,
    softmax_cross_entropy as _softmax_cross_entropy,
)
from .ops.activation import *  # noqa: F403
from .ops.adaptive_avg_pool2d import *  # noqa: F403
from .ops.batch_norm import *  # noqa: F403
from .ops.conv import *  # noqa: F403
from .ops.dropout import *  # noqa: F403
from .ops.embedding import *  # noqa: F403
from .ops.erf import *  # noqa: F403
from .ops.gelu import *  # noqa: F403
from .ops.layer_norm import *  # noqa: F403
from .ops.linear import *  # noqa: F403
from .ops.loss import *  # noqa: F403
from .ops.maxout import *  # noqa: F403
from .ops.one_hot import *  # noqa: F403
from .ops.piecewise_activations import *  # noqa: F403
from .ops.pooling import *  # noqa: F403
from .ops.silu import *  # noqa: F403
from .ops.smooth_activations import *  # noqa: F403  (softplus with beta=, threshold=)
from .ops.softmax import *  # noqa: F403
from .ops.softmax_cross_entropy import *  # noqa: F403

_MODULES = (
    _activation,
    _adaptive_avg_pool2d,
    _batch_norm,
    _conv,
    _dropout,
    _embedding,
    _erf,
    _gelu,
    _layer_norm,
    _linear,
    _loss,
    _maxout,
    _one_hot,
    _piecewise_activations,
    _pooling,
    _silu,
    _smooth_activations,
    _softmax,
    _softmax_cross_entropy,
)
# a set: softplus is in activation's list and, with beta= and threshold=, in smooth_activations'
__all__ = sorted({name for module in _MODULES for name in module.__all__})  # noqa: PLE0605
