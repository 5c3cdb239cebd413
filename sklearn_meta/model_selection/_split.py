"""Cross-validation splitters for few-shot learning and domain adaptation.

:class:`ClassDisjointKFold` tests each fold on classes never seen in
training; :class:`DomainShuffleSplit` keeps source and target rows on both
sides of every split.
"""

from __future__ import annotations

from numbers import Integral, Real

import numpy as np
from sklearn.model_selection import BaseCrossValidator
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_consistent_length

from .._sklearn import num_samples

__all__ = ["ClassDisjointKFold", "DomainShuffleSplit", "target_rows"]


class ClassDisjointKFold(BaseCrossValidator):
    """K-fold cross-validation whose test folds hold unseen classes.

    The classes of ``y`` are split into ``n_splits`` groups of (almost) equal
    size; each fold tests on the samples of one group and trains on the rest,
    so no test class is ever seen in training. Combined with
    :func:`make_episodic_scorer`, ``GridSearchCV`` then selects the
    hyper-parameters that generalise to new classes from few examples.

    Parameters
    ----------
    n_splits : int, default=5
        Number of folds; at most the number of classes.
    shuffle : bool, default=False
        Shuffle the classes before splitting them into folds.
    random_state : int, RandomState instance or None, default=None
        Order of the classes when ``shuffle=True``.

    See Also
    --------
    sklearn.model_selection.GroupKFold : The same idea with explicit groups.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_meta.model_selection import ClassDisjointKFold
    >>> y = np.array(["a", "a", "b", "b", "c", "c"])
    >>> for train, test in ClassDisjointKFold(n_splits=3).split(np.zeros((6, 1)), y):
    ...     print(np.unique(y[train]), np.unique(y[test]))
    ['b' 'c'] ['a']
    ['a' 'c'] ['b']
    ['a' 'b'] ['c']
    """

    def __init__(self, n_splits=5, *, shuffle=False, random_state=None):
        if not isinstance(n_splits, Integral) or n_splits < 2:
            raise ValueError(f"n_splits must be an int of at least 2; got {n_splits!r}.")
        self.n_splits = int(n_splits)
        self.shuffle = shuffle
        self.random_state = random_state

    def get_n_splits(self, X=None, y=None, groups=None):
        """Number of splits.

        Parameters
        ----------
        X, y, groups : object
            Ignored; present for API compatibility.

        Returns
        -------
        int
        """
        return self.n_splits

    def split(self, X, y, groups=None):
        """Indices of training and test samples, test classes unseen in training.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Samples (only their number is used).
        y : array-like of shape (n_samples,)
            Class labels; folds are made of whole classes.
        groups : object
            Ignored.

        Yields
        ------
        train : ndarray
            Training indices.
        test : ndarray
            Test indices.
        """
        if y is None:
            raise ValueError("ClassDisjointKFold splits by class: pass y to split().")
        y = np.asarray(y)
        check_consistent_length(X, y)
        classes, codes = np.unique(y, return_inverse=True)
        if len(classes) < self.n_splits:
            raise ValueError(
                f"Cannot have n_splits={self.n_splits} greater than the number of "
                f"classes: {len(classes)}. Lower n_splits."
            )
        order = np.arange(len(classes))
        if self.shuffle:
            order = check_random_state(self.random_state).permutation(len(classes))
        fold_of_class = np.empty(len(classes), dtype=np.int64)
        for fold, members in enumerate(np.array_split(order, self.n_splits)):
            fold_of_class[members] = fold
        fold_of_sample = fold_of_class[codes]
        for fold in range(self.n_splits):
            yield np.flatnonzero(fold_of_sample != fold), np.flatnonzero(fold_of_sample == fold)

    def _iter_test_indices(self, X=None, y=None, groups=None):  # pragma: no cover
        for _, test in self.split(X, y, groups):
            yield test


def target_rows(y, sample_domain, n):
    """Boolean mask of the target rows: ``sample_domain < 0``, else ``y == -1``."""
    if sample_domain is not None:
        d = np.asarray(sample_domain).ravel()
        if len(d) != n:
            raise ValueError(
                f"sample_domain has {len(d)} entries for {n} rows; pass one per row."
            )
        return d < 0
    if y is None:
        raise ValueError(
            "Pass y (target rows have y == -1) or sample_domain (negative for target "
            "rows) to tell the domains apart."
        )
    y = np.asarray(y)
    if len(y) != n:
        raise ValueError(f"y has {len(y)} entries for {n} rows.")
    if y.dtype.kind in "iuf":
        return y == -1
    return np.array([v == -1 for v in y.tolist()], dtype=bool)


class DomainShuffleSplit(BaseCrossValidator):
    """Random splits that keep source and target rows on both sides.

    Source rows and target rows are shuffled and split apart, each with the
    same ``test_size``, so every training set holds both domains (as a
    domain-adaptation fit needs) and every test set holds both (as the
    label-free scorers of :func:`make_da_scorer` need). Target rows are
    those with ``y == -1``, or with a negative ``sample_domain`` when it is
    given (through metadata routing).

    Parameters
    ----------
    n_splits : int, default=5
        Number of splits.
    test_size : float, default=0.2
        Share of the source rows, and of the target rows, in each test set.
    random_state : int, RandomState instance or None, default=None
        Seeds the shuffles.

    See Also
    --------
    make_da_scorer : Scores a split's test rows without target labels.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_meta.model_selection import DomainShuffleSplit
    >>> y = np.array([0, 1, 0, 1, 0, 1, -1, -1, -1, -1])
    >>> cv = DomainShuffleSplit(n_splits=2, test_size=0.5, random_state=0)
    >>> for train, test in cv.split(np.zeros((10, 1)), y):
    ...     print(sorted(y[train].tolist()), sorted(y[test].tolist()))
    [-1, -1, 0, 0, 1] [-1, -1, 0, 1, 1]
    [-1, -1, 0, 0, 1] [-1, -1, 0, 1, 1]
    """

    __metadata_request__split = {"sample_domain": True}

    def __init__(self, n_splits=5, *, test_size=0.2, random_state=None):
        if not isinstance(n_splits, Integral) or isinstance(n_splits, bool) or n_splits < 1:
            raise ValueError(f"n_splits must be an int of at least 1; got {n_splits!r}.")
        if isinstance(test_size, bool) or not isinstance(test_size, Real) or not (
            0 < test_size < 1
        ):
            raise ValueError(f"test_size must be a float in (0, 1); got {test_size!r}.")
        self.n_splits = int(n_splits)
        self.test_size = test_size
        self.random_state = random_state

    def get_n_splits(self, X=None, y=None, groups=None, sample_domain=None):
        """Number of splits.

        Parameters
        ----------
        X, y, groups, sample_domain : object
            Ignored; present for API compatibility.

        Returns
        -------
        int
        """
        return self.n_splits

    def split(self, X, y=None, groups=None, sample_domain=None):
        """Indices of training and test rows, both domains on both sides.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Rows (only their number is used).
        y : array-like of shape (n_samples,), default=None
            Labels, ``-1`` for target rows.
        groups : object
            Ignored.
        sample_domain : array-like of shape (n_samples,), default=None
            Domains: positive for source rows, negative for target rows.

        Yields
        ------
        train : ndarray
            Training indices.
        test : ndarray
            Test indices.
        """
        n = num_samples(X)
        is_target = target_rows(y, sample_domain, n)
        parts = [np.flatnonzero(~is_target), np.flatnonzero(is_target)]
        for name, idx in zip(("source", "target"), parts):
            if len(idx) < 2:
                raise ValueError(
                    f"DomainShuffleSplit needs at least 2 {name} rows to put some on each "
                    f"side; got {len(idx)}. Target rows have y == -1 (or a negative "
                    "sample_domain)."
                )
        rng = check_random_state(self.random_state)
        for _ in range(self.n_splits):
            train, test = [], []
            for idx in parts:
                n_test = min(len(idx) - 1, max(1, int(round(self.test_size * len(idx)))))
                perm = rng.permutation(idx)
                test.append(perm[:n_test])
                train.append(perm[n_test:])
            yield np.sort(np.concatenate(train)), np.sort(np.concatenate(test))

    def _iter_test_indices(self, X=None, y=None, groups=None):  # pragma: no cover
        for _, test in self.split(X, y, groups):
            yield test
