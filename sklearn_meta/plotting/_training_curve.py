"""TrainingCurveDisplay: loss or accuracy per epoch or meta-update."""

import warnings

import numpy as np
from sklearn.base import is_regressor
from sklearn.utils.validation import check_is_fitted

from .._persistence import history_rows
from .._pipeline import final_model
from ._common import (
    check_matplotlib,
    import_pyplot,
    is_number,
    name_from_label,
    style_kwargs,
)

__all__ = ["TrainingCurveDisplay"]


# ------------------------------------------------------- reading a history
def _to_float(value):
    """A history value as a float (numbers, numpy and torch scalars); else NaN."""
    if is_number(value):
        return float(value)
    item = getattr(value, "item", None)
    if callable(item) and getattr(value, "ndim", None) == 0:
        try:
            value = item()  # a 0-d numpy array or torch tensor
        except (TypeError, ValueError, RuntimeError):
            return np.nan
        return float(value) if is_number(value) else np.nan
    return np.nan


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
        "stored_features",
        "train_batch_count",
        "train_samples",
        "valid_batch_count",
        "valid_samples",
    }
)


def _curve_label(key):
    """The legend label of a history key: ``"train"``, ``"validation"`` or the key."""
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
        return history_rows(history)
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


# ---------------------------------------------------------- the estimator
def _is_ours(estimator):
    """Whether ``estimator`` is one of sklearn_meta's."""
    return type(estimator).__module__.startswith("sklearn_meta")


def _estimator_history(estimator, caller):
    """``(final, history)``: the last step of ``estimator`` and its history.

    A fitted search gives its ``best_estimator_``; a skorch net its
    ``history``. An estimator without a history raises a TypeError (an
    unfitted sklearn_meta estimator the NotFittedError of scikit-learn).
    """
    final = final_model(estimator, caller)
    history = getattr(final, "history_", None)
    if history is None and isinstance(getattr(final, "history", None), list):
        history = final.history  # a skorch net
    if history is None:
        if _is_ours(final):
            check_is_fitted(final)
        raise TypeError(
            f"{caller} draws the history_ of a fitted sklearn_meta estimator "
            f"(or of a Pipeline ending in one); {type(final).__name__} has none."
        )
    return final, history


# ---------------------------------------------------------------- drawing
_LINE_STYLES = ["-", "--", ":", "-."]


def _draw_curves(ax, x, curves, name, kwargs):
    """Draw each curve where it is finite, all in the colour of the first.

    The validation curve is dashed, the others take the next line style;
    short curves (30 points or fewer) get point markers. ``kwargs``
    override these defaults. Returns the lines by curve label.
    """
    lines, color = {}, None
    for i, (label, (values, keep)) in enumerate(curves.items()):
        style = {
            "label": f"{name} {label}" if name else str(label),
            "linestyle": "--" if label == "validation" else _LINE_STYLES[i % 4],
        }
        if color is not None:
            style["color"] = color
        if keep.sum() <= 30:
            style.update(marker="o", markersize=3)
        (line,) = ax.plot(x[keep], values[keep], **{**style, **kwargs})
        color = line.get_color() if color is None else color
        lines[label] = line
    return lines


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
        plt = import_pyplot(f"{type(self).__name__}.plot")
        from matplotlib.ticker import MaxNLocator

        kwargs = style_kwargs(kwargs, "line")
        name = name_from_label(name, kwargs)
        name = self.name if name is None else name
        x, curves = self._checked()
        if ax is None:
            _, ax = plt.subplots()
        lines = _draw_curves(ax, x, curves, name, kwargs)
        ax.set_xlabel(self.xlabel)
        ax.set_ylabel(self.ylabel)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
        self.ax_, self.figure_, self.lines_ = ax, ax.figure, lines
        return self

    def _checked(self):
        """``(x, {label: (values, finite)})``: the curves to draw, validated.

        A curve without any finite value (at a finite x) is left out, with a
        warning attributed to the caller of :meth:`plot`.
        """
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
                    stacklevel=3,
                )
                continue
            curves[label] = values, keep
        if not curves:
            raise ValueError(
                "There is no curve to draw: give at least one curve with a finite "
                "value."
            )
        return x, curves

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
        check_matplotlib(f"{cls.__name__}.from_history")
        name = name_from_label(name, kwargs)
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
        check_matplotlib(f"{cls.__name__}.from_estimator")
        name = name_from_label(name, kwargs)
        final, history = _estimator_history(estimator, cls.__name__)
        x, curves, xlabel, ylabel = _history_curves(
            _history_rows(history),
            metric,
            score_label="score" if is_regressor(final) else "accuracy",
            owner=f"{type(final).__name__}'s history_",
        )
        name = type(final).__name__ if name is None else name
        return cls(x, curves, xlabel, ylabel, name=name).plot(ax=ax, **kwargs)
