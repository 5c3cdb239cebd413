"""The classifier layer: labels, predictions and scores.

:class:`BaseTorchClassifier` adds to the task-neutral base what every
classifier of the package shares: labels of any type encoded once at the
scikit-learn boundary, ``decision_function`` / ``predict_proba`` /
``predict`` computed from one ``_predict_logits``, and a ``score`` that warns
when it is asked about classes the model cannot predict.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import torch
from scipy.special import log_softmax, softmax
from sklearn.base import ClassifierMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, column_or_1d

from ._base import BaseTorchEstimator
from ._sklearn import check_partial_fit_first_call

__all__ = ["BaseTorchClassifier"]


class BaseTorchClassifier(ClassifierMixin, BaseTorchEstimator):
    """Common ground of the torch-backed classifiers (not for direct use).

    A subclass implements ``_predict_logits(xb)`` returning a
    ``(batch, n_classes)`` tensor (or overrides ``_logits_fn`` to bind state
    once per prediction call). With ``_unlabeled_marker = -1`` the label
    ``-1`` marks unlabelled rows (scikit-learn's semi-supervised convention):
    it is left out of ``classes_`` and its rows get code ``-1``.
    """

    #: a label that marks unlabelled rows, left out of classes_ (or None)
    _unlabeled_marker = None

    # ----------------------------------------------------------------- labels
    def _encode_y(self, y):
        """Check the targets, set ``classes_`` and return codes 0..n_classes-1."""
        y = column_or_1d(y, warn=True)
        labelled = self._labelled(y)
        # object y may mix the int marker with strings: check the labels alone
        check_classification_targets(y[labelled] if not labelled.all() else y)
        classes, codes = np.unique(y[labelled], return_inverse=True)
        if len(classes) < 2:
            what = (
                f"only one class ({classes.tolist()[0]!r})" if len(classes) else "no labels"
            )
            raise ValueError(
                f"{type(self).__name__} needs samples of at least 2 classes; y has "
                f"{what}. Add samples of other classes."
            )
        self.classes_ = classes
        out = np.full(len(y), -1, dtype=np.int64)
        out[labelled] = codes
        return out

    def _codes_for(self, y):
        """Codes of ``y`` against the fitted ``classes_`` (for partial_fit)."""
        y = column_or_1d(y, warn=True)
        labelled = self._labelled(y)
        check_classification_targets(y[labelled] if not labelled.all() else y)
        unseen = np.setdiff1d(np.unique(y[labelled]), self.classes_)
        if unseen.size:
            raise ValueError(
                f"y holds labels {unseen.tolist()} that are not in classes_ "
                f"{self.classes_.tolist()}. Pass every label in `classes` on the first "
                "call to partial_fit, or call fit to start again."
            )
        codes = np.full(len(y), -1, dtype=np.int64)
        codes[labelled] = np.searchsorted(self.classes_, y[labelled])
        return codes

    def _labelled(self, y):
        """Mask of the rows whose label is not the unlabelled marker."""
        if self._unlabeled_marker is None:
            return np.ones(len(y), dtype=bool)
        marker = self._unlabeled_marker
        if y.dtype.kind in "iuf":
            return y != marker
        if y.dtype.kind in "USO" and any(
            isinstance(v, (str, np.str_, bytes)) and v in (str(marker), str(marker).encode())
            for v in (y.tolist() if y.dtype.kind == "O" else np.unique(y).tolist())
        ):
            # np.concatenate([labels, np.full(n, -1)]) turns -1 into "-1"; so
            # does building an object array from strings: "-1" would quietly
            # become a class
            raise ValueError(
                f"y has dtype {y.dtype} and holds the string '{marker}': a string cannot "
                f"stand for the int {marker} that marks unlabelled rows. Use dtype object "
                f"with the int {marker} for unlabelled rows, as scikit-learn's "
                "SelfTrainingClassifier does."
            )
        if y.dtype.kind in "US":
            return np.ones(len(y), dtype=bool)
        return np.array(
            [not (isinstance(v, (int, np.integer)) and v == marker) for v in y],
            dtype=bool,
        )

    def _validate_partial(self, X, y, classes, *, first):
        """Validate a partial_fit call; return shaped X and codes of y."""
        if first and classes is None:
            raise ValueError(
                "classes must be passed on the first call to partial_fit: the list of "
                "every label the model will predict."
            )
        X, y = self._validate_X_y(X, y, reset=first)
        check_partial_fit_first_call(self, classes)
        if len(self.classes_) < 2:
            raise ValueError(
                f"{type(self).__name__} needs at least 2 classes; classes holds only "
                f"{self.classes_.tolist()}."
            )
        return X, self._codes_for(y)

    # ------------------------------------------------------------- inference
    def _logits_fn(self):
        """The function of a device batch that gives its logits."""
        return self._predict_logits

    def _scores(self, X, reduce=None):
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self._batched(self._logits_fn(), X, reduce=reduce)

    def decision_function(self, X):
        """Class scores (logits) of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Samples shaped as in ``fit``.

        Returns
        -------
        ndarray of shape (n_samples,) or (n_samples, n_classes)
            For two classes, the log-odds of ``classes_[1]``.
        """
        scores = self._scores(X)
        return scores[:, 1] - scores[:, 0] if scores.shape[1] == 2 else scores

    def predict_proba(self, X):
        """Class probabilities, the softmax of the logits.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Samples shaped as in ``fit``.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
            Columns follow ``classes_``.
        """
        return softmax(self._scores(X), axis=1)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Samples shaped as in ``fit``.

        Returns
        -------
        ndarray of shape (n_samples, n_classes)
        """
        return log_softmax(self._scores(X), axis=1)

    def predict(self, X):
        """Predict the class of each sample.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Samples shaped as in ``fit``.

        Returns
        -------
        ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        codes = self._scores(X, reduce=lambda s: s.argmax(dim=1))
        return self.classes_[codes]

    def score(self, X, y=None, sample_weight=None):
        """Mean accuracy on ``(X, y)``, warning about classes it cannot predict.

        A classifier answers among ``classes_``: test labels outside them can
        never be predicted. That is what happens when a class-disjoint
        splitter (:class:`~sklearn_meta.model_selection.ClassDisjointKFold`)
        meets the default scorer; the few-shot score is then
        :func:`~sklearn_meta.model_selection.make_episodic_scorer`.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Test samples.
        y : array-like of shape (n_samples,) or None, default=None
            True labels; None when ``X`` is a dataset of ``(image, label)``
            pairs.
        sample_weight : array-like of shape (n_samples,), default=None
            Sample weights.

        Returns
        -------
        float
            Accuracy of ``predict(X)`` against ``y``.
        """
        check_is_fitted(self)
        X, y = self._unpack_dataset(X, y)
        y_arr = column_or_1d(y, warn=True)
        unknown = ~np.isin(y_arr, self._predictable_classes())
        if sample_weight is not None:
            unknown &= np.asarray(sample_weight) != 0
        if unknown.any():
            share = unknown.mean()
            episodic = hasattr(self, "adapt")
            fix = (
                "To score few-shot generalisation on new classes, use "
                "scoring=make_episodic_scorer(...) from sklearn_meta.model_selection."
                if episodic
                else "Fit on data that holds every class you score on."
            )
            example = np.asarray(y_arr[unknown][:1]).tolist()[0]
            warnings.warn(
                f"{share:.0%} of the samples scored have labels this model cannot "
                f"predict, as they are not among classes_ or were never trained on "
                f"(e.g. {example!r}); they are counted as errors. " + fix,
                UserWarning,
                stacklevel=2,
            )
        return super().score(X, y, sample_weight=sample_weight)

    def _predictable_classes(self):
        """The classes ``predict`` can answer (all of ``classes_`` here)."""
        return self.classes_

    def _chance_loss(self):
        """Cross-entropy of a uniform prediction: ``log(n_classes)``."""
        return math.log(max(2, len(self.classes_)))

    @torch.no_grad()
    def _predict_logits(self, xb):  # pragma: no cover - abstract
        raise NotImplementedError
