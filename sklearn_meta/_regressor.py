"""The regressor layer: real-valued targets and predictions.

:class:`BaseTorchRegressor` adds to the task-neutral base what a regressor
of the package needs: targets checked and kept as float64 at the
scikit-learn boundary, ``predict`` from one ``_predict_values`` run in
fixed-size chunks, and ``score`` as R² (``RegressorMixin``).
"""

from __future__ import annotations

import numpy as np
from sklearn.base import RegressorMixin
from sklearn.utils.validation import check_is_fitted, column_or_1d

from ._base import BaseTorchEstimator

__all__ = ["BaseTorchRegressor"]


class BaseTorchRegressor(RegressorMixin, BaseTorchEstimator):
    """Common ground of the torch-backed regressors (not for direct use).

    A subclass implements ``_values_fn()``: the function of a device batch
    that gives its ``(batch,)`` predictions.
    """

    def _encode_y(self, y):
        """The targets as a float64 vector, or a clear error."""
        y = column_or_1d(y, warn=True)
        try:
            y = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise ValueError(
                f"{type(self).__name__} predicts real values; y must be numeric, got "
                f"values of dtype {np.asarray(y).dtype} ({exc}). For class labels use a "
                "classifier."
            ) from None
        if not np.isfinite(y).all():
            raise ValueError("y holds NaN or infinite values; drop or impute those rows.")
        return y

    def predict(self, X):
        """Predict the target of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Samples shaped as in ``fit``.

        Returns
        -------
        ndarray of shape (n_samples,)
            Predicted values.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self._batched(self._values_fn(), X)

    def score(self, X, y=None, sample_weight=None):
        """Coefficient of determination R² of ``predict(X)`` against ``y``.

        As scikit-learn's regressors score: 1 is a perfect fit, 0 is what
        always predicting the mean of ``y`` gives, and it can be negative.
        For a meta-learned regressor this scores the fitted model itself; to
        score how well it adapts to new tasks, adapt it to each task first.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Test samples.
        y : array-like of shape (n_samples,) or None, default=None
            True values; None when ``X`` is a dataset of ``(image, target)``
            pairs.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        float
            R² of the predictions.
        """
        X, y = self._unpack_dataset(X, y)
        return super().score(X, y, sample_weight=sample_weight)

    def _values_fn(self):  # pragma: no cover - abstract
        raise NotImplementedError
