"""``gg.nn.functional``: the same functions as ``gg.functional`` (PyTorch's
``torch.nn.functional`` spelling)."""

from ..functional import *  # noqa: F403
from ..functional import __all__  # noqa: F401
