"""EpisodeDisplay: the images of a few-shot episode, with the predictions."""

import math
from numbers import Integral

import numpy as np

from .._images import decode_images, image_sequence_kind
from .._inputs import normalise_input_shape
from .._pipeline import final_step
from ._common import (
    as_labels,
    check_length,
    check_matplotlib,
    import_pyplot,
    label_text,
    num_rows,
)

__all__ = ["EpisodeDisplay"]


# ----------------------------------------------------------------- images
def _as_images(X, image_shape, what):
    """``X`` as images, (n, H, W) or (n, H, W, C), and whether it held ints.

    Files, PIL images and arrays of several sizes are decoded as the
    estimators decode them, each resized to the first one's size.
    """
    kind = image_sequence_kind(X)
    if kind is not None:
        first = decode_images(list(X[:1]), kind)
        X = decode_images(X, kind, size=first.shape[-2:])
        image_shape = None
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
    """``images`` as an array of grey or colour images; None when there is none."""
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


# ----------------------------------------------------------------- drawing
def _new_figure(plt, n_cols, support_rows, query_rows, y_support, y_pred, y_query):
    """A figure sized to the grid, with room for the titles of the images."""
    # about 0.07 inch a character at "small"
    longest = max(
        [len(f"support: {label_text(v)}") for v in y_support]
        + [len(f"pred: {label_text(v)}") for v in y_pred]
    )
    width = max(1.25, 0.07 * longest + 0.15)
    side = 1.1  # of an image
    below = 0.2 if y_query is not None else 0.0  # "true: ..." under wrong ones
    top = 0.35 if y_query is not None and len(y_pred) else 0.1  # the suptitle
    n_rows = support_rows + query_rows
    height = n_rows * (side + 0.3) + query_rows * below + top
    return plt.figure(figsize=(width * n_cols, height), layout="constrained")


def _image_style(images, kwargs):
    """The defaults of ``imshow``: grey images in ``gray_r``, on one scale.

    The scale (``vmin``, ``vmax``) spans all the images unless ``kwargs``
    sets one (``norm``, ``vmin`` or ``vmax``).
    """
    style = {}
    if images.ndim == 3 and not {"norm", "vmin", "vmax"} & set(kwargs):
        finite = images.astype(np.float64)
        finite = finite[np.isfinite(finite)]
        if finite.size:  # one grey scale for all the images
            style = {"vmin": finite.min(), "vmax": finite.max()}
    if images.ndim == 3:
        style["cmap"] = "gray_r"
    return style


def _title_query(ax, j, y_pred, y_query):
    """Title query ``j`` with its prediction: green if right, red if wrong.

    A wrong prediction gets the true label below the image; without
    ``y_query`` the title keeps the default colour.
    """
    ax.set_title(f"pred: {label_text(y_pred[j])}", fontsize="small")
    if y_query is None:
        return
    right = bool(y_pred[j] == y_query[j])
    color = "tab:green" if right else "tab:red"
    ax.title.set_color(color)
    for spine in ax.spines.values():
        spine.set_color(color)
        spine.set_linewidth(2)
    if not right:
        ax.set_xlabel(f"true: {label_text(y_query[j])}", color=color, fontsize="small")


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
        y_support = as_labels(self.y_support, "y_support")
        y_pred = as_labels(self.y_pred, "y_pred")
        y_query = None if self.y_query is None else as_labels(self.y_query, "y_query")
        check_length("y_support", y_support, len(support), "support_images")
        check_length("y_pred", y_pred, len(query), "query_images")
        check_length("y_query", y_query, len(query), "query_images")
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
        plt = import_pyplot(f"{type(self).__name__}.plot")
        support, query, y_support, y_pred, y_query = self._checked()
        n_support, n_query = len(support), len(query)
        if n_cols is None:
            n_cols = min(10, max(n_support, min(n_query, 5)))
        if not isinstance(n_cols, Integral) or n_cols < 1:
            raise ValueError(f"n_cols must be a positive int; got {n_cols!r}.")
        support_rows = math.ceil(n_support / n_cols)
        query_rows = math.ceil(n_query / n_cols)
        if fig is None:
            fig = _new_figure(
                plt, n_cols, support_rows, query_rows, y_support, y_pred, y_query
            )
        else:
            fig.clear()
        grid = fig.add_gridspec(support_rows + query_rows, n_cols)
        cells = [(i // n_cols, i % n_cols) for i in range(n_support)]
        cells += [(support_rows + i // n_cols, i % n_cols) for i in range(n_query)]
        style = _image_style(np.concatenate([support, query]), kwargs)
        axes = []
        for k, (row, col) in enumerate(cells):
            ax = fig.add_subplot(grid[row, col])
            image = support[k] if k < n_support else query[k - n_support]
            ax.imshow(image, **{**style, **kwargs})
            ax.set_xticks([])
            ax.set_yticks([])
            if k < n_support:
                ax.set_title(f"support: {label_text(y_support[k])}", fontsize="small")
            else:
                _title_query(ax, k - n_support, y_pred, y_query)
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
        check_matplotlib(f"{cls.__name__}.from_predictions")
        for name, labels, X, what in (
            ("y_support", y_support, X_support, "X_support"),
            ("y_pred", y_pred, X_query, "X_query"),
            ("y_query", y_query, X_query, "X_query"),
        ):
            check_length(name, labels, num_rows(X), what)
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
            as_labels(y_support, "y_support"),
            query,
            as_labels(y_pred, "y_pred"),
            None if y_query is None else as_labels(y_query, "y_query"),
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
        estimator : fitted estimator with ``adapt``, a Pipeline ending in one, or a fitted search
            The meta-trained model; it is left unchanged. A fitted
            ``GridSearchCV`` or ``RandomizedSearchCV`` stands for its
            ``best_estimator_``.
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
        check_matplotlib(f"{cls.__name__}.from_estimator")
        final, Xs, Xq = final_step(
            estimator,
            X_support,
            X_query,
            caller=f"{cls.__name__}.from_estimator",
            hint=" Use from_predictions for other models.",
        )
        check_length("y_support", y_support, num_rows(X_support), "X_support")
        check_length("y_query", y_query, num_rows(X_query), "X_query")
        y_pred = final.adapt(Xs, y_support).predict(Xq)
        if image_shape is None and image_sequence_kind(X_support) is None \
                and np.ndim(X_support) == 2:
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
