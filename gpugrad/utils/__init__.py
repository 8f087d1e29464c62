"""``gg.utils``: PyTorch's ``torch.utils`` parts that gpugrad has (``data``)."""

from . import data

__all__ = ["data"]
