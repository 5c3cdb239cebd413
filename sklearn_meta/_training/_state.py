"""State dicts and tensors as the training parts and persistence read, copy and pickle them."""

from __future__ import annotations

import copy
import io

import torch

from .._devices import module_lock

__all__ = ["from_torch_bytes", "host_copy", "locked_state_dict", "to_torch_bytes"]


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


def to_torch_bytes(obj):
    """``obj`` (tensors, state dicts) as the bytes :func:`torch.save` writes."""
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def from_torch_bytes(blob, map_location=None):
    """What :func:`to_torch_bytes` wrote, read with ``weights_only=True`` (never code)."""
    return torch.load(io.BytesIO(blob), map_location=map_location, weights_only=True)
