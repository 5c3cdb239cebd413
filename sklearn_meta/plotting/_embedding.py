"""EmbeddingDisplay: a 2-D view of ``transform(X)``, by class and domain."""

import numpy as np

from .._pipeline import best_model, final_model
from ._common import (
    as_labels,
    check_length,
    check_matplotlib,
    import_pyplot,
    is_number,
    label_text,
    num_rows,
    style_kwargs,
)

__all__ = ["EmbeddingDisplay"]

_MARKERS = ("o", "^", "s", "D", "v", "P", "X", "*", "h", "<", ">", "p")
_UNLABELLED = (0.55, 0.55, 0.55, 0.45)


# ------------------------------------------------------------- projection
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


# ----------------------------------------------------------------- labels
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
            [_is_missing(v) or (is_number(v) and v == -1) for v in y], dtype=bool
        )
    return np.zeros(len(y), dtype=bool)


def _domain_labels(domains):
    """Legend text of each domain value, in the order drawn."""
    values = list(domains)
    ints = all(is_number(v) and float(v) == int(v) for v in values)
    if not ints or any(int(v) == 0 for v in values):
        return values, [f"domain {label_text(v)}" for v in values]
    # sklearn_meta's (and skada's) convention: sources positive, targets negative
    sources = sorted(v for v in values if v > 0)
    targets = sorted((v for v in values if v < 0), reverse=True)
    labels = [
        "source" if len(sources) == 1 else f"source {label_text(v)}" for v in sources
    ]
    labels += [
        "target" if len(targets) == 1 else f"target {label_text(v)}" for v in targets
    ]
    return sources + targets, labels


# ------------------------------------------------------ colours and markers
def _class_palette(n_classes, cmap=None):
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


def _legend_entry(label, marker, color=None):
    """A legend handle: a marker alone, no line."""
    from matplotlib.lines import Line2D

    return Line2D([], [], linestyle="", marker=marker, color=color, label=label)


def _check_colour_and_marker(kwargs, y, domains):
    """Whether the style ``kwargs`` sets the colour of the points.

    A colour is refused with ``y`` (the colour of a point shows its class), a
    marker with ``domains`` (the marker shows the domain).
    """
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
    return bool(colour_keys)


def _one_colour(n, colour_given):
    """The colours of points without classes: C0, unless the style sets one."""
    from matplotlib.colors import to_rgba

    return {} if colour_given else {"c": np.tile(to_rgba("C0"), (n, 1))}


def _colour_by_class(y, cmap, max_legend_classes, swatch):
    """The colour of each point by its class, and the legend of the classes.

    Returns ``({"c": rgba}, handles)``: unlabelled rows are grey; the legend
    lists at most ``max_legend_classes`` classes, then counts the others.
    """
    unlabelled = _unlabelled_mask(y)
    classes, codes = np.unique(y[~unlabelled], return_inverse=True)
    names = classes
    if classes.dtype.kind == "f" and np.all(classes == np.round(classes)):
        names = classes.astype(np.int64)  # ints made floats by a NaN label
    palette = _class_palette(len(classes), cmap)
    colors = np.tile(np.array(_UNLABELLED), (len(y), 1))
    colors[~unlabelled] = palette[codes.reshape(-1)]
    shown = len(classes)
    if len(classes) > max_legend_classes:
        shown = max(max_legend_classes - 1, 0)
    handles = [
        _legend_entry(label_text(c), swatch, palette[i])
        for i, c in enumerate(names[:shown])
    ]
    if shown < len(classes):
        handles.append(_legend_entry(f"... {len(classes) - shown} more classes", ""))
    if unlabelled.any():
        handles.append(_legend_entry("unlabelled", swatch, _UNLABELLED))
    return {"c": colors}, handles


def _scatter(ax, Z, colors, marker, kwargs):
    """The points, with the default size and edge under the user's style."""
    from matplotlib.markers import MarkerStyle

    style = {"s": 30 if len(Z) <= 300 else 12, "marker": marker}
    if MarkerStyle(marker).is_filled():  # a thin white edge; "x" is all edge
        style.update(linewidth=0.3, edgecolor="white")
    return ax.scatter(Z[:, 0], Z[:, 1], **colors, **{**style, **kwargs})


def _mark_domains(scatter, domains):
    """Give each domain its marker; the legend handles of the domains."""
    from matplotlib.markers import MarkerStyle

    values, labels = _domain_labels(list(np.unique(domains)))
    paths = {}
    for value, shape in zip(values, _MARKERS * len(values)):
        m = MarkerStyle(shape)
        paths[value] = m.get_path().transformed(m.get_transform())
    scatter.set_paths([paths[d] for d in domains.tolist()])
    return [
        _legend_entry(label, shape, "0.25")
        for label, shape in zip(labels, _MARKERS * len(values))
    ]


# ----------------------------------------------------------------- legend
def _root_figure(ax):
    """The figure holding ``ax``, through any subfigures."""
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


def _draw_legend(ax, handles, beside):
    """The legend of ``handles``: right of ``ax`` when ``beside``, else inside.

    Inside the axes it goes where it hides the fewest points, in small type,
    in columns when it has many entries.
    """
    common = {"handles": handles, "handletextpad": 0.2}
    if beside:
        return ax.legend(
            **common,
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize="small",
            frameon=False,
            borderaxespad=0.0,
        )
    # a neighbour may sit right of the axes: stay inside them
    return ax.legend(
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
        plt = import_pyplot(f"{type(self).__name__}.plot")
        Z, y, domains = self._checked()
        kwargs = style_kwargs(kwargs, "collection")
        colour_given = _check_colour_and_marker(kwargs, y, domains)
        cmap = kwargs.pop("cmap", None)
        marker = kwargs.pop("marker", "o")
        made_figure = ax is None
        if made_figure:
            _, ax = plt.subplots(layout="constrained")
        if y is None:
            colors, handles = _one_colour(len(Z), colour_given), []
        else:
            swatch = "o" if domains is not None else marker
            colors, handles = _colour_by_class(y, cmap, max_legend_classes, swatch)
        scatter = _scatter(ax, Z, colors, marker, kwargs)
        if domains is not None:
            handles += _mark_domains(scatter, domains)
        prefix = {"pca": "PC", "tsne": "t-SNE", None: "dimension"}[self.method]
        ax.set_xlabel(f"{prefix} 1")
        ax.set_ylabel(f"{prefix} 2")
        if name is not None:
            ax.set_title(name)
        self.legend_ = None
        if legend and handles:
            beside = made_figure or _room_outside(ax)
            self.legend_ = _draw_legend(ax, handles, beside)
        self.ax_, self.figure_, self.scatter_ = ax, ax.figure, scatter
        return self

    def _checked(self):
        """``(embedding, y, sample_domain)`` as arrays, validated."""
        Z = np.asarray(self.embedding, dtype=np.float64)
        if Z.ndim != 2 or Z.shape[1] != 2:
            raise ValueError(
                f"embedding must have shape (n_samples, 2); got {Z.shape}. Reduce it "
                "with EmbeddingDisplay.from_embedding."
            )
        n = len(Z)
        if n == 0:
            raise ValueError("embedding has no rows: there is no point to draw.")
        y = None if self.y is None else as_labels(self.y, "y")
        domains = (
            None
            if self.sample_domain is None
            else as_labels(self.sample_domain, "sample_domain")
        )
        check_length("y", y, n, "embedding")
        check_length("sample_domain", domains, n, "embedding")
        if self.method not in ("pca", "tsne", None):
            raise ValueError(
                f"method must be 'pca', 'tsne' or None; got {self.method!r}."
            )
        return Z, y, domains

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
        check_matplotlib(f"{cls.__name__}.from_embedding")
        n = num_rows(Z)
        check_length("y", y, n, "Z")
        check_length("sample_domain", sample_domain, n, "Z")
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
        estimator : fitted estimator with ``transform``, a Pipeline, or a fitted search
            Any sklearn_meta estimator (its learned features), or any
            transformer. A fitted ``GridSearchCV`` or ``RandomizedSearchCV``
            stands for its ``best_estimator_``.
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
        check_matplotlib(f"{cls.__name__}.from_estimator")
        estimator = best_model(estimator, f"{cls.__name__}.from_estimator")
        if not hasattr(estimator, "transform"):
            raise TypeError(
                f"{cls.__name__}.from_estimator embeds X with transform(), which "
                f"{type(final_model(estimator)).__name__} does not have. Pass a fitted "
                "sklearn_meta estimator (or a Pipeline ending in one)."
            )
        n = num_rows(X)
        check_length("y", y, n, "X")
        check_length("sample_domain", sample_domain, n, "X")
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
