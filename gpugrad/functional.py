"""``gpugrad.functional`` (``F``): activations, losses, layers as functions.

Every name here is defined next to its Function in ``gpugrad.ops``; this module only
gathers them.
"""

from .ops.activation import *  # noqa: F403
from .ops.activation import __all__ as _activation_all
from .ops.conv import *  # noqa: F403
from .ops.conv import __all__ as _conv_all
from .ops.layers import *  # noqa: F403
from .ops.layers import __all__ as _layers_all
from .ops.loss import *  # noqa: F403
from .ops.loss import __all__ as _loss_all

__all__ = [*_activation_all, *_conv_all, *_layers_all, *_loss_all]
