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

from ._domain import make_da_scorer
from ._episodic import evaluate_episodes, make_episodic_scorer
from ._split import ClassDisjointKFold, DomainShuffleSplit

__all__ = [
    "ClassDisjointKFold",
    "DomainShuffleSplit",
    "evaluate_episodes",
    "make_da_scorer",
    "make_episodic_scorer",
]
