"""Model selection that measures few-shot generalisation.

Ordinary cross-validation tests a classifier on new samples of the classes it
was trained on. Few-shot learning is about new *classes*: a meta-learner is
trained on some classes and judged on episodes drawn from others, each
episode a small N-way K-shot problem solved from its support set alone. The
pieces here make scikit-learn's tools measure exactly that:

* :class:`ClassDisjointKFold`: test folds hold only classes never seen in
  training;
* :func:`make_episodic_scorer`: a ``scoring=`` for ``GridSearchCV`` built from
  any sklearn metric, averaged over episodes;
* :func:`evaluate_episodes`: per-episode scores, their mean and the 95 %
  confidence interval, as the papers report them.
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch
from scipy.stats import norm
from sklearn.metrics import accuracy_score
from sklearn.model_selection import BaseCrossValidator
from sklearn.pipeline import Pipeline
from sklearn.utils import Bunch, check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_consistent_length

from ._base import _num_samples, derive_seed
from ._episodes import EpisodeSampler

__all__ = ["ClassDisjointKFold", "evaluate_episodes", "make_episodic_scorer"]


class ClassDisjointKFold(BaseCrossValidator):
    """K-fold cross-validation whose test folds hold unseen classes.

    The classes of ``y`` are split into ``n_splits`` groups of (almost) equal
    size; each fold tests on the samples of one group and trains on the rest,
    so no test class is ever seen in training. Combined with
    :func:`make_episodic_scorer`, ``GridSearchCV`` then selects the
    hyper-parameters that generalise to new classes from few examples.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds; at most the number of classes.
    shuffle : bool, default=False
        Shuffle the classes before splitting them into folds.
    random_state : int, RandomState instance or None, default=None
        Order of the classes when ``shuffle=True``.

    See Also
    --------
    sklearn.model_selection.GroupKFold : The same idea with explicit groups.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_meta.model_selection import ClassDisjointKFold
    >>> y = np.array(["a", "a", "b", "b", "c", "c"])
    >>> for train, test in ClassDisjointKFold(n_splits=3).split(np.zeros((6, 1)), y):
    ...     print(np.unique(y[train]), np.unique(y[test]))
    ['b' 'c'] ['a']
    ['a' 'c'] ['b']
    ['a' 'b'] ['c']
    """

    def __init__(self, n_splits=5, *, shuffle=False, random_state=None):
        if not isinstance(n_splits, Integral) or n_splits < 2:
            raise ValueError(f"n_splits must be an int of at least 2; got {n_splits!r}.")
        self.n_splits = int(n_splits)
        self.shuffle = shuffle
        self.random_state = random_state

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of splits.

        Parameters
        ----------
        X, y, groups : object
            Ignored; present for API compatibility.

        Returns
        -------
        int
        """
        return self.n_splits

    def split(self, X, y, groups=None):
        """Indices of training and test samples, test classes unseen in training.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Samples (only their number is used).
        y : array-like of shape (n_samples,)
            Class labels; folds are made of whole classes.
        groups : object
            Ignored.

        Yields
        ------
        train : ndarray
            Training indices.
        test : ndarray
            Test indices.
        """
        if y is None:
            raise ValueError("ClassDisjointKFold splits by class: pass y to split().")
        y = np.asarray(y)
        check_consistent_length(X, y)
        classes, codes = np.unique(y, return_inverse=True)
        if len(classes) < self.n_splits:
            raise ValueError(
                f"Cannot have n_splits={self.n_splits} greater than the number of "
                f"classes: {len(classes)}. Lower n_splits."
            )
        order = np.arange(len(classes))
        if self.shuffle:
            order = check_random_state(self.random_state).permutation(len(classes))
        fold_of_class = np.empty(len(classes), dtype=np.int64)
        for fold, members in enumerate(np.array_split(order, self.n_splits)):
            fold_of_class[members] = fold
        fold_of_sample = fold_of_class[codes]
        for fold in range(self.n_splits):
            yield np.flatnonzero(fold_of_sample != fold), np.flatnonzero(fold_of_sample == fold)

    def _iter_test_indices(self, X=None, y=None, groups=None):  # pragma: no cover
        for _, test in self.split(X, y, groups):
            yield test


def _final_step(estimator, X):
    """Walk through fitted Pipeline steps: the last estimator and transformed X."""
    while isinstance(estimator, Pipeline):
        if len(estimator.steps) > 1:
            X = estimator[:-1].transform(X)
        estimator = estimator.steps[-1][1]
    if not hasattr(estimator, "adapt"):
        raise TypeError(
            f"Episodic evaluation needs a few-shot estimator with an adapt() method "
            f"(such as ProtoNetClassifier); got {type(estimator).__name__}."
        )
    return estimator, X


def _take(X, idx):
    if hasattr(X, "iloc"):
        return X.iloc[idx]
    return np.asarray(X)[idx]


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
    estimator : fitted estimator with ``adapt``, or a Pipeline ending in one
        The meta-trained model.
    X : array-like of shape (n_samples, ...)
        Samples of the evaluation classes (usually never seen in training).
    y : array-like of shape (n_samples,)
        Their labels.
    n_way, n_shot, n_query : int, default=5, 1, 15
        Classes per episode, support and query samples per class.
    n_episodes : int, default=600
        Number of episodes.
    score_func : callable, default=accuracy_score
        ``score_func(y_true, y_pred, **score_kwargs)`` for one episode.
    confidence : float, default=0.95
        Level of the normal-approximation confidence interval of the mean.
    random_state : int, RandomState instance or None, default=None
        Draw of the episodes; the same value gives the same episodes for any
        estimator, so models are compared on identical tasks.
    **score_kwargs : dict
        Passed to ``score_func`` (e.g. ``average="macro"``).

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
        fix.

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
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1); got {confidence!r}.")
    y = np.asarray(y)
    if y.ndim != 1 or _num_samples(X) != y.shape[0]:
        raise ValueError(
            f"X and y must hold the same number of samples, with y 1-D; got "
            f"{_num_samples(X)} samples and y of shape {y.shape}."
        )
    check_classification_targets(y)
    final, Xf = _final_step(estimator, X)
    classes, codes = np.unique(y, return_inverse=True)
    sampler = EpisodeSampler(
        codes, n_way=n_way, n_shot=n_shot, n_query=n_query, class_names=classes
    )
    gen = torch.Generator().manual_seed(derive_seed(random_state))
    s_idx, q_idx, s_y, q_y = sampler.sample(gen, n_episodes)
    # global class of each episode-local label: that of its first support sample
    episode_classes = torch.as_tensor(codes)[s_idx[:, ::n_shot]].numpy()  # (E, n_way)
    q_idx_np = q_idx.numpy()
    y_true = y[q_idx_np]
    if hasattr(final, "_predict_episodes"):
        # number the episode classes in sorted order, as adapt() does, so that
        # tied scores resolve to the same class as in the adapt/predict loop
        rank = np.argsort(np.argsort(episode_classes, axis=1), axis=1)
        s_y = torch.as_tensor(np.take_along_axis(rank, s_y.numpy(), axis=1))
        episode_classes = np.sort(episode_classes, axis=1)
        local = final._predict_episodes(Xf, s_idx, s_y, q_idx, n_way).cpu().numpy()
        y_pred = classes[np.take_along_axis(episode_classes, local, axis=1)]
    else:
        s_idx_np = s_idx.numpy()
        y_pred = np.stack(
            [
                final.adapt(_take(Xf, s_idx_np[e]), y[s_idx_np[e]]).predict(
                    _take(Xf, q_idx_np[e])
                )
                for e in range(n_episodes)
            ]
        )
    if score_func is accuracy_score and not score_kwargs:
        scores = (y_true == y_pred).mean(axis=1)
    else:
        scores = np.array(
            [score_func(y_true[e], y_pred[e], **score_kwargs) for e in range(n_episodes)],
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

    def __init__(self, score_func, sign, kwargs, score_kwargs):
        self._score_func = score_func
        self._sign = sign
        self._kwargs = kwargs
        self._score_kwargs = score_kwargs

    def __call__(self, estimator, X, y, sample_weight=None):
        if sample_weight is not None:
            raise ValueError("The episodic scorer does not take sample_weight.")
        result = evaluate_episodes(
            estimator, X, y, score_func=self._score_func, **self._kwargs, **self._score_kwargs
        )
        return self._sign * result.mean

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in {**self._kwargs, **self._score_kwargs}.items())
        sign = "" if self._sign > 0 else ", greater_is_better=False"
        return f"make_episodic_scorer({self._score_func.__name__}, {args}{sign})"


def make_episodic_scorer(
    score_func=accuracy_score,
    *,
    n_way=5,
    n_shot=1,
    n_query=15,
    n_episodes=100,
    random_state=0,
    greater_is_better=True,
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
        Any ``metric(y_true, y_pred, **kwargs)`` of :mod:`sklearn.metrics`.
    n_way, n_shot, n_query : int, default=5, 1, 15
        Episode shape.
    n_episodes : int, default=100
        Episodes per call (papers report 600 for final numbers).
    random_state : int, RandomState instance or None, default=0
        Draw of the episodes. The int default scores every candidate of a
        grid search on the same episodes.
    greater_is_better : bool, default=True
        False for losses: the scorer then returns the negated mean.
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
    """
    if not callable(score_func):
        raise ValueError(f"score_func must be a metric function; got {score_func!r}.")
    kwargs = dict(
        n_way=n_way,
        n_shot=n_shot,
        n_query=n_query,
        n_episodes=n_episodes,
        random_state=random_state,
    )
    return _EpisodicScorer(score_func, 1 if greater_is_better else -1, kwargs, score_kwargs)
