"""The failure contract: failed fits, Ctrl-C, adapt independence, clone, random streams."""

import os
import pickle
import signal
import threading
import warnings

import numpy as np
import pytest
import torch
from joblib import Parallel, delayed, parallel_backend
from numpy.testing import assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from sklearn_meta import FineTuneClassifier, ProtoNetClassifier
from sklearn_meta.backbones import Conv4Backbone, MLPBackbone
from sklearn_meta.exceptions import TrainingInterrupted

CPU = dict(device="cpu", random_state=0)


def _proto(**kw):
    params = dict(backbone=MLPBackbone(hidden=(32,)), n_way=5, n_shot=2, n_query=2, max_iter=30)
    params.update(kw)
    return ProtoNetClassifier(**{**CPU, **params})


def _finetune(**kw):
    params = dict(backbone=MLPBackbone(hidden=(32,)), max_epochs=3)
    params.update(kw)
    return FineTuneClassifier(**{**CPU, **params})


ESTIMATORS = [_proto, _finetune]


# ------------------------------------------------------------ failed fits
@pytest.mark.parametrize("make", ESTIMATORS)
def test_fit_that_raises_leaves_estimator_unfitted(make, digits):
    X, y = digits
    clf = make(lr=1e3)
    with pytest.raises(ValueError, match="loss became"):
        clf.fit(X * 3e38, y)
    with pytest.raises(NotFittedError):
        check_is_fitted(clf)
    with pytest.raises(NotFittedError):
        clf.predict(X[:3])


@pytest.mark.parametrize("make", ESTIMATORS)
def test_failed_refit_forgets_previous_fit(make, digits):
    X, y = digits
    clf = make().fit(X, y)
    clf.set_params(lr=1e3)
    with pytest.raises(ValueError):
        clf.fit(X * 3e38, y)
    with pytest.raises(NotFittedError):
        clf.predict(X[:3])


@pytest.mark.parametrize("make", ESTIMATORS)
def test_invalid_params_on_refit_leave_estimator_unfitted(make, digits):
    X, y = digits
    clf = make().fit(X, y)
    clf.set_params(lr=-1.0)
    with pytest.raises(ValueError, match="lr"):
        clf.fit(X, y)
    with pytest.raises(NotFittedError):
        clf.predict(X[:3])


@pytest.mark.parametrize("make", ESTIMATORS)
def test_partial_fit_that_raises_changes_nothing(make, digits):
    X, y = digits
    classes = np.unique(y)
    clf = make().partial_fit(X, y, classes=classes)
    before = clf.predict_proba(X)
    n_iter, n_hist = clf.n_iter_, len(clf.history_)
    clf.set_params(lr=1e3)
    with pytest.raises(ValueError, match="loss became"):
        clf.partial_fit(X * 3e38, y)
    assert_array_equal(clf.predict_proba(X), before)
    assert (clf.n_iter_, len(clf.history_)) == (n_iter, n_hist)
    # and it trains on afterwards
    clf.set_params(lr=1e-3)
    clf.partial_fit(X, y)
    assert clf.n_iter_ > n_iter


def test_protonet_partial_fit_after_failed_fit(digits):
    X, y = digits
    clf = _proto(lr=1e3)
    with pytest.raises(ValueError):
        clf.fit(X * 3e38, y)
    clf.set_params(lr=1e-3)
    clf.partial_fit(X, y, classes=np.unique(y))  # was AttributeError: prototypes_
    assert clf.predict(X[:5]).shape == (5,)


# ------------------------------------------------------------------ Ctrl-C
def _sigint_after(seconds):
    timer = threading.Timer(seconds, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    return timer


@pytest.mark.skipif(
    threading.current_thread() is not threading.main_thread(), reason="needs the main thread"
)
@pytest.mark.parametrize("make", ESTIMATORS)
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_ctrl_c_leaves_consistent_model_and_reraises(make, method, digits):
    X, y = digits
    classes = np.unique(y)
    clf = make(max_iter=100_000) if make is _proto else make(max_epochs=100_000, batch_size=8)
    if method == "partial_fit":
        clf.partial_fit(X, y, classes=classes)
        # make one partial_fit call long enough to be interrupted
        if make is _proto:
            clf.set_params(n_query=2, n_shot=2, n_way=2)
        X_long, y_long = np.tile(X, (40, 1)), np.tile(y, 40)
    timer = _sigint_after(1.0)
    try:
        with pytest.warns(UserWarning, match="interrupted after"):
            with pytest.raises(KeyboardInterrupt) as info:
                if method == "fit":
                    clf.fit(X, y)
                else:
                    clf.partial_fit(X_long, y_long)
    finally:
        timer.cancel()
    assert isinstance(info.value, TrainingInterrupted)
    assert info.value.n_iter == clf.n_iter_
    check_is_fitted(clf)
    if make is _proto:
        assert 0 < clf.n_iter_ < 100_000
        assert clf.history_[-1, "iter"] == clf.n_iter_
        # prototypes are those of the network as it stopped
        fresh = clf.adapt(X, y)
        np.testing.assert_allclose(fresh.prototypes_, clf.prototypes_, rtol=1e-6, atol=1e-8)
    else:
        assert 0 < clf.n_iter_ < 100_000
        assert len(clf.history_) == clf.n_iter_
    assert clf.predict(X[:10]).shape == (10,)
    n_iter = clf.n_iter_
    clf.partial_fit(X, y)
    assert clf.n_iter_ > n_iter
    pickle.loads(pickle.dumps(clf)).predict(X[:3])


def test_callback_keyboard_interrupt_stops_quietly(digits):
    """skorch's EarlyStopping raises KeyboardInterrupt to stop: no re-raise."""
    from skorch.callbacks import Callback

    class StopAtSecond(Callback):
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == 2:
                raise KeyboardInterrupt

    X, y = digits
    clf = _finetune(max_epochs=10, callbacks=[StopAtSecond()])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.fit(X, y)
    assert clf.n_iter_ == 2


# ------------------------------------------------------- adapt independence
def test_adapted_estimator_does_not_change_when_parent_trains_on(digits):
    X, y = digits
    base, novel = y < 5, y >= 5
    clf = _proto(max_iter=50).fit(X[base], y[base])
    support = np.concatenate([np.flatnonzero(y == c)[:3] for c in range(5, 10)])
    child = clf.adapt(X[support], y[support])
    before = child.predict_proba(X[novel])
    for _ in range(5):
        clf.partial_fit(X[base], y[base])
    assert_array_equal(child.predict_proba(X[novel]), before)
    # and the parent did train: its own predictions moved
    assert clf.n_iter_ > 50


def test_parent_does_not_change_when_adapted_estimator_trains(digits):
    X, y = digits
    clf = _proto(max_iter=50).fit(X[y < 5], y[y < 5])
    before = clf.predict_proba(X)
    child = clf.adapt(X[y >= 5][:50], y[y >= 5][:50])
    child.partial_fit(X[y >= 5], y[y >= 5])
    assert_array_equal(clf.predict_proba(X), before)


def test_siblings_are_independent(digits):
    X, y = digits
    clf = _proto(max_iter=30).fit(X[y < 5], y[y < 5])
    a = clf.adapt(X[y >= 5][:50], y[y >= 5][:50])
    b = clf.adapt(X[y >= 5][:50], y[y >= 5][:50])
    before = b.predict_proba(X)
    a.partial_fit(X[y >= 5], y[y >= 5])
    assert_array_equal(b.predict_proba(X), before)


# ------------------------------------------------------------------- clone
@pytest.mark.parametrize("make", ESTIMATORS)
def test_clone_keeps_output_config_and_metadata_requests(make):
    from sklearn import config_context

    with config_context(enable_metadata_routing=True):
        clf = make().set_output(transform="pandas")
        clf.set_score_request(sample_weight=True)
        new = clone(clf)
        assert new._sklearn_output_config == {"transform": "pandas"}
        routing = new.get_metadata_routing()
        assert routing.score.requests["sample_weight"] is True


def test_clone_keeps_fitted_backbone_by_reference(digits):
    X, y = digits
    pre = _proto().fit(X, y)
    ft = _finetune(backbone=pre)
    assert clone(ft).backbone is pre


def test_pandas_output_survives_grid_search(digits):
    pd = pytest.importorskip("pandas")
    X, y = digits
    from sklearn.model_selection import GridSearchCV

    search = GridSearchCV(
        _finetune(max_epochs=1).set_output(transform="pandas"), {"lr": [1e-3]}, cv=2
    ).fit(X, y)
    assert isinstance(search.best_estimator_.transform(X[:3]), pd.DataFrame)


# ----------------------------------------------------------- random streams
def test_fit_never_reseeds_cuda(monkeypatch, digits):
    """torch.manual_seed reseeds every CUDA device; a fit must not call it."""
    X, y = digits
    calls = []
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: calls.append(seed))
    monkeypatch.setattr(torch, "manual_seed", lambda seed: calls.append(seed))
    _proto(max_iter=5).fit(X, y)
    _finetune(max_epochs=1).fit(X, y)
    assert calls == []


@pytest.mark.parametrize("make", ESTIMATORS)
def test_fit_leaves_user_torch_stream_alone(make, digits):
    X, y = digits
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    make(backbone=MLPBackbone(hidden=(16,), dropout=0.5)).fit(X, y)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.parametrize("make", ESTIMATORS)
def test_threaded_fits_match_sequential_fits(make, digits):
    X, y = digits
    seeds = [0, 1, 2, 3]

    def fit(seed):
        est = make(random_state=seed, backbone=MLPBackbone(hidden=(16,), dropout=0.3))
        return est.fit(X, y).predict_proba(X[:50])

    sequential = [fit(s) for s in seeds]
    torch.manual_seed(7)
    expected = torch.rand(2)
    torch.manual_seed(7)
    with parallel_backend("threading", n_jobs=4):
        threaded = Parallel()(delayed(fit)(s) for s in seeds)
    assert torch.equal(torch.rand(2), expected)
    for a, b in zip(sequential, threaded):
        assert_array_equal(a, b)


# --------------------------------------------------------------- inference
def test_inference_does_not_copy_whole_input(digits, monkeypatch):
    """Only the last chunk is padded: no concatenation ever sees all of X."""
    X, y = digits
    clf = _finetune(max_epochs=1).fit(X, y)
    sizes = []

    def spy(real):
        def concat(arrays, *args, **kwargs):
            sizes.append(sum(len(a) for a in arrays))
            return real(arrays, *args, **kwargs)

        return concat

    real_np, real_torch = np.concatenate, torch.cat
    monkeypatch.setattr(np, "concatenate", spy(real_np))
    monkeypatch.setattr(torch, "cat", spy(real_torch))
    X_odd = X[:1001]
    proba = clf.predict_proba(X_odd)
    assert max(sizes, default=0) <= 64
    monkeypatch.setattr(np, "concatenate", real_np)
    monkeypatch.setattr(torch, "cat", real_torch)
    # batch independence still holds
    assert_array_equal(clf.predict_proba(X_odd[:7]), proba[:7])
    assert_array_equal(clf.predict(X_odd), clf.classes_[proba.argmax(1)])


def test_batch_statistics_networks_are_not_padded(digits):
    X, y = digits
    net = torch.nn.Sequential(
        torch.nn.Linear(64, 16), torch.nn.BatchNorm1d(16, track_running_stats=False)
    )
    clf = _finetune(backbone=net, max_epochs=1).fit(X, y)
    X70 = X[:70]
    with torch.no_grad():
        clf.module_.eval()
        expected = clf.module_(torch.from_numpy(X70).float()).double().numpy()
    np.testing.assert_allclose(clf.decision_function(X70), expected, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------- shapes
def test_input_shape_channels_last_is_read_like_4d_arrays():
    rng = np.random.RandomState(0)
    imgs = rng.rand(40, 8, 8, 3).astype(np.float32)  # (n, H, W, C)
    y = np.repeat(np.arange(4), 10)
    kw = dict(backbone=Conv4Backbone(channels=4, n_blocks=2), max_epochs=1, **CPU)
    a = FineTuneClassifier(**kw).fit(imgs, y)
    b = FineTuneClassifier(input_shape=(8, 8, 3), **kw).fit(imgs.reshape(40, -1), y)
    assert b.input_shape_ == (3, 8, 8) == a.input_shape_
    assert_array_equal(a.predict_proba(imgs), b.predict_proba(imgs.reshape(40, -1)))


def test_fit_on_3d_predict_on_4d_and_rows(digits):
    X, y = digits
    imgs = X.reshape(-1, 8, 8)
    clf = _finetune(backbone=Conv4Backbone(channels=4, n_blocks=2), max_epochs=1).fit(imgs, y)
    p = clf.predict_proba(imgs[:5])
    assert_array_equal(clf.predict_proba(imgs[:5, None]), p)
    assert_array_equal(clf.predict_proba(X[:5]), p)
    assert clf.n_features_in_ == 64


def test_device_accepts_torch_device_and_refuses_missing_backends(digits):
    X, y = digits
    clf = _finetune(device=torch.device("cpu"), max_epochs=1).fit(X, y)
    assert clf.device_ == torch.device("cpu")
    if not torch.backends.mps.is_available():
        with pytest.raises(ValueError, match="MPS"):
            _finetune(device="mps").fit(X, y)


def test_adapt_takes_column_labels(digits):
    X, y = digits
    clf = _proto().fit(X[y < 5], y[y < 5])
    from sklearn.exceptions import DataConversionWarning

    with pytest.warns(DataConversionWarning):
        novel = clf.adapt(X[y >= 5][:25], y[y >= 5][:25, None])
    assert_array_equal(novel.classes_, [5, 6, 7, 8, 9])


def test_batch_size_one_with_batch_norm_is_refused(digits):
    X, y = digits
    with pytest.raises(ValueError, match="batch_size=1"):
        _finetune(backbone=Conv4Backbone(channels=2, n_blocks=1), batch_size=1).fit(
            X.reshape(-1, 1, 8, 8), y
        )


# ----------------------------------------------------------------- scoring
def test_score_on_unseen_classes_warns(digits):
    X, y = digits
    clf = _proto().fit(X[y < 5], y[y < 5])
    with pytest.warns(UserWarning, match="make_episodic_scorer"):
        assert clf.score(X[y >= 5], y[y >= 5]) == 0.0


def test_grid_search_class_disjoint_default_scorer_warns(digits):
    from sklearn.model_selection import GridSearchCV

    from sklearn_meta.model_selection import ClassDisjointKFold

    X, y = digits
    search = GridSearchCV(_proto(max_iter=5), {"lr": [1e-3]}, cv=ClassDisjointKFold(2))
    with pytest.warns(UserWarning, match="not among classes_"):
        search.fit(X, y)
