"""The failure contract, as one piece: snapshot, rollback, Ctrl-C, ``TrainingInterrupted``.

* A ``fit`` that raises leaves the estimator unfitted; a ``partial_fit``
  that raises leaves it exactly as it was before the call.
* A first Ctrl-C only asks the training loop to stop after the current
  update; the estimator finishes its fit (everything derived from the
  network, ``history_``), warns and raises
  :class:`~sklearn_meta.exceptions.TrainingInterrupted`. A second Ctrl-C
  interrupts at once and rolls back like any error.

What counts as fitted state is derived, not listed: every attribute of the
instance that is not a constructor parameter, except what scikit-learn
itself keeps there (metadata requests, ``set_output``, its callback
machinery) and the record of the fit under way (:class:`FitRun`). An
estimator that adds a private fitted attribute declares nothing for rollback
to reset it.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import signal
import threading
import warnings

from ..exceptions import TrainingInterrupted
from ._state import host_copy, locked_state_dict

__all__ = ["FitRun", "SigintFlag", "fit_guard", "fitted_state", "reset_fitted_state"]

#: what scikit-learn keeps on an instance: configuration (metadata requests,
#: set_output) and its callback machinery, set by a Pipeline around our fit
_SKLEARN_OWNED = frozenset(
    {"_metadata_request", "_parent_callback_ctx", "_callback_fit_ctx"}
)
_SKLEARN_PREFIXES = ("_skl_", "_sklearn_")

#: fitted attributes kept by reference in a snapshot (a logger's writer
#: cannot be copied; the build parameters are only read)
_BY_REFERENCE = ("callbacks_", "_callbacks_from", "_build_params")


class SigintFlag:
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

    @property
    def requested(self):
        """Whether Ctrl-C asked training to stop."""
        return self.count > 0

    @property
    def forced(self):
        """Whether a second Ctrl-C asked to stop at once."""
        return self.count > 1


class FitRun:
    """What an estimator knows about the fit under way (``estimator._run``).

    It exists from the start of ``fit`` / ``partial_fit`` to its end, so
    "is a fit under way" is ``estimator._run is not None``. ``early_stopping``
    is the :class:`~sklearn_meta._training.EarlyStopping` of this fit, when it
    has one.
    """

    def __init__(self, sigint):
        self.sigint = sigint
        self.early_stopping = None


def fitted_state(estimator):
    """The attributes a fit set on ``estimator``: all but parameters and configuration."""
    params = estimator._get_param_names()
    return {
        k: v
        for k, v in vars(estimator).items()
        if k not in params
        and k != "_run"
        and k not in _SKLEARN_OWNED
        and not k.startswith(_SKLEARN_PREFIXES)
    }


def reset_fitted_state(estimator):
    """Forget a previous fit, so that a failing fit leaves nothing half-fitted."""
    for name in fitted_state(estimator):
        delattr(estimator, name)


def _snapshot(estimator):
    """A copy of the fitted state, torch state on the CPU (partial_fit rolls back to it).

    Keeping the weights and optimiser state on the host spares the
    accelerator a second copy of the model at every ``partial_fit``.
    """
    state = dict(fitted_state(estimator))
    torch_state = {}
    for name in estimator._torch_attributes:
        if state.get(name) is not None:
            obj = state.pop(name)
            torch_state[name] = (obj, host_copy(locked_state_dict(obj)))
    kept = {k: state.pop(k) for k in _BY_REFERENCE if k in state}
    return {**copy.deepcopy(state), **kept}, torch_state


def _restore(estimator, snapshot):
    state, torch_state = snapshot
    reset_fitted_state(estimator)
    vars(estimator).update(state)
    for name, (obj, saved) in torch_state.items():
        obj.load_state_dict(saved)
        setattr(estimator, name, obj)


@contextlib.contextmanager
def _under_contract(estimator, *, partial):
    snapshot = (
        _snapshot(estimator) if partial and estimator.__sklearn_is_fitted__() else None
    )
    with SigintFlag() as flag:
        estimator._run = FitRun(flag)
        try:
            yield
        except BaseException:
            if snapshot is not None:
                _restore(estimator, snapshot)
            else:
                reset_fitted_state(estimator)
            raise
        finally:
            vars(estimator).pop("_run", None)
    if flag.requested:
        message = (
            f"{type(estimator).__name__} was interrupted after "
            f"{estimator._where_stopped()}. It is fitted and consistent: predict, "
            "partial_fit (to go on training) and pickling work."
        )
        warnings.warn(message, UserWarning, stacklevel=4)
        raise TrainingInterrupted(
            message, estimator=estimator, n_iter=getattr(estimator, "n_iter_", None)
        )


def fit_guard(*, partial):
    """Decorate ``fit`` (``partial=False``) or ``partial_fit`` with the failure contract.

    Put it above ``fit_context``, so that invalid parameters, like any other
    error, leave the estimator unfitted (``fit``) or as it was
    (``partial_fit``; a first ``partial_fit`` counts as a ``fit``).
    """

    def decorate(method):
        @functools.wraps(method)
        def wrapper(self, *args, **kwargs):
            with _under_contract(self, partial=partial):
                return method(self, *args, **kwargs)

        return wrapper

    return decorate
