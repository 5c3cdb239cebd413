"""Pictures of training, embeddings, few-shot accuracy and episodes.

The displays follow scikit-learn's visualisation API (as in
:class:`sklearn.metrics.RocCurveDisplay`): a classmethod such as
``from_estimator`` computes what is drawn, keeps it on the display as plain
attributes and calls ``plot``; ``plot`` draws it on a matplotlib ``Axes`` (or
``Figure``), keeps the artists (``ax_``, ``figure_``, ``lines_``, ...) and
returns the display, so a picture can be redrawn or overlaid on another
without computing again. The constructors only store what they are given;
``plot`` checks it.

* :class:`TrainingCurveDisplay`: loss or accuracy per epoch or meta-update,
  from ``history_``;
* :class:`EmbeddingDisplay`: a 2-D view (PCA or t-SNE) of ``transform(X)``,
  coloured by class, marked by domain;
* :class:`ShotCurveDisplay`: episodic accuracy against the number of shots
  (and ways), with the 95 % confidence bands of
  :func:`~sklearn_meta.model_selection.evaluate_episodes`;
* :class:`EpisodeDisplay`: the support and query images of an episode, with
  the predicted labels.

Style keyword arguments are matplotlib's, aliases included (``c``/``color``,
``lw``/``linewidth``, ...); they override the displays' defaults. The lines
of :class:`TrainingCurveDisplay` and :class:`ShotCurveDisplay` are kept in a
dict, ``lines_``, by what each line shows (the curve, or the ``n_way``).

matplotlib is an optional dependency (``pip install "sklearn-meta[plot]"``);
the package imports without it and the displays say how to install it when
they need it.
"""

# one private module per display; what they share is in _common
from ._embedding import EmbeddingDisplay
from ._episode import EpisodeDisplay
from ._shot_curve import ShotCurveDisplay
from ._training_curve import TrainingCurveDisplay

__all__ = [
    "EmbeddingDisplay",
    "EpisodeDisplay",
    "ShotCurveDisplay",
    "TrainingCurveDisplay",
]
