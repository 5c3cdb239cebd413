"""Numeric precision of training and inference: the ``precision`` parameter, written once.

Every estimator takes ``precision``:

* ``"float32"`` (the default): everything in float32, as before;
* ``"bf16"``: :func:`torch.autocast` with ``dtype=torch.bfloat16`` on the
  estimator's device (CPU or CUDA) around every forward pass, in training
  and in ``predict``, ``transform``, ``adapt`` and episodic scoring. The
  weights, their gradients and the optimiser state stay float32 (master
  weights); losses, softmax / log-softmax, reductions, prototype distances
  and the heads of the MAML family are computed in float32
  (:func:`float32_math`); backward passes run outside autocast;
* ``"fp16"``: autocast with ``torch.float16``, CUDA only, with a
  :class:`torch.amp.GradScaler` scaling the loss of every backward pass (a
  new scaler per ``fit`` / ``partial_fit`` call).

:class:`PrecisionMixin` gives the estimator base ``_autocast()`` (the
context of a forward pass), ``_backward(loss)`` and ``_step(optimizer)``
(the scaler's step under fp16), which every training step uses.
"""

from __future__ import annotations

import contextlib
import functools

import torch

__all__ = [
    "PRECISIONS",
    "PrecisionMixin",
    "at_precision",
    "autocast",
    "check_precision",
    "float32_math",
]

#: the values of the ``precision`` parameter
PRECISIONS = ("float32", "bf16", "fp16")

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}

#: the device types autocast can be on for (those float32_math turns off)
_AUTOCAST_TYPES = ("cpu", "cuda")


def check_precision(precision, device):
    """Refuse a precision the device cannot run; called at fit.

    Parameters
    ----------
    precision : {"float32", "bf16", "fp16"}
        The estimator's ``precision``.
    device : torch.device
        The device it trains on.

    Raises
    ------
    ValueError
        For ``"fp16"`` off CUDA (autocast to float16 on the CPU is slow and
        needs a gradient scaler that CPUs do not have), and for ``"bf16"``
        on a GPU without bfloat16.

    Examples
    --------
    >>> import torch
    >>> from sklearn_meta._precision import check_precision
    >>> check_precision("bf16", torch.device("cpu"))
    """
    if precision == "fp16" and device.type != "cuda":
        raise ValueError(
            f"precision='fp16' needs a CUDA device (mixed precision with a gradient "
            f"scaler); this estimator runs on {device.type!r}. Use precision='bf16' "
            "(bfloat16 autocast, which CPUs with AVX-512 BF16 or AMX run in hardware) "
            "or precision='float32'."
        )
    if precision == "bf16" and device.type == "cuda":
        with torch.cuda.device(device):
            supported = torch.cuda.is_bf16_supported()
        if not supported:
            raise ValueError(
                "precision='bf16' needs a GPU with bfloat16; this one has none. Use "
                "precision='fp16' (float16 with a gradient scaler) or 'float32'."
            )


def autocast(precision, device):
    """The context of a forward pass at ``precision`` on ``device``.

    Parameters
    ----------
    precision : {"float32", "bf16", "fp16"}
    device : torch.device

    Returns
    -------
    context manager
        :func:`torch.autocast` for ``"bf16"`` and ``"fp16"``; a no-op
        context for ``"float32"``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_meta._precision import autocast
    >>> with autocast("bf16", torch.device("cpu")):
    ...     (torch.ones(2, 2) @ torch.ones(2, 2)).dtype
    torch.bfloat16
    """
    dtype = _DTYPES.get(precision)
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def _up(value):
    if isinstance(value, torch.Tensor) and value.dtype in (torch.bfloat16, torch.float16):
        return value.float()
    return value


def float32_math(fn):
    """Run ``fn`` in float32 even inside autocast (a decorator).

    Tensor arguments in bfloat16 or float16 are cast to float32 and autocast
    is turned off for the call; outside autocast, and for float32 or float64
    inputs, ``fn`` runs unchanged (bit for bit what it gave before). For
    losses, distances and reductions that lose too much in low precision.

    Examples
    --------
    >>> import torch
    >>> from sklearn_meta._precision import float32_math
    >>> @float32_math
    ... def gram(z):
    ...     return z @ z.T
    >>> with torch.autocast("cpu", dtype=torch.bfloat16):
    ...     gram(torch.ones(2, 3)).dtype
    torch.float32
    """

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        on = [t for t in _AUTOCAST_TYPES if torch.is_autocast_enabled(t)]
        if not on:
            return fn(*args, **kwargs)
        args = [_up(a) for a in args]
        kwargs = {k: _up(v) for k, v in kwargs.items()}
        with contextlib.ExitStack() as stack:
            for device_type in on:
                stack.enter_context(torch.autocast(device_type, enabled=False))
            return fn(*args, **kwargs)

    return wrapper


def at_precision(method):
    """Run an estimator method inside its ``_autocast()`` (a decorator).

    For the inference paths (prediction, ``adapt``, episodic scoring) that
    the training runners do not already wrap.
    """

    @functools.wraps(method)
    def wrapper(self, *args, **kwargs):
        with self._autocast():
            return method(self, *args, **kwargs)

    return wrapper


class PrecisionMixin:
    """``precision`` for the estimator base: autocast, scaled backward passes, steps."""

    #: what an estimator built on the base without the parameter gets
    precision = "float32"

    def _start_precision(self):
        """At the start of every fit: check ``precision``, make the fp16 gradient scaler."""
        check_precision(self.precision, self.device_)
        run = self._run
        if run is not None:
            run.scaler = (
                torch.amp.GradScaler(self.device_.type) if self.precision == "fp16" else None
            )

    def _autocast(self):
        """The context of this estimator's forward passes (``precision``)."""
        device = getattr(self, "device_", None)
        if device is None:
            return contextlib.nullcontext()
        return autocast(self.precision, device)

    def _scaler(self):
        run = self._run
        return None if run is None else getattr(run, "scaler", None)

    def _backward(self, loss):
        """``loss.backward()`` outside autocast, the loss scaled under fp16."""
        scaler = self._scaler()
        if scaler is not None:
            loss = scaler.scale(loss)
        device = getattr(self, "device_", torch.device("cpu"))
        with torch.autocast(device.type, enabled=False):
            loss.backward()

    def _step(self, optimizer):
        """``optimizer.step()``; under fp16 the scaler's (skipped on inf/NaN gradients)."""
        scaler = self._scaler()
        if scaler is None:
            optimizer.step()
            return
        scaler.step(optimizer)
        scaler.update()
