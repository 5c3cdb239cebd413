"""Training control of every estimator: early stopping, skorch callbacks, checkpoints.

Early stopping is scikit-learn's rule (``early_stopping``, ``validation_fraction``,
``n_iter_no_change``, ``tol``; fitted ``validation_scores_``,
``best_validation_score_``) in the five estimators that have it; MAMLRegressor's
cases are strict xfails until it has it too. Callbacks are skorch's, called
with the hooks the README and the user guide name, and checkpoints are state
dicts read back safely.
"""

import copy
import pickle
import warnings

import numpy as np
import pytest
import torch
from contract_cases import BLOCK, BY_NAME, early_stopping_cases
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import NotFittedError
from skorch.callbacks import (
    Callback,
    Checkpoint,
    EarlyStopping,
    LoadInitState,
    LRScheduler,
)

from sklearn_meta.backbones import MLPBackbone

_EPISODIC_CLASSIFIERS = ("protonet", "maml", "reptile")


class _KeepStates(Callback):
    """Records a copy of the weights at the end of every epoch."""

    def initialize(self):
        self.states_ = []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.states_.append(copy.deepcopy(net.module_.state_dict()))


# ------------------------------------------------------------ early stopping
@pytest.mark.parametrize("case", early_stopping_cases())
def test_early_stopping_restores_best_weights(case):
    keep = _KeepStates()
    # tol=1 never counts as an improvement: as in MLPClassifier, training
    # stops once n_iter_no_change + 1 epochs after the first did not improve
    est = case.make(early_stopping=True, n_iter_no_change=1, tol=1.0, max_iter=10_000,
                    max_epochs=10_000, callbacks=[keep])
    case.fit(est)
    scores = est.validation_scores_
    assert len(scores) == 3 == len(est.history_)
    assert est.best_validation_score_ == max(scores)
    assert_allclose(est.history_[:, "valid_acc"], scores)
    assert est.n_iter_ == 3 * (BLOCK if case.episodic else 1)
    best = int(np.argmax(scores))
    for name, value in est.module_.state_dict().items():
        assert torch.equal(value, keep.states_[best][name]), name


def _sklearn_stop(scores, *, n_iter_no_change, tol):
    """How many checks MLPClassifier's rule runs on these scores before it stops."""
    best, count = -np.inf, 0
    for i, score in enumerate(scores):
        count = count + 1 if score < best + tol else 0
        best = max(best, score)
        if count > n_iter_no_change:
            return i + 1
    return None


@pytest.mark.parametrize("case", early_stopping_cases())
def test_early_stopping_stops_when_validation_stalls(case):
    est = case.make(early_stopping=True, n_iter_no_change=1, tol=0.5, max_iter=20_000,
                    max_epochs=500)
    case.fit(est)
    scores = est.validation_scores_
    # it stopped at the first check where scikit-learn's rule says stop
    assert _sklearn_stop(scores, n_iter_no_change=1, tol=0.5) == len(scores) == len(est.history_)
    assert est.n_iter_ == len(scores) * (BLOCK if case.episodic else 1)


class _TightenStopping(Callback):
    """Sets n_iter_no_change=1, tol=0.5 after the first epoch, as skorch's ParamMapper may."""

    def on_epoch_end(self, net, **kwargs):
        if len(net.history) == 1:
            net.set_params(n_iter_no_change=1, tol=0.5)


@pytest.mark.parametrize("case", early_stopping_cases())
def test_early_stopping_reads_tol_and_patience_at_every_check(case):
    est = case.make(early_stopping=True, n_iter_no_change=50, tol=0.0, max_iter=2_000,
                    max_epochs=40, callbacks=[_TightenStopping()])
    case.fit(est)
    scores = est.validation_scores_
    # from the second check on, the rule with the new values applies
    assert _sklearn_stop(scores, n_iter_no_change=1, tol=0.5) == len(scores) <= 3


@pytest.mark.parametrize("case", early_stopping_cases())
def test_early_stopping_off_sets_none(case):
    est = case.fit(case.make(early_stopping=False, max_iter=5, max_epochs=1))
    assert est.validation_scores_ is None and est.best_validation_score_ is None
    assert "valid_acc" not in est.history_[-1]


def test_early_stopping_auto_turns_on_for_large_data():
    case = BY_NAME["finetune"]
    rng = np.random.RandomState(0)
    X = rng.rand(10_001, 4).astype(np.float32)
    y = (X[:, 0] > 0.5).astype(int)
    est = case.make(max_epochs=1, batch_size=1024).fit(X, y)
    assert len(est.validation_scores_) == 1
    small = case.make(max_epochs=1).fit(X[:500], y[:500])
    assert small.validation_scores_ is None


@pytest.mark.parametrize("name", _EPISODIC_CLASSIFIERS)
def test_episodic_early_stopping_holds_out_whole_classes(name):
    case = BY_NAME[name]
    est = case.fit(case.make(early_stopping=True, validation_fraction=0.2, max_iter=BLOCK))
    assert len(est.validation_classes_) == 2
    # held-out classes are still predicted
    held = np.isin(case.y, est.validation_classes_)
    assert set(np.unique(est.predict(case.X[held]))) & set(est.validation_classes_)
    if name == "protonet":
        assert np.isfinite(est.prototypes_).all()


@pytest.mark.parametrize("name", _EPISODIC_CLASSIFIERS)
def test_episodic_early_stopping_needs_four_classes(name):
    case = BY_NAME[name]
    mask = case.y < 3
    with pytest.raises(ValueError, match="at least 4 classes"):
        case.make(early_stopping=True).fit(case.X[mask], case.y[mask])


class _CountRows(Callback):
    """Counts the rows the network embeds in training and in evaluation mode.

    It hooks the fitted ``module_`` while training runs (``on_train_begin`` to
    ``on_train_end``), so the prototypes computed after training do not count.
    """

    def initialize(self):
        self.rows_ = {True: 0, False: 0}
        self._handle = None
        return self

    def on_train_begin(self, net, **kwargs):
        def count(module, inputs, output):
            self.rows_[module.training] += inputs[0].shape[0]

        self._handle = net.module_.register_forward_hook(count)

    def on_train_end(self, net, **kwargs):
        self._handle.remove()


def test_protonet_validation_embeds_the_held_out_rows_once_per_check():
    """Validation embeds each held-out row once per 100 meta-updates: a small share."""
    case = BY_NAME["protonet"]
    counter = _CountRows()
    est = case.fit(case.make(early_stopping=True, max_iter=300, n_iter_no_change=100,
                             callbacks=[counter]))
    checks = len(est.validation_scores_)
    assert checks == 3
    n_held_out = int(np.isin(case.y, est.validation_classes_).sum())
    assert counter.rows_[False] == checks * n_held_out
    # each meta-update embeds one 5-way episode of 2 + 2 samples per class
    assert counter.rows_[True] == 300 * 5 * (2 + 2)
    assert counter.rows_[False] < 0.2 * counter.rows_[True]


def test_rerunning_a_finished_early_stopped_fit_changes_nothing(tmp_path):
    case = BY_NAME["finetune"]
    cp = Checkpoint(monitor="valid_acc_best", dirname=str(tmp_path))

    def run():
        return case.fit(case.make(max_epochs=200, early_stopping=True, n_iter_no_change=2,
                                  tol=0.5, callbacks=[cp, LoadInitState(cp)]))

    first = run()
    again = run()
    assert again.n_iter_ == first.n_iter_
    assert_array_equal(again.predict_proba(case.X), first.predict_proba(case.X))


# -------------------------------------------------------------- callbacks
class _Hooks(Callback):
    """Records every hook call, in order, with the keyword arguments it got."""

    HOOKS = ("on_train_begin", "on_epoch_begin", "on_batch_end", "on_epoch_end", "on_train_end")

    def initialize(self):
        self.calls_ = []
        return self

    def _record(self, name, net, kwargs):
        self.calls_.append((name, sorted(kwargs), len(net.history), net.n_iter_))

    def on_train_begin(self, net, **kwargs):
        self._record("on_train_begin", net, kwargs)

    def on_epoch_begin(self, net, **kwargs):
        self._record("on_epoch_begin", net, kwargs)

    def on_batch_end(self, net, **kwargs):
        self._record("on_batch_end", net, kwargs)

    def on_epoch_end(self, net, **kwargs):
        self._record("on_epoch_end", net, kwargs)

    def on_train_end(self, net, **kwargs):
        self._record("on_train_end", net, kwargs)


def _expected_hooks(epoch_sizes):
    names = ["on_train_begin"]
    for n in epoch_sizes:
        names += ["on_epoch_begin"] + ["on_batch_end"] * n + ["on_epoch_end"]
    return names + ["on_train_end"]


def _blocks(start, stop):
    """Sizes of the 100-update blocks between two ``n_iter_`` (blocks end on multiples)."""
    sizes = []
    while start < stop:
        end = min(stop, (start // BLOCK + 1) * BLOCK)
        sizes.append(end - start)
        start = end
    return sizes


def test_callbacks_see_every_hook_in_order(case):
    hooks = _Hooks()
    est = case.make(max_iter=150, max_epochs=2, callbacks=[hooks])
    case.fit(est)
    sizes = _blocks(0, 150) if case.episodic else [case.per_epoch] * 2
    assert [c[0] for c in hooks.calls_] == _expected_hooks(sizes)
    counts = {h: sum(c[0] == h for c in hooks.calls_) for h in _Hooks.HOOKS}
    n_epochs = len(sizes)
    assert counts == {"on_train_begin": 1, "on_epoch_begin": n_epochs,
                      "on_batch_end": sum(sizes), "on_epoch_end": n_epochs,
                      "on_train_end": 1}
    # what each hook gets: skorch's arguments, and the history as it stands
    kwargs = {c[0]: c[1] for c in hooks.calls_}
    assert kwargs["on_train_begin"] == kwargs["on_train_end"] == ["X", "y"]
    assert kwargs["on_batch_end"] == ["training"]
    ends = [c for c in hooks.calls_ if c[0] == "on_epoch_end"]
    assert [c[2] for c in ends] == list(range(1, n_epochs + 1))  # the epoch's row is in
    batches = [c for c in hooks.calls_ if c[0] == "on_batch_end"]
    if case.episodic:
        assert [c[3] for c in batches] == list(range(1, 151))  # n_iter_ counts each update
    # a partial_fit goes on with the same callbacks: not initialised again
    before, n_iter = len(hooks.calls_), est.n_iter_
    case.partial_fit(est)
    more = hooks.calls_[before:]
    sizes = _blocks(n_iter, est.n_iter_) if case.episodic else [case.per_epoch]
    assert [c[0] for c in more] == _expected_hooks(sizes)
    # a new fit initialises them again
    case.fit(est)
    assert len(hooks.calls_) == len(_expected_hooks(_blocks(0, 150) if case.episodic
                                                     else [case.per_epoch] * 2))


def test_callbacks_appended_in_place_are_initialised_and_called(case):
    class Count(Callback):
        def initialize(self):
            self.n_ = 0
            return self

        def on_epoch_end(self, net, **kwargs):
            self.n_ += 1

    first, second = Count(), Count()
    est = case.fit(case.make(max_iter=BLOCK, max_epochs=1, callbacks=[first]))
    est.callbacks.append(second)
    case.partial_fit(est)
    assert second.n_ >= 1


def _own_schedule_off(case):
    """Domain adaptation's default lr_schedule ("ganin") sets the rate at every step."""
    return {"lr_schedule": "constant"} if case.name == "domain_adapted" else {}


def test_lr_scheduler_callback(case):
    sched = LRScheduler(policy="StepLR", step_size=1, gamma=0.5)
    est = case.fit(case.make(callbacks=[sched], lr=1e-2, max_iter=200, max_epochs=2,
                             **_own_schedule_off(case)))
    n_epochs = len(est.history_)
    assert n_epochs == 2
    lrs = [g["lr"] for g in est.optimizer_.param_groups]
    assert lrs[-1] == pytest.approx(1e-2 * 0.5**n_epochs)
    assert est.history_[:, "event_lr"][0] == pytest.approx(1e-2)


def test_lr_scheduler_per_batch_and_on_plateau(case):
    per_batch = LRScheduler(policy="StepLR", step_size=1, gamma=0.99, step_every="batch")
    est = case.fit(case.make(callbacks=[per_batch], lr=1e-2, max_iter=150, max_epochs=2,
                             **_own_schedule_off(case)))
    steps = est.n_iter_ if case.episodic else sum(est.history_[:, "train_batch_count"])
    assert est.optimizer_.param_groups[-1]["lr"] == pytest.approx(1e-2 * 0.99**steps)
    plateau = LRScheduler(policy="ReduceLROnPlateau", monitor="train_loss", patience=0,
                          threshold=10.0, factor=0.5)
    est = case.fit(case.make(callbacks=[plateau], lr=1e-2, max_iter=200, max_epochs=2,
                             **_own_schedule_off(case)))
    assert est.optimizer_.param_groups[-1]["lr"] < 1e-2


def test_skorch_early_stopping_callback_stops_quietly(case):
    stop = EarlyStopping(monitor="train_loss", patience=1, threshold=10.0)
    est = case.fit(case.make(callbacks=[stop], max_iter=5000, max_epochs=500))
    assert len(est.history_) == 2
    assert est.predict(case.X[:3]).shape == (3,)


@pytest.mark.parametrize(
    "callback",
    [EarlyStopping, Checkpoint, lambda: LRScheduler("ReduceLROnPlateau", monitor="valid_acc")],
    ids=["EarlyStopping", "Checkpoint", "LRScheduler"],
)
def test_a_validation_monitor_without_early_stopping_names_the_fix(case, callback, tmp_path,
                                                                   monkeypatch):
    # skorch's defaults monitor valid_loss (EarlyStopping) and valid_loss_best
    # (Checkpoint): without held-out data the fit refuses them before training
    monkeypatch.chdir(tmp_path)
    seen = []

    class Spy(Callback):
        def on_train_begin(self, net, **kwargs):
            seen.append("on_train_begin")

    est = case.make(callbacks=[Spy(), callback()], early_stopping=False)
    with pytest.raises(ValueError, match="monitors 'valid_.*early_stopping=True"):
        case.fit(est)
    assert seen == [] and not hasattr(est, "module_")  # nothing trained, nothing fitted
    with pytest.raises(ValueError, match="early_stopping=True"):
        case.partial_fit(case.make(callbacks=[callback()], early_stopping=False), first=True)
    # with early stopping the same callback works as in skorch
    fitted = case.make(callbacks=[callback()], early_stopping=True, max_iter=200, max_epochs=2)
    assert "valid_loss" in case.fit(fitted).history_[-1]


def test_checkpoint_callback_and_load_params(case, tmp_path):
    cp = Checkpoint(monitor="train_loss_best", dirname=str(tmp_path))
    est = case.fit(case.make(callbacks=[cp], max_iter=300, max_epochs=3))
    assert (tmp_path / "params.pt").exists() and (tmp_path / "history.json").exists()
    best = int(np.argmin(est.history_[:, "train_loss"]))
    assert est.history_[:, "event_cp"][best] is True
    expected = est.history_[best, "iter" if case.episodic else "epoch"]
    # a checkpoint written during a fit holds the network alone: what was
    # derived from it since is stale, and the user is told (ProtoNet's
    # prototypes; the MAML family's head is not built yet and adapts from the
    # loaded network when first used, the regressor's adapted model warns)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        est.load_params(checkpoint=cp)
    stale = [w for w in caught if "load_params changed" in str(w.message)]
    assert len(stale) == (case.name in ("protonet", "maml_regressor"))
    assert est.n_iter_ == expected == len(est.history_) * (BLOCK if case.episodic else 1)


def test_checkpoint_f_pickle_writes_a_loadable_estimator(case, tmp_path):
    """skorch's Checkpoint(f_pickle=...) pickles the net: the file holds the estimator.

    It is written during the fit, at the end of the (only) epoch: a few-shot
    model is fitted only at the end of fit (prototypes, adapted head), so its
    pickle holds the trained network and goes on with partial_fit.
    """
    cp = Checkpoint(monitor="train_loss_best", dirname=str(tmp_path), f_params=None,
                    f_optimizer=None, f_history=None, f_pickle="model.pkl")
    est = case.fit(case.make(callbacks=[cp], max_iter=100, max_epochs=1))
    with open(tmp_path / "model.pkl", "rb") as f:
        loaded = pickle.load(f)
    assert type(loaded) is type(est)
    for name, value in est.module_.state_dict().items():
        assert torch.equal(loaded.module_.state_dict()[name], value), name
    if not case.few_shot:
        assert_array_equal(case.out(loaded), case.out(est))


def test_tensorboard_callback_logs_every_epoch(case, tmp_path):
    pytest.importorskip("tensorboard")
    from skorch.callbacks import TensorBoard
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from torch.utils.tensorboard import SummaryWriter

    writer = SummaryWriter(log_dir=str(tmp_path))
    est = case.fit(case.make(callbacks=[TensorBoard(writer)], max_iter=250, max_epochs=3))
    writer.flush()
    events = EventAccumulator(str(tmp_path))
    events.Reload()
    history = est.history_
    assert len(history) == 3
    scalars = events.Tags()["scalars"]
    for key in ("train_loss", "dur") + (("train_acc",) if case.classifier else ()):
        tag = f"Loss/{key}" if key.startswith("train") else key
        assert tag in scalars, scalars
        logged = events.Scalars(tag)
        assert [e.step for e in logged] == history[:, "epoch"] == [1, 2, 3]
        assert_allclose([e.value for e in logged], history[:, key], rtol=1e-6)


def test_callbacks_must_be_skorch_callbacks(case):
    with pytest.raises(ValueError, match="skorch callback"):
        case.fit(case.make(callbacks=[print]))


def test_scoring_callbacks_are_refused(case):
    from skorch.callbacks import EpochScoring

    with pytest.raises(ValueError, match="EpochScoring"):
        case.fit(case.make(callbacks=[EpochScoring("accuracy")]))


# ------------------------------------------------------------ checkpoints
def test_resumed_fit_equals_uninterrupted_fit(case, tmp_path):
    """A fit stopped at an epoch's end, run again with LoadInitState, goes on as one fit.

    The shorter fit stops where the longer one ends an epoch: the episodic
    estimators draw each block's episodes at once (a fit of 150 meta-updates
    draws other ones than the first 150 of a longer fit), and domain
    adaptation's schedules run over ``max_epochs`` (a constant rate and
    a non-adversarial method here).
    """
    long = {"max_iter": 3 * BLOCK, "max_epochs": 4}
    short = {"max_iter": 2 * BLOCK, "max_epochs": 2}
    if case.name == "domain_adapted":
        long.update(method="mmd", lr_schedule="constant")
        short.update(method="mmd", lr_schedule="constant")
    reference = case.fit(case.make(**long))
    cp = Checkpoint(monitor=None, dirname=str(tmp_path))
    case.fit(case.make(callbacks=[cp], **short))  # stopped half-way
    resumed = case.fit(case.make(callbacks=[LoadInitState(cp)], **long))
    assert resumed.n_iter_ == reference.n_iter_
    assert len(resumed.history_) == len(reference.history_)
    for name, value in reference.module_.state_dict().items():
        assert torch.equal(resumed.module_.state_dict()[name], value), name
    assert_array_equal(case.out(resumed), case.out(reference))


def test_save_and_load_params_round_trip(case, tmp_path):
    a = case.fit(case.make(max_iter=BLOCK, max_epochs=2))
    files = {"f_params": tmp_path / "w.pt", "f_optimizer": tmp_path / "o.pt",
             "f_history": tmp_path / "h.json"}
    a.save_params(**files)
    b = case.fit(case.make(random_state=1, max_iter=10, max_epochs=1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # what predicts comes back: nothing is stale
        b.load_params(**files)
    assert_array_equal(case.out(b), case.out(a))
    for name, value in a.module_.state_dict().items():
        assert torch.equal(b.module_.state_dict()[name], value), name
    assert b.n_iter_ == a.n_iter_
    assert b.history_.to_list() == a.history_.to_list()
    n_iter = b.n_iter_
    case.partial_fit(b)  # and it trains on from there
    assert b.n_iter_ > n_iter


def test_load_params_needs_a_built_network(case, tmp_path):
    with pytest.raises(NotFittedError, match="LoadInitState"):
        case.make().load_params(f_params=tmp_path / "w.pt")


def test_load_params_of_another_network_changes_nothing(case, tmp_path):
    other = case.fit(case.make(backbone=MLPBackbone(hidden=(8,)), max_iter=10, max_epochs=1))
    other.save_params(f_params=tmp_path / "w.pt", f_history=tmp_path / "h.json")
    est = case.fit(case.make(max_iter=10, max_epochs=1))
    before = case.out(est)
    n_iter, n_rows = est.n_iter_, len(est.history_)
    with pytest.raises(ValueError, match="do not fit"):
        est.load_params(f_params=tmp_path / "w.pt", f_history=tmp_path / "h.json")
    assert_array_equal(case.out(est), before)
    assert est.n_iter_ == n_iter and len(est.history_) == n_rows


def test_load_params_never_unpickles_code(case, tmp_path):
    est = case.fit(case.make(max_iter=10, max_epochs=1))
    marker = tmp_path / "ran"

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    torch.save({"x": Evil()}, tmp_path / "evil.pt")
    with pytest.raises(pickle.UnpicklingError):
        est.load_params(f_params=tmp_path / "evil.pt")
    assert not marker.exists()


def test_failed_partial_fit_with_a_logger_callback_rolls_back(case, tmp_path):
    """The rollback copy must not try to copy a TensorBoard writer."""
    pytest.importorskip("tensorboard")
    from skorch.callbacks import TensorBoard
    from torch.utils.tensorboard import SummaryWriter

    est = case.make(max_epochs=1, callbacks=[TensorBoard(SummaryWriter(str(tmp_path)))])
    case.partial_fit(est, first=True)
    before = case.out(est)
    est.set_params(lr=1e3)
    with pytest.raises(ValueError, match="loss became"):
        case.partial_fit(est, X=case.bad_X())
    assert_array_equal(case.out(est), before)


def test_failed_partial_fit_of_identity_protonet_keeps_it_usable():
    case = BY_NAME["protonet"]
    est = case.make(backbone="identity")
    case.partial_fit(est, first=True)
    with pytest.raises(ValueError):
        est.partial_fit(case.X[:, :3], case.y)
    assert est.optimizer_ is None
    case.partial_fit(est)
    assert est.predict(case.X[:3]).shape == (3,)


def test_set_params_lr_reaches_the_optimiser_in_partial_fit(case):
    est = case.fit(case.make(max_iter=5, max_epochs=1, lr=1e-3, **_own_schedule_off(case)))
    ratios = [g["lr"] / 1e-3 for g in est.optimizer_.param_groups]
    est.set_params(lr=1e-2)
    case.partial_fit(est)
    assert [g["lr"] for g in est.optimizer_.param_groups] == pytest.approx(
        [1e-2 * r for r in ratios]
    )
