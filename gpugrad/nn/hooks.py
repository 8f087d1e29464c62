"""Handles for module hooks (PyTorch's ``torch.utils.hooks.RemovableHandle``)."""

from __future__ import annotations

import itertools

_hook_ids = itertools.count()


class RemovableHandle:
    """What ``register_forward_hook`` returns: ``remove()`` (or leaving a ``with``) takes the
    hook off again."""

    def __init__(self, hooks: dict):
        self.hooks, self.id = hooks, next(_hook_ids)

    def remove(self) -> None:
        self.hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()
