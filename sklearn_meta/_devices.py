"""Devices, seeds and locks: what every fit needs from torch, shared by the parts.

* ``device="auto"`` is resolved by :func:`resolve_device`; the parameter is
  never rewritten.
* ``random_state`` seeds weight initialisation, dropout and sampling inside a
  fork of torch's global generators (:func:`torch_rng`: the CPU one and, on
  CUDA, the one of the device in use), under a process-wide lock: the user's
  torch random streams are left as they were, and fits run in threads give
  the same models as the same fits run one after the other.
* :func:`module_lock` guards a network that estimators returned by ``adapt``
  share with their parent.
"""

from __future__ import annotations

import contextlib
import threading
import weakref

import numpy as np
import torch
from sklearn.utils import check_random_state

__all__ = [
    "derive_seed",
    "draws_global_rng",
    "fast_kernels",
    "make_optimizer",
    "module_lock",
    "reseed_global",
    "resolve_device",
    "torch_rng",
]

#: held while torch's global generators are forked and seeded by a fit
_RNG_LOCK = threading.RLock()


def resolve_device(device):
    """Turn the ``device`` parameter into a usable :class:`torch.device`.

    Parameters
    ----------
    device : {"auto", "cpu", "cuda"}, str or torch.device
        ``"auto"`` picks CUDA when it is available, else the CPU. Any device
        torch understands (``"cuda:1"``, ``torch.device("cpu")``) is accepted
        when this machine has it.

    Returns
    -------
    torch.device
        For ``"auto"`` on a machine with CUDA, and for a plain ``"cuda"``,
        the *current* CUDA device, with its index:
        ``torch.device("cuda", torch.cuda.current_device())``. That is the
        first GPU the process sees, unless the calling thread chose another
        with ``torch.cuda.set_device``. A Dask worker started with
        ``CUDA_VISIBLE_DEVICES=i`` sees only physical GPU ``i`` (as
        ``cuda:0``), so each fit it runs stays on the GPU its worker was
        given, never on GPU 0 for every worker.

    Raises
    ------
    ValueError
        When torch does not know the device or this machine lacks it.

    Examples
    --------
    >>> from sklearn_meta._devices import resolve_device
    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if isinstance(device, str) and device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise ValueError(
            f"device={device!r} is not a device torch knows ({exc}). Use 'auto', 'cpu' "
            "or 'cuda'."
        ) from exc
    fix = "Use device='auto' (CUDA when present, else the CPU) or device='cpu'."
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                f"device={device!r} was requested but torch sees no CUDA device. {fix}"
            )
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device={device!r}: this machine has {torch.cuda.device_count()} CUDA "
                f"device(s). {fix}"
            )
        if dev.index is None:
            # pin "the current device" now: a worker given CUDA_VISIBLE_DEVICES=i or
            # torch.cuda.set_device(i) trains there, whatever thread runs later steps
            dev = torch.device("cuda", torch.cuda.current_device())
    elif dev.type == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(
                f"device={device!r}: Apple's MPS backend is not available in this torch "
                f"build or on this machine. {fix}"
            )
    elif dev.type == "meta":
        raise ValueError(
            f"device={device!r}: meta tensors hold no data, so nothing can be trained "
            f"there. {fix}"
        )
    elif dev.type != "cpu":
        try:
            torch.empty(1, device=dev)
        except Exception as exc:  # noqa: BLE001 - any backend failure means "not here"
            raise ValueError(f"device={device!r} cannot be used here ({exc}). {fix}") from exc
    return dev


def derive_seed(random_state):
    """Draw one int seed from ``random_state`` (None, int or RandomState).

    Parameters
    ----------
    random_state : int, RandomState instance or None
        As everywhere in scikit-learn.

    Returns
    -------
    int
        A seed in ``[0, 2**31 - 1)``.

    Examples
    --------
    >>> from sklearn_meta._devices import derive_seed
    >>> derive_seed(0) == derive_seed(0)
    True
    """
    return int(check_random_state(random_state).randint(np.iinfo(np.int32).max))


@contextlib.contextmanager
def torch_rng(seed, device, *, global_rng=True):
    """Seed torch inside a fork of its global generators; yield a generator.

    Only the CPU generator and, for a CUDA ``device``, that device's generator
    are forked and seeded, and both are restored on exit: a fit never changes
    what ``torch.rand()`` or ``torch.rand(..., device="cuda")`` return next in
    user code. The fork is held under a process-wide lock, so fits running in
    threads do not interleave their draws from the global generators (weight
    initialisation and dropout draw from them) and give the models they give
    one after the other.

    Parameters
    ----------
    seed : int
        Seed for weight initialisation, dropout and sampling.
    device : torch.device
        Device of the yielded :class:`torch.Generator` (episode and batch
        sampling happen on the data's device).
    global_rng : bool, default=True
        False when the code inside draws only from the yielded generator (a
        network without dropout): the global generators are then neither
        forked nor locked, so fits and user code in other threads run on
        undisturbed.

    Yields
    ------
    torch.Generator

    Examples
    --------
    >>> import torch
    >>> from sklearn_meta._devices import torch_rng
    >>> before = torch.random.get_rng_state()
    >>> with torch_rng(0, torch.device("cpu")) as gen:
    ...     a = torch.rand(2, generator=gen)
    >>> bool((torch.random.get_rng_state() == before).all())
    True
    """
    if not global_rng:
        yield torch.Generator(device=device).manual_seed(seed)
        return
    devices = [device] if device.type == "cuda" else []
    with _RNG_LOCK, torch.random.fork_rng(devices=devices):
        reseed_global(seed, device)
        yield torch.Generator(device=device).manual_seed(seed)


def reseed_global(seed, device):
    """Seed torch's CPU generator and, on CUDA, that of ``device`` only.

    ``torch.manual_seed`` would reseed every CUDA device, while a fork
    restores only the ones it was given. Call it inside :func:`torch_rng`.

    Parameters
    ----------
    seed : int
        The seed.
    device : torch.device
        The device whose generator is seeded besides the CPU's.
    """
    torch.random.default_generator.manual_seed(seed)
    if device.type == "cuda":
        with torch.cuda.device(device):
            torch.cuda.manual_seed(seed)


#: layers that draw from torch's global generators in training mode
_STOCHASTIC_LAYERS = (torch.nn.modules.dropout._DropoutNd,)


def draws_global_rng(module):
    """Whether training ``module`` draws from torch's global generators.

    True for dropout layers with ``p > 0`` and torchvision's stochastic depth;
    a fit then forks and locks the global generators while it trains.

    Parameters
    ----------
    module : torch.nn.Module

    Returns
    -------
    bool

    Examples
    --------
    >>> from torch import nn
    >>> from sklearn_meta._devices import draws_global_rng
    >>> draws_global_rng(nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5)))
    True
    >>> draws_global_rng(nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.0)))
    False
    """
    for m in module.modules():
        if isinstance(m, _STOCHASTIC_LAYERS) and m.p > 0:
            return True
        if type(m).__name__ == "StochasticDepth" and getattr(m, "p", 0) > 0:
            return True
    return False


_MODULE_LOCKS = weakref.WeakKeyDictionary()
_MODULE_LOCKS_GUARD = threading.Lock()


def module_lock(module):
    """The lock of ``module``: held while its parameters are swapped or read whole.

    :func:`torch.func.functional_call` swaps a module's parameters in place
    for the duration of a call. Estimators returned by ``adapt`` share their
    parent's network, so a functional call in one thread must not overlap a
    call, a copy or a state dict of the same module in another.

    Parameters
    ----------
    module : torch.nn.Module

    Returns
    -------
    threading.RLock

    Examples
    --------
    >>> from torch import nn
    >>> from sklearn_meta._devices import module_lock
    >>> net = nn.Linear(2, 2)
    >>> module_lock(net) is module_lock(net)
    True
    """
    with _MODULE_LOCKS_GUARD:
        lock = _MODULE_LOCKS.get(module)
        if lock is None:
            lock = _MODULE_LOCKS[module] = threading.RLock()
        return lock


def fast_kernels(optimizer, device):
    """Point every parameter group of ``optimizer`` at torch's fastest kernels on ``device``.

    On CUDA the fused kernels (one launch for all parameters); elsewhere the
    multi-tensor (``foreach``) ones, which on the CPU give bit for bit what
    the per-parameter loop gives (checked for Adam, AdamW and SGD with
    torch 2.14) with fewer dispatches. Applied to new optimisers and to
    optimiser states loaded from a pickle or a file, which carry the choice
    of the device they were saved on.

    Examples
    --------
    >>> import torch
    >>> from sklearn_meta._devices import fast_kernels
    >>> opt = torch.optim.Adam([torch.nn.Parameter(torch.zeros(2))])
    >>> fast_kernels(opt, torch.device("cpu")).param_groups[0]["foreach"]
    True
    """
    fused = device.type == "cuda"
    for group in optimizer.param_groups:
        if "fused" in group:
            group["fused"] = fused or None
        if "foreach" in group:
            group["foreach"] = not fused
    if fused:
        # what the constructor sets for fused optimisers: GradScaler then
        # hands the scale to the kernel instead of unscaling the gradients
        optimizer._step_supports_amp_scaling = True
    return optimizer


def make_optimizer(cls, params, device, **kwargs):
    """``cls(params, **kwargs)`` (Adam, AdamW, SGD) with the fastest kernels on ``device``.

    See :func:`fast_kernels`.

    Examples
    --------
    >>> import torch
    >>> from sklearn_meta._devices import make_optimizer
    >>> w = torch.nn.Parameter(torch.zeros(2))
    >>> make_optimizer(torch.optim.SGD, [w], torch.device("cpu"), lr=0.1).defaults["foreach"]
    True
    """
    if device.type == "cuda":
        kwargs.setdefault("fused", True)
    else:
        kwargs.setdefault("foreach", True)
    return cls(params, **kwargs)
