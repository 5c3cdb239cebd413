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

from sklearn_meta import FineTuneClassifier, MAMLClassifier, ProtoNetClassifier
from sklearn_meta.backbones import Conv4Backbone, MLPBackbone
from sklearn_meta.exceptions import TrainingInterrupted

CPU = dict(device="cpu", random_state=0)


def _proto(**kw):
    for other in ("max_epochs", "batch_size"):  # FineTune's names
        kw.pop(other, None)
    params = dict(backbone=MLPBackbone(hidden=(32,)), n_way=5, n_shot=2, n_query=2, max_iter=30)
    params.update(kw)
    return ProtoNetClassifier(**{**CPU, **params})


def _finetune(**kw):
    for other in ("max_iter", "n_way", "n_shot", "n_query"):  # ProtoNet's names
        kw.pop(other, None)
    params = dict(backbone=MLPBackbone(hidden=(32,)), max_epochs=3)
    params.update(kw)
    return FineTuneClassifier(**{**CPU, **params})


def _maml(**kw):
    """A small MAML; FineTune's names are ignored."""
    for other in ("max_epochs", "batch_size"):
        kw.pop(other, None)
    params = dict(backbone=MLPBackbone(hidden=(32,)), n_way=5, n_shot=2, n_query=2,
                  meta_batch_size=2, max_iter=30)
    params.update(kw)
    return MAMLClassifier(**{**CPU, **params})


ESTIMATORS = [_proto, _finetune, _maml]
EPISODIC = (_proto, _maml)


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
    clf = make(max_iter=100_000) if make in EPISODIC else make(max_epochs=100_000, batch_size=8)
    if method == "partial_fit":
        clf.partial_fit(X, y, classes=classes)
        # make one partial_fit call long enough to be interrupted
        if make in EPISODIC:
            clf.set_params(n_query=2, n_shot=2, n_way=2)
        X_long, y_long = np.tile(X, (40, 1)), np.tile(y, 40)
    timers = []

    class TimerAfterFirstUpdate:
        """Starts a real timer that sends SIGINT once training is under way."""

        def initialize(self):
            return self

        def __getattr__(self, name):
            if not name.startswith("on_"):
                raise AttributeError(name)

            def hook(net, **kwargs):
                if name == "on_batch_end" and not timers:
                    timers.append(_sigint_after(0.3))

            return hook

    clf.set_params(callbacks=[TimerAfterFirstUpdate()])
    try:
        with pytest.warns(UserWarning, match="interrupted after"):
            with pytest.raises(KeyboardInterrupt) as info:
                if method == "fit":
                    clf.fit(X, y)
                else:
                    clf.partial_fit(X_long, y_long)
    finally:
        for timer in timers:
            timer.cancel()
    clf.set_params(callbacks=None)
    assert isinstance(info.value, TrainingInterrupted)
    assert info.value.n_iter == clf.n_iter_
    check_is_fitted(clf)
    if make in EPISODIC:
        assert 0 < clf.n_iter_ < 100_000
        assert clf.history_[-1, "iter"] == clf.n_iter_
        # what predicts (prototypes, adapted head) comes from the network as it stopped
        fresh = clf.adapt(X, y)
        np.testing.assert_allclose(fresh.predict_proba(X), clf.predict_proba(X), rtol=1e-5,
                                   atol=1e-8)
    else:
        assert 0 <= clf.n_iter_ < 100_000
        # a row per epoch, the last one possibly cut short by the interrupt
        complete = clf.history_[:, "epoch_complete"]
        assert sum(complete) == clf.n_iter_ and all(complete[:-1])
    assert clf.predict(X[:10]).shape == (10,)
    n_iter = clf.n_iter_
    clf.partial_fit(X, y)
    assert clf.n_iter_ > n_iter
    pickle.loads(pickle.dumps(clf)).predict(X[:3])


class _SigintAt:
    """A skorch callback that presses Ctrl-C at a chosen moment."""

    def __init__(self, hook, at=1):
        self.hook, self.at = hook, at

    def initialize(self):
        self.count_ = 0
        return self

    def __getattr__(self, name):
        if not name.startswith("on_"):
            raise AttributeError(name)

        def hook(net, **kwargs):
            if name == self.hook:
                self.count_ += 1
                if self.count_ == self.at:
                    os.kill(os.getpid(), signal.SIGINT)

        return hook


@pytest.mark.parametrize("make", ESTIMATORS)
def test_ctrl_c_before_the_first_update_fits_nothing(make, digits):
    X, y = digits
    clf = make(callbacks=[_SigintAt("on_train_begin")])
    with pytest.raises(KeyboardInterrupt) as info:
        clf.fit(X, y)
    assert not isinstance(info.value, TrainingInterrupted)
    with pytest.raises(NotFittedError):
        clf.predict(X[:2])


@pytest.mark.parametrize("make", ESTIMATORS)
@pytest.mark.parametrize("extra", ["plain", "early_stopping", "scheduler"])
def test_resume_after_ctrl_c_mid_epoch_equals_uninterrupted_fit(make, extra, digits, tmp_path):
    from skorch.callbacks import Checkpoint, LoadInitState, LRScheduler

    X, y = digits
    long = dict(max_iter=350, max_epochs=4, batch_size=64)
    if extra == "early_stopping":
        long.update(early_stopping=True, n_iter_no_change=50)

    def callbacks(*more):
        sched = [LRScheduler("StepLR", step_size=1, gamma=0.7)] if extra == "scheduler" else []
        return sched + list(more)

    reference = make(callbacks=callbacks(), **long).fit(X, y)
    cp = Checkpoint(monitor=None, dirname=str(tmp_path))
    # Ctrl-C inside the second epoch / block: after 40 minibatches or 150 meta-updates
    at = 150 if make in EPISODIC else 40
    with pytest.raises(TrainingInterrupted):
        make(callbacks=callbacks(cp, _SigintAt("on_batch_end", at=at)), **long).fit(X, y)
    resumed = make(callbacks=callbacks(LoadInitState(cp)), **long).fit(X, y)
    assert resumed.n_iter_ == reference.n_iter_
    assert len(resumed.history_) == len(reference.history_)
    if extra == "early_stopping":
        assert resumed.validation_scores_ == reference.validation_scores_
    for name, value in reference.module_.state_dict().items():
        assert torch.equal(resumed.module_.state_dict()[name], value), name


def test_readme_setup_interrupted_mid_epoch_stays_fitted(digits, tmp_path):
    """Early stopping plus Checkpoint on valid_loss_best, Ctrl-C inside an epoch."""
    from skorch.callbacks import Checkpoint, EarlyStopping

    X, y = digits
    cp = Checkpoint(monitor="valid_loss_best", dirname=str(tmp_path))
    stop = EarlyStopping(monitor="valid_loss", patience=50)
    clf = _finetune(max_epochs=50, early_stopping=True, batch_size=16,
                    callbacks=[cp, stop, _SigintAt("on_batch_end", at=150)])
    with pytest.warns(UserWarning, match="interrupted"), pytest.raises(TrainingInterrupted):
        clf.fit(X, y)
    check_is_fitted(clf)
    assert clf.history_[-1, "epoch_complete"] is False


def test_rerunning_a_finished_early_stopped_fit_changes_nothing(digits, tmp_path):
    from skorch.callbacks import Checkpoint, LoadInitState

    X, y = digits
    cp = Checkpoint(monitor="valid_acc_best", dirname=str(tmp_path))

    def run():
        return _finetune(max_epochs=200, early_stopping=True, n_iter_no_change=2, tol=0.5,
                         callbacks=[cp, LoadInitState(cp)]).fit(X, y)

    first = run()
    again = run()
    assert again.n_iter_ == first.n_iter_
    assert_array_equal(again.predict_proba(X), first.predict_proba(X))


def test_load_params_of_another_network_changes_nothing(digits, tmp_path):
    X, y = digits
    other = _finetune(backbone=MLPBackbone(hidden=(8,)), max_epochs=2).fit(X, y)
    other.save_params(f_params=tmp_path / "w.pt", f_history=tmp_path / "h.json")
    clf = _finetune(max_epochs=1).fit(X, y)
    before = clf.predict_proba(X)
    with pytest.raises(ValueError, match="do not fit"):
        clf.load_params(f_params=tmp_path / "w.pt", f_history=tmp_path / "h.json")
    assert_array_equal(clf.predict_proba(X), before)
    assert clf.n_iter_ == 1 and len(clf.history_) == 1


def test_partial_fit_on_other_data_after_ctrl_c_runs_a_whole_epoch(digits):
    X, y = digits
    clf = _finetune(max_epochs=10, batch_size=16, callbacks=[_SigintAt("on_batch_end", at=30)])
    with pytest.raises(TrainingInterrupted):
        clf.fit(X, y)
    clf.set_params(callbacks=None)
    clf.partial_fit(X[:1000], y[:1000])
    row = clf.history_[-1]
    assert row["epoch_complete"] and row["train_batch_count"] == 1000 // 16 + (1000 % 16 > 1)


@pytest.mark.parametrize("make", ESTIMATORS)
def test_callback_stopping_in_a_batch_keeps_history_and_counts_in_step(make, digits):
    from skorch.callbacks import Callback

    class StopAtFifth(Callback):
        def initialize(self):
            self.n_ = 0
            return self

        def on_batch_end(self, net, **kwargs):
            self.n_ += 1
            if self.n_ == 5:
                raise KeyboardInterrupt

    X, y = digits
    clf = make(callbacks=[StopAtFifth()], max_iter=1000, max_epochs=10, batch_size=16)
    clf.fit(X, y)
    row = clf.history_[-1]
    assert "train_loss" in row and len(row["batches"]) == 5
    if make in EPISODIC:
        assert clf.n_iter_ == 5 == row["iter"]
    else:
        assert clf.n_iter_ == 0 and row["epoch_complete"] is False
        clf.set_params(callbacks=None)
        clf.partial_fit(X, y)  # finishes the epoch that was cut short
        assert clf.n_iter_ == 1 and len(clf.history_) == 1


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


def test_fit_without_dropout_in_a_thread_leaves_main_thread_draws_alone(digits):
    X, y = digits
    from skorch.callbacks import Callback

    training = threading.Event()

    class Started(Callback):
        def on_train_begin(self, net, **kwargs):
            training.set()

    torch.manual_seed(5)
    expected = torch.rand(2000)
    torch.manual_seed(5)
    worker = threading.Thread(
        target=lambda: _finetune(max_epochs=20, callbacks=[Started()]).fit(X, y)
    )
    worker.start()
    # draws made while the worker trains (its network has no dropout); the
    # short fork while it builds its network is over by on_train_begin
    assert training.wait(60)
    draws = torch.cat([torch.rand(1) for _ in range(2000)])
    still_training = worker.is_alive()
    worker.join()
    assert torch.equal(draws, expected)
    assert still_training


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


# --------------------------------------------------------- classifier layer
def test_classifier_layer_can_leave_unlabelled_rows_out_of_classes():
    """Subclasses that ask for it (domain adaptation) get y == -1 as 'unlabelled'."""

    class SemiSupervised(FineTuneClassifier):
        _unlabeled_marker = -1

    clf = SemiSupervised()
    codes = clf._encode_y(np.array([3, -1, 7, 7, -1]))
    assert_array_equal(clf.classes_, [3, 7])
    assert_array_equal(codes, [0, -1, 1, 1, -1])
    assert_array_equal(clf._codes_for(np.array([-1, 7])), [-1, 1])
    with pytest.raises(ValueError, match="at least 2 classes"):
        SemiSupervised()._encode_y(np.array([-1, -1, 5]))
    # the others keep -1 as an ordinary label
    plain = FineTuneClassifier()
    plain._encode_y(np.array([-1, 1]))
    assert_array_equal(plain.classes_, [-1, 1])


def test_rows_flattened_from_channels_last_images_predict_like_the_images():
    rng = np.random.RandomState(0)
    imgs = rng.rand(40, 8, 8, 3).astype(np.float32)  # (n, H, W, C)
    y = np.repeat(np.arange(4), 10)
    kw = dict(backbone=Conv4Backbone(channels=4, n_blocks=2), max_epochs=1, **CPU)
    clf = FineTuneClassifier(**kw).fit(imgs, y)
    assert_array_equal(clf.predict_proba(imgs.reshape(40, -1)), clf.predict_proba(imgs))
    assert_array_equal(clf.transform(imgs.reshape(40, -1)), clf.transform(imgs))


def test_meta_device_and_scoring_callbacks_are_refused(digits):
    from skorch.callbacks import EpochScoring

    X, y = digits
    with pytest.raises(ValueError, match="meta tensors"):
        _finetune(device="meta").fit(X, y)
    with pytest.raises(ValueError, match="EpochScoring"):
        _finetune(callbacks=[EpochScoring("accuracy")]).fit(X, y)


def test_adapted_estimator_does_not_share_callbacks(digits, tmp_path):
    from skorch.callbacks import Checkpoint

    X, y = digits
    cp = Checkpoint(monitor=None, dirname=str(tmp_path))
    clf = _proto(max_iter=100, callbacks=[cp]).fit(X[y < 5], y[y < 5])
    saved = (tmp_path / "params.pt").read_bytes()
    child = clf.adapt(X[y >= 5][:50], y[y >= 5][:50])
    assert child.callbacks is None
    child.partial_fit(X[y >= 5], y[y >= 5])
    assert (tmp_path / "params.pt").read_bytes() == saved
    assert clf.callbacks_[0][1] is cp


def test_module_backbone_counts_as_pretrained_as_documented(digits):
    X, y = digits
    net = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.ReLU())
    clf = _finetune(backbone=net, max_epochs=1, lr=1e-2).fit(X, y)
    assert clf.pretrained_ is True
    assert clf.optimizer_.param_groups[0]["lr"] == pytest.approx(1e-3)  # 0.1 x lr
    fresh = _finetune(backbone=net, max_epochs=1, lr=1e-2, backbone_lr=1.0).fit(X, y)
    assert fresh.optimizer_.param_groups[0]["lr"] == pytest.approx(1e-2)
    assert "freshly initialised ``nn.Module``" in FineTuneClassifier.__doc__


def test_protonet_takes_path_and_home_relative_weights(digits, tmp_path, monkeypatch):
    from pathlib import Path

    X, y = digits
    backbone = MLPBackbone(hidden=(32,))
    first = _proto(backbone=backbone).fit(X, y)
    torch.save(first.module_.features.state_dict(), tmp_path / "w.pt")
    monkeypatch.setenv("HOME", str(tmp_path))
    for weights in (Path(tmp_path / "w.pt"), "~/w.pt"):
        clf = _proto(backbone=backbone, weights=weights, max_iter=1, lr=1e-12).fit(X, y)
        for name, value in first.module_.features.state_dict().items():
            assert torch.allclose(clf.module_.features.state_dict()[name], value, atol=1e-6)


# ------------------------------------------------------- third review round
@pytest.mark.parametrize("make", ESTIMATORS)
def test_pickle_rebuilds_the_fitted_network_after_set_params(make, digits):
    X, y = digits
    clf = make(max_iter=20, max_epochs=1).fit(X, y)
    before = clf.predict_proba(X)
    changes = dict(backbone__hidden=(8,))
    if make is _finetune:
        changes["optimizer"] = "sgd"
    clf.set_params(**changes)
    back = pickle.loads(pickle.dumps(clf))
    assert_array_equal(back.predict_proba(X), before)
    back.partial_fit(X, y)  # the optimiser state matches the optimiser rebuilt


def test_shared_backbone_config_does_not_break_the_other_estimator(digits):
    X, y = digits
    shared = MLPBackbone(hidden=(16,))
    a = _finetune(backbone=shared, max_epochs=1).fit(X, y)
    b = _finetune(backbone=shared, max_epochs=1)
    b.set_params(backbone__hidden=(4,))
    assert_array_equal(pickle.loads(pickle.dumps(a)).predict_proba(X), a.predict_proba(X))


def test_new_chunk_after_ctrl_c_gets_a_whole_epoch(digits):
    X, y = digits
    clf = _finetune(max_epochs=10, batch_size=10, callbacks=[_SigintAt("on_batch_end", at=3)])
    with pytest.raises(TrainingInterrupted):
        clf.fit(X[:100], y[:100])
    clf.set_params(callbacks=None)
    clf.partial_fit(X[100:200], y[100:200])
    row = clf.history_[-1]
    assert row["epoch_complete"] and row["train_samples"] == 100 and row["train_batch_count"] == 10
    assert len(row["batches"]) == 10


@pytest.mark.parametrize("make", ESTIMATORS)
def test_continued_epoch_has_the_metrics_of_an_uninterrupted_one(make, digits, tmp_path):
    """Ctrl-C inside an epoch, saved at train end, resumed: the same history rows."""
    from skorch.callbacks import LoadInitState, TrainEndCheckpoint

    X, y = digits
    kw = dict(max_iter=100, max_epochs=1, batch_size=64)
    reference = make(**kw).fit(X, y)
    at = 40 if make in EPISODIC else 10
    end = TrainEndCheckpoint(dirname=str(tmp_path))
    with pytest.raises(TrainingInterrupted):
        make(callbacks=[end, _SigintAt("on_batch_end", at=at)], **kw).fit(X, y)
    clf = make(callbacks=[LoadInitState(end)], **kw).fit(X, y)
    got, want = clf.history_[-1], reference.history_[-1]
    assert len(clf.history_) == len(reference.history_) == 1
    assert got["epoch_complete"] and got["train_batch_count"] == want["train_batch_count"]
    assert got["train_loss"] == pytest.approx(want["train_loss"], rel=1e-6)
    assert got["train_acc"] == pytest.approx(want["train_acc"], rel=1e-6)
    assert len(got["batches"]) == len(want["batches"])


def test_callbacks_appended_in_place_are_initialised_and_called(digits):
    from skorch.callbacks import Callback

    class Count(Callback):
        def initialize(self):
            self.n_ = 0
            return self

        def on_epoch_end(self, net, **kwargs):
            self.n_ += 1

    X, y = digits
    first, second = Count(), Count()
    clf = _finetune(max_epochs=1, callbacks=[first]).fit(X, y)
    clf.callbacks.append(second)
    clf.partial_fit(X, y)
    assert second.n_ == 1


def test_score_warning_respects_weights_and_unfitted_prototypes(digits):
    X, y = digits
    clf = _proto().fit(X[y < 5], y[y < 5])
    weights = (y < 5).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.score(X, y, sample_weight=weights)  # unseen classes weigh nothing
    streaming = _proto().partial_fit(X[y < 5], y[y < 5], classes=np.arange(10))
    with pytest.warns(UserWarning, match="cannot predict"):
        assert streaming.score(X[y >= 5], y[y >= 5]) == 0.0


def test_protonet_partial_fit_on_one_class_updates_its_prototype(digits):
    X, y = digits
    clf = _proto().partial_fit(X[y < 5], y[y < 5], classes=np.arange(10))
    n_iter = clf.n_iter_
    with pytest.warns(UserWarning, match="one class"):
        clf.partial_fit(X[y == 7], y[y == 7])
    assert clf.n_iter_ == n_iter
    assert np.isfinite(clf.prototypes_[7]).all()
    assert np.isnan(clf.prototypes_[8]).all()


@pytest.mark.parametrize("make", ESTIMATORS)
def test_set_params_lr_reaches_the_optimiser_in_partial_fit(make, digits):
    X, y = digits
    clf = make(max_iter=5, max_epochs=1, lr=1e-3).fit(X, y)
    ratios = [g["lr"] / 1e-3 for g in clf.optimizer_.param_groups]
    clf.set_params(lr=1e-2).partial_fit(X, y)
    assert [g["lr"] for g in clf.optimizer_.param_groups] == pytest.approx(
        [1e-2 * r for r in ratios]
    )


def test_left_out_class_is_named_right_with_early_stopping(digits):
    X, y = digits
    keep = (y != 8) | (np.cumsum(y == 8) <= 3)  # class 8 keeps 3 samples
    checked = 0
    for seed in range(6):
        clf = _proto(early_stopping=True, validation_fraction=0.2, random_state=seed, max_iter=5)
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            clf.fit(X[keep], y[keep])
        if 8 in clf.validation_classes_:
            continue
        messages = [str(w.message) for w in record if "left out" in str(w.message)]
        assert len(messages) == 1 and "episodes: 8. They" in messages[0], messages
        checked += 1
    assert checked
