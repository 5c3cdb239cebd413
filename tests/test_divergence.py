"""Divergence is a defect caught where the losses are read back, not a NaN waited for.

A fit whose training loss ends an epoch more than 1000 times above where it
started, or an adaptation whose loss grows as much, stops with a
``ValueError`` naming the step size to lower; a MAMLRegressor predicting far
outside the range of its targets warns. The reproducers are those of the
issue that asked for it.
"""

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_digits

from sklearn_meta import DomainAdaptedClassifier, MAMLClassifier, MAMLRegressor
from sklearn_meta._training import TrainingLoop
from sklearn_meta.datasets import make_digits_shift, make_sinusoids


@pytest.fixture(scope="module")
def digits_images():
    X, y = load_digits(return_X_y=True)
    X = np.kron((X / 16).reshape(-1, 8, 8), np.ones((2, 2))).astype(np.float32)
    return X[y < 5], y[y < 5]


@pytest.fixture(scope="module")
def sinusoids():
    X, y, groups = make_sinusoids(n_tasks=200, n_samples=20, random_state=0)
    return X.astype(np.float32), y, groups


def test_maml_with_a_huge_inner_step_stops_and_names_it(digits_images):
    # the reproducer: it trained to a loss in the thousands, silently
    # (plain MAML: with backtrack, the default, such steps are never taken)
    X, y = digits_images
    clf = MAMLClassifier(n_way=5, meta_batch_size=4, max_iter=20, inner_lr=1e4,
                         backtrack=False, device="cpu", random_state=0)
    with pytest.raises(ValueError, match="more than 1000 times where it started.*inner_lr"):
        clf.fit(X, y)
    assert not hasattr(clf, "classes_")  # nothing half-fitted


def test_maml_backtracking_refuses_a_huge_inner_step(digits_images):
    X, y = digits_images
    clf = MAMLClassifier(n_way=5, meta_batch_size=4, max_iter=20, inner_lr=1e4,
                         device="cpu", random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.9


def test_maml_at_a_sane_step_trains_on(digits_images):
    X, y = digits_images
    clf = MAMLClassifier(n_way=5, meta_batch_size=4, max_iter=20, inner_lr=0.01,
                         device="cpu", random_state=0).fit(X, y)
    assert clf.score(X, y) > 0.9


def test_maml_regressor_with_a_huge_inner_step_stops_and_names_it(sinusoids):
    # the reproducer predicted 17,922 for targets in [-5, 5]: its
    # training loss ends the first block 10^13 times above where it started
    X, y, groups = sinusoids
    reg = MAMLRegressor(max_iter=200, inner_lr=100.0, device="cpu", random_state=0)
    with pytest.raises(ValueError, match="training diverged. Lower lr or inner_lr"):
        reg.fit(X, y, groups=groups)


def test_maml_regressor_adaptation_that_diverges_raises(sinusoids):
    X, y, groups = sinusoids
    reg = MAMLRegressor(max_iter=100, device="cpu", random_state=0).fit(X, y, groups=groups)
    X_new, y_new, _ = make_sinusoids(n_tasks=1, n_samples=60, random_state=1)
    reg.set_params(inner_lr=100.0)
    with pytest.raises(ValueError, match="Adapting to this task diverged.*Lower inner_lr"):
        reg.adapt(X_new[:10], y_new[:10])
    reg.set_params(inner_lr=0.01)
    task = reg.adapt(X_new[:10], y_new[:10])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        task.predict(X_new[10:])  # within the range: no warning


def test_maml_regressor_predictions_far_outside_the_targets_warn(sinusoids):
    X, y, groups = sinusoids  # targets in [-5, 5]
    reg = MAMLRegressor(max_iter=100, device="cpu", random_state=0).fit(X, y, groups=groups)
    far = np.array([[1e3], [-1e3]], dtype=np.float32)
    pred = reg.predict(np.array([[0.0]], dtype=np.float32))
    assert np.abs(pred).max() < 5
    with pytest.warns(UserWarning, match="far outside the range of the targets"):
        out = reg.predict(far)
    assert np.abs(out).max() > 5 + 10 * 10  # beyond the range by ten times its width


@pytest.mark.parametrize("method", ["mdd", "mmd"])
def test_domain_adaptation_blow_up_names_trade_off(method):
    Xs, ys, Xt, _ = make_digits_shift(random_state=0)
    X = np.concatenate([Xs, Xt])
    y = np.concatenate([ys, np.full(len(Xt), -1)])
    clf = DomainAdaptedClassifier(method=method, trade_off=1e6, max_epochs=3, device="cpu",
                                  random_state=0)
    # mdd: the loss becomes NaN; mmd: it stays finite, a million times too large
    with pytest.raises(ValueError, match="lower trade_off|Lower trade_off"):
        clf.fit(X, y)
    # with the adaptation term off, the advice is the learning rate
    clf.set_params(method=None)
    with pytest.raises(ValueError, match=r"lower lr\.") as info:
        clf.set_params(lr=1e30).fit(X * 1e30, y)
    assert "trade_off" not in str(info.value)


def test_the_check_reads_the_losses_once_per_epoch(digits, monkeypatch):
    """The check costs no synchronisation: it runs once per recorded epoch."""
    X, y = digits
    calls = []
    check = TrainingLoop._check_divergence

    def counted(self, loss, reported):
        calls.append((loss, reported))
        return check(self, loss, reported)

    monkeypatch.setattr(TrainingLoop, "_check_divergence", counted)
    clf = MAMLClassifier(n_way=5, meta_batch_size=2, max_iter=250, inner_lr=0.01,
                         device="cpu", random_state=0).fit(X, y)
    assert len(calls) == len(clf.history_) == 3
    # the start is the loss before adaptation, reported with the first epoch only
    assert calls[0][1] is not None and calls[1][1] is None
    assert "start_loss" not in clf.history_[0]


def test_normal_training_stays_far_below_the_limit(digits, sinusoids):
    """On digits and sinusoids at the defaults the loss never nears 1000x its start."""
    X, y = digits
    X_s, y_s, groups = sinusoids
    ratios = []
    check = TrainingLoop._check_divergence

    def record(self, loss, reported):
        check(self, loss, reported)
        ratios.append(loss / self.start_loss)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(TrainingLoop, "_check_divergence", record)
        MAMLClassifier(n_way=5, meta_batch_size=4, max_iter=300, device="cpu",
                       random_state=0).fit(X, y)
        MAMLRegressor(max_iter=300, device="cpu", random_state=0).fit(X_s, y_s, groups=groups)
    assert ratios and max(ratios) < 10
