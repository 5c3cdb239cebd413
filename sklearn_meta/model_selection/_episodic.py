"""Few-shot evaluation on episodes of unseen classes, or on unseen regression tasks.

:func:`evaluate_episodes` scores a fitted few-shot estimator on many N-way
K-shot episodes (the papers' protocol: mean and confidence interval), or a
few-shot regressor on the tasks named by ``groups``;
:func:`make_episodic_scorer` makes of it a ``scoring=`` for scikit-learn's
model selection.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch
from sklearn.metrics import accuracy_score
from sklearn.utils import Bunch
from sklearn.utils.metadata_routing import MetadataRequest
from sklearn.utils.multiclass import check_classification_targets

from .._devices import derive_seed
from .._episodes import EpisodeSampler
from .._pipeline import final_model, final_step
from .._sklearn import num_samples
from ._scoring import adapted_proba, check_response_method, metric_name, score_episode
from ._tasks import evaluate_tasks
from ._utils import (
    batched_episode_predictor,
    is_regression_model,
    mean_interval,
    take_rows,
)

#: query samples per class of a classifier's episodes when n_query is None
_N_QUERY = 15

__all__ = ["evaluate_episodes", "make_episodic_scorer"]


def evaluate_episodes(
    estimator,
    X,
    y,
    *,
    groups=None,
    n_way=5,
    n_shot=1,
    n_query=None,
    n_episodes=600,
    score_func=None,
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

    A few-shot regressor (:class:`~sklearn_meta.MAMLRegressor`) is scored
    on the tasks named by ``groups`` instead: each task is one episode, its
    rows split once (from ``random_state``) into ``n_shot`` support rows,
    to which the regressor is adapted, and query rows (``n_query`` of them,
    or all the others), whose predictions are scored. It reports the mean
    squared error and the R² of every task, each with its mean and
    confidence interval.

    Parameters
    ----------
    estimator : fitted estimator with ``adapt``, a Pipeline ending in one, or a fitted search
        The meta-trained model. A fitted ``GridSearchCV`` or
        ``RandomizedSearchCV`` stands for its ``best_estimator_``.
    X : array-like of shape (n_samples, ...)
        Samples of the evaluation classes (usually never seen in training).
    y : array-like of shape (n_samples,)
        Their labels (a regressor: their real-valued targets).
    groups : array-like of shape (n_samples,), default=None
        Regressors only, and required for them: the task of each row.
    n_way : int, default=5
        Classes per episode, at least 2 (``adapt`` refuses a single class).
        Not used for a regressor.
    n_shot : int, default=1
        Support samples per class (a regressor: support rows per task).
    n_query : int or None, default=None
        Query samples per class; None: 15. A regressor: query rows per
        task; None: all the rows of the task outside its support set.
    n_episodes : int, default=600
        Number of episodes. A regressor: the most tasks scored, each once;
        with more groups than this, that many are drawn from
        ``random_state``, else every group is scored.
    score_func : callable or None, default=None
        ``score_func(y_true, y_pred, **score_kwargs)`` for one episode, where
        ``y_pred`` is what ``response_method`` gives. None:
        :func:`~sklearn.metrics.accuracy_score` for a classifier,
        :func:`~sklearn.metrics.mean_squared_error` for a regressor.
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
        ``ci_high``, ``metric`` (the name of ``score_func``), and the episode
        settings. For a regressor, ``scores`` holds the metric of each task
        (by default its mean squared error: lower is better) and besides:

        - ``mse``, ``r2``: Bunches with ``scores``, ``mean``, ``std``,
          ``ci``, ``ci_low``, ``ci_high`` of the mean squared error and of
          the R² (:func:`~sklearn.metrics.r2_score`) of every task, whatever
          ``score_func`` is;
        - ``groups``: the task of each score;
        - ``n_episodes``: the number of tasks scored.

    Raises
    ------
    ValueError
        When the data cannot supply the episodes, naming the class (or
        task) and the fix; when ``n_way`` is below 2; when ``score_func`` is
        a probability metric (``log_loss``, ``roc_auc_score``, ...) or fails
        on what it was given, naming the ``response_method`` that fits it;
        for a regressor without ``groups``.

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

    A few-shot regressor, scored on new sine waves from 10 points of each:

    >>> from sklearn_meta import MAMLRegressor
    >>> from sklearn_meta.datasets import make_sinusoids
    >>> X, y, groups = make_sinusoids(n_tasks=100, n_samples=20, random_state=0)
    >>> reg = MAMLRegressor(max_iter=50, random_state=0).fit(X, y, groups=groups)
    >>> X_new, y_new, tasks = make_sinusoids(n_tasks=30, n_samples=20, random_state=1)
    >>> res = evaluate_episodes(reg, X_new, y_new, groups=tasks, n_shot=10, random_state=0)
    >>> res.scores.shape, res.r2.scores.shape       # per task: MSE, and R²
    ((30,), (30,))
    >>> bool(res.mse.ci_low < res.mean < res.mse.ci_high)
    True
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}.")
    y = np.asarray(y)
    if y.ndim != 1 or num_samples(X) != y.shape[0]:
        raise ValueError(
            f"X and y must hold the same number of samples, with y 1-D; got "
            f"{num_samples(X)} samples and y of shape {y.shape}."
        )
    final, Xf = final_step(estimator, X)
    if is_regression_model(final):
        if response_method != "predict":
            raise ValueError(
                f"A regressor's tasks are scored on its predictions: response_method must "
                f"be 'predict'; got {response_method!r}."
            )
        return evaluate_tasks(
            final, Xf, y, groups, n_shot=n_shot, n_query=n_query, n_tasks=n_episodes,
            score_func=score_func, confidence=confidence, random_state=random_state,
            score_kwargs=score_kwargs,
        )
    if groups is not None:
        raise ValueError(
            "groups names the tasks of a few-shot regressor; the episodes of a "
            f"classifier ({type(final).__name__}) are drawn from the classes of y. Leave "
            "groups out (with make_episodic_scorer in a search: "
            "set_score_request(groups=False))."
        )
    if not isinstance(n_way, Integral) or isinstance(n_way, bool) or n_way < 2:
        raise ValueError(
            f"n_way must be an int of at least 2: an episode tells classes apart, and "
            f"adapt() refuses a single class; got n_way={n_way!r}."
        )
    n_query = _N_QUERY if n_query is None else n_query
    score_func = accuracy_score if score_func is None else score_func
    score_name = check_response_method(score_func, response_method)
    check_classification_targets(y)
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
    mean, std, half = mean_interval(scores, confidence)
    return Bunch(
        scores=scores,
        mean=mean,
        std=std,
        ci=half,
        ci_low=mean - half,
        ci_high=mean + half,
        metric=score_name,
        confidence=confidence,
        n_way=n_way,
        n_shot=n_shot,
        n_query=n_query,
        n_episodes=n_episodes,
    )


class _EpisodicScorer:
    """Callable ``scorer(estimator, X, y, groups=None)`` averaging a metric over episodes."""

    #: how groups= is requested at scoring time (set_score_request); None:
    #: not requested (and pickles of scorers from before it was)
    _groups_request = None

    def __init__(self, score_func, sign, kwargs, score_kwargs, response_method="predict"):
        self._score_func = score_func
        self._sign = sign
        self._kwargs = kwargs
        self._score_kwargs = score_kwargs
        self._response_method = response_method

    def __call__(self, estimator, X, y, sample_weight=None, groups=None):
        if sample_weight is not None:
            raise ValueError("The episodic scorer does not take sample_weight.")
        result = evaluate_episodes(
            estimator,
            X,
            y,
            groups=groups,
            score_func=self._score_func,
            response_method=self._response_method,
            **self._kwargs,
            **self._score_kwargs,
        )
        if self._score_func is None and is_regression_model(final_model(estimator)):
            # the default metric of a regressor is an error: negated, as
            # scikit-learn's neg_mean_squared_error, so that greater is better
            return -self._sign * result.mean
        return self._sign * result.mean

    def set_score_request(self, *, groups=None):
        """Request ``groups`` at scoring time, through scikit-learn's metadata routing.

        A few-shot regressor is scored on the tasks named by ``groups``: in
        a search, with ``sklearn.set_config(enable_metadata_routing=True)``,
        ``scorer.set_score_request(groups=True)`` lets the ``groups`` passed
        to ``fit`` reach the scorer (as they reach ``GroupKFold``).

        Parameters
        ----------
        groups : bool, str or None, default=None
            True: request ``groups``; False: do not; a string: request it
            under that alias; None: leave the request as it is.

        Returns
        -------
        self : object
            The scorer.
        """
        if groups is not None:
            self._groups_request = groups
        return self

    def get_metadata_routing(self):
        """What the scorer takes at scoring time: ``groups`` when requested.

        Returns
        -------
        MetadataRequest
        """
        request = MetadataRequest(owner=type(self).__name__)
        if self._groups_request is not None:
            request.score.add_request(param="groups", alias=self._groups_request)
        return request

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in {**self._kwargs, **self._score_kwargs}.items())
        if self._response_method != "predict":
            args += f", response_method={self._response_method!r}"
        sign = "" if self._sign > 0 else ", greater_is_better=False"
        metric = "" if self._score_func is None else f"{metric_name(self._score_func)}, "
        return f"make_episodic_scorer({metric}{args}{sign})"


def make_episodic_scorer(
    score_func=None,
    *,
    n_way=5,
    n_shot=1,
    n_query=None,
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

    A few-shot regressor is scored on the tasks named by ``groups`` (see
    :func:`evaluate_episodes`): by default the scorer returns minus their
    mean squared error (greater is better, as scikit-learn's
    ``"neg_mean_squared_error"``). ``groups`` reach it through metadata
    routing: ``sklearn.set_config(enable_metadata_routing=True)``, then
    ``scorer.set_score_request(groups=True)``; with ``GroupKFold`` in a
    search, each test fold then holds tasks unseen in training.

    Parameters
    ----------
    score_func : callable or None, default=None
        Any ``metric(y_true, y_pred, **kwargs)`` of :mod:`sklearn.metrics`;
        metrics of probabilities need ``response_method="predict_proba"``.
        None: :func:`~sklearn.metrics.accuracy_score` for a classifier, and
        minus :func:`~sklearn.metrics.mean_squared_error` for a regressor.
    n_way, n_shot : int, default=5, 1
        Episode shape (a regressor: ``n_shot`` support rows per task).
    n_query : int or None, default=None
        Query samples per class (None: 15); a regressor: query rows per
        task (None: all the others).
    n_episodes : int, default=100
        Episodes per call (papers report 600 for final numbers); a
        regressor: the most tasks scored.
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
        ``scorer(estimator, X, y, groups=None) -> float``, with
        ``set_score_request(groups=...)``.

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

    Tuning a few-shot regressor's ``inner_lr`` on tasks it never saw:

    >>> import sklearn
    >>> from sklearn.model_selection import GridSearchCV, GroupKFold
    >>> from sklearn_meta import MAMLRegressor
    >>> from sklearn_meta.datasets import make_sinusoids
    >>> X, y, groups = make_sinusoids(n_tasks=40, n_samples=20, random_state=0)
    >>> with sklearn.config_context(enable_metadata_routing=True):
    ...     reg = MAMLRegressor(max_iter=10, random_state=0).set_fit_request(groups=True)
    ...     scorer = make_episodic_scorer(n_shot=10).set_score_request(groups=True)
    ...     search = GridSearchCV(reg, {"inner_lr": [0.001, 0.01]}, cv=GroupKFold(2),
    ...                           scoring=scorer).fit(X, y, groups=groups)
    >>> bool(search.best_score_ < 0)                   # minus a mean squared error
    True
    """
    if score_func is not None and not callable(score_func):
        raise ValueError(f"score_func must be a metric function; got {score_func!r}.")
    check_response_method(score_func or accuracy_score, response_method)
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
