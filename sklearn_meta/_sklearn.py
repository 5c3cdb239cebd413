"""The one shim for scikit-learn's private helpers.

Every module of the package imports them from here, under names without a
leading underscore; if scikit-learn moves or renames one, only this file
changes.
"""

from sklearn.base import _fit_context as fit_context
from sklearn.utils._param_validation import HasMethods, Interval, StrOptions
from sklearn.utils.multiclass import (
    _check_partial_fit_first_call as check_partial_fit_first_call,
)
from sklearn.utils.validation import _num_samples as num_samples

__all__ = [
    "HasMethods",
    "Interval",
    "StrOptions",
    "check_partial_fit_first_call",
    "fit_context",
    "num_samples",
]
