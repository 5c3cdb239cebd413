"""Training control: early stopping, skorch callbacks, checkpoints, safe loading."""

import copy
import pickle

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from skorch.callbacks import Callback, Checkpoint, EarlyStopping, LoadInitState, LRScheduler

from sklearn_meta import FineTuneClassifier, MAMLClassifier, ProtoNetClassifier
from sklearn_meta.backbones import MLPBackbone

CPU = dict(device="cpu", random_state=0)


def _proto(**kw):
    """A small ProtoNet; ``max_epochs`` (FineTune's name) is ignored."""
    kw.pop("max_epochs", None)
    params = dict(backbone=MLPBackbone(hidden=(32,)), n_way=5, n_shot=2, n_query=2, max_iter=200)
    params.update(kw)
    return ProtoNetClassifier(**{**CPU, **params})


def _finetune(**kw):
    """A small FineTune; ``max_iter`` (ProtoNet's name) is ignored."""
    kw.pop("max_iter", None)
    params = dict(backbone=MLPBackbone(hidden=(32,)), max_epochs=6)
    params.update(kw)
    return FineTuneClassifier(**{**CPU, **params})


def _maml(**kw):
    """A small MAML; FineTune's names are ignored."""
    for other in ("max_epochs", "batch_size"):
        kw.pop(other, None)
    params = dict(backbone=MLPBackbone(hidden=(32,)), n_way=5, n_shot=2, n_query=2,
                  meta_batch_size=2, max_iter=200)
    params.update(kw)
    return MAMLClassifier(**{**CPU, **params})


ESTIMATORS = [_proto, _finetune, _maml]
EPISODIC = (_proto, _maml)


class _KeepStates(Callback):
    """Records a copy of the weights at the end of every epoch."""

    def initialize(self):
        self.states_ = []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.states_.append(copy.deepcopy(net.module_.state_dict()))


# ------------------------------------------------------------ early stopping
@pytest.mark.parametrize("make", ESTIMATORS)
def test_early_stopping_restores_best_weights(make, digits):
    X, y = digits
    keep = _KeepStates()
    # tol=1 never counts as an improvement: as in MLPClassifier, training
    # stops once n_iter_no_change + 1 epochs after the first did not improve
    clf = make(
        early_stopping=True,
        n_iter_no_change=3,
        tol=1.0,
        max_iter=10_000,
        max_epochs=10_000,
        callbacks=[keep],
    )
    clf.fit(X, y)
    scores = clf.validation_scores_
    assert len(scores) == 5 == len(clf.history_)
    assert clf.best_validation_score_ == max(scores)
    assert_allclose(clf.history_[:, "valid_acc"], scores)
    best = int(np.argmax(scores))
    for name, value in clf.module_.state_dict().items():
        assert torch.equal(value, keep.states_[best][name]), name


@pytest.mark.parametrize("make", ESTIMATORS)
def test_early_stopping_stops_when_validation_stalls(make, digits):
    X, y = digits
    clf = make(early_stopping=True, n_iter_no_change=2, tol=0.5, max_iter=20_000, max_epochs=500)
    clf.fit(X, y)
    assert clf.n_iter_ < (20_000 if make in EPISODIC else 500)
    assert len(clf.validation_scores_) >= 2


def test_early_stopping_off_sets_none(digits):
    X, y = digits
    for clf in (_proto(max_iter=5), _finetune(max_epochs=1)):
        clf.fit(X, y)
        assert clf.validation_scores_ is None and clf.best_validation_score_ is None


def test_early_stopping_auto_turns_on_for_large_data():
    rng = np.random.RandomState(0)
    X = rng.rand(10_001, 4).astype(np.float32)
    y = (X[:, 0] > 0.5).astype(int)
    clf = _finetune(max_epochs=1, batch_size=1024).fit(X, y)
    assert len(clf.validation_scores_) == 1
    small = _finetune(max_epochs=1).fit(X[:500], y[:500])
    assert small.validation_scores_ is None


def test_protonet_early_stopping_holds_out_whole_classes(digits):
    X, y = digits
    clf = _proto(early_stopping=True, validation_fraction=0.2, max_iter=300).fit(X, y)
    assert len(clf.validation_classes_) == 2
    # held-out classes still have prototypes and are predicted
    assert np.isfinite(clf.prototypes_).all()
    held = np.isin(y, clf.validation_classes_)
    assert set(np.unique(clf.predict(X[held]))) & set(clf.validation_classes_)


def test_protonet_early_stopping_needs_four_classes(digits):
    X, y = digits
    mask = y < 3
    with pytest.raises(ValueError, match="at least 4 classes"):
        _proto(early_stopping=True).fit(X[mask], y[mask])


def test_validation_cost_is_a_small_share(digits):
    """Validation embeds the held-out classes once per 100 meta-updates."""
    X, y = digits
    clf = _proto(early_stopping=True, max_iter=300, n_iter_no_change=100).fit(X, y)
    assert len(clf.validation_scores_) == 3


# -------------------------------------------------------------- callbacks
@pytest.mark.parametrize("make", ESTIMATORS)
def test_lr_scheduler_callback(make, digits):
    X, y = digits
    sched = LRScheduler(policy="StepLR", step_size=1, gamma=0.5)
    clf = make(callbacks=[sched], lr=1e-2).fit(X, y)
    n_epochs = len(clf.history_)
    lrs = [g["lr"] for g in clf.optimizer_.param_groups]
    assert lrs[-1] == pytest.approx(1e-2 * 0.5**n_epochs)
    assert clf.history_[:, "event_lr"][0] == pytest.approx(1e-2)


@pytest.mark.parametrize("make", ESTIMATORS)
def test_lr_scheduler_per_batch_and_on_plateau(make, digits):
    X, y = digits
    per_batch = LRScheduler(policy="StepLR", step_size=1, gamma=0.99, step_every="batch")
    clf = make(callbacks=[per_batch], lr=1e-2, max_iter=150, max_epochs=2).fit(X, y)
    steps = clf.n_iter_ if make in EPISODIC else sum(clf.history_[:, "train_batch_count"])
    assert clf.optimizer_.param_groups[-1]["lr"] == pytest.approx(1e-2 * 0.99**steps)
    plateau = LRScheduler(policy="ReduceLROnPlateau", monitor="train_loss", patience=0,
                          threshold=10.0, factor=0.5)
    clf = make(callbacks=[plateau], lr=1e-2, max_iter=300, max_epochs=3).fit(X, y)
    assert clf.optimizer_.param_groups[-1]["lr"] < 1e-2


@pytest.mark.parametrize("make", ESTIMATORS)
def test_skorch_early_stopping_callback_stops_quietly(make, digits):
    X, y = digits
    stop = EarlyStopping(monitor="train_loss", patience=1, threshold=10.0)
    clf = make(callbacks=[stop], max_iter=5000, max_epochs=500).fit(X, y)
    assert len(clf.history_) == 2
    assert clf.predict(X[:3]).shape == (3,)


@pytest.mark.parametrize("make", ESTIMATORS)
@pytest.mark.parametrize(
    "callback",
    [EarlyStopping, Checkpoint, lambda: LRScheduler("ReduceLROnPlateau", monitor="valid_acc")],
    ids=["EarlyStopping", "Checkpoint", "LRScheduler"],
)
def test_a_validation_monitor_without_early_stopping_names_the_fix(make, callback, digits,
                                                                   tmp_path, monkeypatch):
    # skorch's defaults monitor valid_loss (EarlyStopping) and valid_loss_best
    # (Checkpoint): without held-out data the fit refuses them before training
    monkeypatch.chdir(tmp_path)
    X, y = digits
    seen = []

    class Spy(Callback):
        def on_train_begin(self, net, **kwargs):
            seen.append("on_train_begin")

    clf = make(callbacks=[Spy(), callback()], early_stopping=False)
    with pytest.raises(ValueError, match="monitors 'valid_.*early_stopping=True"):
        clf.fit(X, y)
    assert seen == [] and not hasattr(clf, "module_")  # nothing trained, nothing fitted
    with pytest.raises(ValueError, match="early_stopping=True"):
        make(callbacks=[callback()], early_stopping=False).partial_fit(X, y, classes=np.unique(y))
    # with early stopping the same callback works as in skorch
    fitted = make(callbacks=[callback()], early_stopping=True, max_iter=300, max_epochs=3)
    assert "valid_loss" in fitted.fit(X, y).history_[-1]


@pytest.mark.parametrize("make", ESTIMATORS)
def test_checkpoint_callback_and_load_params(make, digits, tmp_path):
    X, y = digits
    cp = Checkpoint(monitor="train_loss_best", dirname=str(tmp_path))
    clf = make(callbacks=[cp]).fit(X, y)
    assert (tmp_path / "params.pt").exists() and (tmp_path / "history.json").exists()
    best = int(np.argmin(clf.history_[:, "train_loss"]))
    assert clf.history_[:, "event_cp"][best] is True
    expected = clf.history_[best, "iter" if make in EPISODIC else "epoch"]
    clf.load_params(checkpoint=cp)
    assert clf.n_iter_ == expected == len(clf.history_) * (100 if make in EPISODIC else 1)


@pytest.mark.parametrize("make", ESTIMATORS)
def test_tensorboard_callback(make, digits, tmp_path):
    pytest.importorskip("tensorboard")
    from skorch.callbacks import TensorBoard
    from torch.utils.tensorboard import SummaryWriter

    X, y = digits
    writer = SummaryWriter(log_dir=str(tmp_path))
    make(callbacks=[TensorBoard(writer)]).fit(X, y)
    writer.flush()
    assert any(p.name.startswith("events.out.tfevents") for p in tmp_path.iterdir())


def test_callbacks_must_be_skorch_callbacks(digits):
    X, y = digits
    with pytest.raises(ValueError, match="skorch callback"):
        _finetune(callbacks=[print]).fit(X, y)


# ------------------------------------------------------------ checkpoints
@pytest.mark.parametrize("make", ESTIMATORS)
def test_resumed_fit_equals_uninterrupted_fit(make, digits, tmp_path):
    X, y = digits
    long = dict(max_iter=400, max_epochs=6)
    short = dict(max_iter=200, max_epochs=3)
    reference = make(**long).fit(X, y)

    cp = Checkpoint(monitor=None, dirname=str(tmp_path))
    make(callbacks=[cp], **short).fit(X, y)  # "interrupted" half-way
    resumed = make(callbacks=[LoadInitState(cp)], **long).fit(X, y)

    assert resumed.n_iter_ == reference.n_iter_
    assert len(resumed.history_) == len(reference.history_)
    for name, value in reference.module_.state_dict().items():
        assert torch.equal(resumed.module_.state_dict()[name], value), name
    assert_array_equal(resumed.predict_proba(X), reference.predict_proba(X))


def test_save_and_load_params_round_trip(digits, tmp_path):
    X, y = digits
    a = _finetune().fit(X, y)
    a.save_params(
        f_params=tmp_path / "w.pt", f_optimizer=tmp_path / "o.pt", f_history=tmp_path / "h.json"
    )
    b = _finetune(random_state=1, max_epochs=1).fit(X, y)
    b.load_params(
        f_params=tmp_path / "w.pt", f_optimizer=tmp_path / "o.pt", f_history=tmp_path / "h.json"
    )
    assert_array_equal(a.predict_proba(X), b.predict_proba(X))
    assert b.n_iter_ == a.n_iter_


def test_load_params_needs_a_built_network(tmp_path):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError, match="LoadInitState"):
        _finetune().load_params(f_params=tmp_path / "w.pt")


def test_load_params_never_unpickles_code(digits, tmp_path):
    X, y = digits
    clf = _finetune(max_epochs=1).fit(X, y)
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(pickle.UnpicklingError):
        clf.load_params(f_params=tmp_path / "evil.pt")
    assert not marker.exists()


# --------------------------------------------------------------- pickling
@pytest.mark.parametrize("make", ESTIMATORS)
def test_pickled_torch_state_is_read_with_weights_only(make, digits, monkeypatch):
    X, y = digits
    clf = make(max_iter=20, max_epochs=1).fit(X, y)
    blob = pickle.dumps(clf)
    seen = []
    real = torch.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get("weights_only"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    back = pickle.loads(blob)
    assert seen and all(w is True for w in seen)
    assert_array_equal(back.predict_proba(X), clf.predict_proba(X))


@pytest.mark.parametrize("make", ESTIMATORS)
def test_skops_round_trip(make, digits, tmp_path):
    sio = pytest.importorskip("skops.io")
    X, y = digits
    clf = make(max_iter=20, max_epochs=1).fit(X, y)
    path = tmp_path / "model.skops"
    sio.dump(clf, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert all(t.startswith(("sklearn_meta.", "skorch.")) for t in untrusted), untrusted
    back = sio.load(path, trusted=untrusted)
    assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    back.partial_fit(X, y)  # and it trains on


def test_failed_partial_fit_with_a_logger_callback_rolls_back(digits, tmp_path):
    """The rollback copy must not try to copy a TensorBoard writer."""
    pytest.importorskip("tensorboard")
    from skorch.callbacks import TensorBoard
    from torch.utils.tensorboard import SummaryWriter

    X, y = digits
    clf = _finetune(max_epochs=1, callbacks=[TensorBoard(SummaryWriter(str(tmp_path)))])
    clf.partial_fit(X, y, classes=np.unique(y))
    before = clf.predict_proba(X)
    clf.set_params(lr=1e3)
    with pytest.raises(ValueError, match="loss became"):
        clf.partial_fit(X * 3e38, y)
    assert_array_equal(clf.predict_proba(X), before)


def test_failed_partial_fit_of_identity_protonet_keeps_it_usable(digits):
    X, y = digits
    clf = ProtoNetClassifier(backbone="identity", **CPU).partial_fit(X, y, classes=np.unique(y))
    with pytest.raises(ValueError):
        clf.partial_fit(X[:, :3], y)
    assert clf.optimizer_ is None
    clf.partial_fit(X, y)
    assert clf.predict(X[:3]).shape == (3,)
