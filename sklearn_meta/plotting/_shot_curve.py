"""ShotCurveDisplay: episodic accuracy against the number of shots."""

from numbers import Integral

import numpy as np
from sklearn.base import is_regressor
from sklearn.utils import check_random_state

from .._pipeline import final_model
from ._common import (
    check_matplotlib,
    import_pyplot,
    name_from_label,
    style_kwargs,
)

__all__ = ["ShotCurveDisplay"]


def _positive_ints(name, values, low):
    """``values`` (an int or a 1-D sequence), sorted, each once; all at least ``low``."""
    arr = np.atleast_1d(np.asarray(values))
    if (
        arr.ndim != 1
        or arr.size == 0
        or not all(
            isinstance(v, Integral) and not isinstance(v, bool) for v in arr.tolist()
        )
        or arr.min() < low
    ):
        raise ValueError(
            f"{name} must be an int or a 1-D sequence of ints of at least {low}; "
            f"got {values!r}."
        )
    return np.unique(arr.astype(np.int64))  # sorted, each value once


def _episode_scores(estimator, X, y, ways, shots, **kwargs):
    """What ``evaluate_episodes`` gives for each n_way (rows) and n_shot (columns).

    The largest episode is scored first: if the data cannot supply one, it
    is this one, and the error comes before any other point is computed.
    ``kwargs`` (``n_query``, ``n_episodes``, ``random_state``) are the same
    for every point.
    """
    from ..model_selection import evaluate_episodes

    def score(way, shot):
        return evaluate_episodes(
            estimator, X, y, n_way=int(way), n_shot=int(shot), **kwargs
        )

    largest = score(ways[-1], shots[-1])
    return [
        [
            largest if (i, j) == (len(ways) - 1, len(shots) - 1) else score(w, s)
            for j, s in enumerate(shots)
        ]
        for i, w in enumerate(ways)
    ]


class ShotCurveDisplay:
    """Few-shot accuracy against the number of shots, with 95 % bands.

    :meth:`from_estimator` scores a fitted few-shot classifier with
    :func:`~sklearn_meta.model_selection.evaluate_episodes` for each
    ``n_shot`` (and each ``n_way``), on episodes drawn with the same
    ``random_state``; each ``n_way`` is a line over ``n_shot`` with the
    confidence interval of the mean as a band.

    Parameters
    ----------
    n_shot : array-like of shape (n_shots,)
        Support samples per class.
    n_way : array-like of shape (n_ways,)
        Classes per episode.
    mean : array-like of shape (n_ways, n_shots)
        Mean episode accuracy.
    ci_low, ci_high : array-like of shape (n_ways, n_shots)
        Bounds of its confidence interval.
    name : str, default=None
        Name in the legend (``"<name> 5-way"``).
    results : list of list of Bunch, default=None
        ``results[i][j]`` is what ``evaluate_episodes`` gave for
        ``n_way[i]`` and ``n_shot[j]`` (set by :meth:`from_estimator`).

    Attributes
    ----------
    lines_ : dict of int to matplotlib Line2D
        The mean accuracy, one line per ``n_way``, by ``n_way``.
    bands_ : dict of int to matplotlib PolyCollection
        The confidence bands, by ``n_way``.
    ax_ : matplotlib Axes
        The axes drawn on.
    figure_ : matplotlib Figure
        The figure holding ``ax_``.

    See Also
    --------
    sklearn_meta.model_selection.evaluate_episodes : The scores drawn.
    TrainingCurveDisplay : Curves of the training itself.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_meta import ProtoNetClassifier
    >>> from sklearn_meta.plotting import ShotCurveDisplay
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = ProtoNetClassifier(backbone="identity").fit(X[y < 5], y[y < 5])
    >>> disp = ShotCurveDisplay.from_estimator(
    ...     clf, X[y >= 5], y[y >= 5], n_shot=[1, 2, 5], n_way=[2, 5],
    ...     n_episodes=50, random_state=0)
    >>> disp.mean.shape, [line.get_label() for line in disp.lines_.values()]
    ((2, 3), ['ProtoNetClassifier 2-way', 'ProtoNetClassifier 5-way'])
    """

    def __init__(self, n_shot, n_way, mean, ci_low, ci_high, name=None, results=None):
        self.n_shot = n_shot
        self.n_way = n_way
        self.mean = mean
        self.ci_low = ci_low
        self.ci_high = ci_high
        self.name = name
        self.results = results

    def plot(self, ax=None, *, name=None, line_kw=None, fill_between_kw=None, **kwargs):
        """Draw one line with markers and one band per ``n_way``.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` makes a new figure.
        name : str, default=None
            Name in the legend; ``None`` uses the display's ``name``.
        line_kw : dict, default=None
            Passed to :meth:`matplotlib.axes.Axes.plot` for every line,
            overriding the defaults (``marker="o"``, the next colour).
        fill_between_kw : dict, default=None
            Passed to :meth:`matplotlib.axes.Axes.fill_between` for every
            band, overriding the defaults (the colour of its line,
            ``alpha=0.2``, no edge).
        **kwargs : dict
            Line properties, as in ``line_kw`` (which they override).
            ``label`` is taken as ``name``.

        Returns
        -------
        display : ShotCurveDisplay
            This display, with ``ax_``, ``figure_``, ``lines_`` and
            ``bands_`` set.
        """
        plt = import_pyplot(f"{type(self).__name__}.plot")
        from matplotlib.ticker import MaxNLocator

        line_style = {**style_kwargs(line_kw, "line"), **style_kwargs(kwargs, "line")}
        band_style = style_kwargs(fill_between_kw, "collection")
        name = name_from_label(name, line_style)
        name = self.name if name is None else name
        n_shot, n_way, mean, low, high = self._checked()
        if ax is None:
            _, ax = plt.subplots()
        lines, bands = {}, {}
        for i, way in enumerate(n_way.tolist()):
            label = f"{name} {way}-way" if name else f"{way}-way"
            (line,) = ax.plot(
                n_shot, mean[i], **{"marker": "o", "label": label, **line_style}
            )
            band = {"alpha": 0.2, "linewidth": 0}
            if "color" not in band_style and "facecolor" not in band_style:
                band["color"] = line.get_color()
            lines[way] = line
            bands[way] = ax.fill_between(
                n_shot, low[i], high[i], **{**band, **band_style}
            )
        ax.set_xlabel("support examples per class (n_shot)")
        ax.set_ylabel("accuracy")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
        self.ax_, self.figure_, self.lines_, self.bands_ = ax, ax.figure, lines, bands
        return self

    def _checked(self):
        """``(n_shot, n_way, mean, ci_low, ci_high)``, validated, n_shot sorted."""
        n_shot = np.asarray(self.n_shot, dtype=np.float64).reshape(-1)
        n_way = np.atleast_1d(np.asarray(self.n_way)).reshape(-1)
        shape = (len(n_way), len(n_shot))
        arrays = []
        for label in ("mean", "ci_low", "ci_high"):
            values = np.asarray(getattr(self, label), dtype=np.float64)
            if values.ndim == 1 and len(n_way) == 1:
                values = values.reshape(1, -1)
            if values.shape != shape:
                raise ValueError(
                    f"{label} has shape {values.shape}, but {len(n_way)} n_way and "
                    f"{len(n_shot)} n_shot values need {shape}."
                )
            arrays.append(values)
        order = np.argsort(n_shot, kind="stable")  # left to right
        return (n_shot[order], n_way, *(values[:, order] for values in arrays))

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y,
        *,
        n_shot=(1, 2, 5),
        n_way=5,
        n_query=15,
        n_episodes=100,
        random_state=None,
        ax=None,
        name=None,
        **kwargs,
    ):
        """Score a fitted few-shot classifier by n_shot (and n_way) and draw it.

        Parameters
        ----------
        estimator : fitted classifier with ``adapt``, a Pipeline ending in one, or a fitted search
            The meta-trained model (classifiers only: the score is the
            accuracy). A fitted ``GridSearchCV`` or ``RandomizedSearchCV``
            stands for its ``best_estimator_``.
        X : array-like of shape (n_samples, ...)
            Samples of the evaluation classes.
        y : array-like of shape (n_samples,)
            Their labels.
        n_shot : int or sequence of int, default=(1, 2, 5)
            Support samples per class, one point each (sorted, each once).
        n_way : int or sequence of int, default=5
            Classes per episode, one line each (sorted, each once).
        n_query : int, default=15
            Query samples per class.
        n_episodes : int, default=100
            Episodes per point.
        random_state : int, RandomState instance or None, default=None
            Draw of the episodes; every point uses the same seed (a
            RandomState instance, or ``None``, gives one seed first), so a
            point equals ``evaluate_episodes(..., random_state=seed)``.
        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` makes a new figure.
        name : str, default=None
            Name in the legend; ``None``: the estimator's class name.
        **kwargs : dict
            Passed to :meth:`plot`: ``line_kw``, ``fill_between_kw`` or
            line properties.

        Returns
        -------
        display : ShotCurveDisplay
            The display, drawn.

        Raises
        ------
        ValueError
            For a regressor; when the data cannot supply the episodes of the
            largest ``n_shot`` and ``n_way`` (checked first, before any
            other point is computed), naming the class and the fix.
        """
        caller = f"{cls.__name__}.from_estimator"
        check_matplotlib(caller)
        final = final_model(estimator, caller)
        if is_regressor(final):
            raise ValueError(
                f"{cls.__name__} draws the episodic accuracy of classifiers only; "
                f"{type(final).__name__} is a regressor, and its tasks have no "
                "classes to draw n_shot examples of. Score new tasks with adapt() on "
                "a few rows of each and score() on the others."
            )
        shots = _positive_ints("n_shot", n_shot, 1)
        ways = _positive_ints("n_way", n_way, 2)
        name = name_from_label(name, kwargs)
        if not isinstance(random_state, Integral):
            random_state = int(check_random_state(random_state).randint(2**31 - 1))
        results = _episode_scores(
            estimator,
            X,
            y,
            ways,
            shots,
            n_query=n_query,
            n_episodes=n_episodes,
            random_state=random_state,
        )
        mean, low, high = (
            np.array([[r[key] for r in row] for row in results], dtype=np.float64)
            for key in ("mean", "ci_low", "ci_high")
        )
        name = type(final).__name__ if name is None else name
        disp = cls(shots, ways, mean, low, high, name=name, results=results)
        return disp.plot(ax=ax, **kwargs)
