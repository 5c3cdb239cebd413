"""What a metric is given for the queries of an episode, and calling it.

Shared by :func:`~sklearn_meta.model_selection.evaluate_episodes` and
:func:`~sklearn_meta.model_selection.make_episodic_scorer`: the check of
``response_method`` against the metric, the class probabilities of an
adapted estimator in the episode's class order, and the score of one episode
with an error that names the ``response_method`` to use.
"""

from __future__ import annotations

import functools
import inspect

import numpy as np

__all__ = ["adapted_proba", "check_response_method", "metric_name", "score_episode"]

_RESPONSE_METHODS = ("predict", "predict_proba")

# sklearn metrics that take class probabilities or scores, never labels
_PROBABILITY_METRICS = frozenset(
    {
        "log_loss",
        "brier_score_loss",
        "roc_auc_score",
        "average_precision_score",
        "top_k_accuracy_score",
        "d2_log_loss_score",
        "d2_brier_score",
    }
)


def metric_name(score_func):
    """The name of a metric function, through any ``functools.partial``."""
    func = score_func
    while isinstance(func, functools.partial):
        func = func.func
    return getattr(func, "__name__", type(func).__name__)


def check_response_method(score_func, response_method):
    """Validate ``response_method`` against ``score_func``; return the metric name."""
    if not isinstance(response_method, str) or response_method not in _RESPONSE_METHODS:
        raise ValueError(
            "response_method must be 'predict' or 'predict_proba'; got "
            f"{response_method!r}."
        )
    name = metric_name(score_func)
    if response_method == "predict" and name in _PROBABILITY_METRICS:
        raise ValueError(
            f"{name} scores class probabilities, but response_method='predict' "
            "would pass it predicted labels. Pass response_method='predict_proba'."
        )
    return name


def _accepts(score_func, param):
    try:
        params = inspect.signature(score_func).parameters
    except (TypeError, ValueError):  # builtins and other opaque callables
        return False
    return param in params or any(
        p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()
    )


def adapted_proba(adapted, X_query, labels):
    """``adapted.predict_proba(X_query)`` with its columns in ``labels`` order."""
    proba = np.asarray(adapted.predict_proba(X_query), dtype=np.float64)
    position = {label: i for i, label in enumerate(adapted.classes_)}
    return proba[:, [position[label] for label in labels]]


def score_episode(score_func, name, response_method, y_true, y_pred, labels, kwargs):
    """``score_func`` on one episode; a failure names the response_method to use."""
    if response_method == "predict_proba":
        extra = {}
        if _accepts(score_func, "labels"):
            extra["labels"] = labels
        if len(labels) == 2:
            # sklearn's binary convention: the probability of the second class
            y_pred = y_pred[:, 1]
            if _accepts(score_func, "pos_label"):
                extra["pos_label"] = labels[1]
        kwargs = {**extra, **kwargs}
    try:
        return score_func(y_true, y_pred, **kwargs)
    except ValueError as exc:
        if response_method == "predict":
            hint = (
                "If it scores class probabilities (like log_loss or "
                "roc_auc_score), pass response_method='predict_proba'."
            )
        else:
            hint = (
                "It was given class probabilities; if it scores predicted "
                "labels (like accuracy_score), pass response_method='predict'."
            )
        raise ValueError(
            f"score_func {name} failed on an episode with "
            f"response_method={response_method!r}: {exc} {hint}"
        ) from exc
