"""State dicts as the training parts and persistence read and copy them."""

from __future__ import annotations

import copy

import torch

from .._devices import module_lock

__all__ = ["host_copy", "locked_state_dict"]


def locked_state_dict(obj):
    """``obj.state_dict()``, a module's read under its lock (see module_lock)."""
    if isinstance(obj, torch.nn.Module):
        with module_lock(obj):
            return obj.state_dict()
    return obj.state_dict()


def host_copy(obj):
    """A copy of a (nested) state dict with every tensor cloned to the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: host_copy(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(host_copy(v) for v in obj)
    return copy.deepcopy(obj)
