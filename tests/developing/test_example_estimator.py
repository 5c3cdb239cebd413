"""The worked example of docs/developing.md is a full sklearn_meta estimator.

Besides what the example learns, everything checked here comes from the
layers, not from the example's hooks: validation, the scikit-learn contract,
pickling, rollback of a failed fit, Ctrl-C, callbacks and checkpoints, early
stopping, ``adapt``, ``transform`` and episodic scoring.
"""

import os
import pickle
import signal

import numpy as np
import pytest
import torch
from example_estimator import MarginCentroidClassifier
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import Callback, Checkpoint, LoadInitState

from sklearn_meta.backbones import MLPBackbone
from sklearn_meta.exceptions import TrainingInterrupted
from sklearn_meta.model_selection import evaluate_episodes


def small(**params):
    """A small, fast example estimator on the CPU; keywords override the defaults."""
    defaults = dict(
        backbone=MLPBackbone(hidden=(32,)), max_iter=100, lr=1e-2, device="cpu", random_state=0
    )
    return MarginCentroidClassifier(**{**defaults, **params})


def weights(est):
    return {k: v.detach().clone() for k, v in est.module_.state_dict().items()}


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    for key, tensor in a.items():
        assert torch.equal(b[key], tensor), key


class Raise(Callback):
    """Raises an error after ``at`` updates: a fit that fails half-way."""

    def __init__(self, at):
        self.at = at

    def initialize(self):
        self.count_ = 0
        return self

    def on_batch_end(self, net, **kwargs):
        self.count_ += 1
        if self.count_ == self.at:
            raise RuntimeError("boom")


class CtrlC(Raise):
    """Sends a real SIGINT (Ctrl-C) to this process after ``at`` updates."""

    def on_batch_end(self, net, **kwargs):
        self.count_ += 1
        if self.count_ == self.at:
            os.kill(os.getpid(), signal.SIGINT)


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def split(digits):
    """Digits 0-4 (train / test halves) for fitting, digits 5-9 as novel classes."""
    X, y = digits
    base = y < 5
    Xb, yb = X[base], y[base]
    return Xb[::2], yb[::2], Xb[1::2], yb[1::2], X[~base], y[~base]


@pytest.fixture(scope="module")
def fitted(split):
    """Fitted on digits 0-4. Shared: never fit or mutate it."""
    X, y, *_ = split
    return small().fit(X, y)


# ------------------------------------------------------- sklearn contract
@parametrize_with_checks(
    [
        MarginCentroidClassifier(
            backbone=MLPBackbone(hidden=(16,)),
            n_way=2,
            n_shot=2,
            n_query=2,
            max_iter=30,
            lr=1e-2,
            device="cpu",
            random_state=0,
        )
    ]
)
def test_sklearn_contract(estimator, check):
    check(estimator)


# ------------------------------------------------------------ the basics
def test_fits_and_predicts_digits(split, fitted):
    _, _, X_test, y_test, _, _ = split
    assert_array_equal(fitted.classes_, np.arange(5))
    assert fitted.n_iter_ == 100
    assert fitted.centroids_.shape == (5, 32)
    assert fitted.score(X_test, y_test) > 0.9
    proba = fitted.predict_proba(X_test[:7])
    assert proba.shape == (7, 5)
    assert_array_equal(fitted.classes_[proba.argmax(1)], fitted.predict(X_test[:7]))
    # transform: the embedding, chunked so that a row's output never depends on its batch
    assert fitted.transform(X_test).shape == (len(X_test), 32)
    assert_array_equal(fitted.predict(X_test[3:4]), fitted.predict(X_test)[3:4])


def test_string_labels_and_random_state(split):
    X, y, X_test, _, _, _ = split
    names = np.array(["zero", "one", "two", "three", "four"], dtype=object)
    rng_before = torch.get_rng_state()
    a = small(max_iter=20).fit(X, names[y])
    b = small(max_iter=20).fit(X, names[y])
    assert torch.equal(torch.get_rng_state(), rng_before)  # the user's torch stream is untouched
    assert set(a.predict(X_test)) <= set(names)
    assert_array_equal(a.predict_proba(X_test), b.predict_proba(X_test))


def test_fitted_model_serves_as_backbone(split, fitted):
    X, y, X_test, y_test, _, _ = split
    features = fitted.get_feature_extractor().eval()
    with torch.no_grad():
        z = features(torch.from_numpy(X_test[:64])).numpy()
    np.testing.assert_allclose(z, fitted.transform(X_test[:64]), rtol=1e-5, atol=1e-6)
    again = small(backbone=fitted, max_iter=10).fit(X, y)  # pretrain -> meta-train
    assert again.score(X_test, y_test) > 0.9


def test_adapt_to_novel_classes_leaves_the_model_alone(split, fitted):
    *_, X_new, y_new = split
    support = np.concatenate([np.flatnonzero(y_new == c)[:5] for c in range(5, 10)])
    query = np.setdiff1d(np.arange(len(y_new)), support)
    before = fitted.centroids_.copy()
    novel = fitted.adapt(X_new[support], y_new[support])
    assert_array_equal(novel.classes_, np.arange(5, 10))
    assert novel.score(X_new[query], y_new[query]) > 0.5  # chance is 0.2
    assert_array_equal(fitted.centroids_, before)
    assert_array_equal(fitted.classes_, np.arange(5))


def test_episodic_scoring(split, fitted):
    *_, X_new, y_new = split
    res = evaluate_episodes(fitted, X_new, y_new, n_way=5, n_shot=5, n_episodes=50, random_state=0)
    assert 0.5 < res.mean <= 1


def test_early_stopping_holds_out_classes(digits):
    X, y = digits
    clf = small(early_stopping=True, max_iter=300).fit(X, y)
    assert len(clf.validation_scores_) >= 1
    assert len(clf.validation_classes_) == 2
    assert "valid_acc" in clf.history_[-1]


# ------------------------------------------------------------ persistence
def test_pickle_round_trip(split, fitted):
    _, _, X_test, _, _, _ = split
    loaded = pickle.loads(pickle.dumps(fitted))
    assert_array_equal(loaded.centroids_, fitted.centroids_)
    assert_array_equal(loaded.predict_proba(X_test), fitted.predict_proba(X_test))
    assert_array_equal(loaded.transform(X_test), fitted.transform(X_test))
    assert_same_weights(weights(fitted), weights(loaded))
    assert loaded.history_[:, "train_loss"] == fitted.history_[:, "train_loss"]


def test_checkpoint_resumes_a_fit(split, tmp_path):
    X, y, X_test, _, _, _ = split
    reference = small(max_iter=200).fit(X, y)
    cp = Checkpoint(monitor=None, dirname=str(tmp_path))
    small(max_iter=100, callbacks=[cp]).fit(X, y)  # "interrupted" half-way
    resumed = small(max_iter=200, callbacks=[LoadInitState(cp)]).fit(X, y)
    assert resumed.n_iter_ == 200
    assert_same_weights(weights(reference), weights(resumed))
    assert_array_equal(resumed.predict_proba(X_test), reference.predict_proba(X_test))


# -------------------------------------------------------- failure contract
def test_failed_fit_leaves_it_unfitted(split, fitted):
    X, y, *_ = split
    clf = pickle.loads(pickle.dumps(fitted))
    clf.set_params(callbacks=[Raise(at=30)])
    with pytest.raises(RuntimeError, match="boom"):
        clf.fit(X, y)
    with pytest.raises(NotFittedError):
        check_is_fitted(clf)
    # centroids_ was never declared anywhere, and it is gone too
    assert set(vars(clf)) == set(clf.get_params(deep=False))
    # an invalid parameter fails the same way
    clf = pickle.loads(pickle.dumps(fitted)).set_params(margin=-1.0)
    with pytest.raises(ValueError, match="margin"):
        clf.fit(X, y)
    assert set(vars(clf)) == set(clf.get_params(deep=False))


def test_failed_partial_fit_leaves_it_as_it_was(split, fitted):
    X, y, X_test, _, _, _ = split
    clf = pickle.loads(pickle.dumps(fitted))
    before = weights(clf), clf.centroids_.copy(), clf.n_iter_, len(clf.history_)
    proba = clf.predict_proba(X_test)
    clf.set_params(callbacks=[Raise(at=3)])
    with pytest.raises(RuntimeError, match="boom"):
        clf.partial_fit(X, y)
    assert_same_weights(before[0], weights(clf))
    assert_array_equal(clf.centroids_, before[1])
    assert (clf.n_iter_, len(clf.history_)) == before[2:]
    assert_array_equal(clf.predict_proba(X_test), proba)


def test_ctrl_c_keeps_a_consistent_model(split, sigint):
    X, y, X_test, _, _, _ = split
    # bounded: without the interrupt the fit ends by itself and the test fails
    clf = small(max_iter=60, callbacks=[CtrlC(at=7)])
    with (
        pytest.warns(UserWarning, match="interrupted after 7 meta-updates"),
        pytest.raises(TrainingInterrupted),
    ):
        clf.fit(X, y)
    check_is_fitted(clf)
    assert clf.n_iter_ == 7
    # the centroids come from the network as it was when training stopped
    assert_array_equal(clf.predict(X_test), clf.adapt(X, y).predict(X_test))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fit_pickles_and_loads(split):
    X, y, X_test, _, _, _ = split
    clf = small(device="cuda").fit(X, y)
    assert clf.device_.type == "cuda"
    loaded = pickle.loads(pickle.dumps(clf))
    assert loaded.device_ == clf.device_
    assert_array_equal(loaded.predict(X_test), clf.predict(X_test))


# ---------------------------------------------------------- model selection
def test_pipeline_and_grid_search(split):
    X, y, X_test, y_test, _, _ = split
    pipe = Pipeline([("scale", MinMaxScaler()), ("clf", small(max_iter=50))])
    search = GridSearchCV(pipe, {"clf__margin": [0.5, 2.0]}, cv=2)
    search.fit(X * 16, y)
    assert search.best_params_["clf__margin"] in (0.5, 2.0)
    assert search.score(X_test * 16, y_test) > 0.85
