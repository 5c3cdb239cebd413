"""Tests of FineTuneClassifier, written as a user would use it.

Small networks, few epochs and module-scoped fixtures keep the file fast on a
two-core CPU. Nothing here measures time: timing lives in ``benchmarks/``.
"""

import os
import pickle
import signal
import warnings
from pathlib import Path
from urllib.error import URLError

import joblib
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from skorch.callbacks import Callback, Checkpoint, LoadInitState
from torch import nn

from sklearn_meta import FineTuneClassifier
from sklearn_meta.backbones import Conv4Backbone, MLPBackbone
from sklearn_meta.exceptions import DeviceWarning, TrainingInterrupted

CPU = dict(device="cpu", random_state=0)


# ----------------------------------------------------------------- helpers
def params_of(module):
    """Detached copies of a module's parameters, in order."""
    return [p.detach().clone() for p in module.parameters()]


def state_of(module):
    """Detached copies of a module's parameters and buffers (BN statistics)."""
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def same(a, b):
    """Whether two lists of tensors are exactly equal."""
    return len(a) == len(b) and all(torch.equal(x, y) for x, y in zip(a, b))


def blocks_of(clf):
    """The hidden-layer blocks of a fitted MLP backbone (Flatten has no weights)."""
    return [m for m in clf.module_.features.children() if any(True for _ in m.parameters())]


def mnist_path():
    """Where the shared MNIST file lives (``SKLEARN_META_DATA`` first)."""
    candidates = []
    if os.environ.get("SKLEARN_META_DATA"):
        candidates.append(Path(os.environ["SKLEARN_META_DATA"]) / "mnist.npz")
    candidates.append(Path(__file__).resolve().parents[3] / "shared" / "data" / "mnist.npz")
    return next((p for p in candidates if p.is_file()), None)


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def digits_split(digits):
    X, y = digits
    return train_test_split(X, y, test_size=0.25, stratify=y, random_state=0)


@pytest.fixture(scope="module")
def fitted(digits_split):
    """One fitted MLP. Read only: no further fit or set_params on it."""
    X_train, _, y_train, _ = digits_split
    clf = FineTuneClassifier(backbone=MLPBackbone(hidden=(32,)), max_epochs=5, lr=1e-2, **CPU)
    return clf.fit(X_train, y_train)


@pytest.fixture(scope="module")
def pretrained(digits):
    """An MLP trained on digits 0-4, to serve as a pretrained backbone. Read only."""
    X, y = digits
    clf = FineTuneClassifier(backbone=MLPBackbone(hidden=(32, 32)), max_epochs=5, lr=1e-2, **CPU)
    return clf.fit(X[y < 5], y[y < 5])


@pytest.fixture(scope="module")
def new_classes(digits):
    """Digits 5-9: the classes the pretrained backbone never saw."""
    X, y = digits
    return X[y >= 5], y[y >= 5]


# ------------------------------------------------------- sklearn contract
@parametrize_with_checks(
    [
        FineTuneClassifier(
            backbone=MLPBackbone(hidden=(16,)), max_epochs=20, lr=1e-2, device="cpu", random_state=0
        )
    ]
)
def test_sklearn_contract(estimator, check):
    check(estimator)


def test_grid_search_pipeline_with_string_labels_and_dataframe(digits):
    X, y = digits
    X = pd.DataFrame(X, columns=[f"pixel_{i}" for i in range(X.shape[1])])
    y = np.array([f"digit_{d}" for d in y], dtype=object)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.25, stratify=y, random_state=0
    )
    pipe = make_pipeline(
        StandardScaler(),
        FineTuneClassifier(backbone=MLPBackbone(), max_epochs=8, batch_size=32, **CPU),
    )
    grid = {
        "finetuneclassifier__lr": [1e-3, 1e-2],
        "finetuneclassifier__backbone__hidden": [(16,), (64,)],
    }
    search = GridSearchCV(pipe, grid, cv=3, n_jobs=2).fit(X_train, y_train)

    assert search.cv_results_["mean_test_score"].shape == (4,)
    assert np.all(search.cv_results_["mean_test_score"] > 0.5)
    best = search.best_estimator_
    clf = best[-1]
    assert clf.backbone.hidden == search.best_params_["finetuneclassifier__backbone__hidden"]
    assert clf.lr == search.best_params_["finetuneclassifier__lr"]
    assert clf.module_.head.in_features == clf.backbone.hidden[-1]
    assert set(clf.classes_) == set(y)
    pred = best.predict(X_test)
    assert pred.dtype == object
    assert all(isinstance(p, str) and p.startswith("digit_") for p in pred)
    assert best.score(X_test, y_test) > 0.85
    assert best[0].feature_names_in_[0] == "pixel_0"


# ------------------------------------------------- pickling, clone, params
@pytest.mark.parametrize("how", ["pickle", "joblib"])
def test_round_trip_gives_identical_probabilities(fitted, digits_split, tmp_path, how):
    _, X_test, _, _ = digits_split
    if how == "pickle":
        loaded = pickle.loads(pickle.dumps(fitted))
    else:
        joblib.dump(fitted, tmp_path / "clf.joblib")
        loaded = joblib.load(tmp_path / "clf.joblib")
    assert_array_equal(loaded.predict_proba(X_test), fitted.predict_proba(X_test))
    assert_array_equal(loaded.classes_, fitted.classes_)
    assert loaded.n_iter_ == fitted.n_iter_
    assert loaded.history_[:, "train_loss"] == fitted.history_[:, "train_loss"]


def test_unpickled_model_keeps_training_its_own_weights(fitted, digits_split):
    """The optimizer of a loaded model must point at the loaded module's weights."""
    X_train, _, y_train, _ = digits_split
    loaded = pickle.loads(pickle.dumps(fitted))
    module_params = {id(p) for p in loaded.module_.parameters()}
    opt_params = {id(p) for g in loaded.optimizer_.param_groups for p in g["params"]}
    assert opt_params == module_params
    before = params_of(loaded.module_)
    loaded.partial_fit(X_train, y_train)
    assert not same(before, params_of(loaded.module_))
    assert loaded.n_iter_ == fitted.n_iter_ + 1
    # the original is untouched by the copy's training
    assert fitted.n_iter_ == 5


def test_clone_is_unfitted_and_keeps_params(fitted, digits_split):
    _, X_test, _, _ = digits_split
    twin = clone(fitted)
    assert not hasattr(twin, "module_")
    assert not hasattr(twin, "classes_")
    with pytest.raises(NotFittedError):
        twin.predict(X_test)
    assert twin.get_params()["backbone__hidden"] == (32,)
    assert twin.backbone is not fitted.backbone


def test_nested_params():
    clf = FineTuneClassifier(backbone=MLPBackbone(hidden=(8,)))
    params = clf.get_params()
    assert params["backbone__hidden"] == (8,)
    assert params["backbone__activation"] == "relu"
    assert clf.set_params(backbone__hidden=(4, 4), lr=0.5) is clf
    assert clf.backbone.hidden == (4, 4)
    assert clf.lr == 0.5


def test_set_params_changes_the_network(digits):
    X, y = digits
    clf = FineTuneClassifier(backbone=MLPBackbone(hidden=(8,)), max_epochs=1, **CPU)
    clf.set_params(backbone__hidden=(12, 6)).fit(X[:200], y[:200])
    widths = [b[0].out_features for b in blocks_of(clf)]
    assert widths == [12, 6]
    assert clf.transform(X[:3]).shape == (3, 6)


# ------------------------------------------------- transfer beats scratch
def _mnist_14x14(x):
    """uint8 28x28 images -> float32 (n, 1, 14, 14) in [0, 1] (2x2 mean pooling)."""
    x = x.astype(np.float32) / 255.0
    return x.reshape(len(x), 14, 2, 14, 2).mean(axis=(2, 4))[:, None]


def test_transfer_beats_scratch_on_new_classes(record_property):
    """Pretrain on digits 0-4, fine-tune on 5 images per class of digits 5-9.

    The same Conv4 trained from scratch on the same 25 images fits them
    perfectly but generalises clearly worse. On scikit-learn's 8x8 digits the
    gain vanishes (1-NN on raw pixels already reaches ~0.9 there, transfer and
    scratch both ~0.9), so the test uses MNIST, pooled to 14x14 to stay fast.
    Measured: transfer 0.806 0.766 0.790 0.850 0.830 (mean 0.808),
    scratch 0.750 0.750 0.724 0.774 0.676 (mean 0.735).
    """
    path = mnist_path()
    if path is None:
        pytest.skip(
            "mnist.npz not found in $SKLEARN_META_DATA nor ../shared/data: "
            "the transfer-vs-scratch test needs MNIST (see shared/data/README.md)"
        )
    data = np.load(path)
    y_train, y_test = data["y_train"].astype(int), data["y_test"].astype(int)
    base = np.flatnonzero(y_train < 5)[:3000]
    new = np.flatnonzero(y_train >= 5)
    held_out = np.flatnonzero(y_test >= 5)[:500]
    X_base, y_base = _mnist_14x14(data["x_train"][base]), y_train[base]
    X_eval, y_eval = _mnist_14x14(data["x_test"][held_out]), y_test[held_out]
    assert set(y_eval) == {5, 6, 7, 8, 9}

    pre = FineTuneClassifier(backbone="conv4", max_epochs=3, lr=3e-3, **CPU).fit(X_base, y_base)
    assert pre.score(X_base, y_base) > 0.95
    pre_proba = pre.predict_proba(X_eval[:20])

    transfer, scratch = [], []
    for seed in range(5):
        rng = np.random.RandomState(seed)
        shots = np.concatenate(
            [rng.choice(new[y_train[new] == c], 5, replace=False) for c in range(5, 10)]
        )
        X_few, y_few = _mnist_14x14(data["x_train"][shots]), y_train[shots]
        assert X_few.shape == (25, 1, 14, 14)
        fit_kw = dict(max_epochs=50, lr=1e-2, batch_size=25, device="cpu", random_state=seed)
        tuned = FineTuneClassifier(backbone=pre, **fit_kw).fit(X_few, y_few)
        fresh = FineTuneClassifier(backbone="conv4", **fit_kw).fit(X_few, y_few)
        assert tuned.pretrained_ and not fresh.pretrained_
        # both fit their 25 images; the difference is generalisation
        assert tuned.score(X_few, y_few) == 1.0
        assert fresh.score(X_few, y_few) == 1.0
        transfer.append(tuned.score(X_eval, y_eval))
        scratch.append(fresh.score(X_eval, y_eval))

    print(f"\ntransfer accuracy per seed {transfer}, mean {np.mean(transfer):.3f}")
    print(f"scratch  accuracy per seed {scratch}, mean {np.mean(scratch):.3f}")
    record_property("transfer_accuracy", transfer)
    record_property("scratch_accuracy", scratch)
    assert np.mean(transfer) > np.mean(scratch) + 0.04
    assert sum(t > s for t, s in zip(transfer, scratch)) >= 4
    # the pretrained estimator, used as a backbone, is left exactly as it was
    assert_array_equal(pre.predict_proba(X_eval[:20]), pre_proba)


# ---------------------------------------------------------------- freezing
@pytest.fixture(scope="module")
def bn_module():
    """A user's MLP with batch norm (2 blocks); never trained by the tests."""
    with torch.random.fork_rng():
        torch.manual_seed(0)
        return MLPBackbone(hidden=(32, 16), norm="batch").build((64,))


def test_freeze_backbone_keeps_weights_and_bn_stats(bn_module, digits):
    X, y = digits
    before = state_of(bn_module)
    kw = dict(backbone=bn_module, freeze="backbone", lr=1e-2, **CPU)
    one = FineTuneClassifier(max_epochs=1, **kw).fit(X[:400], y[:400])
    three = FineTuneClassifier(max_epochs=3, **kw).fit(X[:400], y[:400])
    after = state_of(three.module_.features)
    assert after.keys() == before.keys()
    assert any("running_mean" in k for k in after)
    for k in before:
        assert torch.equal(after[k], before[k]), k
    # while the head trains
    assert not torch.equal(one.module_.head.weight, three.module_.head.weight)
    assert three.history_[:, "n_frozen"] == [2, 2, 2]


def test_freeze_int_freezes_only_first_blocks(bn_module, digits):
    X, y = digits
    before = state_of(bn_module)
    clf = FineTuneClassifier(backbone=bn_module, freeze=1, max_epochs=2, lr=1e-2, **CPU)
    clf.fit(X[:400], y[:400])
    after = state_of(clf.module_.features)
    first = [k for k in before if k.startswith("1.")]
    second = [k for k in before if k.startswith("2.")]
    assert first and second and len(first) + len(second) == len(before)
    for k in first:  # block 0 (after Flatten): weights and running stats kept
        assert torch.equal(after[k], before[k]), k
    for k in ("2.0.weight", "2.1.running_mean", "2.1.running_var"):
        assert not torch.equal(after[k], before[k]), k
    assert clf.history_[:, "n_frozen"] == [1, 1]


def test_gradual_unfreezing(digits):
    """freeze='backbone', unfreeze_at=2 on 3 blocks: one block per epoch from epoch 2."""
    X, y = digits
    X, y = X[:300], y[:300]
    kw = dict(
        backbone=MLPBackbone(hidden=(16, 16, 16)),
        freeze="backbone",
        unfreeze_at=2,
        lr=1e-2,
        **CPU,
    )
    clf = FineTuneClassifier(**kw)
    snapshots = []
    for _ in range(5):
        clf.partial_fit(X, y, classes=np.arange(10))
        snapshots.append([params_of(b) for b in blocks_of(clf)])
    assert clf.history_[:, "n_frozen"] == [3, 3, 2, 1, 0]
    # which blocks changed during epoch e (e = 1..4)
    changed = [
        [not same(snapshots[e - 1][b], snapshots[e][b]) for b in range(3)] for e in range(1, 5)
    ]
    assert changed == [
        [False, False, False],  # epoch 1: all frozen
        [False, False, True],  # epoch 2: the block nearest the head
        [False, True, True],
        [True, True, True],
    ]
    # fit runs the same epochs as the partial_fit calls
    full = FineTuneClassifier(max_epochs=5, **kw).fit(X, y)
    assert full.history_[:, "n_frozen"] == [3, 3, 2, 1, 0]
    assert same(params_of(full.module_), params_of(clf.module_))


# ------------------------------------------- a frozen backbone embedded once
class RowCounter(Callback):
    """Counts the rows that go through the backbone during a fit."""

    def initialize(self):
        self.rows_ = 0
        return self

    def on_train_begin(self, net, **kwargs):
        def count(module, inputs, output):
            self.rows_ += inputs[0].shape[0]

        self._hook = net.module_.features.register_forward_hook(count)

    def on_train_end(self, net, **kwargs):
        self._hook.remove()


@pytest.fixture
def full_forward(monkeypatch):
    """Force today's other path: the backbone runs on every minibatch."""
    monkeypatch.setattr(FineTuneClassifier, "_embeds_once", lambda self: False)


def _frozen_pair(make, X, y, monkeypatch):
    """The same fit with stored features and with a forward pass per minibatch."""
    stored = make().fit(X, y)
    with monkeypatch.context() as m:
        m.setattr(FineTuneClassifier, "_embeds_once", lambda self: False)
        full = make().fit(X, y)
    return stored, full


@pytest.mark.parametrize("early_stopping", [False, True])
def test_frozen_backbone_gives_the_full_forward_model(bn_module, digits, monkeypatch,
                                                      early_stopping):
    X, y = digits
    X, y = X[:400], y[:400]

    def make():
        return FineTuneClassifier(
            backbone=bn_module, freeze="backbone", max_epochs=3, lr=1e-2, batch_size=32,
            early_stopping=early_stopping, n_iter_no_change=1, **CPU
        )

    stored, full = _frozen_pair(make, X, y, monkeypatch)
    assert stored.history_[:, "stored_features"] == [True] * len(stored.history_)
    assert full.history_[:, "stored_features"] == [False] * len(full.history_)
    assert len(stored.history_) == len(full.history_)
    assert_allclose(stored.history_[:, "train_loss"], full.history_[:, "train_loss"], rtol=1e-5)
    if early_stopping:
        assert_allclose(stored.validation_scores_, full.validation_scores_)
    assert_allclose(stored.module_.head.weight.detach(), full.module_.head.weight.detach(),
                    rtol=1e-4, atol=1e-6)
    assert_allclose(stored.predict_proba(X), full.predict_proba(X), rtol=1e-4, atol=1e-6)
    # the backbone, batch-norm statistics included, is as it came
    for k, v in state_of(bn_module).items():
        assert torch.equal(stored.module_.features.state_dict()[k], v), k


def test_conv_backbone_frozen_gives_the_full_forward_model(digits, monkeypatch):
    X, y = digits
    X, y = X[:200].reshape(-1, 1, 8, 8), y[:200]
    net = Conv4Backbone(channels=8, n_blocks=2).build((1, 8, 8))

    def make():
        return FineTuneClassifier(backbone=net, freeze=5, max_epochs=2, lr=1e-2, **CPU)

    stored, full = _frozen_pair(make, X, y, monkeypatch)
    assert stored.history_[:, "stored_features"] == [True, True]
    assert_allclose(stored.predict_proba(X), full.predict_proba(X), rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize("early_stopping", [False, True])
def test_frozen_backbone_embeds_every_row_once(bn_module, digits, monkeypatch, early_stopping):
    X, y = digits
    X, y = X[:300], y[:300]
    counter = RowCounter()
    kw = dict(backbone=bn_module, freeze="backbone", max_epochs=4, batch_size=32,
              early_stopping=early_stopping, n_iter_no_change=10, callbacks=[counter], **CPU)
    FineTuneClassifier(**kw).fit(X, y)
    assert counter.rows_ == len(X)  # training and held-out rows, once
    with monkeypatch.context() as m:
        m.setattr(FineTuneClassifier, "_embeds_once", lambda self: False)
        FineTuneClassifier(**kw).fit(X, y)
    assert counter.rows_ == 4 * len(X)  # every epoch, held-out rows included


def test_unfreeze_at_goes_back_to_the_whole_network(digits, monkeypatch):
    """freeze='backbone', unfreeze_at=2 on 2 blocks: stored features for 2 epochs."""
    X, y = digits
    X, y = X[:300], y[:300]
    counter = RowCounter()

    def make():
        return FineTuneClassifier(
            backbone=MLPBackbone(hidden=(16, 16)), freeze="backbone", unfreeze_at=2,
            max_epochs=4, lr=1e-2, callbacks=[counter], **CPU
        )

    stored, full = _frozen_pair(make, X, y, monkeypatch)
    clf = make().fit(X, y)
    assert clf.history_[:, "n_frozen"] == [2, 2, 1, 0]
    assert clf.history_[:, "stored_features"] == [True, True, False, False]
    assert counter.rows_ == 3 * len(X)  # once, then in every step of epochs 2 and 3
    assert_allclose(stored.predict_proba(X), full.predict_proba(X), rtol=1e-4, atol=1e-6)
    # partial_fit stores them per call while the backbone is frozen
    part = make()
    for _ in range(4):
        part.partial_fit(X, y, classes=np.arange(10))
    assert part.history_[:, "stored_features"] == [True, True, False, False]
    assert same(params_of(part.module_), params_of(clf.module_))


class ScaleBackbone(Callback):
    """Changes the frozen backbone's weights in place after the first epoch."""

    def on_epoch_end(self, net, **kwargs):
        if len(net.history_) == 1:
            with torch.no_grad():
                for p in net.module_.features.parameters():
                    p.mul_(0.5)


def test_stored_features_follow_a_change_of_the_backbone(digits, monkeypatch):
    X, y = digits
    X, y = X[:200], y[:200]
    counter = RowCounter()

    def make():
        return FineTuneClassifier(
            backbone=MLPBackbone(hidden=(16,)), freeze="backbone", max_epochs=3, lr=1e-2,
            callbacks=[ScaleBackbone(), counter], **CPU
        )

    stored, full = _frozen_pair(make, X, y, monkeypatch)
    make().fit(X, y)
    assert counter.rows_ == 2 * len(X)  # computed again once, after the change
    assert_allclose(stored.predict_proba(X), full.predict_proba(X), rtol=1e-4, atol=1e-6)


def test_frozen_backbone_runs_in_eval_mode_whole(digits, monkeypatch):
    """A top-level dropout of a user's frozen module is off (eval mode), in both paths."""
    X, y = digits
    X, y = X[:300], y[:300]
    with torch.random.fork_rng():
        torch.manual_seed(0)
        plain = nn.Sequential(nn.Flatten(), nn.Linear(64, 24), nn.ReLU())
    dropped = nn.Sequential(*plain, nn.Dropout(0.5))

    def fit(backbone):
        return FineTuneClassifier(
            backbone=backbone, freeze="backbone", max_epochs=2, lr=1e-2, **CPU
        ).fit(X, y)

    want = fit(plain).predict_proba(X)
    assert_allclose(fit(dropped).predict_proba(X), want, rtol=1e-5, atol=1e-7)
    monkeypatch.setattr(FineTuneClassifier, "_embeds_once", lambda self: False)
    assert_allclose(fit(dropped).predict_proba(X), want, rtol=1e-5, atol=1e-7)


def test_only_a_frozen_backbone_is_stored(digits):
    """A backbone without weights stores features only when freeze says it is frozen."""
    X, y = digits
    net = nn.Sequential(nn.Flatten(), nn.Dropout(0.5))
    for freeze, want in (("none", [False]), ("backbone", [True])):
        clf = FineTuneClassifier(backbone=net, freeze=freeze, max_epochs=1, **CPU)
        assert clf.fit(X[:200], y[:200]).history_[:, "stored_features"] == want


def test_batch_statistics_backbone_runs_every_step(digits):
    X, y = digits
    net = nn.Sequential(
        nn.Flatten(), nn.Linear(64, 16), nn.BatchNorm1d(16, track_running_stats=False)
    )
    clf = FineTuneClassifier(backbone=net, freeze="backbone", max_epochs=1, **CPU)
    clf.fit(X[:200], y[:200])
    assert clf.history_[:, "stored_features"] == [False]


_PICKLES = []


class PickleEachEpoch(Callback):
    """Pickles the estimator at the end of every epoch (into ``_PICKLES``)."""

    def on_epoch_end(self, net, **kwargs):
        _PICKLES.append(pickle.dumps(net))


def test_frozen_fit_is_bit_reproducible_and_pickles_mid_fit(bn_module, digits):
    X, y = digits
    X, y = X[:300], y[:300]
    _PICKLES.clear()
    pickles = _PICKLES
    kw = dict(backbone=bn_module, freeze="backbone", max_epochs=3, lr=1e-2, **CPU)
    a = FineTuneClassifier(**kw).fit(X, y)
    b = FineTuneClassifier(callbacks=[PickleEachEpoch()], **kw).fit(X, y)
    assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert len(pickles) == 3
    last = pickle.loads(pickles[-1])
    assert_array_equal(last.predict_proba(X), a.predict_proba(X))
    # a model pickled after the first epoch trains on from there as the fit did
    first = pickle.loads(pickles[0])
    first.partial_fit(X, y)
    first.partial_fit(X, y)
    assert first.history_[:, "stored_features"] == [True, True, True]
    assert_allclose(first.predict_proba(X), a.predict_proba(X), rtol=1e-5, atol=1e-7)


class CtrlCAt(Callback):
    """Presses Ctrl-C (a real SIGINT) after minibatch step ``at``."""

    def __init__(self, at):
        self.at = at

    def initialize(self):
        self.count_ = 0
        return self

    def on_batch_end(self, net, **kwargs):
        self.count_ += 1
        if self.count_ == self.at:
            os.kill(os.getpid(), signal.SIGINT)


def test_frozen_fit_resumed_after_ctrl_c_equals_uninterrupted(bn_module, digits, sigint,
                                                               tmp_path):
    X, y = digits
    X, y = X[:320], y[:320]
    kw = dict(backbone=bn_module, freeze="backbone", unfreeze_at=2, max_epochs=3, lr=1e-2,
              batch_size=32, **CPU)
    reference = FineTuneClassifier(**kw).fit(X, y)
    cp = Checkpoint(monitor=None, dirname=str(tmp_path))
    with pytest.warns(UserWarning, match="interrupted"), pytest.raises(TrainingInterrupted):
        FineTuneClassifier(callbacks=[cp, CtrlCAt(13)], **kw).fit(X, y)  # in epoch 1
    resumed = FineTuneClassifier(callbacks=[LoadInitState(cp)], **kw).fit(X, y)
    assert resumed.history_[:, "stored_features"] == [True, True, False]
    for k, v in reference.module_.state_dict().items():
        assert torch.equal(resumed.module_.state_dict()[k], v), k
    assert_array_equal(resumed.predict_proba(X), reference.predict_proba(X))


# ------------------------------------------------------ learning rates, L2-SP
def test_backbone_lr_auto(pretrained, new_classes):
    X, y = new_classes
    lr = 1e-2
    kw = dict(max_epochs=1, lr=lr, **CPU)
    tuned = FineTuneClassifier(backbone=pretrained, **kw).fit(X, y)
    scratch = FineTuneClassifier(backbone=MLPBackbone(hidden=(32, 32)), **kw).fit(X, y)
    fixed = FineTuneClassifier(backbone=pretrained, backbone_lr=0.5, **kw).fit(X, y)
    assert tuned.pretrained_ and not scratch.pretrained_
    assert [g["lr"] for g in tuned.optimizer_.param_groups] == pytest.approx([0.1 * lr, lr])
    assert [g["lr"] for g in scratch.optimizer_.param_groups] == pytest.approx([lr, lr])
    assert [g["lr"] for g in fixed.optimizer_.param_groups] == pytest.approx([0.5 * lr, lr])
    # the groups are the backbone's and the head's weights
    backbone_ids = {id(p) for p in tuned.module_.features.parameters()}
    assert {id(p) for p in tuned.optimizer_.param_groups[0]["params"]} == backbone_ids


def test_l2sp_pulls_backbone_toward_pretrained_weights(pretrained, new_classes):
    X, y = new_classes
    w0 = params_of(pretrained.module_.features)

    def distance(l2sp):
        clf = FineTuneClassifier(
            backbone=pretrained, backbone_lr=1.0, l2sp=l2sp, max_epochs=10, lr=1e-2, **CPU
        ).fit(X, y)
        w = params_of(clf.module_.features)
        return float(sum((a - b).pow(2).sum() for a, b in zip(w, w0)).sqrt())

    # measured: 9.1, 0.40, 0.11
    free, some, strong = distance(0.0), distance(1.0), distance(10.0)
    assert free > some > strong > 0
    assert strong < 0.05 * free


def test_clone_keeps_a_fitted_backbone(pretrained, new_classes):
    """GridSearchCV and cross_val_score clone: a pretrained backbone must survive it."""
    X, y = new_classes
    tuner = FineTuneClassifier(backbone=pretrained, max_epochs=1, lr=1e-2, **CPU)
    cloned = clone(tuner)
    assert cloned.backbone is pretrained  # kept by reference, only read
    assert cloned.fit(X, y).pretrained_
    scores = cross_val_score(tuner, X, y, cv=2)
    assert scores.shape == (2,)


def test_frozen_estimator_backbone_in_cross_validation(pretrained, new_classes):
    """FrozenEstimator keeps the pretrained backbone through clone, so CV can tune fine-tuning."""
    from sklearn.frozen import FrozenEstimator

    X, y = new_classes
    tuner = FineTuneClassifier(backbone=FrozenEstimator(pretrained), max_epochs=5, lr=1e-2, **CPU)
    scores = cross_val_score(tuner, X, y, cv=3, error_score="raise")
    assert np.mean(scores) > 0.5  # five classes: chance is 0.2
    fitted_clone = clone(tuner).fit(X, y)
    assert fitted_clone.pretrained_
    w0 = params_of(pretrained.module_.features)
    assert fitted_clone.optimizer_.param_groups[0]["lr"] == pytest.approx(0.1 * 1e-2)
    assert same(params_of(pretrained.module_.features), w0)  # the pretrained model is untouched


def test_user_module_is_not_trained_in_place(digits):
    X, y = digits
    with torch.random.fork_rng():
        torch.manual_seed(0)
        user = nn.Sequential(nn.Flatten(), nn.Linear(64, 24), nn.ReLU())
    before = state_of(user)
    clf = FineTuneClassifier(backbone=user, max_epochs=2, lr=1e-2, **CPU).fit(X, y)
    assert clf.module_.features is not user
    assert clf.module_.features[1].weight is not user[1].weight
    for k, v in state_of(user).items():
        assert torch.equal(v, before[k]), k
    assert user[1].weight.requires_grad  # trainability untouched as well
    # the copy was trained
    assert not torch.equal(clf.module_.features[1].weight.detach(), before["1.weight"])
    assert clf.transform(X[:5]).shape == (5, 24)


# ------------------------------------------------------------ random state
def test_random_state_is_bit_reproducible(digits):
    X, y = digits
    kw = dict(backbone=MLPBackbone(hidden=(16,), dropout=0.2), max_epochs=2, lr=1e-2)
    a = FineTuneClassifier(**kw, **CPU).fit(X, y).predict_proba(X)
    b = FineTuneClassifier(**kw, **CPU).fit(X, y).predict_proba(X)
    c = FineTuneClassifier(**kw, device="cpu", random_state=1).fit(X, y).predict_proba(X)
    assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_fit_leaves_torch_global_rng_alone(digits):
    X, y = digits
    torch.manual_seed(123)
    expected = torch.rand(5)
    torch.manual_seed(123)
    FineTuneClassifier(backbone=MLPBackbone(hidden=(8,), dropout=0.1), max_epochs=1, **CPU).fit(
        X[:200], y[:200]
    )
    assert torch.equal(torch.rand(5), expected)
    # random_state=None draws its seed from numpy, not from torch's stream either
    torch.manual_seed(123)
    FineTuneClassifier(backbone=MLPBackbone(hidden=(8,)), max_epochs=1, device="cpu").fit(
        X[:200], y[:200]
    )
    assert torch.equal(torch.rand(5), expected)


# ------------------------------------------------------------- partial_fit
def test_partial_fit_needs_classes_first():
    X = np.random.RandomState(0).rand(20, 4)
    y = np.arange(20) % 2
    clf = FineTuneClassifier(backbone=MLPBackbone(hidden=(4,)), **CPU)
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X, y)
    assert not hasattr(clf, "module_")


def test_partial_fit_accumulates_and_improves(digits):
    X, y = digits
    train, test = slice(0, 1400), slice(1400, None)
    clf = FineTuneClassifier(backbone=MLPBackbone(hidden=(32,)), lr=3e-3, **CPU)
    for i in range(1, 9):
        clf.partial_fit(X[train], y[train], classes=np.arange(10))
        assert clf.n_iter_ == i
        assert len(clf.history_) == i
        if i == 1:
            first_score = clf.score(X[test], y[test])
    assert clf.history_[:, "epoch"] == list(range(1, 9))
    loss = np.array(clf.history_[:, "train_loss"])
    assert loss[-1] < 0.5 * loss[0]
    # the epochs accumulate into a better model on rows it never saw
    assert clf.score(X[test], y[test]) > first_score + 0.05
    # a later call with the same classes is fine; unknown labels are refused
    clf.partial_fit(X[:50], y[:50], classes=np.arange(10))
    with pytest.raises(ValueError, match="not in classes_"):
        clf.partial_fit(X[:50], np.where(y[:50] == 3, 11, y[:50]))
    with pytest.raises(ValueError, match="classes"):
        clf.partial_fit(X[:50], y[:50], classes=np.arange(5))
    assert clf.n_iter_ == 9


def test_partial_fit_classes_beyond_y(digits):
    X, y = digits
    clf = FineTuneClassifier(backbone=MLPBackbone(hidden=(8,)), **CPU)
    clf.partial_fit(X[y < 3], y[y < 3], classes=[0, 1, 2, 3])
    assert_array_equal(clf.classes_, [0, 1, 2, 3])
    assert clf.predict_proba(X[:4]).shape == (4, 4)
    clf.partial_fit(X[y == 3], y[y == 3])
    assert clf.n_iter_ == 2


@settings(max_examples=10, deadline=None)
@given(n_classes=st.integers(2, 4), seed=st.integers(0, 2**16), as_str=st.booleans())
def test_labels_only_matter_through_their_order(n_classes, seed, as_str):
    """Any labels (ints or strings) train exactly as their codes 0..n-1 do."""
    rng = np.random.RandomState(seed)
    values = np.sort(rng.choice(np.arange(-1000, 1000), n_classes, replace=False))
    labels = np.array([f"class_{v + 1000:04d}" for v in values], dtype=object) if as_str else values
    X = rng.rand(40, 5).astype(np.float32)
    codes = rng.permutation(np.arange(40) % n_classes)
    kw = dict(backbone=MLPBackbone(hidden=(4,)), max_epochs=2, batch_size=16, lr=1e-2, **CPU)
    ref = FineTuneClassifier(**kw).fit(X, codes)
    clf = FineTuneClassifier(**kw).fit(X, labels[codes])
    assert_array_equal(clf.classes_, labels)
    assert_array_equal(clf.predict_proba(X), ref.predict_proba(X))
    assert_array_equal(clf.predict(X), labels[ref.predict(X)])


def test_fit_after_partial_fit_restarts(digits):
    X, y = digits
    clf = FineTuneClassifier(backbone=MLPBackbone(hidden=(8,)), max_epochs=2, **CPU)
    clf.partial_fit(X, y, classes=np.arange(10)).partial_fit(X, y)
    clf.fit(X[y < 4], y[y < 4])
    assert clf.n_iter_ == 2
    assert_array_equal(clf.classes_, [0, 1, 2, 3])


# -------------------------------------------------------------- input forms
def test_tabular_input_forms_agree(digits):
    X, y = digits
    X, y = X[:300], y[:300]
    kw = dict(backbone=MLPBackbone(hidden=(16,)), max_epochs=2, lr=1e-2, **CPU)
    ref = FineTuneClassifier(**kw).fit(X, y).predict_proba(X)
    frame = pd.DataFrame(X, columns=[f"f{i}" for i in range(64)])
    from_df = FineTuneClassifier(**kw).fit(frame, pd.Series(y))
    assert_array_equal(from_df.feature_names_in_, frame.columns)
    assert_array_equal(from_df.predict_proba(frame), ref)
    from_lists = FineTuneClassifier(**kw).fit(X.tolist(), y.tolist())
    assert_array_equal(from_lists.predict_proba(X.tolist()), ref)


@pytest.fixture(scope="module")
def image_forms(digits):
    X, y = digits
    X, y = X[:200], y[:200]
    images = X.reshape(-1, 1, 8, 8)
    kw = dict(backbone=Conv4Backbone(channels=4, n_blocks=2), max_epochs=2, lr=1e-2, **CPU)
    ref = FineTuneClassifier(**kw).fit(images, y).predict_proba(images)
    inputs = {
        "n_h_w": (X.reshape(-1, 8, 8), {}),
        "n_c_h_w": (images, {}),
        "channels_last": (X.reshape(-1, 8, 8, 1), {}),
        "flat_with_chw": (X, {"input_shape": (1, 8, 8)}),
        "flat_with_hw": (X, {"input_shape": (8, 8)}),
    }
    return ref, inputs, kw, y



@pytest.mark.parametrize(
    "form",
    [
        "n_h_w",
        "n_c_h_w",
        "channels_last",
        "flat_with_chw",
        "flat_with_hw",
    ],
)
def test_image_input_forms_agree(image_forms, form):
    """Every form of the same images trains and predicts bit for bit the same."""
    ref, inputs, kw, y = image_forms
    X_form, extra = inputs[form]
    clf = FineTuneClassifier(**kw, **extra).fit(X_form, y)
    assert clf.input_shape_ == (1, 8, 8)
    assert_array_equal(clf.predict_proba(X_form), ref)


def test_mismatched_shapes_raise(digits):
    X, y = digits
    X, y = X[:100], y[:100]
    conv = dict(backbone=Conv4Backbone(channels=2, n_blocks=1), max_epochs=1, **CPU)
    with pytest.raises(ValueError, match="input_shape"):
        FineTuneClassifier(input_shape=(1, 7, 7), **conv).fit(X, y)
    with pytest.raises(ValueError, match="input_shape"):
        FineTuneClassifier(input_shape=(3, 8, 8), **conv).fit(X.reshape(-1, 1, 8, 8), y)
    with pytest.raises(ValueError, match="conv4 backbone needs images"):
        FineTuneClassifier(**conv).fit(X, y)
    images = FineTuneClassifier(**conv).fit(X.reshape(-1, 1, 8, 8), y)
    with pytest.raises(ValueError, match="shape"):
        images.predict(np.zeros((3, 1, 8, 9), np.float32))

    rows = FineTuneClassifier(backbone=MLPBackbone(hidden=(4,)), max_epochs=1, **CPU).fit(X, y)
    with pytest.raises(ValueError, match="features"):
        rows.predict(X[:, :60])
    # a fitted backbone only takes samples of the shape it was fitted on
    with pytest.raises(ValueError, match="was fitted on samples of shape"):
        FineTuneClassifier(backbone=rows, max_epochs=1, **CPU).fit(X.reshape(-1, 1, 8, 8), y)


# -------------------------------------------------------------- bad inputs
def _bad_data():
    rng = np.random.RandomState(0)
    X = rng.rand(30, 5)
    y = np.arange(30) % 3
    X_nan, X_inf = X.copy(), X.copy()
    X_nan[3, 1] = np.nan
    X_inf[4, 2] = np.inf
    return [
        ("nan", X_nan, y, "NaN"),
        ("inf", X_inf, y, "infinity"),
        ("one_class", X, np.zeros(30, int), "at least 2 classes"),
        ("continuous", X, rng.rand(30), "Unknown label type: continuous"),
        ("length", X, y[:-1], "inconsistent numbers of samples"),
        ("1d", X[:, 0], y, "reshape"),
    ]


@pytest.mark.parametrize("name, X, y, match", _bad_data(), ids=[d[0] for d in _bad_data()])
def test_bad_data_raises_value_error(name, X, y, match):
    clf = FineTuneClassifier(backbone=MLPBackbone(hidden=(4,)), max_epochs=1, **CPU)
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)
    assert not hasattr(clf, "module_")  # nothing half-fitted


def test_sparse_X_raises_value_error():
    X = sp.csr_matrix(np.eye(10))
    clf = FineTuneClassifier(backbone=MLPBackbone(hidden=(4,)), max_epochs=1, **CPU)
    with pytest.raises(ValueError, match="toarray"):
        clf.fit(X, np.arange(10) % 2)


@pytest.mark.parametrize(
    "params, match",
    [
        ({"freeze": "all"}, "'freeze' parameter of FineTuneClassifier"),
        ({"freeze": -1}, "'freeze' parameter"),
        ({"max_epochs": 0}, "'max_epochs' parameter of FineTuneClassifier"),
        ({"lr": -1}, "'lr' parameter of FineTuneClassifier"),
        ({"lr": 0}, "'lr' parameter"),
        ({"backbone": 42}, "'backbone' parameter of FineTuneClassifier"),
        ({"backbone_lr": -0.1}, "'backbone_lr' parameter"),
        ({"l2sp": -1.0}, "'l2sp' parameter"),
        ({"optimizer": "lbfgs"}, "'optimizer' parameter"),
        ({"batch_size": 0}, "'batch_size' parameter"),
        ({"device": 0}, "'device' parameter of FineTuneClassifier"),
        ({"backbone": MLPBackbone(hidden=())}, "hidden must hold positive"),
        ({"backbone": MLPBackbone(activation="swish")}, "'activation' parameter of MLPBackbone"),
        ({"weights": "DEFAULT"}, "only torchvision models take weights names"),
    ],
    ids=lambda v: repr(v)[:40] if isinstance(v, dict) else None,
)
def test_bad_params_raise_value_error(params, match):
    X = np.random.RandomState(0).rand(20, 4)
    y = np.arange(20) % 2
    clf = FineTuneClassifier(**{"backbone": MLPBackbone(hidden=(4,)), **CPU, **params})
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)
    assert not hasattr(clf, "module_")


def test_unknown_backbone_name_on_images():
    X = np.random.RandomState(0).rand(20, 1, 8, 8)
    clf = FineTuneClassifier(backbone="not_a_model", **CPU)
    with pytest.raises(ValueError, match="neither 'mlp', 'conv4', 'identity' nor a torchvision"):
        clf.fit(X, np.arange(20) % 2)


def test_unknown_backbone_name_on_rows():
    X = np.random.RandomState(0).rand(20, 4)
    clf = FineTuneClassifier(backbone="mpl", **CPU)
    with pytest.raises(ValueError, match="neither 'mlp', 'conv4', 'identity' nor a torchvision"):
        clf.fit(X, np.arange(20) % 2)


def test_unknown_device_string_raises_value_error():
    X = np.random.RandomState(0).rand(20, 4)
    clf = FineTuneClassifier(backbone=MLPBackbone(hidden=(4,)), device="tpu", random_state=0)
    with pytest.raises(ValueError, match="device"):
        clf.fit(X, np.arange(20) % 2)


def test_diverging_training_raises(digits):
    X, y = digits
    clf = FineTuneClassifier(backbone=MLPBackbone(hidden=(8,)), lr=1e30, max_epochs=3, **CPU)
    with pytest.raises(ValueError, match="lower lr"):
        clf.fit(X[:200] * 1e30, y[:200])


# ----------------------------------------------------------------- transform
def test_transform_shape_and_names(fitted, digits_split):
    _, X_test, _, _ = digits_split
    Z = fitted.transform(X_test)
    assert Z.shape == (len(X_test), 32)
    assert np.all(Z >= 0)  # ReLU embedding
    names = fitted.get_feature_names_out()
    assert len(names) == 32 and names[0] == "finetuneclassifier0"
    # the embedding feeds the head: logits are an affine function of it
    head = fitted.module_.head
    logits = Z @ head.weight.detach().numpy().T + head.bias.detach().numpy()
    assert_allclose(logits, fitted.decision_function(X_test), rtol=1e-4, atol=1e-4)


def test_transform_inside_pipeline(digits_split):
    X_train, X_test, y_train, y_test = digits_split
    pipe = Pipeline(
        [
            ("embed", FineTuneClassifier(backbone=MLPBackbone(hidden=(32,)), max_epochs=5,
                                         lr=1e-2, **CPU)),
            ("logreg", LogisticRegression(max_iter=500)),
        ]
    ).fit(X_train, y_train)
    assert pipe.named_steps["embed"].n_iter_ == 5
    assert pipe.named_steps["logreg"].n_features_in_ == 32
    assert pipe.score(X_test, y_test) > 0.85


# ------------------------------------------------------------- torchvision
@pytest.fixture(scope="module")
def tiny_rgb():
    rng = np.random.RandomState(0)
    X = rng.rand(12, 3, 16, 16).astype(np.float32)
    y = np.arange(12) % 2
    X[y == 1, 0] += 0.5  # a red tint marks class 1
    return X, y


def _saved_resnet18(path):
    import torchvision

    with torch.random.fork_rng():
        torch.manual_seed(42)
        model = torchvision.models.resnet18(weights=None)
    torch.save(model.state_dict(), path)
    return model.state_dict()


def test_torchvision_backbone_from_scratch(tiny_rgb):
    X, y = tiny_rgb
    clf = FineTuneClassifier(backbone="resnet18", weights=None, max_epochs=1, batch_size=6, **CPU)
    clf.fit(X, y)
    assert not clf.pretrained_
    assert clf.transform(X[:3]).shape == (3, 512)
    assert set(clf.predict(X)) <= {0, 1}
    assert clf.predict_proba(X).shape == (12, 2)


def test_torchvision_backbone_local_weights(tiny_rgb, tmp_path):
    X, y = tiny_rgb
    saved = _saved_resnet18(tmp_path / "resnet18.pt")
    clf = FineTuneClassifier(
        backbone="resnet18",
        weights=str(tmp_path / "resnet18.pt"),
        freeze="backbone",  # the loaded weights stay as they were loaded
        max_epochs=1,
        batch_size=6,
        **CPU,
    ).fit(X, y)
    assert clf.pretrained_
    # the weights' normalisation comes first (preprocess="auto"), then the loaded network
    body = clf.module_.features.body
    assert torch.equal(body.model.conv1.weight.detach(), saved["conv1.weight"])
    assert torch.equal(body.model.bn1.running_mean, saved["bn1.running_mean"])
    assert clf.optimizer_.param_groups[0]["lr"] == pytest.approx(0.1 * clf.lr)
    assert clf.predict(X).shape == (12,)


def test_torchvision_weights_name_offline_is_clear(tiny_rgb, tmp_path, monkeypatch):
    """No network: weights='DEFAULT' raises a ValueError naming the local-file fix."""
    X, y = tiny_rgb

    def offline(*args, **kwargs):
        raise URLError("no network in this test")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))  # an empty download cache
    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    clf = FineTuneClassifier(backbone="resnet18", weights="DEFAULT", max_epochs=1, **CPU)
    with pytest.raises(ValueError, match="pass weights= the path of a local state-dict file"):
        clf.fit(X, y)
    assert not hasattr(clf, "module_")


def test_torchvision_weights_name_downloads(tiny_rgb, tmp_path, monkeypatch):
    """weights='DEFAULT' loads what torchvision fetches (download simulated)."""
    X, y = tiny_rgb
    saved = _saved_resnet18(tmp_path / "source.pt")
    urls = []

    def fake_download(url, dst, *args, **kwargs):
        urls.append(url)
        torch.save(saved, dst)

    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    clf = FineTuneClassifier(
        backbone="resnet18", weights="DEFAULT", freeze="backbone", max_epochs=1, **CPU
    ).fit(X, y)
    assert len(urls) == 1 and "resnet18" in urls[0]
    assert clf.pretrained_
    assert torch.equal(clf.module_.features.body.model.conv1.weight.detach(), saved["conv1.weight"])


def test_torchvision_bad_weights_name(tiny_rgb):
    X, y = tiny_rgb
    clf = FineTuneClassifier(backbone="resnet18", weights="NO_SUCH_WEIGHTS", max_epochs=1, **CPU)
    with pytest.raises(ValueError, match="not a weights name"):
        clf.fit(X, y)


def test_one_channel_images_on_torchvision(digits):
    X, y = digits
    clf = FineTuneClassifier(backbone="resnet18", max_epochs=1, input_shape=(1, 8, 8), **CPU)
    clf.fit(X[:40], y[:40])
    assert clf.predict(X[:5]).shape == (5,)


# ---------------------------------------------------------------- devices
def test_model_fitted_on_cuda_loads_on_cpu_simulated(fitted, digits_split, monkeypatch):
    """A pickle whose device_ is CUDA loads on a CPU-only machine with a DeviceWarning."""
    _, X_test, _, _ = digits_split
    fake = pickle.loads(pickle.dumps(fitted))
    fake.device_ = torch.device("cuda")  # what a CUDA fit leaves behind
    blob = pickle.dumps(fake)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(DeviceWarning, match="loaded on the CPU"):
        loaded = pickle.loads(blob)
    assert loaded.device_ == torch.device("cpu")
    assert loaded.device == "cpu"  # the parameter is never rewritten
    assert_array_equal(loaded.predict_proba(X_test), fitted.predict_proba(X_test))


def test_model_fitted_on_a_missing_gpu_index_loads_on_the_current_gpu(fitted, monkeypatch):
    """A pickle from a worker's cuda:3 loads on the current GPU where there are fewer."""
    import sklearn_meta._persistence as persistence

    fake = pickle.loads(pickle.dumps(fitted))
    fake.device_ = torch.device("cuda", 3)  # fitted on a worker pinned to its 4th GPU
    blob = pickle.dumps(fake)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    seen = []

    class Seen(Exception):
        pass

    def where(blob, map_location):  # no GPU here to load onto: record where, stop
        seen.append(map_location)
        raise Seen

    monkeypatch.setattr(persistence, "from_torch_bytes", where)
    with (
        pytest.warns(DeviceWarning, match=r"fitted on cuda:3.*loaded on cuda:0"),
        pytest.raises(Seen),
    ):
        pickle.loads(blob)
    assert seen == [torch.device("cuda", 0)]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fit_predict_and_load_on_cpu(digits_split, monkeypatch):
    X_train, X_test, y_train, y_test = digits_split
    clf = FineTuneClassifier(
        backbone=MLPBackbone(hidden=(32,)), max_epochs=5, lr=1e-2, device="cuda", random_state=0
    ).fit(X_train, y_train)
    assert clf.device_.type == "cuda"
    assert all(p.is_cuda for p in clf.module_.parameters())
    assert clf.__sklearn_tags__().non_deterministic
    proba = clf.predict_proba(X_test)
    assert clf.score(X_test, y_test) > 0.85
    blob = pickle.dumps(clf)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeviceWarning)
        same_device = pickle.loads(blob)  # CUDA still there: no warning
    assert same_device.device_.type == "cuda"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.warns(DeviceWarning, match="loaded on the CPU"):
        loaded = pickle.loads(blob)
    assert loaded.device_ == torch.device("cpu")
    assert all(p.device.type == "cpu" for p in loaded.module_.parameters())
    assert_allclose(loaded.predict_proba(X_test), proba, atol=1e-5)
    assert_array_equal(loaded.predict(X_test), clf.predict(X_test))


def test_device_cuda_without_cuda_is_clear(digits, monkeypatch):
    X, y = digits
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    clf = FineTuneClassifier(backbone=MLPBackbone(hidden=(4,)), max_epochs=1, device="cuda")
    with pytest.raises(ValueError, match="device='cpu'"):
        clf.fit(X[:50], y[:50])
    auto = FineTuneClassifier(backbone=MLPBackbone(hidden=(4,)), max_epochs=1, device="auto")
    assert auto.fit(X[:50], y[:50]).device_ == torch.device("cpu")
    assert auto.device == "auto"


# ---------------------------------------------------------------- verbose
def test_verbose_progress_and_history(digits, capsys):
    X, y = digits
    clf = FineTuneClassifier(backbone=MLPBackbone(hidden=(8,)), max_epochs=3, verbose=1, **CPU)
    clf.fit(X[:200], y[:200])
    err = capsys.readouterr().err
    assert "FineTuneClassifier" in err
    assert "12/12" in err  # 3 epochs of 4 minibatches
    assert "loss=" in err and "acc=" in err
    assert len(clf.history_[:, "train_loss"]) == 3
    assert all(0 <= a <= 1 for a in clf.history_[:, "train_acc"])
    assert all(d > 0 for d in clf.history_[:, "dur"])

    quiet = FineTuneClassifier(backbone=MLPBackbone(hidden=(8,)), max_epochs=2, **CPU)
    quiet.fit(X[:200], y[:200])
    captured = capsys.readouterr()
    assert captured.err == "" and captured.out == ""
    assert len(quiet.history_[:, "train_loss"]) == 2


def test_max_epochs_auto_gives_small_sets_enough_updates():
    X, y = load_digits(return_X_y=True)
    clf = FineTuneClassifier(backbone=MLPBackbone(hidden=(8,)), batch_size=50, **CPU)
    clf.partial_fit(X[:100], y[:100], classes=np.arange(10))
    assert clf.max_epochs_ == 200  # 2 minibatches an epoch: 400 updates
    big = FineTuneClassifier(batch_size=1)
    big._resolve_max_epochs(10_000)
    assert big.max_epochs_ == 10  # large sets keep their 10 epochs
    fixed = FineTuneClassifier(max_epochs=3, backbone=MLPBackbone(hidden=(8,)), **CPU)
    fixed.fit(X[:100], y[:100])
    assert fixed.max_epochs_ == fixed.n_iter_ == 3
    auto = FineTuneClassifier(backbone=MLPBackbone(hidden=(8,)), batch_size=50, **CPU)
    auto.fit(X[:100], y[:100])
    assert auto.max_epochs_ == auto.n_iter_ == 200
    again = pickle.loads(pickle.dumps(auto))
    assert again.max_epochs_ == 200 and again.max_epochs == "auto"
