"""Few-shot regression scored task by task (the regressor side of evaluate_episodes).

A regression task is a group of rows (scikit-learn's ``groups``). Each task
scored is split once, from ``random_state``, into ``n_shot`` support rows and
query rows; the regressor is adapted to the support rows (``adapt``, which
leaves it unchanged) and its predictions of the query rows are scored: the
mean squared error and R² of every task, and the metric asked for, each with
its mean and confidence interval over the tasks.
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import mean_squared_error, r2_score
from sklearn.utils import Bunch, check_random_state

from .._devices import derive_seed
from .._inputs import encode_groups
from ._scoring import metric_name
from ._utils import batched_task_predictor, mean_interval, take_rows

__all__ = ["evaluate_tasks", "regression_targets", "task_splits"]

#: the fewest query rows a task is scored on (an R² needs two)
MIN_QUERY = 2


def regression_targets(y):
    """``y`` as a float vector, or a ValueError that says what a regressor is scored on."""
    try:
        y = np.asarray(y, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(
            "Scoring a regressor on tasks needs real-valued targets y; got values of dtype "
            f"{np.asarray(y).dtype}."
        ) from None
    if not np.isfinite(y).all():
        raise ValueError("y holds NaN or infinite values; drop those rows.")
    return y


def task_splits(groups, n_samples, *, n_shot, n_query, n_tasks, random_state):
    """The tasks to score, as ``(names, support_rows, query_rows)``.

    At most ``n_tasks`` groups, drawn from ``random_state`` when there are
    more (else every group, in sorted order); the rows of each are permuted
    once: the first ``n_shot`` are its support, the next ``n_query`` (all the
    others when None) its query.
    """
    if groups is None:
        raise ValueError(
            "Scoring a regressor on few-shot tasks needs groups= (the task of each "
            "row): it adapts to n_shot rows of each task and scores the others. With "
            "make_episodic_scorer in a search, switch on metadata routing "
            "(sklearn.set_config(enable_metadata_routing=True)), call "
            "scorer.set_score_request(groups=True) and pass groups= to fit."
        )
    codes, names = encode_groups(groups, n_samples)
    rng = check_random_state(derive_seed(random_state))
    chosen = np.arange(len(names))
    if len(names) > n_tasks:
        chosen = np.sort(rng.choice(len(names), n_tasks, replace=False))
    need = n_shot + (MIN_QUERY if n_query is None else n_query)
    sizes = np.bincount(codes, minlength=len(names))
    small = [names[g] for g in chosen if sizes[g] < need]
    if small:
        what = "at least 2 query rows" if n_query is None else f"n_query={n_query}"
        raise ValueError(
            f"{len(small)} task(s) have fewer than {need} rows, which n_shot={n_shot} "
            f"support rows and {what} need: {small[:5]!r}"
            f"{' and more' if len(small) > 5 else ''}. Lower n_shot (or n_query), or "
            "leave those groups out."
        )
    support, query = [], []
    for g in chosen:
        rows = rng.permutation(np.flatnonzero(codes == g))
        stop = None if n_query is None else n_shot + n_query
        support.append(rows[:n_shot])
        query.append(rows[n_shot:stop])
    return names[chosen], support, query


def _summary(scores, confidence):
    mean, std, half = mean_interval(scores, confidence)
    return Bunch(
        scores=scores, mean=mean, std=std, ci=half, ci_low=mean - half, ci_high=mean + half
    )


def evaluate_tasks(estimator, X, y, groups, *, n_shot, n_query, n_tasks, score_func,
                   confidence, random_state, score_kwargs):
    """The regressor branch of evaluate_episodes; see its docstring."""
    y = regression_targets(y)
    names, support, query = task_splits(
        groups, len(y), n_shot=n_shot, n_query=n_query, n_tasks=n_tasks,
        random_state=random_state,
    )
    predict_tasks = batched_task_predictor(estimator)
    if predict_tasks is not None:
        preds = predict_tasks(X, y, list(zip(support, query)))
    else:
        preds = [
            np.asarray(estimator.adapt(take_rows(X, s), y[s]).predict(take_rows(X, q)))
            for s, q in zip(support, query)
        ]
    truth = [y[q] for q in query]
    mse = np.array([mean_squared_error(t, p) for t, p in zip(truth, preds)])
    r2 = np.array([r2_score(t, p) for t, p in zip(truth, preds)])
    if score_func is None:
        scores = mse
    else:
        scores = np.array(
            [score_func(t, p, **score_kwargs) for t, p in zip(truth, preds)], dtype=np.float64
        )
    return Bunch(
        **_summary(scores, confidence),
        mse=_summary(mse, confidence),
        r2=_summary(r2, confidence),
        metric=metric_name(mean_squared_error if score_func is None else score_func),
        groups=names,
        confidence=confidence,
        n_shot=n_shot,
        n_query=n_query,
        n_episodes=len(names),
    )
