"""Few-shot evaluation on episodes of unseen classes.

:func:`evaluate_episodes` scores a fitted few-shot estimator on many N-way
K-shot episodes (the papers' protocol: mean and confidence interval);
:func:`make_episodic_scorer` makes of it a ``scoring=`` for scikit-learn's
model selection.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.stats import norm
from sklearn.metrics import accuracy_score
from sklearn.utils import Bunch
from sklearn.utils.multiclass import check_classification_targets

from .._devices import derive_seed
from .._episodes import EpisodeSampler
from .._pipeline import final_step
from .._sklearn import num_samples
from ._scoring import adapted_proba, check_response_method, metric_name, score_episode
from ._utils import batched_episode_predictor, take_rows

__all__ = ["evaluate_episodes", "make_episodic_scorer"]


def evaluate_episodes(
    estimator,
    X,
    y,
    *,
    n_way=5,
    n_shot=1,
    n_query=15,
    n_episodes=600,
    score_func=accuracy_score,
    response_method="predict",
    confidence=0.95,
    random_state=None,
    **score_kwargs,
):
    """Score a fitted few-shot estimator on episodes drawn from ``(X, y)``.

    Each episode picks ``n_way`` classes of ``y``, ``n_shot`` support and
    ``n_query`` query samples of each; the estimator is adapted to the
    support set (:meth:`adapt`, which leaves it unchanged) and scored on the
    queries. This is the protocol of the few-shot papers (600 episodes or
    more, mean and 95 % confidence interval).

    Parameters
    ----------
    estimator : fitted estimator with ``adapt``, a Pipeline ending in one, or a fitted search
        The meta-trained model. A fitted ``GridSearchCV`` or
        ``RandomizedSearchCV`` stands for its ``best_estimator_``.
    X : array-like of shape (n_samples, ...)
        Samples of the evaluation classes (usually never seen in training).
    y : array-like of shape (n_samples,)
        Their labels.
    n_way, n_shot, n_query : int, default=5, 1, 15
        Classes per episode, support and query samples per class.
    n_episodes : int, default=600
        Number of episodes.
    score_func : callable, default=accuracy_score
        ``score_func(y_true, y_pred, **score_kwargs)`` for one episode, where
        ``y_pred`` is what ``response_method`` gives.
    response_method : {"predict", "predict_proba"}, default="predict"
        What the metric is given, as in
        :func:`sklearn.metrics.make_scorer`. ``"predict"``: the predicted
        label of each query. ``"predict_proba"``: the query's class
        probabilities, of shape ``(n_way * n_query, n_way)``, with columns in
        the sorted order of the episode's classes (the ``classes_`` of the
        adapted estimator); when ``score_func`` takes a ``labels`` argument
        it receives those classes, so the metric always sees every class of
        the episode. In 2-way episodes the metric gets, as from scikit-learn's
        scorers, only the probability of the second class, and that class as
        ``pos_label`` when it takes one. Use it for ``log_loss``,
        ``roc_auc_score`` (with ``multi_class="ovr"`` beyond 2-way),
        ``brier_score_loss``, ``top_k_accuracy_score``.
    confidence : float, default=0.95
        Level of the normal-approximation confidence interval of the mean.
    random_state : int, RandomState instance or None, default=None
        Draw of the episodes; the same value gives the same episodes for any
        estimator, so models are compared on identical tasks.
    **score_kwargs : dict
        Passed to ``score_func`` (e.g. ``average="macro"``); they take
        precedence over the ``labels`` and ``pos_label`` set above.

    Returns
    -------
    result : Bunch
        ``scores`` (one per episode), ``mean``, ``std``, ``ci`` (half-width
        of the interval: ``z * std / sqrt(n_episodes)``), ``ci_low``,
        ``ci_high``, and the episode settings.

    Raises
    ------
    ValueError
        When the data cannot supply the episodes, naming the class and the
        fix; when ``score_func`` is a probability metric (``log_loss``,
        ``roc_auc_score``, ...) or fails on what it was given, naming the
        ``response_method`` that fits it.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_meta import ProtoNetClassifier
    >>> from sklearn_meta.model_selection import evaluate_episodes
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = ProtoNetClassifier(backbone="identity").fit(X[y < 5], y[y < 5])
    >>> res = evaluate_episodes(clf, X[y >= 5], y[y >= 5], n_way=5, n_shot=1,
    ...                         n_episodes=100, random_state=0)
    >>> res.scores.shape, bool(0.5 < res.mean < 1), bool(res.ci_low < res.mean < res.ci_high)
    ((100,), True, True)

    A metric of probabilities, such as the log-loss:

    >>> from sklearn.metrics import log_loss
    >>> res = evaluate_episodes(clf, X[y >= 5], y[y >= 5], n_way=5, n_shot=1,
    ...                         n_episodes=20, score_func=log_loss,
    ...                         response_method="predict_proba", random_state=0)
    >>> bool(res.mean > 0)
    True
    """
    score_name = check_response_method(score_func, response_method)
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}.")
    y = np.asarray(y)
    if y.ndim != 1 or num_samples(X) != y.shape[0]:
        raise ValueError(
            f"X and y must hold the same number of samples, with y 1-D; got "
            f"{num_samples(X)} samples and y of shape {y.shape}."
        )
    check_classification_targets(y)
    final, Xf = final_step(estimator, X)
    classes, codes = np.unique(y, return_inverse=True)
    sampler = EpisodeSampler(
        codes, n_way=n_way, n_shot=n_shot, n_query=n_query, class_names=classes
    )
    gen = torch.Generator().manual_seed(derive_seed(random_state))
    s_idx, q_idx, s_y, q_y = sampler.sample(gen, n_episodes)
    # global class of each episode-local label: that of its first support sample
    episode_classes = torch.as_tensor(codes)[s_idx[:, ::n_shot]].numpy()  # (E, n_way)
    q_idx_np = q_idx.numpy()
    s_idx_np = s_idx.numpy()
    y_true = y[q_idx_np]
    proba = response_method == "predict_proba"
    # number the episode classes in sorted order, as adapt() does, so that
    # tied scores resolve to the same class as in the adapt/predict loop and
    # probability columns follow the sorted classes
    rank = np.argsort(np.argsort(episode_classes, axis=1), axis=1)
    episode_classes = np.sort(episode_classes, axis=1)
    predict_batch = batched_episode_predictor(final, proba)
    if predict_batch is not None:
        # one batched call: (E, n_query_total) local labels, or
        # (E, n_query_total, n_way) probabilities, for the ranked s_y
        s_y = torch.as_tensor(np.take_along_axis(rank, s_y.numpy(), axis=1))
        out = predict_batch(Xf, s_idx, s_y, q_idx, n_way).cpu().numpy()
        if proba:
            y_pred = out.astype(np.float64, copy=False)
        else:
            y_pred = classes[np.take_along_axis(episode_classes, out, axis=1)]
    elif proba:
        y_pred = np.stack(
            [
                adapted_proba(
                    final.adapt(take_rows(Xf, s_idx_np[e]), y[s_idx_np[e]]),
                    take_rows(Xf, q_idx_np[e]),
                    classes[episode_classes[e]],
                )
                for e in range(n_episodes)
            ]
        )
    else:
        y_pred = np.stack(
            [
                final.adapt(take_rows(Xf, s_idx_np[e]), y[s_idx_np[e]]).predict(
                    take_rows(Xf, q_idx_np[e])
                )
                for e in range(n_episodes)
            ]
        )
    if not proba and score_func is accuracy_score and not score_kwargs:
        scores = (y_true == y_pred).mean(axis=1)
    else:
        scores = np.array(
            [
                score_episode(
                    score_func, score_name, response_method, y_true[e], y_pred[e],
                    classes[episode_classes[e]], score_kwargs,
                )
                for e in range(n_episodes)
            ],
            dtype=np.float64,
        )
    mean = float(scores.mean())
    std = float(scores.std(ddof=1)) if n_episodes > 1 else 0.0
    half = float(norm.ppf(0.5 + confidence / 2) * std / np.sqrt(n_episodes))
    return Bunch(
        scores=scores,
        mean=mean,
        std=std,
        ci=half,
        ci_low=mean - half,
        ci_high=mean + half,
        confidence=confidence,
        n_way=n_way,
        n_shot=n_shot,
        n_query=n_query,
        n_episodes=n_episodes,
    )


class _EpisodicScorer:
    """Callable ``scorer(estimator, X, y)`` averaging a metric over episodes."""

    def __init__(self, score_func, sign, kwargs, score_kwargs, response_method="predict"):
        self._score_func = score_func
        self._sign = sign
        self._kwargs = kwargs
        self._score_kwargs = score_kwargs
        self._response_method = response_method

    def __call__(self, estimator, X, y, sample_weight=None):
        if sample_weight is not None:
            raise ValueError("The episodic scorer does not take sample_weight.")
        result = evaluate_episodes(
            estimator,
            X,
            y,
            score_func=self._score_func,
            response_method=self._response_method,
            **self._kwargs,
            **self._score_kwargs,
        )
        return self._sign * result.mean

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in {**self._kwargs, **self._score_kwargs}.items())
        if self._response_method != "predict":
            args += f", response_method={self._response_method!r}"
        sign = "" if self._sign > 0 else ", greater_is_better=False"
        return f"make_episodic_scorer({metric_name(self._score_func)}, {args}{sign})"


def make_episodic_scorer(
    score_func=accuracy_score,
    *,
    n_way=5,
    n_shot=1,
    n_query=15,
    n_episodes=100,
    random_state=0,
    greater_is_better=True,
    response_method="predict",
    **score_kwargs,
):
    """Make a ``scoring=`` callable that measures few-shot generalisation.

    The scorer adapts the fitted estimator to the support set of each episode
    drawn from the data it is given (in cross-validation: a test fold of
    classes unseen in training, see :class:`ClassDisjointKFold`) and returns
    the mean of ``score_func`` over the episodes. It never changes the
    estimator it scores.

    Parameters
    ----------
    score_func : callable, default=accuracy_score
        Any ``metric(y_true, y_pred, **kwargs)`` of :mod:`sklearn.metrics`;
        metrics of probabilities need ``response_method="predict_proba"``.
    n_way, n_shot, n_query : int, default=5, 1, 15
        Episode shape.
    n_episodes : int, default=100
        Episodes per call (papers report 600 for final numbers).
    random_state : int, RandomState instance or None, default=0
        Draw of the episodes. The int default scores every candidate of a
        grid search on the same episodes.
    greater_is_better : bool, default=True
        False for losses: the scorer then returns the negated mean.
    response_method : {"predict", "predict_proba"}, default="predict"
        What ``score_func`` is given for the queries of an episode: the
        predicted labels, or the class probabilities (columns in the sorted
        order of the episode's classes, passed as ``labels=`` to a metric
        that takes them); as in :func:`sklearn.metrics.make_scorer`, see
        :func:`evaluate_episodes`. A metric known to need probabilities
        (``log_loss``, ``roc_auc_score``, ``brier_score_loss``, ...) with
        ``"predict"`` raises a ``ValueError`` here.
    **score_kwargs : dict
        Passed to ``score_func``.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y) -> float``.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn.metrics import f1_score
    >>> from sklearn.model_selection import cross_val_score
    >>> from sklearn_meta import ProtoNetClassifier
    >>> from sklearn_meta.model_selection import ClassDisjointKFold, make_episodic_scorer
    >>> X, y = load_digits(return_X_y=True)
    >>> scorer = make_episodic_scorer(f1_score, n_way=3, n_shot=1, average="macro")
    >>> scores = cross_val_score(ProtoNetClassifier(backbone="identity"), X, y,
    ...                          cv=ClassDisjointKFold(3), scoring=scorer)
    >>> scores.shape
    (3,)

    The log-loss of the episodes' class probabilities, negated as for any
    loss (``GridSearchCV`` maximises):

    >>> from sklearn.metrics import log_loss
    >>> neg_log_loss = make_episodic_scorer(log_loss, n_way=3, greater_is_better=False,
    ...                                     response_method="predict_proba")
    """
    if not callable(score_func):
        raise ValueError(f"score_func must be a metric function; got {score_func!r}.")
    check_response_method(score_func, response_method)
    kwargs = dict(
        n_way=n_way,
        n_shot=n_shot,
        n_query=n_query,
        n_episodes=n_episodes,
        random_state=random_state,
    )
    return _EpisodicScorer(
        score_func, 1 if greater_is_better else -1, kwargs, score_kwargs, response_method
    )
