"""Warnings and exceptions raised by sklearn_meta estimators."""

from __future__ import annotations

__all__ = ["DeviceWarning", "DomainAdaptationWarning", "TrainingInterrupted"]


class DeviceWarning(UserWarning):
    """Warned when a model is moved to another device than it was fitted on."""


class DomainAdaptationWarning(UserWarning):
    """Warned when a domain-adaptation fit could not adapt (no target rows)."""


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped a ``fit`` or ``partial_fit`` between two updates.

    It is a :class:`KeyboardInterrupt`, so scripts, ``GridSearchCV`` and
    ``cross_val_score`` stop as they would on any Ctrl-C. Unlike a bare
    interrupt it promises a consistent model: training stopped at the last
    completed update, everything derived from the network (prototypes,
    ``n_iter_``, ``history_``) was brought up to date, and the estimator can
    ``predict``, ``partial_fit`` or be pickled.

    Attributes
    ----------
    estimator : estimator
        The estimator that was being fitted.
    n_iter : int
        Its ``n_iter_`` when training stopped.
    """

    def __init__(self, message, estimator=None, n_iter=None):
        super().__init__(message)
        self.estimator = estimator
        self.n_iter = n_iter
