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

# _DAScorer and _EpisodicScorer: scorers pickled when model_selection was a
# single module (inside a saved GridSearchCV, say) name their classes here.
from ._domain import _DAScorer, make_da_scorer  # noqa: F401
from ._episodic import _EpisodicScorer, evaluate_episodes, make_episodic_scorer  # noqa: F401
from ._split import ClassDisjointKFold, DomainShuffleSplit

__all__ = [
    "ClassDisjointKFold",
    "DomainShuffleSplit",
    "evaluate_episodes",
    "make_da_scorer",
    "make_episodic_scorer",
]
