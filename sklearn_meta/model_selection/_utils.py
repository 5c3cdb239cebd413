"""Helpers the modules of model_selection share.

:func:`take_rows` indexes the rows of any ``X`` (arrays, lists, DataFrames).
"""

from __future__ import annotations

import numpy as np

__all__ = ["take_rows"]


def take_rows(X, idx):
    """Rows ``idx`` of ``X``: by position for a DataFrame, else of ``np.asarray(X)``."""
    if hasattr(X, "iloc"):
        return X.iloc[idx]
    return np.asarray(X)[idx]
