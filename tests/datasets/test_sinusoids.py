"""Tests for make_sinusoids, the sinusoid regression tasks of MAML."""

import re

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.model_selection import GroupKFold

from sklearn_meta.datasets import make_sinusoids


def test_sinusoids_shapes_and_groups():
    X, y, groups = make_sinusoids(random_state=0)
    assert X.shape == (2000, 1) and X.dtype == np.float64
    assert y.shape == (2000,) and y.dtype == np.float64
    assert groups.shape == (2000,) and groups.dtype == np.int64
    assert_array_equal(groups, np.repeat(np.arange(100), 20))

    X, y, groups = make_sinusoids(n_tasks=1, n_samples=1, random_state=0)
    assert X.shape == (1, 1) and y.shape == (1,)
    assert_array_equal(groups, [0])


def test_sinusoids_groups_work_with_group_splitters():
    X, y, groups = make_sinusoids(n_tasks=6, n_samples=5, random_state=0)
    for train, test in GroupKFold(n_splits=3).split(X, y, groups):
        assert not set(groups[train]) & set(groups[test])
        assert np.all(np.bincount(groups[test])[np.unique(groups[test])] == 5)


def test_sinusoids_deterministic():
    a = make_sinusoids(n_tasks=7, n_samples=3, random_state=42, return_params=True)
    b = make_sinusoids(n_tasks=7, n_samples=3, random_state=42, return_params=True)
    for left, right in zip(a, b):
        assert_array_equal(left, right)
    c = make_sinusoids(
        n_tasks=7,
        n_samples=3,
        random_state=np.random.RandomState(42),
        return_params=True,
    )
    for left, right in zip(a, c):
        assert_array_equal(left, right)
    d = make_sinusoids(n_tasks=7, n_samples=3, random_state=43)
    assert not np.array_equal(a[0], d[0])


def test_sinusoids_follow_the_formula_exactly():
    X, y, groups, amplitude, phase = make_sinusoids(
        n_tasks=50, n_samples=10, random_state=0, return_params=True
    )
    assert amplitude.shape == phase.shape == (50,)
    assert_array_equal(y, amplitude[groups] * np.sin(X[:, 0] - phase[groups]))
    # the same wave for every row of a task: refit A and phase per task
    for task in range(3):
        rows = groups == task
        basis = np.column_stack([np.sin(X[rows, 0]), np.cos(X[rows, 0])])
        coef = np.linalg.lstsq(basis, y[rows], rcond=None)[0]
        # A sin(x - p) = A cos(p) sin(x) - A sin(p) cos(x)
        assert np.allclose(
            coef,
            [
                amplitude[task] * np.cos(phase[task]),
                -amplitude[task] * np.sin(phase[task]),
            ],
        )


def test_sinusoids_parameters_within_ranges():
    X, _, _, amplitude, phase = make_sinusoids(
        n_tasks=500,
        n_samples=4,
        amplitude_range=(1.0, 2.0),
        phase_range=(-0.5, 0.5),
        x_range=(0.0, 3.0),
        random_state=0,
        return_params=True,
    )
    assert amplitude.min() >= 1.0 and amplitude.max() <= 2.0
    assert phase.min() >= -0.5 and phase.max() <= 0.5
    assert X.min() >= 0.0 and X.max() <= 3.0
    # the draws spread over the ranges
    assert amplitude.max() - amplitude.min() > 0.9
    assert X.max() - X.min() > 2.9

    _, _, _, amplitude, phase = make_sinusoids(random_state=0, return_params=True)
    assert amplitude.min() >= 0.1 and amplitude.max() <= 5.0
    assert phase.min() >= 0.0 and phase.max() <= np.pi


def test_sinusoids_degenerate_range_fixes_the_value():
    _, _, _, amplitude, phase = make_sinusoids(
        n_tasks=5,
        amplitude_range=(2.0, 2.0),
        phase_range=(0, 0),
        random_state=0,
        return_params=True,
    )
    assert_array_equal(amplitude, 2.0)
    assert_array_equal(phase, 0.0)


def test_sinusoids_noise():
    clean = make_sinusoids(n_tasks=40, n_samples=50, random_state=0, return_params=True)
    noisy = make_sinusoids(
        n_tasks=40, n_samples=50, noise=0.3, random_state=0, return_params=True
    )
    # noise is drawn last: inputs and task parameters do not change
    for i in (0, 2, 3, 4):
        assert_array_equal(clean[i], noisy[i])
    residual = noisy[1] - clean[1]
    assert abs(residual.std() - 0.3) < 0.02
    assert abs(residual.mean()) < 0.03


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"n_tasks": 0}, "n_tasks must be an int >= 1"),
        ({"n_tasks": 2.0}, "n_tasks must be an int >= 1"),
        ({"n_tasks": True}, "n_tasks must be an int >= 1"),
        ({"n_samples": 0}, "n_samples must be an int >= 1"),
        ({"n_samples": "5"}, "n_samples must be an int >= 1"),
        ({"amplitude_range": (5.0, 0.1)}, "amplitude_range must have low <= high"),
        ({"phase_range": (1.0, 0.0)}, "phase_range must have low <= high"),
        ({"x_range": (5.0, -5.0)}, "x_range must have low <= high"),
        ({"x_range": (0.0,)}, "x_range must be a pair"),
        ({"x_range": (0.0, 1.0, 2.0)}, "x_range must be a pair"),
        ({"x_range": 5.0}, "x_range must be a pair"),
        ({"x_range": ("a", "b")}, "x_range must be a pair"),
        ({"amplitude_range": (0.0, np.inf)}, "amplitude_range must be finite"),
        ({"phase_range": (np.nan, 1.0)}, "phase_range must be finite"),
        ({"noise": -0.1}, "noise must be a finite float >= 0"),
        ({"noise": np.inf}, "noise must be a finite float >= 0"),
        ({"noise": "0.1"}, "noise must be a finite float >= 0"),
        ({"return_params": "yes"}, "return_params must be True or False"),
    ],
)
def test_sinusoids_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        make_sinusoids(**kwargs)


def test_sinusoids_bad_random_state():
    with pytest.raises(ValueError, match="cannot be used to seed"):
        make_sinusoids(random_state="seed")
