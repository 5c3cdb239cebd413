"""scikit-learn's early-stopping rule (``MLPClassifier``) as a small object."""

from __future__ import annotations

import numpy as np

__all__ = ["EarlyStopping"]


class EarlyStopping:
    """Stop when ``n_iter_no_change + 1`` checks in a row do not beat the best by ``tol``.

    ``tol`` and ``n_iter_no_change`` are read from the estimator at every
    check, so a callback that changes them during a fit (skorch's
    ``ParamMapper``) is obeyed.

    Parameters
    ----------
    estimator : object
        Has the parameters ``tol`` (the improvement over the best score a
        check must make to count) and ``n_iter_no_change`` (how many checks in
        a row may fail to improve before training stops).
    best_state : callable
        Returns a copy of what to restore at the end (the network's weights);
        called whenever a check sets a new best.

    Attributes
    ----------
    scores : list of float
        Every validation score, in order (the estimator's
        ``validation_scores_`` is this list).
    best_score : float
        The best score so far (``-inf`` before the first check).
    best : object or None
        What ``best_state`` returned at the best check.
    """

    def __init__(self, estimator, best_state):
        self.estimator = estimator
        self._best_state = best_state
        self.scores = []
        self.best_score = -np.inf
        self.best = None
        self._no_improvement = 0

    def update(self, score):
        """Record a validation score."""
        self.scores.append(score)
        if score < self.best_score + self.estimator.tol:
            self._no_improvement += 1
        else:
            self._no_improvement = 0
        if score > self.best_score:
            self.best_score = score
            self.best = self._best_state()

    def should_stop(self):
        """Whether the rule says stop."""
        return self._no_improvement > self.estimator.n_iter_no_change

    def replay(self, scores):
        """Start again from ``scores`` (a resumed fit), the current state taken as best."""
        self.scores.clear()
        self.best_score = -np.inf
        self._no_improvement = 0
        for score in scores:
            self.update(score)
        self.best = self._best_state()
