"""Helpers the modules of model_selection share.

:func:`take_rows` indexes the rows of any ``X`` (arrays, lists, DataFrames);
:func:`mean_interval` gives the mean of per-episode scores and its
confidence interval. :func:`batched_episode_predictor` and
:func:`batched_task_predictor` are the one place where model_selection
reaches for a private method of an estimator.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm
from sklearn.base import is_regressor

__all__ = [
    "batched_episode_predictor",
    "batched_task_predictor",
    "is_regression_model",
    "mean_interval",
    "take_rows",
]


def is_regression_model(estimator):
    """Whether ``estimator`` is a regressor; False for objects without scikit-learn's tags."""
    try:
        return is_regressor(estimator)
    except (AttributeError, TypeError):  # a wrapper that is no BaseEstimator
        return False


def mean_interval(scores, confidence):
    """``(mean, std, half_width)``: the normal-approximation interval of the mean."""
    n = len(scores)
    mean = float(np.mean(scores))
    std = float(np.std(scores, ddof=1)) if n > 1 else 0.0
    return mean, std, float(norm.ppf(0.5 + confidence / 2) * std / np.sqrt(n))


def take_rows(X, idx):
    """Rows ``idx`` of ``X``: by position for a DataFrame, else of ``np.asarray(X)``."""
    if hasattr(X, "iloc"):
        return X.iloc[idx]
    return np.asarray(X)[idx]


def batched_episode_predictor(estimator, proba):
    """The estimator's prediction of a whole batch of episodes, or None.

    The few-shot classifiers of sklearn_meta classify every episode at once
    with tensor ops, through private methods called as
    ``method(X, s_idx, s_y, q_idx, n_way)`` with the support rows, their
    episode-local labels and the query rows of
    :meth:`~sklearn_meta._episodes.EpisodeSampler.sample`:

    * ``_predict_episodes``: episode-local labels, a tensor of shape
      ``(n_episodes, n_query_rows)``;
    * ``_predict_episodes_proba``: probabilities, a tensor of shape
      ``(n_episodes, n_query_rows, n_way)``.

    An estimator without the method (``proba`` picks which) gives None, and
    :func:`~sklearn_meta.model_selection.evaluate_episodes` adapts and
    predicts episode by episode instead.
    """
    name = "_predict_episodes_proba" if proba else "_predict_episodes"
    return getattr(estimator, name) if hasattr(estimator, name) else None


def batched_task_predictor(estimator):
    """The regressor's prediction of a whole list of tasks, or None.

    ``MAMLRegressor._predict_tasks(X, y, tasks)`` adapts to the support rows
    of each ``(support, query)`` pair of row indices and returns the
    predictions of its query rows, tasks of the same shape at once. Without
    it, each task is ``adapt`` then ``predict``.
    """
    return getattr(estimator, "_predict_tasks", None)
