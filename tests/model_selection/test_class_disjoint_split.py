"""Tests of ClassDisjointKFold: test folds of whole classes, unseen in training."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from sklearn_meta.model_selection import ClassDisjointKFold


def test_class_disjoint_folds_hold_unseen_classes_and_cover_every_sample():
    y = np.repeat(np.arange(7), [3, 5, 2, 4, 6, 1, 3])
    X = np.zeros((len(y), 2))
    cv = ClassDisjointKFold(n_splits=3)
    folds = list(cv.split(X, y))
    assert len(folds) == cv.get_n_splits() == 3
    tested = np.concatenate([test for _, test in folds])
    assert_array_equal(np.sort(tested), np.arange(len(y)))  # each sample tested exactly once
    for train, test in folds:
        assert not set(y[train]) & set(y[test])
        assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(len(y)))
    # whole classes, in 3 near-equal groups of classes
    assert sorted(len(np.unique(y[test])) for _, test in folds) == [2, 2, 3]


def test_class_disjoint_shuffle_is_reproducible():
    y = np.repeat(np.arange(12), 4)
    X = np.zeros((len(y), 1))

    def test_classes(cv):
        return [tuple(np.unique(y[test])) for _, test in cv.split(X, y)]

    plain = test_classes(ClassDisjointKFold(4))
    assert plain == [(0, 1, 2), (3, 4, 5), (6, 7, 8), (9, 10, 11)]
    a = test_classes(ClassDisjointKFold(4, shuffle=True, random_state=0))
    assert a == test_classes(ClassDisjointKFold(4, shuffle=True, random_state=0))
    assert a != plain
    assert a != test_classes(ClassDisjointKFold(4, shuffle=True, random_state=1))


def test_class_disjoint_with_string_labels():
    y = np.array(["b", "a", "c", "a", "b", "d", "c", "d"])
    folds = list(ClassDisjointKFold(2).split(np.zeros((8, 1)), y))
    assert [sorted(set(y[test])) for _, test in folds] == [["a", "b"], ["c", "d"]]
    assert [sorted(set(y[train])) for train, _ in folds] == [["c", "d"], ["a", "b"]]


def test_class_disjoint_errors():
    y = np.repeat(np.arange(3), 2)
    with pytest.raises(ValueError, match="n_splits=4 greater than the number of classes: 3"):
        list(ClassDisjointKFold(4).split(np.zeros((6, 1)), y))
    with pytest.raises(ValueError, match="pass y to split"):
        list(ClassDisjointKFold(2).split(np.zeros((6, 1)), None))
    with pytest.raises(ValueError, match="n_splits must be an int of at least 2"):
        ClassDisjointKFold(1)
