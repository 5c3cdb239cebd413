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
this module imports without it and the displays say how to install it when
they need it.
"""

from __future__ import annotations

import math
import warnings
from numbers import Integral, Real

import numpy as np
from sklearn.base import is_regressor
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, column_or_1d

from ._inputs import normalise_input_shape
from ._pipeline import final_step

__all__ = [
    "EmbeddingDisplay",
    "EpisodeDisplay",
    "ShotCurveDisplay",
    "TrainingCurveDisplay",
]


# ---------------------------------------------------------------- helpers
def _check_matplotlib(caller):
    """Raise an ImportError that says how to install matplotlib."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"{caller} needs matplotlib, an optional dependency of sklearn_meta. "
            'Install it with: pip install "sklearn-meta[plot]" (or pip install '
            "matplotlib)."
        ) from exc


def _pyplot(caller):
    _check_matplotlib(caller)
    import matplotlib.pyplot as plt

    return plt


def _style(kwargs, artist):
    """``kwargs`` with matplotlib's aliases replaced by the full property names.

    ``artist`` is ``"line"`` or ``"collection"``; giving a property twice
    (``c`` and ``color``) raises matplotlib's TypeError.
    """
    from matplotlib.cbook import normalize_kwargs
    from matplotlib.collections import Collection
    from matplotlib.lines import Line2D

    return normalize_kwargs(
        dict(kwargs or {}), Line2D if artist == "line" else Collection
    )


def _name_from_label(name, kwargs):
    """The legend name: ``label`` in ``kwargs`` (popped) is taken as ``name``."""
    if "label" not in kwargs:
        return name
    label = kwargs.pop("label")
    if name is not None:
        raise ValueError(
            f"Got both name={name!r} and label={label!r}. Each line is labelled "
            "'<name> <curve>': pass the name once, as name=."
        )
    return None if label is None else str(label)


def _last_step(estimator):
    """The final estimator of (nested) Pipelines."""
    while isinstance(estimator, Pipeline):
        estimator = estimator.steps[-1][1]
    return estimator


def _is_ours(estimator):
    return type(estimator).__module__.startswith("sklearn_meta")


def _is_number(value):
    return isinstance(value, Real) and not isinstance(value, bool)


def _to_float(value):
    """A history value as a float (numbers, numpy and torch scalars); else NaN."""
    if _is_number(value):
        return float(value)
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:
        try:
            value = item()  # a 0-d numpy array or torch tensor
        except (TypeError, ValueError, RuntimeError):
            return np.nan
        return float(value) if _is_number(value) else np.nan
    return np.nan


def _num_rows(X):
    return X.shape[0] if hasattr(X, "shape") else len(X)


def _check_length(name, values, n, what):
    if values is not None and len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries but {what} has {n} rows.")


def _label_text(value):
    """A label as a title shows it (numpy scalars without their type)."""
    return str(value.item() if isinstance(value, np.generic) else value)


# ------------------------------------------------------- training curves
_METRIC_KEYS = {
    "loss": ("train_loss", "valid_loss"),
    "score": ("train_acc", "valid_acc"),
    "acc": ("train_acc", "valid_acc"),
}
# bookkeeping of the history rows: numbers, but not curves worth drawing
_NOT_CURVES = frozenset(
    {
        "batches",
        "dur",
        "epoch",
        "epoch_complete",
        "epoch_data",
        "iter",
        "n_frozen",
        "train_batch_count",
        "train_samples",
        "valid_batch_count",
        "valid_samples",
    }
)


def _curve_label(key):
    if key.startswith("train_"):
        return "train"
    if key.startswith("valid_"):
        return "validation"
    return key


def _history_rows(history):
    """The rows of a history: a list of dicts, or a DataFrame's records."""
    if hasattr(history, "to_dict") and hasattr(history, "columns"):
        return history.to_dict("records")  # a pandas DataFrame, a row per epoch
    try:
        return [dict(row) for row in history]
    except (TypeError, ValueError) as exc:
        raise TypeError(
            "history must be a list of dicts (an estimator's history_, a skorch "
            "net's history) or a pandas DataFrame with a row per epoch; got "
            f"{type(history).__name__}."
        ) from exc


def _metric_keys(rows):
    """Keys of the rows that hold a curve: finite numbers, not bookkeeping."""
    return sorted(
        {
            key
            for row in rows
            for key, value in row.items()
            if isinstance(key, str)
            and key not in _NOT_CURVES
            and not key.endswith("_best")
            and np.isfinite(_to_float(value))
        }
    )


def _history_curves(rows, metric, *, score_label="accuracy", owner="the history"):
    """``(x, curves, xlabel, ylabel)`` of ``metric`` in history rows."""
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a string; got {metric!r}.")
    if not rows:
        raise ValueError(
            f"{owner[:1].upper() + owner[1:]} is empty: nothing was trained, so "
            "there is no curve to draw (an estimator with backbone='identity' has "
            "no weights to train)."
        )
    keys = _METRIC_KEYS.get(metric, (metric,))
    present = [k for k in keys if any(k in row for row in rows)]
    if not present:
        raise ValueError(
            f"metric={metric!r} needs {' or '.join(keys)} in the history, which "
            f"{owner} lacks. Keys available: {_metric_keys(rows)}. Pass "
            "metric='loss', 'score' or one of these keys."
        )
    episodic = any("iter" in row for row in rows)
    xkey, xlabel = ("iter", "meta-update") if episodic else ("epoch", "epoch")
    x = np.array(
        [
            _to_float(row[xkey]) if xkey in row else (np.nan if episodic else i + 1)
            for i, row in enumerate(rows)
        ],
        dtype=np.float64,
    )
    if not episodic:  # rows without an epoch number are counted
        x = np.where(np.isnan(x), np.arange(1, len(rows) + 1), x)
    curves = {
        _curve_label(k): np.array(
            [_to_float(row.get(k)) for row in rows], dtype=np.float64
        )
        for k in present
    }
    ylabel = {"loss": "loss", "score": score_label, "acc": score_label}.get(
        metric, metric
    )
    return x, curves, xlabel, ylabel


def _fitted_search_estimator(estimator, caller):
    """``best_estimator_`` of a fitted search; an error that says what to pass."""
    is_search = hasattr(estimator, "estimator") and (
        hasattr(estimator, "param_grid") or hasattr(estimator, "param_distributions")
    )
    if not is_search:
        return estimator
    if hasattr(estimator, "best_estimator_"):
        return estimator.best_estimator_
    check_is_fitted(estimator)
    raise ValueError(
        f"{caller} draws the history_ of one fitted estimator; this "
        f"{type(estimator).__name__} was fitted with refit=False, so it keeps none. "
        "Fit it with refit=True and pass it (or its best_estimator_), or fit the "
        "estimator with the best_params_ and pass that."
    )


class TrainingCurveDisplay:
    """Training curves: loss or accuracy per epoch or per meta-update.

    Draws the ``train`` and ``validation`` curves recorded in an estimator's
    ``history_``. Minibatch estimators (``FineTuneClassifier``,
    ``DomainAdaptedClassifier``) record a row per epoch; episodic ones
    (``ProtoNetClassifier``, the MAML family) a row per 100 meta-updates,
    with the number of meta-updates so far as ``iter``, which is then the
    x axis. Validation curves exist when ``early_stopping`` held data out
    (whole classes, for few-shot estimators).

    Use :meth:`from_estimator` or :meth:`from_history` to make one; calling
    either twice on the same ``ax`` with different ``name`` overlays the
    curves (say fine-tuned against trained from scratch).

    Parameters
    ----------
    x : array-like of shape (n_rows,)
        Epoch or meta-update of each history row.
    curves : dict of str to array-like of shape (n_rows,)
        The values to draw, by curve label (``"train"``, ``"validation"``);
        NaN where a row has no value.
    xlabel : str
        Label of the x axis (``"epoch"`` or ``"meta-update"``).
    ylabel : str
        Label of the y axis (``"loss"``, ``"accuracy"``, ...).
    name : str, default=None
        Name of the curves in the legend (``"<name> train"``); ``None``:
        only the curve label.

    Attributes
    ----------
    lines_ : dict of str to matplotlib Line2D
        The line of each curve drawn, by the keys of ``curves`` (a curve
        without any finite value is left out, with a warning).
    ax_ : matplotlib Axes
        The axes drawn on.
    figure_ : matplotlib Figure
        The figure holding ``ax_``.

    See Also
    --------
    ShotCurveDisplay : Episodic accuracy of a fitted estimator against n_shot.
    sklearn.model_selection.LearningCurveDisplay : Scores against the number
        of training samples.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_meta import FineTuneClassifier
    >>> from sklearn_meta.plotting import TrainingCurveDisplay
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = FineTuneClassifier(backbone="mlp", max_epochs=3, early_stopping=True,
    ...                          random_state=0).fit(X / 16, y)
    >>> disp = TrainingCurveDisplay.from_estimator(clf, metric="score")
    >>> sorted(disp.curves), disp.xlabel, disp.ylabel
    (['train', 'validation'], 'epoch', 'accuracy')
    >>> disp.lines_["validation"].get_label()
    'FineTuneClassifier validation'
    """

    def __init__(self, x, curves, xlabel, ylabel, name=None):
        self.x = x
        self.curves = curves
        self.xlabel = xlabel
        self.ylabel = ylabel
        self.name = name

    def plot(self, ax=None, *, name=None, **kwargs):
        """Draw the curves.

        The first curve takes the next colour of the axes; the others share
        it with another line style (validation dashed), so that curves of
        several estimators overlaid on one ``ax`` stay apart. Rows without a
        value are skipped: each line holds the rows where its curve is
        finite, and a curve without any finite value is not drawn (with a
        warning). Short curves (30 points or fewer) get point markers.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` makes a new figure.
        name : str, default=None
            Name in the legend; ``None`` uses the display's ``name``.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.plot` for every curve,
            overriding the defaults (``color`` or ``c`` then applies to all
            of them). ``label`` is taken as ``name``.

        Returns
        -------
        display : TrainingCurveDisplay
            This display, with ``ax_``, ``figure_`` and ``lines_`` set.
        """
        plt = _pyplot(f"{type(self).__name__}.plot")
        from matplotlib.ticker import MaxNLocator

        kwargs = _style(kwargs, "line")
        name = _name_from_label(name, kwargs)
        name = self.name if name is None else name
        x = np.asarray(self.x, dtype=np.float64)
        if x.ndim != 1:
            raise ValueError(f"x must be 1-D; got shape {x.shape}.")
        curves = {}
        for label, values in dict(self.curves).items():
            values = np.asarray(values, dtype=np.float64)
            if values.shape != x.shape:
                raise ValueError(
                    f"Curve {label!r} has shape {values.shape} but x has shape "
                    f"{x.shape}: give one value per row."
                )
            keep = np.isfinite(values) & np.isfinite(x)
            if not keep.any():
                warnings.warn(
                    f"Curve {label!r} has no finite value (at a finite x); it is "
                    "not drawn.",
                    UserWarning,
                    stacklevel=2,
                )
                continue
            curves[label] = values, keep
        if not curves:
            raise ValueError(
                "There is no curve to draw: give at least one curve with a finite "
                "value."
            )
        if ax is None:
            _, ax = plt.subplots()
        styles = ["-", "--", ":", "-."]
        lines, color = {}, None
        for i, (label, (values, keep)) in enumerate(curves.items()):
            style = {
                "label": f"{name} {label}" if name else str(label),
                "linestyle": "--" if label == "validation" else styles[i % 4],
            }
            if color is not None:
                style["color"] = color
            if keep.sum() <= 30:
                style.update(marker="o", markersize=3)
            (line,) = ax.plot(x[keep], values[keep], **{**style, **kwargs})
            color = line.get_color() if color is None else color
            lines[label] = line
        ax.set_xlabel(self.xlabel)
        ax.set_ylabel(self.ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
        self.ax_, self.figure_, self.lines_ = ax, ax.figure, lines
        return self

    @classmethod
    def from_history(cls, history, *, metric="loss", ax=None, name=None, **kwargs):
        """Draw the curves of a training history.

        Parameters
        ----------
        history : list of dict or pandas DataFrame
            History rows, such as an estimator's ``history_``, a skorch
            net's ``history``, or a DataFrame with a row per epoch. Values
            may be numbers or 0-d numpy arrays or torch tensors.
        metric : str, default="loss"
            ``"loss"``: ``train_loss`` and ``valid_loss``; ``"score"`` (or
            ``"acc"``): ``train_acc`` and ``valid_acc``; any other string:
            that key of the rows.
        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` makes a new figure.
        name : str, default=None
            Name in the legend.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.plot`.

        Returns
        -------
        display : TrainingCurveDisplay
            The display, drawn.
        """
        _check_matplotlib(f"{cls.__name__}.from_history")
        name = _name_from_label(name, kwargs)
        x, curves, xlabel, ylabel = _history_curves(_history_rows(history), metric)
        return cls(x, curves, xlabel, ylabel, name=name).plot(ax=ax, **kwargs)

    @classmethod
    def from_estimator(cls, estimator, *, metric="loss", ax=None, name=None, **kwargs):
        """Draw the training curves of a fitted estimator.

        Parameters
        ----------
        estimator : fitted sklearn_meta estimator, or a Pipeline ending in one
            Its ``history_`` is drawn (a skorch net's ``history`` works too).
            A fitted ``GridSearchCV`` (or other search) gives that of its
            ``best_estimator_``.
        metric : str, default="loss"
            ``"loss"``: ``train_loss`` and ``valid_loss``; ``"score"`` (or
            ``"acc"``): ``train_acc`` and ``valid_acc``; any other string:
            that key of the history (``"adapt_loss"``, ``"coeff"``, ...).
        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` makes a new figure.
        name : str, default=None
            Name in the legend; ``None``: the estimator's class name.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.plot`.

        Returns
        -------
        display : TrainingCurveDisplay
            The display, drawn.

        Raises
        ------
        ValueError
            When the history is empty or lacks ``metric``; the message lists
            the keys that hold curves.
        """
        _check_matplotlib(f"{cls.__name__}.from_estimator")
        name = _name_from_label(name, kwargs)
        final = _last_step(
            _fitted_search_estimator(_last_step(estimator), cls.__name__)
        )
        history = getattr(final, "history_", None)
        if history is None and isinstance(getattr(final, "history", None), list):
            history = final.history  # a skorch net
        if history is None:
            if _is_ours(final):
                check_is_fitted(final)
            raise TypeError(
                f"{cls.__name__} draws the history_ of a fitted sklearn_meta estimator "
                f"(or of a Pipeline ending in one); {type(final).__name__} has none."
            )
        x, curves, xlabel, ylabel = _history_curves(
            _history_rows(history),
            metric,
            score_label="score" if is_regressor(final) else "accuracy",
            owner=f"{type(final).__name__}'s history_",
        )
        name = type(final).__name__ if name is None else name
        return cls(x, curves, xlabel, ylabel, name=name).plot(ax=ax, **kwargs)


# ------------------------------------------------------------- embedding
_MARKERS = ("o", "^", "s", "D", "v", "P", "X", "*", "h", "<", ">", "p")
_UNLABELLED = (0.55, 0.55, 0.55, 0.45)


def _reduce(Z, method, random_state):
    """2-D coordinates of ``Z``: as they are when 2-D, else PCA or t-SNE."""
    if method not in ("pca", "tsne"):
        raise ValueError(f"method must be 'pca' or 'tsne'; got {method!r}.")
    Z = np.asarray(Z, dtype=np.float64)
    if Z.ndim < 2:
        raise ValueError(
            f"The embedding must be 2-D, (n_samples, n_features); got shape {Z.shape}."
        )
    if len(Z) == 0:
        raise ValueError("The embedding has no rows: there is no point to draw.")
    Z = Z.reshape(len(Z), -1)
    if Z.shape[1] < 2:
        raise ValueError(
            f"The embedding has {Z.shape[1]} feature; a 2-D view needs at least 2."
        )
    if Z.shape[1] == 2:
        return Z, None
    if len(Z) < 2:
        raise ValueError(f"A {method} view needs at least 2 samples; got {len(Z)}.")
    if method == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=2, random_state=random_state).fit_transform(Z), method
    from sklearn.manifold import TSNE

    tsne = TSNE(
        n_components=2,
        init="pca",
        perplexity=min(30.0, len(Z) - 1.0),
        random_state=random_state,
    )
    return tsne.fit_transform(Z), method


def _as_labels(values, name):
    """``values`` as a 1-D array; a column vector ``(n, 1)`` is raveled."""
    values = np.asarray(values)
    if values.ndim == 2 and values.shape[1] == 1:
        values = column_or_1d(values)
    if values.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D, one value per row; got shape {values.shape}."
        )
    return values


def _is_missing(value):
    """None, NaN, pandas' NA or NaT."""
    if value is None:
        return True
    if isinstance(value, (float, np.floating)):
        return bool(np.isnan(value))
    return type(value).__name__ in ("NAType", "NaTType")


def _unlabelled_mask(y):
    """Rows without a class: the integer -1 (scikit-learn's marker) or missing."""
    if y.dtype.kind in "iu":
        return y == -1
    if y.dtype.kind == "f":
        return (y == -1) | np.isnan(y)
    if y.dtype == object:
        return np.array(
            [_is_missing(v) or (_is_number(v) and v == -1) for v in y], dtype=bool
        )
    return np.zeros(len(y), dtype=bool)


def _domain_labels(domains):
    """Legend text of each domain value, in the order drawn."""
    values = list(domains)
    ints = all(_is_number(v) and float(v) == int(v) for v in values)
    if not ints or any(int(v) == 0 for v in values):
        return values, [f"domain {_label_text(v)}" for v in values]
    # sklearn_meta's (and skada's) convention: sources positive, targets negative
    sources = sorted(v for v in values if v > 0)
    targets = sorted((v for v in values if v < 0), reverse=True)
    labels = [
        "source" if len(sources) == 1 else f"source {_label_text(v)}" for v in sources
    ]
    labels += [
        "target" if len(targets) == 1 else f"target {_label_text(v)}" for v in targets
    ]
    return sources + targets, labels


def _class_colors(n_classes, cmap=None):
    """One colour per class: tab10, tab20 or turbo, or from ``cmap``."""
    from matplotlib import colormaps
    from matplotlib.colors import ListedColormap

    if cmap is not None:
        cmap = colormaps.get_cmap(cmap)
        if isinstance(cmap, ListedColormap) and n_classes <= cmap.N < 256:
            return cmap(np.arange(n_classes))  # a qualitative map: its own colours
        return cmap(np.linspace(0.0, 1.0, n_classes))
    if n_classes <= 10:
        return colormaps["tab10"](np.arange(n_classes))
    if n_classes <= 20:
        return colormaps["tab20"](np.arange(n_classes))
    return colormaps["turbo"](np.linspace(0.05, 0.95, n_classes))


def _root_figure(ax):
    try:
        return ax.get_figure(root=True)
    except TypeError:  # matplotlib < 3.10: no subfigures to see through
        figure = ax.figure
        while hasattr(figure, "_parent"):
            figure = figure._parent
        return figure


def _room_outside(ax):
    """Whether the layout of ``ax``'s figure makes room for a legend beside it."""
    from matplotlib.layout_engine import ConstrainedLayoutEngine

    return isinstance(_root_figure(ax).get_layout_engine(), ConstrainedLayoutEngine)


class EmbeddingDisplay:
    """A 2-D view of an embedding, coloured by class and marked by domain.

    :meth:`from_estimator` embeds samples with ``estimator.transform`` (the
    learned features of any sklearn_meta estimator) and projects them to two
    dimensions with PCA or t-SNE; :meth:`from_embedding` does the same for
    features you computed. Points are coloured by class, rows with
    ``y == -1`` or a missing label (NaN, None; unlabelled, as in domain
    adaptation) are grey, and with ``sample_domain`` each domain gets its
    own marker. Drawing two displays on two axes of one figure compares a
    model before and after training or adaptation.

    Parameters
    ----------
    embedding : array-like of shape (n_samples, 2)
        The 2-D coordinates to draw.
    y : array-like of shape (n_samples,), default=None
        Class of each point (colour); ``-1`` or a missing value (NaN,
        None) marks unlabelled rows.
    sample_domain : array-like of shape (n_samples,), default=None
        Domain of each point (marker). With sklearn_meta's convention
        (positive ints for source domains, negative for target ones, as
        :class:`~sklearn_meta.DomainAdaptedClassifier` takes them) the
        legend says ``"source"`` and ``"target"``; other values are shown
        as ``"domain <value>"``.
    method : {"pca", "tsne"} or None, default="pca"
        How ``embedding`` was obtained (axis labels ``"PC 1"`` or
        ``"t-SNE 1"``); ``None``: the features themselves were 2-D.

    Attributes
    ----------
    scatter_ : matplotlib PathCollection
        All points, in the order of the rows of ``embedding``.
    legend_ : matplotlib Legend or None
        Classes (and domains), when drawn.
    ax_ : matplotlib Axes
        The axes drawn on.
    figure_ : matplotlib Figure
        The figure holding ``ax_``.

    See Also
    --------
    sklearn.decomposition.PCA : The linear projection.
    sklearn.manifold.TSNE : The non-linear one.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_meta import ProtoNetClassifier
    >>> from sklearn_meta.plotting import EmbeddingDisplay
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = ProtoNetClassifier(backbone="identity").fit(X, y)
    >>> fig, (before, after) = plt.subplots(1, 2, figsize=(10, 4), layout="constrained")
    >>> raw = EmbeddingDisplay.from_embedding(X, y, ax=before, name="pixels")
    >>> emb = EmbeddingDisplay.from_estimator(clf, X, y, ax=after, name="embedding")
    >>> emb.embedding.shape, emb.ax_.get_xlabel()
    ((1797, 2), 'PC 1')
    """

    def __init__(self, embedding, y=None, sample_domain=None, method="pca"):
        self.embedding = embedding
        self.y = y
        self.sample_domain = sample_domain
        self.method = method

    def plot(self, ax=None, *, name=None, legend=True, max_legend_classes=20, **kwargs):
        """Draw the points.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` makes a new figure.
        name : str, default=None
            Title of the axes (``"before"``, ``"after"``, ...).
        legend : bool, default=True
            Draw the legend of classes and domains: right of the axes when
            the display makes its figure or the figure has
            ``layout="constrained"`` (which makes room for it), else inside
            the axes where it hides the fewest points, in small type, in
            columns when it has many entries.
        max_legend_classes : int, default=20
            Most classes listed in the legend; the rest are counted in a
            last entry.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.scatter` (``s``,
            ``alpha``, ``edgecolor``, ``linewidth``, ...), overriding the
            defaults. The colour shows the class: with ``y``, ``cmap``
            chooses the class colours and ``c``, ``color`` or
            ``facecolor`` are refused; without ``y`` they colour every
            point. The marker shows the domain: ``marker`` is refused with
            ``sample_domain``.

        Returns
        -------
        display : EmbeddingDisplay
            This display, with ``ax_``, ``figure_``, ``scatter_`` and
            ``legend_`` set.
        """
        plt = _pyplot(f"{type(self).__name__}.plot")
        from matplotlib.colors import to_rgba
        from matplotlib.lines import Line2D
        from matplotlib.markers import MarkerStyle

        Z = np.asarray(self.embedding, dtype=np.float64)
        if Z.ndim != 2 or Z.shape[1] != 2:
            raise ValueError(
                f"embedding must have shape (n_samples, 2); got {Z.shape}. Reduce it "
                "with EmbeddingDisplay.from_embedding."
            )
        n = len(Z)
        if n == 0:
            raise ValueError("embedding has no rows: there is no point to draw.")
        y = None if self.y is None else _as_labels(self.y, "y")
        domains = (
            None
            if self.sample_domain is None
            else _as_labels(self.sample_domain, "sample_domain")
        )
        _check_length("y", y, n, "embedding")
        _check_length("sample_domain", domains, n, "embedding")
        if self.method not in ("pca", "tsne", None):
            raise ValueError(
                f"method must be 'pca', 'tsne' or None; got {self.method!r}."
            )
        kwargs = _style(kwargs, "collection")
        colour_keys = [k for k in ("c", "color", "facecolor") if k in kwargs]
        if y is not None and colour_keys:
            raise ValueError(
                f"{colour_keys[0]}= cannot be used with y: the colour of a point "
                "shows its class. Pass cmap= to choose the class colours, or y=None "
                "to draw every point in one colour."
            )
        if domains is not None and "marker" in kwargs:
            raise ValueError(
                "marker= cannot be used with sample_domain: the marker of a point "
                "shows its domain. Pass sample_domain=None to draw every point with "
                "one marker."
            )
        cmap = kwargs.pop("cmap", None)
        marker = kwargs.pop("marker", "o")
        made_figure = ax is None
        if made_figure:
            _, ax = plt.subplots(layout="constrained")

        handles = []
        if y is None:
            colors = {} if colour_keys else {"c": np.tile(to_rgba("C0"), (n, 1))}
        else:
            unlabelled = _unlabelled_mask(y)
            classes, codes = np.unique(y[~unlabelled], return_inverse=True)
            names = classes
            if classes.dtype.kind == "f" and np.all(classes == np.round(classes)):
                names = classes.astype(np.int64)  # ints made floats by a NaN label
            palette = _class_colors(len(classes), cmap)
            colors = np.tile(np.array(_UNLABELLED), (n, 1))
            colors[~unlabelled] = palette[codes.reshape(-1)]
            colors = {"c": colors}
            shown = len(classes)
            if len(classes) > max_legend_classes:
                shown = max(max_legend_classes - 1, 0)
            swatch = "o" if domains is not None else marker
            handles = [
                Line2D(
                    [], [], linestyle="", marker=swatch, color=palette[i], label=text
                )
                for i, text in enumerate(_label_text(c) for c in names[:shown])
            ]
            if shown < len(classes):
                handles.append(
                    Line2D(
                        [],
                        [],
                        linestyle="",
                        marker="",
                        label=f"... {len(classes) - shown} more classes",
                    )
                )
            if unlabelled.any():
                handles.append(
                    Line2D(
                        [],
                        [],
                        linestyle="",
                        marker=swatch,
                        color=_UNLABELLED,
                        label="unlabelled",
                    )
                )
        style = {"s": 30 if n <= 300 else 12, "marker": marker}
        if MarkerStyle(marker).is_filled():  # a thin white edge; "x" is all edge
            style.update(linewidth=0.3, edgecolor="white")
        scatter = ax.scatter(Z[:, 0], Z[:, 1], **colors, **{**style, **kwargs})
        if domains is not None:
            values, labels = _domain_labels(list(np.unique(domains)))
            paths = {}
            for value, shape in zip(values, _MARKERS * len(values)):
                m = MarkerStyle(shape)
                paths[value] = m.get_path().transformed(m.get_transform())
            scatter.set_paths([paths[d] for d in domains.tolist()])
            handles += [
                Line2D([], [], linestyle="", marker=shape, color="0.25", label=label)
                for label, shape in zip(labels, _MARKERS * len(values))
            ]
        prefix = {"pca": "PC", "tsne": "t-SNE", None: "dimension"}[self.method]
        ax.set_xlabel(f"{prefix} 1")
        ax.set_ylabel(f"{prefix} 2")
        if name is not None:
            ax.set_title(name)
        self.legend_ = None
        if legend and handles:
            common = {"handles": handles, "handletextpad": 0.2}
            if made_figure or _room_outside(ax):
                self.legend_ = ax.legend(
                    **common,
                    loc="upper left",
                    bbox_to_anchor=(1.01, 1.0),
                    fontsize="small",
                    frameon=False,
                    borderaxespad=0.0,
                )
            else:  # a neighbour may sit right of the axes: stay inside them
                self.legend_ = ax.legend(
                    **common,
                    loc="best",
                    ncols=1 if len(handles) <= 6 else 2 if len(handles) <= 14 else 3,
                    fontsize="x-small",
                    framealpha=0.8,
                    borderpad=0.3,
                    labelspacing=0.25,
                    columnspacing=0.6,
                    handlelength=1.0,
                    markerscale=0.8,
                )
        self.ax_, self.figure_, self.scatter_ = ax, ax.figure, scatter
        return self

    @classmethod
    def from_embedding(
        cls,
        Z,
        y=None,
        *,
        sample_domain=None,
        method="pca",
        random_state=None,
        ax=None,
        name=None,
        **kwargs,
    ):
        """Draw given features, projected to 2-D.

        Parameters
        ----------
        Z : array-like of shape (n_samples, n_features)
            The features; used as they are when ``n_features == 2``.
        y : array-like of shape (n_samples,), default=None
            Class of each sample; ``-1`` or a missing value marks unlabelled
            rows.
        sample_domain : array-like of shape (n_samples,), default=None
            Domain of each sample (marker).
        method : {"pca", "tsne"}, default="pca"
            Projection to 2-D when ``n_features > 2``; t-SNE starts from PCA,
            with perplexity ``min(30, n_samples - 1)``.
        random_state : int, RandomState instance or None, default=None
            Seed of the projection.
        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` makes a new figure.
        name : str, default=None
            Title of the axes.
        **kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        display : EmbeddingDisplay
            The display, drawn.
        """
        _check_matplotlib(f"{cls.__name__}.from_embedding")
        n = _num_rows(Z)
        _check_length("y", y, n, "Z")
        _check_length("sample_domain", sample_domain, n, "Z")
        coords, used = _reduce(Z, method, random_state)
        disp = cls(coords, y=y, sample_domain=sample_domain, method=used)
        return disp.plot(ax=ax, name=name, **kwargs)

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X,
        y=None,
        *,
        sample_domain=None,
        method="pca",
        random_state=None,
        ax=None,
        name=None,
        **kwargs,
    ):
        """Draw the embedding ``estimator.transform(X)``, projected to 2-D.

        Parameters
        ----------
        estimator : fitted estimator with ``transform``, or a Pipeline
            Any sklearn_meta estimator (its learned features), or any
            transformer.
        X : array-like of shape (n_samples, ...)
            Samples to embed.
        y : array-like of shape (n_samples,), default=None
            Class of each sample; ``-1`` or a missing value marks unlabelled
            rows.
        sample_domain : array-like of shape (n_samples,), default=None
            Domain of each sample (marker).
        method : {"pca", "tsne"}, default="pca"
            Projection to 2-D when the embedding has more than 2 features.
        random_state : int, RandomState instance or None, default=None
            Seed of the projection.
        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` makes a new figure.
        name : str, default=None
            Title of the axes.
        **kwargs : dict
            Passed to :meth:`plot`.

        Returns
        -------
        display : EmbeddingDisplay
            The display, drawn.
        """
        _check_matplotlib(f"{cls.__name__}.from_estimator")
        if not hasattr(estimator, "transform"):
            raise TypeError(
                f"{cls.__name__}.from_estimator embeds X with transform(), which "
                f"{type(_last_step(estimator)).__name__} does not have. Pass a fitted "
                "sklearn_meta estimator (or a Pipeline ending in one)."
            )
        n = _num_rows(X)
        _check_length("y", y, n, "X")
        _check_length("sample_domain", sample_domain, n, "X")
        return cls.from_embedding(
            estimator.transform(X),
            y,
            sample_domain=sample_domain,
            method=method,
            random_state=random_state,
            ax=ax,
            name=name,
            **kwargs,
        )


# ------------------------------------------------------------ shot curve
def _positive_ints(name, values, low):
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
        plt = _pyplot(f"{type(self).__name__}.plot")
        from matplotlib.ticker import MaxNLocator

        line_style = {**_style(line_kw, "line"), **_style(kwargs, "line")}
        band_style = _style(fill_between_kw, "collection")
        name = _name_from_label(name, line_style)
        name = self.name if name is None else name
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
        n_shot = n_shot[order]
        mean, low, high = (values[:, order] for values in arrays)
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
        estimator : fitted classifier with ``adapt``, or a Pipeline ending in one
            The meta-trained model (classifiers only: the score is the
            accuracy).
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
        from .model_selection import evaluate_episodes

        _check_matplotlib(f"{cls.__name__}.from_estimator")
        final = _last_step(estimator)
        if is_regressor(final):
            raise ValueError(
                f"{cls.__name__} draws the episodic accuracy of classifiers only; "
                f"{type(final).__name__} is a regressor, and its tasks have no "
                "classes to draw n_shot examples of. Score new tasks with adapt() on "
                "a few rows of each and score() on the others."
            )
        shots = _positive_ints("n_shot", n_shot, 1)
        ways = _positive_ints("n_way", n_way, 2)
        name = _name_from_label(name, kwargs)
        if not isinstance(random_state, Integral):
            random_state = int(check_random_state(random_state).randint(2**31 - 1))

        def score(way, shot):
            return evaluate_episodes(
                estimator,
                X,
                y,
                n_way=int(way),
                n_shot=int(shot),
                n_query=n_query,
                n_episodes=n_episodes,
                random_state=random_state,
            )

        # the largest episode first: if the data cannot supply one, it is this
        largest = score(ways[-1], shots[-1])
        results = [
            [
                largest if (i, j) == (len(ways) - 1, len(shots) - 1) else score(w, s)
                for j, s in enumerate(shots)
            ]
            for i, w in enumerate(ways)
        ]
        mean, low, high = (
            np.array([[r[key] for r in row] for row in results], dtype=np.float64)
            for key in ("mean", "ci_low", "ci_high")
        )
        name = type(final).__name__ if name is None else name
        disp = cls(shots, ways, mean, low, high, name=name, results=results)
        return disp.plot(ax=ax, **kwargs)


# --------------------------------------------------------------- episode
def _as_images(X, image_shape, what):
    """``X`` as images, (n, H, W) or (n, H, W, C), and whether it held ints."""
    X = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X)
    integer = X.dtype.kind in "iub"
    X = X.astype(np.float64)
    if X.ndim < 2:
        raise ValueError(f"{what} must hold one sample per row; got shape {X.shape}.")
    n, size = len(X), int(np.prod(X.shape[1:]))
    if image_shape is None:
        if X.ndim in (3, 4):
            image_shape = X.shape[1:]
        elif X.ndim == 2 and math.isqrt(size) ** 2 == size:
            image_shape = (math.isqrt(size),) * 2  # a grey square
        else:
            hint = ""
            side = math.isqrt(size // 3)
            if size and 3 * side * side == size:
                hint = f" (image_shape=(3, {side}, {side}) for square RGB images)"
            raise ValueError(
                f"Cannot tell the image shape of {what} with shape {X.shape}: only "
                "square grey images are guessed from rows of pixels. Pass "
                "image_shape=(H, W) for grey images or (C, H, W) or (H, W, C) for "
                f"colour ones{hint}."
            )
    (c, h, w), channels_last = normalise_input_shape(image_shape, "image_shape")
    if c * h * w != size:
        raise ValueError(
            f"image_shape={tuple(image_shape)!r} holds {c * h * w} values, but each "
            f"sample of {what} has {size}."
        )
    if c not in (1, 3, 4):
        raise ValueError(f"Images need 1, 3 or 4 channels to be shown; got {c}.")
    if channels_last:
        images = X.reshape(n, h, w, c)
    else:
        images = X.reshape(n, c, h, w).transpose(0, 2, 3, 1)
    return (images[..., 0] if c == 1 else images), integer


def _colour_range(images, integer):
    """Colour images in [0, 1], the scale chosen once for all of them.

    Integers are 0-255 values; so are floats from above 1.5 up to 255 with
    no negative value. Floats with negative values (standardised images)
    are stretched from their minimum to their maximum; the others are
    clipped to [0, 1].
    """
    finite = images[np.isfinite(images)]
    if not finite.size:
        return images
    low, high = finite.min(), finite.max()
    if integer or (low >= 0 and 1.5 < high <= 255):
        images = images / 255.0
    elif low < 0:
        images = (images - low) / (high - low if high > low else 1.0)
    return np.clip(images, 0.0, 1.0)


def _input_image_shape(final, n_raw, n_seen):
    """``input_shape`` of ``final`` when it describes the raw rows, else None."""
    if n_seen != n_raw:  # the pipeline changed the features: not the raw images
        return None
    for attr in ("input_shape", "input_shape_"):
        shape = getattr(final, attr, None)
        if shape is None:
            continue
        try:
            (c, h, w), _ = normalise_input_shape(shape, attr)
        except ValueError:
            continue
        if c * h * w == n_raw:
            return tuple(shape)
    return None


def _image_array(images, name):
    images = np.asarray(images)
    if images.size == 0 and len(images) == 0:
        return None
    if images.ndim not in (3, 4) or (
        images.ndim == 4 and images.shape[-1] not in (3, 4)
    ):
        raise ValueError(
            f"{name} must have shape (n, H, W) or (n, H, W, C) with 3 or 4 channels; "
            f"got {images.shape}. EpisodeDisplay.from_predictions reshapes rows of "
            "pixels."
        )
    return images


class EpisodeDisplay:
    """The images of a few-shot episode with the predicted labels.

    Support images come first, each titled with its label
    (``"support: <label>"``), then the query images titled with the
    prediction (``"pred: <label>"``), in green when it is right and red
    (with the true label below) when it is wrong, if the true labels are
    given. :meth:`from_estimator` adapts a fitted few-shot estimator to the
    support set and predicts the queries; :meth:`from_predictions` draws
    predictions made elsewhere.

    Parameters
    ----------
    support_images : ndarray of shape (n_support, H, W) or (n_support, H, W, C)
        Support images as :meth:`matplotlib.axes.Axes.imshow` takes them
        (colour ones in [0, 1]).
    y_support : array-like of shape (n_support,)
        Their labels.
    query_images : ndarray of shape (n_query, H, W) or (n_query, H, W, C)
        Query images, of the same shape as the support images.
    y_pred : array-like of shape (n_query,)
        Predicted label of each query.
    y_query : array-like of shape (n_query,), default=None
        True label of each query, to mark the predictions right or wrong.

    Attributes
    ----------
    images : ndarray of shape (n_support + n_query, H, W) or (..., H, W, C)
        Support then query images, as drawn.
    accuracy : float or None
        Share of right predictions; ``None`` without ``y_query``.
    axes_ : ndarray of matplotlib Axes of shape (n_support + n_query,)
        One axes per image, in the order of ``images``.
    figure_ : matplotlib Figure or SubFigure
        The figure drawn on.

    See Also
    --------
    sklearn_meta.model_selection.evaluate_episodes : Scores many episodes.
    ShotCurveDisplay : Accuracy against the number of shots.

    Examples
    --------
    >>> import matplotlib
    >>> matplotlib.use("Agg")
    >>> import numpy as np
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_meta import ProtoNetClassifier
    >>> from sklearn_meta.plotting import EpisodeDisplay
    >>> X, y = load_digits(return_X_y=True)
    >>> clf = ProtoNetClassifier(backbone="identity").fit(X[y < 5], y[y < 5])
    >>> support = [np.flatnonzero(y == c)[0] for c in range(5, 10)]  # one of each
    >>> query = [np.flatnonzero(y == c)[1] for c in range(5, 10)]
    >>> disp = EpisodeDisplay.from_estimator(clf, X[support], y[support],
    ...                                      X[query], y[query])
    >>> disp.images.shape, disp.axes_[0].get_title()
    ((10, 8, 8), 'support: 5')
    >>> disp.y_pred, disp.accuracy
    (array([7, 6, 9, 8, 5]), 0.4)
    """

    def __init__(self, support_images, y_support, query_images, y_pred, y_query=None):
        self.support_images = support_images
        self.y_support = y_support
        self.query_images = query_images
        self.y_pred = y_pred
        self.y_query = y_query

    def _checked(self):
        """``(support, query, y_support, y_pred, y_query)``, validated."""
        support = _image_array(self.support_images, "support_images")
        query = _image_array(self.query_images, "query_images")
        if support is None and query is None:
            raise ValueError("There is no image to draw.")
        if (
            support is not None
            and query is not None
            and support.shape[1:] != query.shape[1:]
        ):
            raise ValueError(
                f"The support images have shape {support.shape[1:]} but the query "
                f"images {query.shape[1:]}: give images of one shape."
            )
        if support is None:
            support = np.empty((0, *query.shape[1:]), dtype=query.dtype)
        if query is None:
            query = np.empty((0, *support.shape[1:]), dtype=support.dtype)
        y_support = _as_labels(self.y_support, "y_support")
        y_pred = _as_labels(self.y_pred, "y_pred")
        y_query = None if self.y_query is None else _as_labels(self.y_query, "y_query")
        _check_length("y_support", y_support, len(support), "support_images")
        _check_length("y_pred", y_pred, len(query), "query_images")
        _check_length("y_query", y_query, len(query), "query_images")
        return support, query, y_support, y_pred, y_query

    @property
    def images(self):
        """Support then query images, as drawn."""
        support, query = self._checked()[:2]
        return np.concatenate([support, query])

    @property
    def accuracy(self):
        """Share of right predictions; ``None`` without ``y_query``."""
        _, query, _, y_pred, y_query = self._checked()
        if y_query is None or not len(query):
            return None
        return float(np.mean(y_pred == y_query))

    def plot(self, fig=None, *, n_cols=None, **kwargs):
        """Draw the grid: support rows, then query rows.

        Parameters
        ----------
        fig : matplotlib Figure or SubFigure, default=None
            Where to draw: it is cleared, then a grid of axes is added to it
            (draw on a SubFigure to keep the rest of a figure); ``None``
            makes a new figure sized to the grid.
        n_cols : int, default=None
            Images per row; ``None``: as many as support images, at least
            5 when there are that many queries, at most 10.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.imshow`, overriding the
            defaults: grey images use ``cmap="gray_r"`` on one scale for
            all of them (``vmin``, ``vmax``).

        Returns
        -------
        display : EpisodeDisplay
            This display, with ``axes_`` and ``figure_`` set.
        """
        plt = _pyplot(f"{type(self).__name__}.plot")
        support, query, y_support, y_pred, y_query = self._checked()
        n_support, n_query = len(support), len(query)
        if n_cols is None:
            n_cols = min(10, max(n_support, min(n_query, 5)))
        if not isinstance(n_cols, Integral) or n_cols < 1:
            raise ValueError(f"n_cols must be a positive int; got {n_cols!r}.")
        support_rows = math.ceil(n_support / n_cols)
        query_rows = math.ceil(n_query / n_cols)
        n_rows = support_rows + query_rows
        if fig is None:
            # room for the titles (about 0.07 inch a character at "small")
            longest = max(
                [len(f"support: {_label_text(v)}") for v in y_support]
                + [len(f"pred: {_label_text(v)}") for v in y_pred]
            )
            width = max(1.25, 0.07 * longest + 0.15)
            side = 1.1  # of an image
            below = 0.2 if y_query is not None else 0.0  # "true: ..." under wrong ones
            top = 0.35 if y_query is not None and n_query else 0.1  # the suptitle
            height = n_rows * (side + 0.3) + query_rows * below + top
            fig = plt.figure(figsize=(width * n_cols, height), layout="constrained")
        else:
            fig.clear()
        grid = fig.add_gridspec(n_rows, n_cols)
        cells = [(i // n_cols, i % n_cols) for i in range(n_support)]
        cells += [(support_rows + i // n_cols, i % n_cols) for i in range(n_query)]
        style = {}
        if support.ndim == 3 and not {"norm", "vmin", "vmax"} & set(kwargs):
            finite = np.concatenate([support, query]).astype(np.float64)
            finite = finite[np.isfinite(finite)]
            if finite.size:  # one grey scale for all the images
                style = {"vmin": finite.min(), "vmax": finite.max()}
        if support.ndim == 3:
            style["cmap"] = "gray_r"
        axes = []
        for k, (row, col) in enumerate(cells):
            ax = fig.add_subplot(grid[row, col])
            image = support[k] if k < n_support else query[k - n_support]
            ax.imshow(image, **{**style, **kwargs})
            ax.set_xticks([])
            ax.set_yticks([])
            if k < n_support:
                ax.set_title(f"support: {_label_text(y_support[k])}", fontsize="small")
            else:
                j = k - n_support
                ax.set_title(f"pred: {_label_text(y_pred[j])}", fontsize="small")
                if y_query is not None:
                    right = bool(y_pred[j] == y_query[j])
                    color = "tab:green" if right else "tab:red"
                    ax.title.set_color(color)
                    for spine in ax.spines.values():
                        spine.set_color(color)
                        spine.set_linewidth(2)
                    if not right:
                        ax.set_xlabel(
                            f"true: {_label_text(y_query[j])}",
                            color=color,
                            fontsize="small",
                        )
            axes.append(ax)
        if n_support:
            axes[0].set_ylabel("support")
        if n_query:
            axes[n_support].set_ylabel("query")
        if y_query is not None and n_query:
            right = int(np.sum(y_pred == y_query))
            fig.suptitle(
                f"query accuracy {right / n_query:.0%} ({right} of {n_query})",
                fontsize="medium",
            )
        self.axes_ = np.array(axes, dtype=object)
        self.figure_ = fig
        return self

    @classmethod
    def from_predictions(
        cls,
        X_support,
        y_support,
        X_query,
        y_pred,
        y_query=None,
        *,
        image_shape=None,
        n_cols=None,
        fig=None,
        **kwargs,
    ):
        """Draw an episode from its images and predictions.

        Parameters
        ----------
        X_support : array-like of shape (n_support, ...)
            Support samples: rows of pixels or image arrays.
        y_support : array-like of shape (n_support,)
            Their labels.
        X_query : array-like of shape (n_query, ...)
            Query samples, of the same shape.
        y_pred : array-like of shape (n_query,)
            Predicted label of each query.
        y_query : array-like of shape (n_query,), default=None
            True label of each query.
        image_shape : tuple of int, default=None
            ``(H, W)``, ``(C, H, W)`` or ``(H, W, C)`` of one image; ``None``:
            the shape of N-D samples, or a grey square from the number of
            features of rows of pixels (colour rows need ``image_shape``).
        n_cols : int, default=None
            Images per row.
        fig : matplotlib Figure or SubFigure, default=None
            Where to draw (it is cleared first); ``None`` makes a new figure.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.imshow`.

        Returns
        -------
        display : EpisodeDisplay
            The display, drawn.

        Notes
        -----
        Colour images are brought to [0, 1] on one scale for the support
        and the query images: integers (and floats from above 1.5 up to
        255 with no negative value) are divided by 255, images with
        negative values (standardised ones) are stretched from their
        minimum to their maximum, and other floats are clipped to [0, 1].
        """
        _check_matplotlib(f"{cls.__name__}.from_predictions")
        for name, labels, X, what in (
            ("y_support", y_support, X_support, "X_support"),
            ("y_pred", y_pred, X_query, "X_query"),
            ("y_query", y_query, X_query, "X_query"),
        ):
            _check_length(name, labels, _num_rows(X), what)
        support, support_ints = _as_images(X_support, image_shape, "X_support")
        query, query_ints = _as_images(X_query, image_shape, "X_query")
        if len(support) and len(query) and support.shape[1:] != query.shape[1:]:
            raise ValueError(
                f"X_support holds images of shape {support.shape[1:]} but X_query "
                f"of shape {query.shape[1:]}: give images of one shape."
            )
        if support.ndim == 4:  # colour: one scale for all the images
            both = _colour_range(
                np.concatenate([support, query]), support_ints or query_ints
            )
            support, query = both[: len(support)], both[len(support) :]
        disp = cls(
            support,
            _as_labels(y_support, "y_support"),
            query,
            _as_labels(y_pred, "y_pred"),
            None if y_query is None else _as_labels(y_query, "y_query"),
        )
        return disp.plot(fig=fig, n_cols=n_cols, **kwargs)

    @classmethod
    def from_estimator(
        cls,
        estimator,
        X_support,
        y_support,
        X_query,
        y_query=None,
        *,
        image_shape=None,
        n_cols=None,
        fig=None,
        **kwargs,
    ):
        """Adapt a few-shot estimator to a support set and draw its predictions.

        Parameters
        ----------
        estimator : fitted estimator with ``adapt``, or a Pipeline ending in one
            The meta-trained model; it is left unchanged.
        X_support : array-like of shape (n_support, ...)
            Support samples: rows of pixels or image arrays.
        y_support : array-like of shape (n_support,)
            Their labels.
        X_query : array-like of shape (n_query, ...)
            Query samples.
        y_query : array-like of shape (n_query,), default=None
            True label of each query.
        image_shape : tuple of int, default=None
            ``(H, W)``, ``(C, H, W)`` or ``(H, W, C)`` of one image; ``None``:
            the shape of N-D samples, else the ``input_shape`` of the
            estimator (of the final step of a Pipeline whose steps keep the
            number of features), else a grey square from the number of
            features.
        n_cols : int, default=None
            Images per row.
        fig : matplotlib Figure or SubFigure, default=None
            Where to draw (it is cleared first); ``None`` makes a new figure.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.imshow`.

        Returns
        -------
        display : EpisodeDisplay
            The display, drawn.
        """
        _check_matplotlib(f"{cls.__name__}.from_estimator")
        final, Xs, Xq = final_step(
            estimator,
            X_support,
            X_query,
            caller=f"{cls.__name__}.from_estimator",
            hint=" Use from_predictions for other models.",
        )
        _check_length("y_support", y_support, _num_rows(X_support), "X_support")
        _check_length("y_query", y_query, _num_rows(X_query), "X_query")
        y_pred = final.adapt(Xs, y_support).predict(Xq)
        if image_shape is None and np.ndim(X_support) == 2:
            image_shape = _input_image_shape(
                final,
                np.shape(X_support)[1],
                np.shape(Xs)[-1] if np.ndim(Xs) == 2 else -1,
            )
        return cls.from_predictions(
            X_support,
            y_support,
            X_query,
            y_pred,
            y_query,
            image_shape=image_shape,
            n_cols=n_cols,
            fig=fig,
            **kwargs,
        )
