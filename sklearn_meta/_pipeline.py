"""Reaching the last estimator of a fitted Pipeline, with the data it would see.

Shared by :mod:`sklearn_meta.model_selection` and :mod:`sklearn_meta.plotting`.
"""

from sklearn.pipeline import Pipeline

__all__ = ["final_step"]


def final_step(estimator, *Xs, caller="Episodic evaluation", hint=""):
    """Walk through fitted Pipeline steps: the last estimator, then each X transformed.

    The last estimator must be a few-shot one (with ``adapt``); otherwise a
    TypeError names ``caller`` and ends with ``hint``.
    """
    while isinstance(estimator, Pipeline):
        if len(estimator.steps) > 1:
            Xs = tuple(estimator[:-1].transform(X) for X in Xs)
        estimator = estimator.steps[-1][1]
    if not hasattr(estimator, "adapt"):
        raise TypeError(
            f"{caller} needs a few-shot estimator with an adapt() method "
            f"(such as ProtoNetClassifier); got {type(estimator).__name__}.{hint}"
        )
    return (estimator, *Xs)
