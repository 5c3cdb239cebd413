"""Task-neutral machinery of the torch-backed estimators.

:class:`BaseTorchEstimator` takes care of what a scikit-learn user expects
and a PyTorch training loop does not give for free. The classifier layer
(:mod:`sklearn_meta._classifier`) and the episodic layer
(:mod:`sklearn_meta.fewshot._base`) stand on it; an estimator says only what
is new about its algorithm.

* ``device="auto"`` is resolved in ``fit`` into ``device_``; the parameter is
  never rewritten.
* ``random_state`` seeds weight initialisation, dropout and sampling inside a
  fork of torch's global generators (the CPU one and, on CUDA, the one of the
  device in use), under a process-wide lock: the user's torch random
  streams are left as they were, and fits run in threads give the same
  models as the same fits run one after the other.
* Inputs are validated once (numpy, pandas, lists; 2-D rows with an optional
  ``input_shape``, or N-D image arrays).
* Inference runs in fixed-size chunks; only the last chunk is padded, so a
  row's output does not depend on the rows predicted with it, and memory
  stays at the output plus one chunk.
* The training-loop shell (:meth:`BaseTorchEstimator._run_training`) gives
  every estimator the same history, progress bar, skorch callbacks,
  scikit-learn style early stopping and Ctrl-C handling.
* The failure contract: a ``fit`` that raises leaves the estimator unfitted, a
  ``partial_fit`` that raises leaves it as it was; Ctrl-C stops at the last
  completed update, leaves a consistent model, warns and re-raises
  (:class:`~sklearn_meta.exceptions.TrainingInterrupted`).
* Pickles and checkpoints hold state dicts, read back with
  ``torch.load(..., weights_only=True)``: loading one never runs code, and a
  model fitted on CUDA loads on a machine without it.

scikit-learn's private helpers come from :mod:`sklearn_meta._sklearn`, the
one shim for them.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import io
import os
import signal
import threading
import time
import warnings
import weakref
import zlib
from numbers import Integral, Real

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    clone,
)
from sklearn.exceptions import NotFittedError
from sklearn.utils import check_random_state
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    check_is_fitted,
    validate_data,
)
from skorch.history import History
from tqdm.auto import tqdm

from ._inputs import as_image_batch
from ._sklearn import Interval, StrOptions
from .exceptions import DeviceWarning, TrainingInterrupted

__all__ = [
    "BaseTorchEstimator",
    "DeviceWarning",
    "TrainingInterrupted",
    "as_image_batch",
    "derive_seed",
    "draws_global_rng",
    "fit_guard",
    "reseed_global",
    "resolve_device",
    "torch_rng",
]


#: how every estimator checks X: dense float32, rows or N-D images, finite
_CHECK_ARRAY = dict(dtype=np.float32, allow_nd=True, ensure_all_finite=True)

#: rows per inference chunk (see BaseTorchEstimator._batched)
_INFER_CHUNK_CPU = 64
_INFER_CHUNK_CUDA = 1024

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
    >>> from sklearn_meta._base import resolve_device
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
    >>> from sklearn_meta._base import derive_seed
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
    >>> from sklearn_meta._base import torch_rng
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
    >>> from sklearn_meta._base import draws_global_rng
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
    >>> from sklearn_meta._base import module_lock
    >>> net = nn.Linear(2, 2)
    >>> module_lock(net) is module_lock(net)
    True
    """
    with _MODULE_LOCKS_GUARD:
        lock = _MODULE_LOCKS.get(module)
        if lock is None:
            lock = _MODULE_LOCKS[module] = threading.RLock()
        return lock


def _is_fitted_estimator(obj):
    if not hasattr(obj, "_feature_extractor"):
        return False
    try:
        check_is_fitted(obj)
    except NotFittedError:
        return False
    return True


def uses_batch_statistics(module):
    """Whether ``module`` normalises with batch statistics in eval mode.

    Batch-norm layers built with ``track_running_stats=False`` (as MAML
    networks often are) normalise every forward pass with the statistics of
    the batch itself, so padding a batch would change its outputs.

    Parameters
    ----------
    module : torch.nn.Module

    Returns
    -------
    bool

    Examples
    --------
    >>> from torch import nn
    >>> from sklearn_meta._base import uses_batch_statistics
    >>> uses_batch_statistics(nn.BatchNorm1d(3, track_running_stats=False))
    True
    >>> uses_batch_statistics(nn.BatchNorm1d(3))
    False
    """
    return any(
        isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and not m.track_running_stats
        for m in module.modules()
    )


def _state_dict(obj):
    """``obj.state_dict()``, a module's read under its lock (see module_lock)."""
    if isinstance(obj, torch.nn.Module):
        with module_lock(obj):
            return obj.state_dict()
    return obj.state_dict()


def _to_torch_bytes(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    return buf.getvalue()


def _from_torch_bytes(blob, map_location=None):
    return torch.load(io.BytesIO(blob), map_location=map_location, weights_only=True)


def _to_host(obj):
    """A copy of a (nested) state dict with every tensor cloned to the CPU."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().to("cpu", copy=True)
    if isinstance(obj, dict):
        return {k: _to_host(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_to_host(v) for v in obj)
    return copy.deepcopy(obj)


def data_key(X, y, *extra):
    """A cheap fingerprint of a training set: a CRC of its shape, labels and some rows.

    An int, so that history rows stay numbers (loggers plot every key).
    """
    X = np.asarray(X)
    step = max(1, X.shape[0] // 64)
    crc = zlib.crc32(np.asarray((*X.shape, *extra), dtype=np.int64).tobytes())
    crc = zlib.crc32(np.ascontiguousarray(X[::step]).tobytes(), crc)
    return zlib.crc32(np.ascontiguousarray(y).tobytes(), crc)


def _keep_param(value):
    """A parameter value as fit saw it: configs copied, networks by reference."""
    if isinstance(value, torch.nn.Module) or _is_fitted_estimator(value):
        return value
    return clone(value, safe=False)


def _history_rows(history):
    """A skorch History as plain python rows (what pickles and JSON hold)."""
    return [dict(row) for row in history]


def _path(f):
    return os.path.expanduser(f) if isinstance(f, (str, os.PathLike)) else f


class _SigintFlag:
    """Turns Ctrl-C into a request to stop after the current update.

    Installed only in the main thread, and only over Python's default
    handler; a second Ctrl-C restores that handler and interrupts at once.
    """

    def __init__(self):
        self.count = 0
        self._previous = None

    def __enter__(self):
        if (
            threading.current_thread() is threading.main_thread()
            and signal.getsignal(signal.SIGINT) is signal.default_int_handler
        ):
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def _handle(self, signum, frame):
        self.count += 1
        if self.count > 1:
            signal.signal(signal.SIGINT, self._previous)
            raise KeyboardInterrupt

    def __exit__(self, *exc):
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)
            self._previous = None
        return False


def fit_guard(*, partial):
    """Decorate ``fit`` (``partial=False``) or ``partial_fit`` with the failure contract.

    Put it above ``_fit_context``, so that invalid parameters, like any other
    error, leave the estimator unfitted (``fit``) or as it was
    (``partial_fit``). See :meth:`BaseTorchEstimator._fitting`.
    """

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            with self._fitting(partial=partial):
                return method(self, *args, **kwargs)

        return wrapper

    return decorate


class _CallbackNet:
    """What skorch callbacks see as ``net``: the estimator under skorch's names."""

    def __init__(self, estimator):
        object.__setattr__(self, "_est", estimator)

    @property
    def history(self):
        return self._est.history_

    def __getattr__(self, name):
        return getattr(self._est, name)

    def __setattr__(self, name, value):
        setattr(self._est, name, value)


class _Loop:
    """What an epoch of the training shell asks before and after each update."""

    def __init__(self, estimator):
        self.estimator = estimator
        self.stop = False
        self.updates = 0
        self.bar = None

    def halt(self):
        """True when training must stop before the next update."""
        return self.stop or self.estimator._stop_requested()

    def step(self):
        """Count a completed update; True when training must stop now."""
        self.updates += 1
        self.bar.update(1)
        # an entry per update in skorch's "batches", for what callbacks record
        # there; losses stay on the device and are read back once per epoch
        self.estimator.history_.new_batch()
        if self.estimator._notify("on_batch_end", training=True):
            self.stop = True
        return self.halt()


class BaseTorchEstimator(ClassNamePrefixFeaturesOutMixin, TransformerMixin, BaseEstimator):
    """Common ground of the torch-backed estimators (not for direct use).

    A subclass implements:

    * ``_build_module(input_shape, *, weights)``: a fresh network (not yet
      on a device) and whether it starts from learned weights, used by
      ``fit`` and to rebuild the network when a pickle is loaded;
    * ``_make_optimizer()``: the optimiser of ``module_`` (or None);
    * ``_embed(xb)`` for ``transform`` and the ``_n_features_out`` property;
    * its own ``fit`` / ``partial_fit`` built from ``_fitting``,
      ``_run_training`` and ``_validate_X``.

    The training shell calls skorch callbacks with these hooks:
    ``initialize()`` at the start of every ``fit`` and ``partial_fit``,
    ``on_train_begin(net, X, y)`` before the first update,
    ``on_epoch_begin(net)`` before each epoch, ``on_batch_end(net,
    training=True)`` after every update (a minibatch step, or one
    meta-update), ``on_epoch_end(net)`` after each epoch has been recorded in
    ``history_`` (with its validation score, when there is one) and
    ``on_train_end(net, X, y)`` when training stops, for whatever reason but
    an error. ``net`` is the estimator seen under skorch's names
    (``net.history`` is ``history_``). A callback that raises
    ``KeyboardInterrupt`` (skorch's ``EarlyStopping`` does) stops training
    quietly, as in skorch.
    """

    _parameter_constraints: dict = {
        "input_shape": [tuple, list, None],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "early_stopping": [StrOptions({"auto"}), "boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "callbacks": [list, None],
        "device": [StrOptions({"auto", "cpu", "cuda"}), str, torch.device],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    #: attributes holding torch modules or optimisers: pickled as state dicts
    _torch_attributes = ("module_", "optimizer_")

    #: private attributes that belong to the fitted state (reset, snapshot)
    _private_fitted = (
        "_seed",
        "_shares_module",
        "_w0",
        "_best_state",
        "_no_improvement_count",
        "_callbacks_from",
        "_channels_last_input",
        "_global_rng",
        "_build_params",
        "_lr_built",
    )

    #: parameters that decide the network and optimiser that ``fit`` builds;
    #: kept at fit so that a pickle rebuilds what was fitted even after
    #: set_params changed them
    _build_param_names = ("backbone",)

    #: what an epoch of the training shell is called in messages
    _epoch_word = "epoch"

    #: the step sizes to lower when training diverges, in messages
    _lr_hint = "lr"

    #: whether CPU convolutions may run channels-last (see _place_module)
    _channels_last_ok = True

    # ------------------------------------------------------------------ state
    def _reset(self):
        """Forget a previous fit, so that a failing fit leaves nothing half-fitted."""
        for name in self._fitted_state():
            delattr(self, name)

    def __sklearn_is_fitted__(self):
        return "module_" in vars(self)

    def _fitted_state(self):
        """What a fit sets: public ``*_`` attributes and the private ones listed."""
        return {
            k: v
            for k, v in vars(self).items()
            if (k.endswith("_") and not k.startswith("_")) or k in self._private_fitted
        }

    def _snapshot(self):
        """A copy of the fitted state, torch state on the CPU (partial_fit rolls back to it).

        Keeping the weights and optimiser state on the host spares the
        accelerator a second copy of the model at every ``partial_fit``.
        """
        state = dict(self._fitted_state())
        torch_state = {}
        for name in self._torch_attributes:
            if state.get(name) is not None:
                obj = state.pop(name)
                torch_state[name] = (obj, _to_host(_state_dict(obj)))
        # callbacks are kept as they are (a logger's writer cannot be copied)
        by_reference = ("callbacks_", "_callbacks_from", "_build_params")
        kept = {k: state.pop(k) for k in by_reference if k in state}
        return {**copy.deepcopy(state), **kept}, torch_state

    def _restore(self, snapshot):
        state, torch_state = snapshot
        for name in list(self._fitted_state()):
            delattr(self, name)
        vars(self).update(state)
        for name, (obj, saved) in torch_state.items():
            obj.load_state_dict(saved)
            setattr(self, name, obj)

    @contextlib.contextmanager
    def _fitting(self, *, partial):
        """Run a fit under the failure contract.

        An exception rolls back: ``fit`` (and a first ``partial_fit``) leave
        the estimator unfitted, a later ``partial_fit`` restores the state it
        had before the call. A first Ctrl-C only asks the training loop to
        stop after the current update; the estimator then finishes its fit
        (prototypes, history) and :class:`TrainingInterrupted` is raised. A
        second Ctrl-C interrupts at once and rolls back like an error.
        """
        snapshot = self._snapshot() if partial and self.__sklearn_is_fitted__() else None
        with _SigintFlag() as flag:
            self._sigint = flag
            try:
                yield
            except BaseException:
                if snapshot is not None:
                    self._restore(snapshot)
                else:
                    self._reset()
                raise
            finally:
                vars(self).pop("_sigint", None)
        if flag.count:
            where = self._where_stopped()
            message = (
                f"{type(self).__name__} was interrupted after {where}. It is fitted "
                "and consistent: predict, partial_fit (to go on training) and "
                "pickling work."
            )
            warnings.warn(message, UserWarning, stacklevel=4)
            raise TrainingInterrupted(
                message, estimator=self, n_iter=getattr(self, "n_iter_", None)
            )

    def _unit_word(self):
        return "epochs"

    def _where_stopped(self):
        """Where training stopped, for the Ctrl-C warning."""
        where = f"{getattr(self, 'n_iter_', 0)} {self._unit_word()} in all"
        history = getattr(self, "history_", None)
        if self._unit_word() == "epochs" and history and history[-1].get("epoch_complete") is False:
            where += f" and {history[-1]['train_batch_count']} minibatches of the next"
        return where

    def _initialize(self, input_shape):
        """Build what every fit starts from: device, seed, network, optimiser, history."""
        self.device_ = resolve_device(self.device)
        self._seed = derive_seed(self.random_state)
        with torch_rng(self._seed, torch.device("cpu")):
            module, pretrained = self._build_module(input_shape, weights=self.weights)
        self._accept_module(module, pretrained)
        self.module_ = self._place_module(module)
        self._global_rng = draws_global_rng(self.module_)
        self.optimizer_ = self._make_optimizer()
        self._remember_build()
        self.history_ = History()
        self.n_iter_ = 0

    def _accept_module(self, module, pretrained):
        """Check a freshly built network, before its optimiser is made (hook).

        Refuse what this estimator cannot train; note what the optimiser
        depends on (``pretrained``: whether it starts from learned weights).
        """

    def _remember_build(self):
        """Keep what decides the network and optimiser (see _build_param_names)."""
        self._build_params = {k: _keep_param(getattr(self, k)) for k in self._build_param_names}
        self._lr_built = self.lr

    def _in_fit(self):
        """Whether a fit or partial_fit of this estimator is under way."""
        return "_sigint" in vars(self)

    def _stop_requested(self):
        flag = getattr(self, "_sigint", None)
        return flag is not None and flag.count > 0

    # ------------------------------------------------------------------ input
    def _check_dense(self, X):
        if sp.issparse(X):
            raise ValueError(
                f"{type(self).__name__} does not take sparse input: the networks need "
                "dense arrays. Convert X with X.toarray(), or reduce it first (e.g. "
                "TruncatedSVD in a Pipeline)."
            )

    def _check_X(self, X, *, reset, y=None):
        """validate_data for rows; for N-D images n_features_in_ is C*H*W."""
        self._check_dense(X)
        ndim = getattr(X, "ndim", None)
        if ndim is None and isinstance(X, (list, tuple)):
            X = np.asarray(X)
            ndim = X.ndim
        if ndim is not None and ndim > 2:
            X = check_array(X, **_CHECK_ARRAY)
            if y is not None:
                y = np.asarray(y)
                check_consistent_length(X, y)
            if reset:
                self.n_features_in_ = int(np.prod(X.shape[1:]))
                vars(self).pop("feature_names_in_", None)
            return X, y
        if y is None:
            return validate_data(self, X, reset=reset, **_CHECK_ARRAY), None
        return validate_data(self, X, y, reset=reset, **_CHECK_ARRAY)

    def _validate_X(self, X, *, reset):
        """Validate ``X`` (sets or checks ``n_features_in_``) and shape it."""
        X, _ = self._check_X(X, reset=reset)
        return self._shape_X(X, reset=reset)

    def _validate_X_y(self, X, y, *, reset=True):
        """Validate ``X, y``; with ``reset``, forget any previous fit first."""
        if reset:
            self._reset()
        X, y = self._check_X(X, reset=reset, y=y)
        return self._shape_X(X, reset=reset), y

    def _shape_X(self, X, *, reset):
        if not reset and X.ndim == 2 and self.input_shape is None and len(self.input_shape_) == 3:
            # rows flattened from the images the model was fitted on, in
            # their layout (channels-last arrays flatten as H, W, C)
            if X.shape[1] == int(np.prod(self.input_shape_)):
                c, h, w = self.input_shape_
                if getattr(self, "_channels_last_input", False):
                    return X.reshape(X.shape[0], h, w, c).transpose(0, 3, 1, 2).copy()
                return X.reshape(X.shape[0], c, h, w)
        if reset:
            self._channels_last_input = bool(
                X.ndim == 4 and X.shape[1] not in (1, 3) and X.shape[3] in (1, 3)
            )
        X = as_image_batch(X, self.input_shape)
        if reset:
            self.input_shape_ = tuple(X.shape[1:])
        elif tuple(X.shape[1:]) != self.input_shape_:
            raise ValueError(
                f"X has samples of shape {X.shape[1:]}, but {type(self).__name__} "
                f"was fitted on samples of shape {self.input_shape_}."
            )
        return X

    def _place_module(self, module):
        """Move a freshly built network to ``device_``.

        On the CPU, convolution weights go channels-last: oneDNN's
        channels-last kernels train a Conv4 on 28x28 images about 1.35x faster
        than the default layout (measured with torch 2.14 on 2 cores).
        """
        module = module.to(self.device_)
        if self.device_.type == "cpu" and len(self.input_shape_) == 3 and self._channels_last_ok:
            module = module.to(memory_format=torch.channels_last)
        return module

    def _to_tensor(self, X):
        return torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))

    # ------------------------------------------------------------- inference
    def _chunk_size(self, n):
        if uses_batch_statistics(self.module_):
            # the output depends on the batch: predict it in as few, equal
            # batches as memory allows and never pad
            return max(1, n)
        return _INFER_CHUNK_CUDA if self.device_.type == "cuda" else _INFER_CHUNK_CPU

    def _batched(self, fn, X, *, reduce=None):
        """Apply ``fn`` to ``X`` on the device in eval mode, in fixed-size chunks.

        Every chunk has the same number of rows (only the last one is padded,
        by a copy of that chunk alone), so a sample gets the same output
        whether it is predicted alone or among many: float32 kernels round
        differently for different batch shapes. Networks that normalise with
        batch statistics are run unpadded instead. ``reduce`` maps each
        chunk's output before it goes back to the host (``predict`` keeps
        only the argmax). Peak memory is the result plus one chunk.
        """
        n = X.shape[0]
        chunk = self._chunk_size(n)
        out = None
        self.module_.eval()
        with torch.inference_mode():
            for start in range(0, n, chunk):
                xb = X[start : start + chunk]
                m = xb.shape[0]
                if m < chunk and chunk != n:
                    xb = np.concatenate([xb, np.zeros((chunk - m, *xb.shape[1:]), xb.dtype)])
                xb = self._to_tensor(xb).to(self.device_, non_blocking=True)
                res = fn(xb)[:m]
                res = reduce(res) if reduce is not None else res.double()
                res = res.cpu().numpy()
                if out is None:
                    out = np.empty((n, *res.shape[1:]), dtype=res.dtype)
                out[start : start + m] = res
        return out

    def transform(self, X):
        """Embed samples with the fitted feature extractor.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Samples shaped as in ``fit``.

        Returns
        -------
        ndarray of shape (n_samples, n_embedding)
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self._batched(self._embed, X)

    def _feature_extractor(self):
        """A trainable copy of the fitted feature extractor, on the CPU.

        Lets a fitted estimator serve as ``backbone=`` of another one.
        """
        check_is_fitted(self)
        with module_lock(self.module_):
            features = copy.deepcopy(self.module_.features).cpu()
        for p in features.parameters():
            p.requires_grad_(True)
        return features

    # ------------------------------------------------------ sklearn protocol
    def __sklearn_clone__(self):
        # A fitted estimator given as backbone= is a pretrained network: keep it
        # by reference (it is only read; fit copies its feature extractor).
        # The default clone would replace it with an unfitted copy. What the
        # default clone carries besides parameters is carried too.
        params = self.get_params(deep=False)
        new = type(self)(
            **{
                name: value if _is_fitted_estimator(value) else clone(value, safe=False)
                for name, value in params.items()
            }
        )
        if hasattr(self, "_metadata_request"):
            new._metadata_request = copy.deepcopy(self._metadata_request)
        if hasattr(self, "_sklearn_output_config"):
            new._sklearn_output_config = copy.deepcopy(self._sklearn_output_config)
        return new

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64"]
        device = getattr(self, "device", "auto")
        cuda = (device == "auto" and torch.cuda.is_available()) or str(device).startswith("cuda")
        # index_add_ and cuDNN kernels are not bit-for-bit repeatable on CUDA
        tags.non_deterministic = bool(cuda)
        return tags

    def fit_transform(self, X, y, **fit_params):
        """Fit, then return the embedding of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Training samples.
        y : array-like of shape (n_samples,)
            Targets.
        **fit_params : dict
            Passed to ``fit``.

        Returns
        -------
        ndarray of shape (n_samples, n_embedding)
            The embedding of ``X`` by the fitted network.
        """
        return self.fit(X, y, **fit_params).transform(X)

    # ------------------------------------------------------- training shell
    def _early_stopping_on(self, n_samples):
        if self.early_stopping == "auto":
            return n_samples > 10_000
        return bool(self.early_stopping)

    def _init_callbacks(self):
        """``callbacks_``: the given skorch callbacks, initialised, with names.

        As in skorch, they are initialised when a fit starts; a
        ``partial_fit`` goes on with those of the fit before it unless the
        callbacks given have changed since.
        """
        given = list(self.callbacks or [])
        before = getattr(self, "_callbacks_from", None)
        if "callbacks_" in vars(self) and before is not None and len(before) == len(given) and all(
            a is b for a, b in zip(before, given)
        ):
            return
        from skorch.callbacks.scoring import ScoringBase

        named = []
        for i, cb in enumerate(self.callbacks or []):
            name, cb = cb if isinstance(cb, tuple) else (type(cb).__name__, cb)
            if not hasattr(cb, "initialize"):
                raise ValueError(
                    f"callbacks[{i}] is a {type(cb).__name__}; pass skorch callback "
                    "objects (skorch.callbacks.*) or (name, callback) pairs."
                )
            if isinstance(cb, ScoringBase):
                raise ValueError(
                    f"callbacks[{i}] is skorch's {type(cb).__name__}, which scores "
                    "skorch's own data sets; it is not supported. The history has "
                    "train_loss and, with early_stopping, valid_loss and valid_acc."
                )
            named.append((name, cb.initialize()))
        self.callbacks_ = named
        self._callbacks_from = given

    def _notify(self, hook, **kwargs):
        """Call ``hook`` on every callback; True when one asked to stop.

        skorch callbacks stop training by raising ``KeyboardInterrupt``
        (``EarlyStopping`` does); a second real Ctrl-C goes through.
        """
        net = None
        for _, cb in self.callbacks_:
            net = net or _CallbackNet(self)
            try:
                getattr(cb, hook)(net, **kwargs)
            except KeyboardInterrupt:
                if self._sigint_second():
                    raise
                return True
        return False

    def _sigint_second(self):
        flag = getattr(self, "_sigint", None)
        return flag is not None and flag.count > 1

    def _run_training(
        self, target, run_epoch, *, X=None, y=None, validate=None, steps_per_iter=1
    ):
        """Train until ``n_iter_`` reaches ``target``, in epochs.

        ``target`` is a callable returning the ``n_iter_`` to reach; it is
        read after ``on_train_begin``, so that a callback restoring a
        checkpoint (skorch's ``LoadInitState``) resumes the fit where it
        stopped. ``run_epoch(loop, goal)`` runs one epoch toward ``goal`` and
        returns the dict of its metrics for ``history_`` (with at least
        ``train_loss``), or None when no update was made; before every update
        it asks ``loop.halt()`` and after it calls ``loop.step()``, stopping
        when either returns True. ``validate()`` returns ``(valid_loss,
        valid_score)`` on the held-out data; with it, early stopping follows
        scikit-learn's rule (``tol``, ``n_iter_no_change``) and the best
        weights are restored at the end. ``steps_per_iter`` is the number of
        updates in one unit of ``n_iter_`` (minibatches per epoch), for the
        progress bar.
        """
        self._init_callbacks()
        loop = _Loop(self)
        loop.stop = self._notify("on_train_begin", X=X, y=y)
        trained_before = self.n_iter_ > 0 or len(self.history_) > 0
        goal = target()
        loop.bar = tqdm(
            total=max(0, goal - self.n_iter_) * steps_per_iter,
            disable=not self.verbose,
            desc=type(self).__name__,
            mininterval=0.5,
        )
        try:
            while self.n_iter_ < goal and not loop.halt() and not self._no_improvement_stop():
                if self._notify("on_epoch_begin"):
                    break
                tic = time.perf_counter()
                before = self.n_iter_
                self.history_.new_epoch()
                metrics = run_epoch(loop, goal)
                if metrics is None:
                    self.history_.pop()
                    break
                self._record_epoch(metrics, before, tic, validate)
                if not metrics.get("epoch_complete", True):
                    # cut short by Ctrl-C or a callback: no validation and no
                    # on_epoch_end (schedulers, checkpoints) for half an epoch
                    break
                loop.stop = self._notify("on_epoch_end") or loop.stop
                if self.verbose:
                    loop.bar.set_postfix(self._postfix(), refresh=False)
        finally:
            loop.bar.close()
        if self._stop_requested() and loop.updates == 0 and not trained_before:
            # Ctrl-C before the first update: there is no model to keep
            raise KeyboardInterrupt
        self._restore_best()
        self._notify("on_train_end", X=X, y=y)

    def _record_epoch(self, metrics, before, tic, validate):
        h = self.history_
        loss = float(metrics["train_loss"])
        if not np.isfinite(loss):
            raise ValueError(
                f"The training loss became {loss} by {self._unit_word()[:-1]} "
                f"{self.n_iter_}. Scale the inputs (e.g. StandardScaler) or lower "
                f"{self._lr_hint}."
            )
        h.record("epoch", len(h))
        for key, value in metrics.items():
            h.record(key, value)
        if "train_batch_count" not in metrics:
            h.record("train_batch_count", self.n_iter_ - before)
        self._record_best("train_loss", loss, lower_is_better=True)
        complete = metrics.get("epoch_complete", True)
        if validate is not None and complete and "_no_improvement_count" in vars(self):
            valid_loss, score = validate()
            h.record("valid_loss", float(valid_loss))
            h.record("valid_acc", float(score))
            self._record_best("valid_loss", float(valid_loss), lower_is_better=True)
            self._record_best("valid_acc", float(score), lower_is_better=False)
            self._update_early_stopping(float(score))
        h.record("dur", time.perf_counter() - tic)

    def _record_best(self, key, value, *, lower_is_better):
        previous = [row[key] for row in self.history_[:-1] if key in row]
        if lower_is_better:
            best = not previous or value < min(previous)
        else:
            best = not previous or value > max(previous)
        self.history_.record(f"{key}_best", bool(best))

    def _postfix(self):
        row = self.history_[-1]
        post = {"loss": f"{row['train_loss']:.4f}"}
        if "train_acc" in row:
            post["acc"] = f"{row['train_acc']:.3f}"
        if "valid_acc" in row:
            post["valid_acc"] = f"{row['valid_acc']:.3f}"
        return post

    # sklearn's early-stopping rule (MLPClassifier._update_no_improvement_count)
    def _start_early_stopping(self, enabled):
        if enabled:
            self.validation_scores_ = []
            self.best_validation_score_ = -np.inf
            self._no_improvement_count = 0
            self._best_state = None
        else:
            self.validation_scores_ = None
            self.best_validation_score_ = None

    def _update_early_stopping(self, score):
        self.validation_scores_.append(score)
        if score < self.best_validation_score_ + self.tol:
            self._no_improvement_count += 1
        else:
            self._no_improvement_count = 0
        if score > self.best_validation_score_:
            self.best_validation_score_ = score
            self._best_state = self._state_for_best()

    def _state_for_best(self):
        return {k: v.detach().clone() for k, v in self.module_.state_dict().items()}

    def _no_improvement_stop(self):
        if "_no_improvement_count" not in vars(self):
            return False
        if self._no_improvement_count > self.n_iter_no_change:
            if self.verbose:
                print(
                    f"Validation score did not improve more than tol={self.tol} for "
                    f"{self.n_iter_no_change + 1} consecutive {self._epoch_word}s. Stopping."
                )
            return True
        return False

    def _restore_best(self):
        best = vars(self).pop("_best_state", None)
        vars(self).pop("_no_improvement_count", None)
        if best is not None:
            self.module_.load_state_dict(best)

    # ----------------------------------------------------------- checkpoints
    def save_params(
        self,
        f_params=None,
        f_optimizer=None,
        f_criterion=None,
        f_history=None,
        use_safetensors=False,
        **kwargs,
    ):
        """Save the network's weights, the optimiser state and the history.

        skorch's names, so skorch's ``Checkpoint`` callback works. Weights and
        optimiser state are state dicts written by :func:`torch.save`; the
        history is JSON.

        Parameters
        ----------
        f_params : str, path-like, file-like or None, default=None
            Where to write ``module_.state_dict()``.
        f_optimizer : str, path-like, file-like or None, default=None
            Where to write ``optimizer_.state_dict()``.
        f_criterion : str, path-like, file-like or None, default=None
            Accepted for skorch's ``Checkpoint``; the losses have no state,
            so nothing is written.
        f_history : str, path-like, file-like or None, default=None
            Where to write ``history_`` as JSON.
        use_safetensors : bool, default=False
            Write the weights in the safetensors format (needs the
            ``safetensors`` package; not for the optimiser).
        **kwargs : dict
            Not supported; raises if given.

        Returns
        -------
        None
        """
        if "module_" not in vars(self):
            raise NotFittedError(f"This {type(self).__name__} has no network to save yet.")
        # skorch's Checkpoint names the weights f_module
        f_params = kwargs.pop("f_module", f_params)
        if kwargs:
            raise ValueError(f"save_params got unknown arguments {sorted(kwargs)}.")
        if f_params is not None:
            state = self.module_.state_dict()
            if use_safetensors:
                from safetensors.torch import save_file

                save_file({k: v.contiguous() for k, v in state.items()}, _path(f_params))
            else:
                torch.save(state, _path(f_params))
        if f_optimizer is not None and self.optimizer_ is not None:
            if use_safetensors:
                raise ValueError("The optimiser state cannot be saved with safetensors.")
            torch.save(self.optimizer_.state_dict(), _path(f_optimizer))
        if f_history is not None:
            self.history_.to_file(_path(f_history))

    def load_params(
        self,
        f_params=None,
        f_optimizer=None,
        f_criterion=None,
        f_history=None,
        checkpoint=None,
        use_safetensors=False,
        **kwargs,
    ):
        """Load what :meth:`save_params` (or skorch's ``Checkpoint``) wrote.

        Files are read with ``torch.load(..., weights_only=True)``: they hold
        tensors, never code. The estimator must have been fitted (or be in a
        fit, as with skorch's ``LoadInitState`` callback) on data of the same
        shape and classes, so that its network has the saved architecture.
        Loading ``f_history`` sets ``n_iter_`` to the progress it records, so
        that a ``fit`` resumed from a checkpoint trains only what was left and
        gives the same model as one that was never interrupted (on the CPU).

        Parameters
        ----------
        f_params : str, path-like, file-like or None, default=None
            A saved ``module_`` state dict.
        f_optimizer : str, path-like, file-like or None, default=None
            A saved optimiser state dict.
        f_criterion : str, path-like, file-like or None, default=None
            Ignored (the losses have no state).
        f_history : str, path-like, file-like or None, default=None
            A saved history (JSON).
        checkpoint : skorch.callbacks.Checkpoint or None, default=None
            Load the files named by this checkpoint instead.
        use_safetensors : bool, default=False
            Read the weights from the safetensors format.
        **kwargs : dict
            Not supported; raises if given.

        Returns
        -------
        None
        """
        f_params = kwargs.pop("f_module", f_params)
        if kwargs:
            raise ValueError(f"load_params got unknown arguments {sorted(kwargs)}.")
        if "module_" not in vars(self):
            raise NotFittedError(
                f"load_params needs a {type(self).__name__} whose network is built: call "
                "fit first (to resume an interrupted fit, pass skorch's LoadInitState "
                "callback in callbacks=, which loads the checkpoint at the start of fit)."
            )
        if checkpoint is not None:
            if f_history is None and checkpoint.f_history is not None:
                f_history = checkpoint.f_history_
            # the checkpoint's file names are read from the history it saved
            saved = self.history_
            try:
                if f_history is not None:
                    self.history_ = History.from_file(_path(f_history))
                files = checkpoint.get_formatted_files(_CallbackNet(self))
            finally:
                self.history_ = saved
            f_params = files.get("f_params", f_params)
            f_optimizer = files.get("f_optimizer", f_optimizer)
            use_safetensors = getattr(checkpoint, "use_safetensors", use_safetensors)
        # read everything first; change nothing until all of it fits
        state = opt_state = history = None
        if f_params is not None:
            if use_safetensors:
                from safetensors.torch import load_file

                state = load_file(_path(f_params), device=str(self.device_))
            else:
                state = torch.load(_path(f_params), map_location=self.device_, weights_only=True)
        if f_optimizer is not None and self.optimizer_ is not None:
            opt_state = torch.load(_path(f_optimizer), map_location=self.device_, weights_only=True)
        if f_history is not None:
            history = History.from_file(_path(f_history))
        self._own_module()
        if state is not None:
            self._before_load_params()
        before = {
            name: _to_host(getattr(self, name).state_dict())
            for name in self._torch_attributes
            if getattr(self, name, None) is not None
        }
        try:
            if state is not None:
                self.module_.load_state_dict(state)
            if opt_state is not None:
                self.optimizer_.load_state_dict(opt_state)
        except (RuntimeError, ValueError, KeyError) as exc:
            for name, saved_state in before.items():
                getattr(self, name).load_state_dict(saved_state)
            raise ValueError(
                f"The saved weights do not fit this {type(self).__name__}'s network: they "
                "come from another architecture, input shape or set of classes. Load them "
                "into an estimator with the parameters and data they were saved with, or "
                f"start afresh (for a Checkpoint, a new dirname). Torch said: {exc}"
            ) from exc
        if history is not None:
            self._set_history(history)
        self._after_load_params()

    def _set_history(self, history):
        self.history_ = history
        self.n_iter_ = self._n_iter_from_history()
        if self._in_fit() and self.random_state is None:
            warnings.warn(
                "Resuming a fit with random_state=None: the episodes, shuffles and "
                "validation split from here on are drawn afresh, so it will not repeat "
                "the interrupted fit. Pass an int random_state to resume exactly.",
                UserWarning,
                stacklevel=4,
            )
        if "_no_improvement_count" in vars(self):
            # inside a fit with early stopping: replay the stopping rule over the
            # restored epochs, so a resumed fit stops where the uninterrupted one
            # would; the best weights of epochs before the checkpoint are not in
            # it, so the weights loaded stand in for them
            self._start_early_stopping(True)
            for row in self.history_:
                if "valid_acc" in row:
                    self._update_early_stopping(float(row["valid_acc"]))
            self._best_state = self._state_for_best()

    def _n_iter_from_history(self):
        return len(self.history_)

    def _fold_cut_epoch(self, data_key):
        """Go on with an epoch that Ctrl-C (or a callback) cut short.

        When the row before the one just opened is an epoch cut short on the
        same data (``data_key`` equal to the row's ``epoch_data``), that row is
        folded into the new one (its ``batches`` go first) and returned: the
        coming epoch continues it, so ``history_`` gets the rows an
        uninterrupted run gets. Otherwise None, and the epoch starts afresh.
        """
        h = self.history_
        if len(h) >= 2 and h[-2].get("epoch_complete") is False:
            cut = h[-2]
            if cut.get("epoch_data") == data_key:
                del h[-2]
                h[-1]["batches"][:0] = cut.get("batches", [])
                return cut
        return None

    def _sync_lr(self):
        """Let ``set_params(lr=...)`` reach the optimiser of a fitted model.

        The groups' learning rates are scaled by the change of ``lr``, so what
        a scheduler or a per-group ratio did to them is kept.
        """
        built = getattr(self, "_lr_built", None)
        if self.optimizer_ is None or built is None or built == self.lr:
            return
        for group in self.optimizer_.param_groups:
            group["lr"] *= self.lr / built
        self._lr_built = self.lr

    def _before_load_params(self):
        """Keep what predictions read from the network before it changes (subclass hook)."""

    def _after_load_params(self):
        """Bring state derived from the network up to date (subclass hook)."""

    def _own_module(self):
        """Copy-on-write: take a network of our own before changing it.

        Estimators returned by ``adapt`` share their parent's network; the
        first one of them (or the parent) to train again copies it first.
        """
        if getattr(self, "_shares_module", False):
            # together, so that the optimiser keeps pointing at the copied weights
            with module_lock(self.module_):
                self.module_, self.optimizer_ = copy.deepcopy((self.module_, self.optimizer_))
            self._shares_module = False

    # ------------------------------------------------------------- pickling
    def __getstate__(self):
        # object.__getstate__ may hand back the live __dict__: work on a copy
        state = dict(super().__getstate__())
        state.pop("_sigint", None)
        torch_objs = {}
        for name in self._torch_attributes:
            obj = state.pop(name, None)
            if obj is not None:
                torch_objs[name] = _state_dict(obj)
            elif name in vars(self):
                torch_objs[name] = None
        for name, value in list(state.items()):
            if isinstance(value, torch.Tensor) or (
                isinstance(value, list) and value and isinstance(value[0], torch.Tensor)
            ):
                torch_objs[name] = state.pop(name)
        if "history_" in state:
            state["history_"] = _history_rows(state["history_"])
        if "device_" in state:
            state["device_"] = str(state["device_"])
        if torch_objs:
            state["_torch_blob"] = _to_torch_bytes(torch_objs)
        return state

    def __setstate__(self, state):
        state = dict(state)
        blob = state.pop("_torch_blob", None)
        device = state.get("device_")
        if device is not None:
            device = torch.device(device)
            if device.type == "cuda" and not torch.cuda.is_available():
                warnings.warn(
                    f"{type(self).__name__} was fitted on {device}, which this machine "
                    "lacks; it was loaded on the CPU (device_ is now 'cpu').",
                    DeviceWarning,
                    stacklevel=2,
                )
                device = torch.device("cpu")
            elif (
                device.type == "cuda"
                and device.index is not None
                and device.index >= torch.cuda.device_count()
            ):
                # fitted on a worker's cuda:k, loaded where there are fewer GPUs
                current = torch.device("cuda", torch.cuda.current_device())
                warnings.warn(
                    f"{type(self).__name__} was fitted on {device}, which this machine "
                    f"lacks; it was loaded on {current} (device_ is now {str(current)!r}).",
                    DeviceWarning,
                    stacklevel=2,
                )
                device = current
            state["device_"] = device
        if "history_" in state and not isinstance(state["history_"], History):
            state["history_"] = History(state["history_"])
        super().__setstate__(state)
        if blob is None:
            return
        objs = _from_torch_bytes(blob, map_location=device)
        module_state = objs.pop("module_", None)
        optimizer_state = objs.pop("optimizer_", None)
        for name, value in objs.items():
            setattr(self, name, value)
        if module_state is not None:
            # rebuild what was fitted, whatever set_params changed since
            current = {k: getattr(self, k) for k in getattr(self, "_build_params", {})}
            vars(self).update(getattr(self, "_build_params", {}))
            try:
                with torch_rng(0, torch.device("cpu")):
                    module, _ = self._build_module(self.input_shape_, weights=None)
                self.module_ = self._place_module(module)
                self.module_.load_state_dict(module_state)
                self.module_.eval()
                self.optimizer_ = self._make_optimizer()
            finally:
                vars(self).update(current)
            if self.optimizer_ is not None and optimizer_state is not None:
                self.optimizer_.load_state_dict(optimizer_state)
            self._after_unpickle()

    def _after_unpickle(self):
        """Restore what the network's rebuild needs besides weights (hook)."""
