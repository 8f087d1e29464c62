"""``gpugrad.functional`` (``F``): activations, losses, layers as functions.

Every name here is defined next to its Function in the ``gpugrad.ops`` module named after
it; this module only gathers them.
"""

from .ops import (
    activation as _activation,
)
from .ops import (
    batch_norm as _batch_norm,
)
from .ops import (
    conv as _conv,
)
from .ops import (
    dropout as _dropout,
)
from .ops import (
    linear as _linear,
)
from .ops import (
    loss as _loss,
)
from .ops import (
    maxout as _maxout,
)
from .ops import (
    pooling as _pooling,
)
from .ops import (
    softmax as _softmax,
)
from .ops import (
    softmax_cross_entropy as _softmax_cross_entropy,
)
from .ops.activation import *  # noqa: F403
from .ops.batch_norm import *  # noqa: F403
from .ops.conv import *  # noqa: F403
from .ops.dropout import *  # noqa: F403
from .ops.linear import *  # noqa: F403
from .ops.loss import *  # noqa: F403
from .ops.maxout import *  # noqa: F403
from .ops.pooling import *  # noqa: F403
from .ops.softmax import *  # noqa: F403
from .ops.softmax_cross_entropy import *  # noqa: F403

_MODULES = (
    _activation,
    _batch_norm,
    _conv,
    _dropout,
    _linear,
    _loss,
    _maxout,
    _pooling,
    _softmax,
    _softmax_cross_entropy,
)
__all__ = sorted(name for module in _MODULES for name in module.__all__)  # noqa: PLE0605
