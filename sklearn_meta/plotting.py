"""Pictures of training, embeddings, few-shot accuracy and episodes.

The displays follow scikit-learn's visualisation API (as in
:class:`sklearn.metrics.RocCurveDisplay`): a classmethod such as
``from_estimator`` computes what is drawn, keeps it on the display as plain
attributes and calls ``plot``; ``plot`` draws it on a matplotlib ``Axes`` (or
``Figure``), keeps the artists (``ax_``, ``figure_``, ``lines_``, ...) and
returns the display, so a picture can be redrawn or overlaid on another
without computing again.

* :class:`TrainingCurveDisplay`: loss or accuracy per epoch or meta-update,
  from ``history_``;
* :class:`EmbeddingDisplay`: a 2-D view (PCA or t-SNE) of ``transform(X)``,
  coloured by class, marked by domain;
* :class:`ShotCurveDisplay`: episodic accuracy against the number of shots
  (and ways), with the 95 % confidence bands of
  :func:`~sklearn_meta.model_selection.evaluate_episodes`;
* :class:`EpisodeDisplay`: the support and query images of an episode, with
  the predicted labels.

matplotlib is an optional dependency (``pip install "sklearn-meta[plot]"``);
this module imports without it and the displays say how to install it when
they need it.
"""

from __future__ import annotations

import math
from numbers import Integral, Real

import numpy as np
from sklearn.base import is_regressor
from sklearn.pipeline import Pipeline
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from ._base import _normalise_input_shape

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


def _last_step(estimator):
    """The final estimator of (nested) Pipelines."""
    while isinstance(estimator, Pipeline):
        estimator = estimator.steps[-1][1]
    return estimator


def _is_ours(estimator):
    return type(estimator).__module__.startswith("sklearn_meta")


def _is_number(value):
    return isinstance(value, Real) and not isinstance(value, bool)


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


def _curve_label(key):
    if key.startswith("train_"):
        return "train"
    if key.startswith("valid_"):
        return "validation"
    return key


def _history_curves(rows, metric, *, score_label="accuracy", owner="The history"):
    """``(x, curves, xlabel, ylabel)`` of ``metric`` in history rows."""
    if not isinstance(metric, str):
        raise TypeError(f"metric must be a string; got {metric!r}.")
    if not rows:
        raise ValueError(
            f"{owner} is empty: nothing was trained, so there is no curve to draw "
            "(an estimator with backbone='identity' has no weights to train)."
        )
    keys = _METRIC_KEYS.get(metric, (metric,))
    present = [k for k in keys if any(k in row for row in rows)]
    if not present:
        available = sorted({k for row in rows for k, v in row.items() if _is_number(v)})
        raise ValueError(
            f"metric={metric!r} needs {' or '.join(keys)} in the history, which "
            f"{owner[0].lower() + owner[1:]} lacks. Keys available: {available}. "
            "Pass metric='loss', 'score' or one of these keys."
        )
    episodic = any("iter" in row for row in rows)
    xkey, xlabel = ("iter", "meta-update") if episodic else ("epoch", "epoch")
    x = np.array(
        [
            float(row[xkey])
            if _is_number(row.get(xkey))
            else (np.nan if episodic else i + 1)
            for i, row in enumerate(rows)
        ],
        dtype=np.float64,
    )
    curves = {
        _curve_label(k): np.array(
            [float(row[k]) if _is_number(row.get(k)) else np.nan for row in rows],
            dtype=np.float64,
        )
        for k in present
    }
    ylabel = {"loss": "loss", "score": score_label, "acc": score_label}.get(
        metric, metric
    )
    return x, curves, xlabel, ylabel


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
        The line of each curve, by the keys of ``curves``.
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
        finite. Short curves (30 points or fewer) get point markers.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` makes a new figure.
        name : str, default=None
            Name in the legend; ``None`` uses the display's ``name``.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.plot` for every curve
            (``color`` then applies to all of them).

        Returns
        -------
        display : TrainingCurveDisplay
            This display, with ``ax_``, ``figure_`` and ``lines_`` set.
        """
        plt = _pyplot(f"{type(self).__name__}.plot")
        from matplotlib.ticker import MaxNLocator

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
            curves[label] = values
        if not curves:
            raise ValueError("curves is empty: give at least one curve to draw.")
        if ax is None:
            _, ax = plt.subplots()
        name = self.name if name is None else name
        styles = ["-", "--", ":", "-."]
        lines, color = {}, None
        for i, (label, values) in enumerate(curves.items()):
            keep = np.isfinite(values) & np.isfinite(x)
            style = {"label": f"{name} {label}" if name else str(label)}
            if "linestyle" not in kwargs and "ls" not in kwargs:
                style["linestyle"] = "--" if label == "validation" else styles[i % 4]
            if color is not None and "color" not in kwargs and "c" not in kwargs:
                style["color"] = color
            if keep.sum() <= 30 and "marker" not in kwargs:
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
        history : list of dict
            History rows, such as an estimator's ``history_`` or a skorch
            net's ``history``.
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
        x, curves, xlabel, ylabel = _history_curves([dict(r) for r in history], metric)
        return cls(x, curves, xlabel, ylabel, name=name).plot(ax=ax, **kwargs)

    @classmethod
    def from_estimator(cls, estimator, *, metric="loss", ax=None, name=None, **kwargs):
        """Draw the training curves of a fitted estimator.

        Parameters
        ----------
        estimator : fitted sklearn_meta estimator, or a Pipeline ending in one
            Its ``history_`` is drawn (a skorch net's ``history`` works too).
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
            the keys it has.
        """
        _check_matplotlib(f"{cls.__name__}.from_estimator")
        final = _last_step(estimator)
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
        owner = f"{type(final).__name__}'s history_"
        x, curves, xlabel, ylabel = _history_curves(
            [dict(r) for r in history],
            metric,
            score_label="score" if is_regressor(final) else "accuracy",
            owner=owner,
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


def _unlabelled_mask(y):
    """Rows whose label is the integer -1 (scikit-learn's unlabelled marker)."""
    if y.dtype.kind in "iuf":
        return y == -1
    if y.dtype == object:
        return np.array([_is_number(v) and v == -1 for v in y], dtype=bool)
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


def _class_colors(n_classes):
    from matplotlib import colormaps

    if n_classes <= 10:
        return colormaps["tab10"](np.arange(n_classes))
    if n_classes <= 20:
        return colormaps["tab20"](np.arange(n_classes))
    return colormaps["turbo"](np.linspace(0.05, 0.95, n_classes))


class EmbeddingDisplay:
    """A 2-D view of an embedding, coloured by class and marked by domain.

    :meth:`from_estimator` embeds samples with ``estimator.transform`` (the
    learned features of any sklearn_meta estimator) and projects them to two
    dimensions with PCA or t-SNE; :meth:`from_embedding` does the same for
    features you computed. Points are coloured by class, rows with
    ``y == -1`` (unlabelled, as in domain adaptation) are grey, and with
    ``sample_domain`` each domain gets its own marker. Drawing two displays
    on two axes of one figure compares a model before and after training
    or adaptation.

    Parameters
    ----------
    embedding : array-like of shape (n_samples, 2)
        The 2-D coordinates to draw.
    y : array-like of shape (n_samples,), default=None
        Class of each point (colour); ``-1`` marks unlabelled rows.
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
            Draw the legend of classes and domains, right of the axes.
        max_legend_classes : int, default=20
            Most classes listed in the legend; the rest are counted in a
            last entry.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.scatter` (``s``,
            ``alpha``, ...).

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
        y = None if self.y is None else np.asarray(self.y)
        domains = None if self.sample_domain is None else np.asarray(self.sample_domain)
        _check_length("y", y, n, "embedding")
        _check_length("sample_domain", domains, n, "embedding")
        if self.method not in ("pca", "tsne", None):
            raise ValueError(
                f"method must be 'pca', 'tsne' or None; got {self.method!r}."
            )
        if ax is None:
            _, ax = plt.subplots(layout="constrained")

        handles = []
        if y is None:
            colors = np.tile(to_rgba("C0"), (n, 1))
        else:
            unlabelled = _unlabelled_mask(y)
            classes, codes = np.unique(y[~unlabelled], return_inverse=True)
            palette = _class_colors(len(classes))
            colors = np.tile(np.array(_UNLABELLED), (n, 1))
            colors[~unlabelled] = palette[codes]
            shown = len(classes)
            if len(classes) > max_legend_classes:
                shown = max(max_legend_classes - 1, 0)
            handles = [
                Line2D(
                    [],
                    [],
                    linestyle="",
                    marker="o",
                    color=palette[i],
                    label=_label_text(c),
                )
                for i, c in enumerate(classes[:shown])
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
                        marker="o",
                        color=_UNLABELLED,
                        label="unlabelled",
                    )
                )
        style = {"s": 30 if n <= 300 else 12, "linewidths": 0.3, "edgecolors": "white"}
        scatter = ax.scatter(Z[:, 0], Z[:, 1], c=colors, **{**style, **kwargs})
        if domains is not None:
            values, labels = _domain_labels(list(np.unique(domains)))
            paths = {}
            for value, marker in zip(values, _MARKERS * len(values)):
                m = MarkerStyle(marker)
                paths[value] = m.get_path().transformed(m.get_transform())
            scatter.set_paths([paths[d] for d in domains.tolist()])
            handles += [
                Line2D([], [], linestyle="", marker=marker, color="0.25", label=label)
                for label, marker in zip(labels, _MARKERS * len(values))
            ]
        prefix = {"pca": "PC", "tsne": "t-SNE", None: "dimension"}[self.method]
        ax.set_xlabel(f"{prefix} 1")
        ax.set_ylabel(f"{prefix} 2")
        if name is not None:
            ax.set_title(name)
        self.legend_ = None
        if legend and handles:
            self.legend_ = ax.legend(
                handles=handles,
                loc="upper left",
                bbox_to_anchor=(1.01, 1.0),
                fontsize="small",
                frameon=False,
                borderaxespad=0.0,
                handletextpad=0.2,
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
            Class of each sample; ``-1`` marks unlabelled rows.
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
            Class of each sample; ``-1`` marks unlabelled rows.
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
    return arr.astype(np.int64)


class ShotCurveDisplay:
    """Few-shot accuracy against the number of shots, with 95 % bands.

    :meth:`from_estimator` scores a fitted few-shot estimator with
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
    lines_ : list of matplotlib Line2D
        The mean accuracy, one line per ``n_way``.
    bands_ : list of matplotlib PolyCollection
        The confidence bands, one per ``n_way``.
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
    >>> disp.mean.shape, [line.get_label() for line in disp.lines_]
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

    def plot(self, ax=None, *, name=None, **kwargs):
        """Draw one line with markers and one band per ``n_way``.

        Parameters
        ----------
        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` makes a new figure.
        name : str, default=None
            Name in the legend; ``None`` uses the display's ``name``.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.plot` for every line.

        Returns
        -------
        display : ShotCurveDisplay
            This display, with ``ax_``, ``figure_``, ``lines_`` and
            ``bands_`` set.
        """
        plt = _pyplot(f"{type(self).__name__}.plot")
        from matplotlib.ticker import MaxNLocator

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
        mean, low, high = arrays
        if ax is None:
            _, ax = plt.subplots()
        name = self.name if name is None else name
        lines, bands = [], []
        for i, way in enumerate(n_way.tolist()):
            label = f"{name} {way}-way" if name else f"{way}-way"
            (line,) = ax.plot(
                n_shot, mean[i], **{"marker": "o", "label": label, **kwargs}
            )
            band = ax.fill_between(
                n_shot, low[i], high[i], color=line.get_color(), alpha=0.2, linewidth=0
            )
            lines.append(line)
            bands.append(band)
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
        """Score a fitted few-shot estimator by n_shot (and n_way) and draw it.

        Parameters
        ----------
        estimator : fitted estimator with ``adapt``, or a Pipeline ending in one
            The meta-trained model.
        X : array-like of shape (n_samples, ...)
            Samples of the evaluation classes.
        y : array-like of shape (n_samples,)
            Their labels.
        n_shot : int or sequence of int, default=(1, 2, 5)
            Support samples per class, one point each.
        n_way : int or sequence of int, default=5
            Classes per episode, one line each.
        n_query : int, default=15
            Query samples per class.
        n_episodes : int, default=100
            Episodes per point.
        random_state : int, RandomState instance or None, default=None
            Draw of the episodes; every point uses the same seed (a
            RandomState instance gives one seed first), so a point equals
            ``evaluate_episodes(..., random_state=random_state)``.
        ax : matplotlib Axes, default=None
            Axes to draw on; ``None`` makes a new figure.
        name : str, default=None
            Name in the legend; ``None``: the estimator's class name.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.plot`.

        Returns
        -------
        display : ShotCurveDisplay
            The display, drawn.
        """
        from .model_selection import evaluate_episodes

        _check_matplotlib(f"{cls.__name__}.from_estimator")
        shots = _positive_ints("n_shot", n_shot, 1)
        ways = _positive_ints("n_way", n_way, 2)
        if isinstance(random_state, np.random.RandomState):
            random_state = int(check_random_state(random_state).randint(2**31 - 1))
        results = [
            [
                evaluate_episodes(
                    estimator,
                    X,
                    y,
                    n_way=int(w),
                    n_shot=int(s),
                    n_query=n_query,
                    n_episodes=n_episodes,
                    random_state=random_state,
                )
                for s in shots
            ]
            for w in ways
        ]
        mean, low, high = (
            np.array([[r[key] for r in row] for row in results], dtype=np.float64)
            for key in ("mean", "ci_low", "ci_high")
        )
        name = type(_last_step(estimator)).__name__ if name is None else name
        disp = cls(shots, ways, mean, low, high, name=name, results=results)
        return disp.plot(ax=ax, **kwargs)


# --------------------------------------------------------------- episode
def _as_images(X, image_shape, what):
    """``X`` as images for ``imshow``: (n, H, W) or (n, H, W, C), floats."""
    X = np.asarray(X.to_numpy() if hasattr(X, "to_numpy") else X, dtype=np.float64)
    if X.ndim < 2:
        raise ValueError(f"{what} must hold one sample per row; got shape {X.shape}.")
    n, size = len(X), int(np.prod(X.shape[1:]))
    if image_shape is None:
        if X.ndim in (3, 4):
            image_shape = X.shape[1:]
        elif X.ndim == 2:
            side = math.isqrt(size)
            third = math.isqrt(size // 3)
            if side * side == size:
                image_shape = (side, side)
            elif size % 3 == 0 and 3 * third * third == size:
                image_shape = (3, third, third)
        if image_shape is None:
            raise ValueError(
                f"Cannot tell the image shape of {what} with shape {X.shape}: pass "
                "image_shape=(H, W) or (C, H, W)."
            )
    (c, h, w), channels_last = _normalise_input_shape(image_shape, "image_shape")
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
    if c == 1:
        return images[..., 0]
    if images.size and (images.min() < 0 or images.max() > 1):
        if images.min() >= 0 and images.max() <= 255:
            return images / 255.0
        low = images.min(axis=(1, 2, 3), keepdims=True)
        span = images.max(axis=(1, 2, 3), keepdims=True) - low
        return (images - low) / np.where(span > 0, span, 1.0)
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
        Support images as :meth:`matplotlib.axes.Axes.imshow` takes them.
    y_support : array-like of shape (n_support,)
        Their labels.
    query_images : ndarray of shape (n_query, H, W) or (n_query, H, W, C)
        Query images.
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
        support = np.asarray(support_images)
        query = np.asarray(query_images)
        self.images = np.concatenate([support, query]) if len(query) else support
        self.accuracy = (
            None
            if y_query is None or not len(y_pred)
            else float(np.mean(np.asarray(y_pred) == np.asarray(y_query)))
        )

    def plot(self, fig=None, *, n_cols=None, **kwargs):
        """Draw the grid: support rows, then query rows.

        Parameters
        ----------
        fig : matplotlib Figure or SubFigure, default=None
            Where to draw (a grid of axes is added to it); ``None`` makes a
            new figure sized to the grid.
        n_cols : int, default=None
            Images per row; ``None``: as many as support images, between 5
            and 10.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.imshow` (grey images use
            ``cmap="gray_r"`` unless given).

        Returns
        -------
        display : EpisodeDisplay
            This display, with ``axes_`` and ``figure_`` set.
        """
        plt = _pyplot(f"{type(self).__name__}.plot")
        support = np.asarray(self.support_images)
        query = np.asarray(self.query_images)
        y_support = np.asarray(self.y_support)
        y_pred = np.asarray(self.y_pred)
        y_query = None if self.y_query is None else np.asarray(self.y_query)
        _check_length("y_support", y_support, len(support), "support_images")
        _check_length("y_pred", y_pred, len(query), "query_images")
        _check_length("y_query", y_query, len(query), "query_images")
        if not len(support) and not len(query):
            raise ValueError("There is no image to draw.")
        n_support, n_query = len(support), len(query)
        if n_cols is None:
            n_cols = min(10, max(5, n_support))
        if not isinstance(n_cols, Integral) or n_cols < 1:
            raise ValueError(f"n_cols must be a positive int; got {n_cols!r}.")
        support_rows = math.ceil(n_support / n_cols)
        query_rows = math.ceil(n_query / n_cols)
        gap = 1 if support_rows and query_rows else 0
        heights = [1.0] * support_rows + [0.15] * gap + [1.0] * query_rows
        if fig is None:
            # room for the titles (about 0.07 inch a character at "small")
            longest = max(
                [len(f"support: {_label_text(v)}") for v in y_support]
                + [len(f"pred: {_label_text(v)}") for v in y_pred]
            )
            width = max(1.25, 0.07 * longest + 0.15)
            height = 1.45 if y_query is None else 1.7  # "true: ..." under wrong ones
            fig = plt.figure(
                figsize=(width * n_cols, height * (support_rows + query_rows) + 0.5),
                layout="constrained",
            )
        grid = fig.add_gridspec(len(heights), n_cols, height_ratios=heights)
        cells = [(i // n_cols, i % n_cols) for i in range(n_support)]
        first_query_row = support_rows + gap
        cells += [(first_query_row + i // n_cols, i % n_cols) for i in range(n_query)]
        axes = []
        for k, (row, col) in enumerate(cells):
            ax = fig.add_subplot(grid[row, col])
            image = support[k] if k < n_support else query[k - n_support]
            style = {"cmap": "gray_r"} if image.ndim == 2 else {}
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
        if self.accuracy is not None:
            right = int(np.sum(y_pred == y_query))
            fig.suptitle(
                f"query accuracy {self.accuracy:.0%} ({right} of {n_query})",
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
            Query samples.
        y_pred : array-like of shape (n_query,)
            Predicted label of each query.
        y_query : array-like of shape (n_query,), default=None
            True label of each query.
        image_shape : tuple of int, default=None
            ``(H, W)`` or ``(C, H, W)`` of one image; ``None``: the shape of
            N-D samples, or a square (grey, or RGB) from the number of
            features.
        n_cols : int, default=None
            Images per row.
        fig : matplotlib Figure or SubFigure, default=None
            Where to draw; ``None`` makes a new figure.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.imshow`.

        Returns
        -------
        display : EpisodeDisplay
            The display, drawn.
        """
        _check_matplotlib(f"{cls.__name__}.from_predictions")
        for name, labels, X, what in (
            ("y_support", y_support, X_support, "X_support"),
            ("y_pred", y_pred, X_query, "X_query"),
            ("y_query", y_query, X_query, "X_query"),
        ):
            _check_length(name, labels, _num_rows(X), what)
        support = _as_images(X_support, image_shape, "X_support")
        query = _as_images(X_query, image_shape, "X_query")
        disp = cls(
            support,
            np.asarray(y_support),
            query,
            np.asarray(y_pred),
            None if y_query is None else np.asarray(y_query),
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
            ``(H, W)`` or ``(C, H, W)`` of one image; ``None``: the shape of
            N-D samples, else the estimator's ``input_shape``, else a square
            from the number of features.
        n_cols : int, default=None
            Images per row.
        fig : matplotlib Figure or SubFigure, default=None
            Where to draw; ``None`` makes a new figure.
        **kwargs : dict
            Passed to :meth:`matplotlib.axes.Axes.imshow`.

        Returns
        -------
        display : EpisodeDisplay
            The display, drawn.
        """
        _check_matplotlib(f"{cls.__name__}.from_estimator")
        final, Xs, Xq = estimator, X_support, X_query
        while isinstance(final, Pipeline):
            if len(final.steps) > 1:
                Xs, Xq = final[:-1].transform(Xs), final[:-1].transform(Xq)
            final = final.steps[-1][1]
        if not hasattr(final, "adapt"):
            raise TypeError(
                f"{cls.__name__}.from_estimator needs a few-shot estimator with an "
                f"adapt() method (such as ProtoNetClassifier); got "
                f"{type(final).__name__}. Use from_predictions for other models."
            )
        _check_length("y_support", y_support, _num_rows(X_support), "X_support")
        _check_length("y_query", y_query, _num_rows(X_query), "X_query")
        y_pred = final.adapt(Xs, y_support).predict(Xq)
        if image_shape is None and np.ndim(X_support) == 2 and final is estimator:
            image_shape = getattr(final, "input_shape", None)
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
