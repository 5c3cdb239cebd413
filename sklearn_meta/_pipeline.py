"""Reaching the model inside a fitted Pipeline or search, with the data it would see.

Shared by :mod:`sklearn_meta.model_selection` and :mod:`sklearn_meta.plotting`:
every function there that takes a fitted model takes a Pipeline ending in
one, a fitted ``GridSearchCV`` / ``RandomizedSearchCV`` (its
``best_estimator_``), or any nesting of the two, through :func:`best_model`
and :func:`final_step`.
"""

from sklearn.exceptions import NotFittedError
from sklearn.pipeline import Pipeline

__all__ = ["best_model", "final_model", "final_step", "is_search"]


def is_search(estimator):
    """Whether ``estimator`` is a hyper-parameter search (``GridSearchCV``, ...)."""
    return hasattr(estimator, "estimator") and (
        hasattr(estimator, "param_grid") or hasattr(estimator, "param_distributions")
    )


def best_model(estimator, caller="This function"):
    """``best_estimator_`` of a fitted search, else ``estimator`` itself.

    An unfitted search raises a :class:`~sklearn.exceptions.NotFittedError`,
    a search fitted with ``refit=False`` a ``ValueError``; both name
    ``caller``, ``.best_estimator_`` and ``refit=True``.
    """
    if not is_search(estimator):
        return estimator
    if hasattr(estimator, "best_estimator_"):
        return estimator.best_estimator_
    name = type(estimator).__name__
    if not hasattr(estimator, "cv_results_"):
        raise NotFittedError(
            f"{caller} got a {name} that is not fitted. Fit it (with refit=True, the "
            "default) and pass it, or pass its .best_estimator_."
        )
    raise ValueError(
        f"{caller} uses one fitted model; this {name} was fitted with refit=False, so "
        "it keeps none. Fit it with refit=True and pass it (or its .best_estimator_), "
        "or fit the estimator with the best_params_ and pass that."
    )


def final_model(estimator, caller="This function"):
    """The last estimator of (nested) fitted Pipelines and searches."""
    while True:
        estimator = best_model(estimator, caller)
        if not isinstance(estimator, Pipeline):
            return estimator
        estimator = estimator.steps[-1][1]


def final_step(estimator, *Xs, caller="Episodic evaluation", hint=""):
    """Walk through fitted searches and Pipeline steps: the last estimator, then each X transformed.

    A fitted search stands for its ``best_estimator_`` (see
    :func:`best_model`). The last estimator must be a few-shot one (with
    ``adapt``); otherwise a TypeError names ``caller`` and ends with ``hint``.
    """
    while True:
        estimator = best_model(estimator, caller)
        if not isinstance(estimator, Pipeline):
            break
        if len(estimator.steps) > 1:
            Xs = tuple(estimator[:-1].transform(X) for X in Xs)
        estimator = estimator.steps[-1][1]
    if not hasattr(estimator, "adapt"):
        raise TypeError(
            f"{caller} needs a few-shot estimator with an adapt() method "
            f"(such as ProtoNetClassifier); got {type(estimator).__name__}.{hint}"
        )
    return (estimator, *Xs)
