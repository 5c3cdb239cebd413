"""What the displays share: the matplotlib guard, styles, labels and checks.

matplotlib is imported inside the functions that draw, never at import
time, so that :mod:`sklearn_meta.plotting` imports without it.
"""

from numbers import Real

import numpy as np
from sklearn.utils.validation import column_or_1d

__all__ = [
    "as_labels",
    "check_length",
    "check_matplotlib",
    "import_pyplot",
    "is_number",
    "label_text",
    "name_from_label",
    "num_rows",
    "style_kwargs",
]


# ------------------------------------------------------------- matplotlib
def check_matplotlib(caller):
    """Raise an ImportError that says how to install matplotlib."""
    try:
        import matplotlib  # noqa: F401
    except ImportError as exc:
        raise ImportError(
            f"{caller} needs matplotlib, an optional dependency of sklearn_meta. "
            'Install it with: pip install "sklearn-meta[plot]" (or pip install '
            "matplotlib)."
        ) from exc


def import_pyplot(caller):
    """``matplotlib.pyplot``, or the ImportError of :func:`check_matplotlib`."""
    check_matplotlib(caller)
    import matplotlib.pyplot as plt

    return plt


# ----------------------------------------------------------------- styles
def style_kwargs(kwargs, artist):
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


def name_from_label(name, kwargs):
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


def label_text(value):
    """A label as a title shows it (numpy scalars without their type)."""
    return str(value.item() if isinstance(value, np.generic) else value)


# ---------------------------------------------------------------- checks
def is_number(value):
    """Whether ``value`` is a real number (a bool is not)."""
    return isinstance(value, Real) and not isinstance(value, bool)


def num_rows(X):
    """The number of samples of an array-like."""
    return X.shape[0] if hasattr(X, "shape") else len(X)


def check_length(name, values, n, what):
    """Raise a ValueError unless ``values`` (if given) has ``n`` entries."""
    if values is not None and len(values) != n:
        raise ValueError(f"{name} has {len(values)} entries but {what} has {n} rows.")


def as_labels(values, name):
    """``values`` as a 1-D array; a column vector ``(n, 1)`` is raveled."""
    values = np.asarray(values)
    if values.ndim == 2 and values.shape[1] == 1:
        values = column_or_1d(values)
    if values.ndim != 1:
        raise ValueError(
            f"{name} must be 1-D, one value per row; got shape {values.shape}."
        )
    return values
