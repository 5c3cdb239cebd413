"""Helpers the modules of model_selection share.

:func:`take_rows` indexes the rows of any ``X`` (arrays, lists, DataFrames).
:func:`batched_episode_predictor` is the one place where model_selection
reaches for a private method of an estimator.
"""

from __future__ import annotations

import numpy as np

__all__ = ["batched_episode_predictor", "take_rows"]


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
