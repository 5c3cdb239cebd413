"""The failure contract, as one piece: snapshot, rollback, Ctrl-C, ``TrainingInterrupted``.

* A ``fit`` that raises leaves the estimator unfitted; a ``partial_fit``
  that raises leaves it exactly as it was before the call.
* A first Ctrl-C only asks the training loop to stop after the current
  update; the estimator finishes its fit (everything derived from the
  network, ``history_``), warns and raises
  :class:`~sklearn_meta.exceptions.TrainingInterrupted`. A second Ctrl-C
  interrupts at once and rolls back like any error.

What counts as fitted state is derived, not listed: the public attributes
whose names end in ``_`` (scikit-learn's convention) and the private ones a
fit created, which the contract records as it runs (``_fitted_names``). An
estimator that adds a private fitted attribute declares nothing for rollback
to reset it, and what scikit-learn or a user keeps on an instance
(configuration, documentation links, a note) is never touched.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import signal
import threading
import warnings

from ..exceptions import TrainingInterrupted
from ._loop import where_stopped
from ._state import host_copy, locked_state_dict

__all__ = [
    "FITTED_NAMES",
    "FitRun",
    "SigintFlag",
    "fit_guard",
    "fitted_state",
    "reset_fitted_state",
]

#: where the names of the private attributes a fit created are kept
FITTED_NAMES = "_fitted_names"

#: what scikit-learn itself may create on an instance while a fit runs (its
#: callback machinery), and the record of the fit under way: never fitted state
_NOT_FITTED = frozenset({"_run", "_callback_fit_ctx", "_skl_callbacks_to_teardown"})

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
    has one; ``augmenter`` and ``augment_gen`` the fit's augmentation and its
    generator (``augment``), and ``rotated_rows`` the number of real rows
    while a few-shot classifier meta-trains with ``rotation_classes``.
    """

    def __init__(self, sigint):
        self.sigint = sigint
        self.early_stopping = None
        #: the fit's augmentation (``aug(batch, generator)``) and its generator
        self.augmenter = None
        self.augment_gen = None
        #: meta-training with rotation classes: the number of real rows
        self.rotated_rows = None


def _is_public_fitted(name):
    return name.endswith("_") and not name.startswith("_")


def fitted_state(estimator):
    """What fits set on ``estimator``: its ``*_`` attributes and the private ones fits created."""
    private = vars(estimator).get(FITTED_NAMES, ())
    return {
        k: v
        for k, v in vars(estimator).items()
        if _is_public_fitted(k) or k in private or k == FITTED_NAMES
    }


def reset_fitted_state(estimator):
    """Forget a previous fit, so that a failing fit leaves nothing half-fitted."""
    for name in fitted_state(estimator):
        delattr(estimator, name)


def _created_since(estimator, before):
    """Private attributes created since ``before`` (a set of names), ours alone."""
    return {
        k
        for k in vars(estimator).keys() - before
        if k.startswith("_") and k not in _NOT_FITTED and k != FITTED_NAMES
    }


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


def _restore(estimator, snapshot, before):
    state, torch_state = snapshot
    reset_fitted_state(estimator)
    for name in _created_since(estimator, before):
        delattr(estimator, name)
    vars(estimator).update(state)
    for name, (obj, saved) in torch_state.items():
        obj.load_state_dict(saved)
        setattr(estimator, name, obj)


@contextlib.contextmanager
def _under_contract(estimator, *, partial):
    snapshot = (
        _snapshot(estimator) if partial and estimator.__sklearn_is_fitted__() else None
    )
    # what is on the instance and not fitted state: kept as it is, whatever happens
    before = vars(estimator).keys() - fitted_state(estimator).keys()
    with SigintFlag() as flag:
        estimator._run = FitRun(flag)
        try:
            yield
        except BaseException:
            vars(estimator).pop("_run", None)
            if snapshot is not None:
                _restore(estimator, snapshot, before)
            else:
                reset_fitted_state(estimator)
                for name in _created_since(estimator, before):
                    delattr(estimator, name)
            raise
        finally:
            vars(estimator).pop("_run", None)
        # a sorted tuple of str: what skops and pickles load without trusting more
        setattr(estimator, FITTED_NAMES, tuple(sorted(_created_since(estimator, before))))
    if flag.requested:
        message = (
            f"{type(estimator).__name__} was interrupted after "
            f"{where_stopped(estimator)}. It is fitted and consistent: predict, "
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
