"""The failure contract of every estimator (DESIGN.md, "Failure contract").

A fit that raises leaves the estimator unfitted, a partial_fit that raises
leaves it exactly as it was; Ctrl-C stops at the last completed update, leaves
a consistent fitted model, warns and re-raises, and a resumed fit gives the
model an uninterrupted one gives; objects returned by ``adapt`` and their
parent never change each other; no fit changes the user's torch random
streams, in a process or in a thread.

Each test runs all six estimators (the ``case`` fixture of conftest.py), or
the subset a clause is about (the few-shot ones, the epoch-based ones).
"""

import copy
import pickle
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import numpy as np
import pytest
import torch
from contract_cases import BLOCK, NO_EARLY_STOPPING, SigintAt, cases
from joblib import Parallel, delayed, parallel_backend
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from skorch.callbacks import (
    Callback,
    Checkpoint,
    LoadInitState,
    LRScheduler,
    TrainEndCheckpoint,
)

from sklearn_meta.backbones import MLPBackbone
from sklearn_meta.exceptions import TrainingInterrupted


def _fitted_attributes(est):
    return sorted(k for k in vars(est) if k.endswith("_") and not k.startswith("_"))


def _state(est):
    """Copies of the network's and the optimiser's state."""
    return (
        {k: v.detach().clone() for k, v in est.module_.state_dict().items()},
        copy.deepcopy(est.optimizer_.state_dict()) if est.optimizer_ is not None else None,
    )


def _assert_same_tensors(a, b):
    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b)
    elif isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _assert_same_tensors(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, z in zip(a, b):
            _assert_same_tensors(x, z)
    else:
        assert a == b


def _assert_same_network(a, b):
    sa, sb = a.module_.state_dict(), b.module_.state_dict()
    assert sa.keys() == sb.keys()
    for name in sa:
        assert torch.equal(sa[name], sb[name]), name


# ------------------------------------------------------------ failed fits
def test_fit_that_raises_leaves_estimator_unfitted(case):
    est = case.make(lr=1e3)
    with pytest.raises(ValueError, match="loss became"):
        case.fit(est, X=case.bad_X())
    with pytest.raises(NotFittedError):
        check_is_fitted(est)
    with pytest.raises(NotFittedError):
        est.predict(case.X[:3])
    assert _fitted_attributes(est) == []


def test_failed_refit_forgets_previous_fit(case):
    est = case.fit(case.make())
    est.set_params(lr=1e3)
    with pytest.raises(ValueError, match="loss became"):
        case.fit(est, X=case.bad_X())
    with pytest.raises(NotFittedError):
        est.predict(case.X[:3])
    assert _fitted_attributes(est) == []


def test_invalid_params_on_refit_leave_estimator_unfitted(case):
    est = case.fit(case.make())
    est.set_params(lr=-1.0)
    with pytest.raises(ValueError, match="lr"):
        case.fit(est)
    with pytest.raises(NotFittedError):
        est.predict(case.X[:3])


def test_partial_fit_that_raises_changes_nothing(case):
    est = case.partial_fit(case.make(), first=True)
    lr = est.lr
    before = case.out(est)
    n_iter, history = est.n_iter_, copy.deepcopy(est.history_.to_list())
    attributes = _fitted_attributes(est)
    state = _state(est)
    est.set_params(lr=1e3)
    with pytest.raises(ValueError, match="loss became"):
        case.partial_fit(est, X=case.bad_X())
    assert_array_equal(case.out(est), before)
    assert est.n_iter_ == n_iter
    assert est.history_.to_list() == history
    assert _fitted_attributes(est) == attributes
    _assert_same_tensors(_state(est), state)
    # and it trains on afterwards
    est.set_params(lr=lr)
    case.partial_fit(est)
    assert est.n_iter_ > n_iter


def test_what_users_keep_on_an_instance_outlives_fits(case):
    """Only what fits set is fitted state: a note, scikit-learn's documentation
    link and an object that cannot be copied stay as the user left them."""
    est = case.make()
    lock = threading.Lock()
    est.note = "run-42"
    est._doc_link_template = "https://example.org/{estimator_name}"
    est.lock = lock
    case.fit(est)
    case.partial_fit(est)  # a snapshot of the fitted state must not copy the lock
    est.set_params(lr=1e3)
    with pytest.raises(ValueError, match="loss became"):
        case.fit(est, X=case.bad_X())
    assert (est.note, est.lock, est._doc_link_template) == (
        "run-42", lock, "https://example.org/{estimator_name}"
    )
    # while the private attributes the fits created are gone with the fit
    assert [k for k in vars(est) if k.startswith("_") and "doc_link" not in k] == []


def test_a_method_patched_on_the_instance_is_called_and_kept(case):
    est = case.make()
    calls = []
    original = est._build_module

    def build(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    with mock.patch.object(est, "_build_module", build):
        case.fit(est)
        assert calls == [1] and est._build_module is build
    check_is_fitted(est)


def test_partial_fit_after_a_failed_fit_starts_afresh(case):
    est = case.make(lr=1e3)
    with pytest.raises(ValueError):
        case.fit(est, X=case.bad_X())
    est.set_params(lr=case.make().lr)
    case.partial_fit(est, first=True)
    assert case.out(est, case.X[:5]).shape[0] == 5


# ------------------------------------------------------------------ Ctrl-C
@pytest.mark.parametrize("method", ["fit", "partial_fit"])
def test_ctrl_c_leaves_consistent_model_and_reraises(case, method, sigint):
    X, y = case.X, case.y
    if method == "fit":
        # inside the second epoch; the fit ends by itself if no signal comes
        at = case.per_epoch + 3
        sigint_at = SigintAt("on_batch_end", at=at)
        est = case.make(max_iter=2 * BLOCK, max_epochs=2, callbacks=[sigint_at])
        n_before, rows_before = 0, 0
    else:
        at = 5
        sigint_at = SigintAt("on_batch_end", at=at)
        est = case.partial_fit(case.make(), first=True)
        n_before, rows_before = est.n_iter_, len(est.history_)
        est.set_params(callbacks=[sigint_at])
    with pytest.warns(UserWarning, match="interrupted after"), \
            pytest.raises(KeyboardInterrupt) as info:
        case.fit(est) if method == "fit" else case.partial_fit(est)
    assert sigint_at.sent_
    est.set_params(callbacks=None)
    assert isinstance(info.value, TrainingInterrupted)
    assert info.value.n_iter == est.n_iter_
    assert info.value.estimator is est
    check_is_fitted(est)
    last = est.history_[-1]
    assert last["epoch_complete"] is False
    if case.episodic:
        # stopped right after the update that pressed Ctrl-C
        assert est.n_iter_ == n_before + at == last["iter"]
        # what predicts (prototypes, adapted model) comes from the network as it stopped
        fresh = est.adapt(X, y)
        assert_allclose(case.out(fresh), case.out(est), rtol=1e-5, atol=1e-8)
    else:
        # a row per epoch, the last one cut short by the interrupt
        complete = est.history_[:, "epoch_complete"]
        assert sum(complete) == est.n_iter_ and all(complete[:-1])
        assert len(est.history_) == rows_before + (2 if method == "fit" else 1)
        assert last["train_batch_count"] == (3 if method == "fit" else at)
        assert est.n_iter_ == (1 if method == "fit" else n_before)
    assert est.predict(X[:10]).shape == (10,)
    n_iter = est.n_iter_
    back = pickle.loads(pickle.dumps(est))
    assert_array_equal(case.out(back), case.out(est))
    case.partial_fit(est)
    assert est.n_iter_ > n_iter


def test_ctrl_c_before_the_first_update_fits_nothing(case, sigint):
    sigint_at = SigintAt("on_train_begin")
    est = case.make(callbacks=[sigint_at])
    with pytest.raises(KeyboardInterrupt) as info:
        case.fit(est)
    assert sigint_at.sent_
    assert not isinstance(info.value, TrainingInterrupted)
    with pytest.raises(NotFittedError):
        est.predict(case.X[:2])
    assert _fitted_attributes(est) == []


def _resume_params():
    params = []
    for extra in ("plain", "early_stopping", "scheduler"):
        for p in cases():
            marks = p.marks
            if extra == "early_stopping" and not p.values[0].has_early_stopping:
                marks = (*marks, NO_EARLY_STOPPING)
            params.append(pytest.param(p.values[0], extra, id=f"{extra}-{p.id}", marks=marks))
    return params


@pytest.mark.parametrize("case, extra", _resume_params())
def test_resume_after_ctrl_c_mid_epoch_equals_uninterrupted_fit(case, extra, sigint, tmp_path):
    long = {"max_iter": 160, "max_epochs": 3}
    if extra == "early_stopping":
        long.update(early_stopping=True, n_iter_no_change=50)

    def callbacks(*more):
        sched = [LRScheduler("StepLR", step_size=1, gamma=0.7)] if extra == "scheduler" else []
        return sched + list(more)

    reference = case.fit(case.make(callbacks=callbacks(), **long))
    cp = Checkpoint(monitor=None, dirname=str(tmp_path))
    # Ctrl-C inside the second epoch
    sigint_at = SigintAt("on_batch_end", at=case.per_epoch + case.per_epoch // 3)
    with pytest.warns(UserWarning, match="interrupted"), pytest.raises(TrainingInterrupted):
        case.fit(case.make(callbacks=callbacks(cp, sigint_at), **long))
    resumed = case.fit(case.make(callbacks=callbacks(LoadInitState(cp)), **long))
    assert resumed.n_iter_ == reference.n_iter_
    assert len(resumed.history_) == len(reference.history_)
    if extra == "early_stopping":
        assert resumed.validation_scores_ == reference.validation_scores_
    _assert_same_network(resumed, reference)
    assert_array_equal(case.out(resumed), case.out(reference))


def test_continued_epoch_has_the_metrics_of_an_uninterrupted_one(case, sigint, tmp_path):
    """Ctrl-C inside an epoch, saved at train end, resumed: the same history rows."""
    kw = {"max_iter": BLOCK, "max_epochs": 1}
    reference = case.fit(case.make(**kw))
    end = TrainEndCheckpoint(dirname=str(tmp_path))
    sigint_at = SigintAt("on_batch_end", at=case.per_epoch * 2 // 5)
    with pytest.warns(UserWarning, match="interrupted"), pytest.raises(TrainingInterrupted):
        case.fit(case.make(callbacks=[end, sigint_at], **kw))
    est = case.fit(case.make(callbacks=[LoadInitState(end)], **kw))
    got, want = est.history_[-1], reference.history_[-1]
    assert len(est.history_) == len(reference.history_) == 1
    assert got["epoch_complete"] and len(got["batches"]) == len(want["batches"])
    assert set(got) == set(want)
    for key, value in want.items():
        if key in ("dur", "batches"):
            continue
        if isinstance(value, float):
            assert got[key] == pytest.approx(value, rel=1e-6), key
        else:
            assert got[key] == value, key


_EPOCH_BASED = cases(where=lambda c: not c.episodic)


def _n_batches(case, y, batch_size):
    n = int((y != -1).sum())  # the labelled (source) rows make the minibatches
    return n // batch_size + (n % batch_size > 1)


@pytest.mark.parametrize("case", _EPOCH_BASED)
def test_partial_fit_on_other_data_after_ctrl_c_runs_a_whole_epoch(case, sigint):
    X, y = case.X, case.y
    est = case.make(max_epochs=10, batch_size=16, callbacks=[SigintAt("on_batch_end", at=30)])
    with pytest.warns(UserWarning, match="interrupted"), pytest.raises(TrainingInterrupted):
        case.fit(est)
    est.set_params(callbacks=None)
    rows = np.r_[0:500, len(X) - 500 : len(X)]  # source and target rows alike
    case.partial_fit(est, X[rows], y[rows])
    row = est.history_[-1]
    assert row["epoch_complete"]
    assert row["train_batch_count"] == _n_batches(case, y[rows], 16) == len(row["batches"])


@pytest.mark.parametrize("case", _EPOCH_BASED)
def test_new_chunk_after_ctrl_c_gets_a_whole_epoch(case, sigint):
    X, y = case.X, case.y
    first, second = np.r_[0:60, len(X) - 40 : len(X)], np.r_[100:200]
    if case.y[-1] == -1:  # domain adaptation: target rows in both chunks
        second = np.r_[100:160, len(X) - 140 : len(X) - 100]
    est = case.make(max_epochs=10, batch_size=10, callbacks=[SigintAt("on_batch_end", at=3)])
    with pytest.warns(UserWarning, match="interrupted"), pytest.raises(TrainingInterrupted):
        case.fit(est, X[first], y[first])
    est.set_params(callbacks=None)
    case.partial_fit(est, X[second], y[second])
    row = est.history_[-1]
    n_labelled = int((y[second] != -1).sum())
    assert row["epoch_complete"] and row["train_samples"] == n_labelled
    assert row["train_batch_count"] == _n_batches(case, y[second], 10) == len(row["batches"])


def test_readme_setup_interrupted_mid_epoch_stays_fitted(sigint, tmp_path):
    """Early stopping plus Checkpoint on valid_loss_best, Ctrl-C inside an epoch."""
    from contract_cases import BY_NAME
    from skorch.callbacks import EarlyStopping

    case = BY_NAME["finetune"]
    cp = Checkpoint(monitor="valid_loss_best", dirname=str(tmp_path))
    stop = EarlyStopping(monitor="valid_loss", patience=50)
    est = case.make(max_epochs=50, early_stopping=True, batch_size=16,
                    callbacks=[cp, stop, SigintAt("on_batch_end", at=150)])
    with pytest.warns(UserWarning, match="interrupted"), pytest.raises(TrainingInterrupted):
        case.fit(est)
    check_is_fitted(est)
    assert est.history_[-1, "epoch_complete"] is False


# ----------------------------------------------- callbacks that stop training
def test_callback_stopping_in_a_batch_keeps_history_and_counts_in_step(case):
    class StopAtFifth(Callback):
        def initialize(self):
            self.n_ = 0
            return self

        def on_batch_end(self, net, **kwargs):
            self.n_ += 1
            if self.n_ == 5:
                raise KeyboardInterrupt

    est = case.make(callbacks=[StopAtFifth()], max_iter=1000, max_epochs=10, batch_size=16)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # stops quietly, as in skorch
        case.fit(est)
    row = est.history_[-1]
    assert "train_loss" in row and len(row["batches"]) == 5
    if case.episodic:
        assert est.n_iter_ == 5 == row["iter"]
    else:
        assert est.n_iter_ == 0 and row["epoch_complete"] is False
        est.set_params(callbacks=None)
        case.partial_fit(est)  # finishes the epoch that was cut short
        assert est.n_iter_ == 1 and len(est.history_) == 1


def test_callback_keyboard_interrupt_at_epoch_end_stops_quietly(case):
    """skorch's EarlyStopping raises KeyboardInterrupt to stop: no warning, no re-raise."""

    class StopAtSecond(Callback):
        def on_epoch_end(self, net, **kwargs):
            if len(net.history) == 2:
                raise KeyboardInterrupt

    est = case.make(max_iter=3 * BLOCK, max_epochs=10, callbacks=[StopAtSecond()])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        case.fit(est)
    assert est.n_iter_ == (2 * BLOCK if case.episodic else 2)
    assert len(est.history_) == 2


# ------------------------------------------------------- adapt independence
def test_adapt_leaves_the_parent_exactly_as_it_was(few_shot_case):
    case = few_shot_case
    X_base, y_base, kw, X_new, y_new = case.base_novel()
    parent = case.make().fit(X_base, y_base, **kw)
    before, state = case.out(parent), _state(parent)
    child = parent.adapt(X_new, y_new)
    assert child is not parent
    assert_array_equal(case.out(parent), before)
    _assert_same_tensors(_state(parent), state)


def test_adapted_estimator_does_not_change_when_parent_trains_on(few_shot_case):
    case = few_shot_case
    X_base, y_base, kw, X_new, y_new = case.base_novel()
    parent = case.make().fit(X_base, y_base, **kw)
    child = parent.adapt(X_new, y_new)
    before = case.out(child)
    n_iter = parent.n_iter_
    parent.partial_fit(X_base, y_base, **kw)
    assert_array_equal(case.out(child), before)
    # and the parent did train
    assert parent.n_iter_ > n_iter


def test_parent_does_not_change_when_adapted_estimator_trains(few_shot_case):
    case = few_shot_case
    X_base, y_base, kw, X_new, y_new = case.base_novel()
    parent = case.make().fit(X_base, y_base, **kw)
    before, state = case.out(parent), _state(parent)
    child = parent.adapt(X_new, y_new)
    child.partial_fit(X_new, y_new, **({"groups": np.zeros(len(y_new))} if kw else {}))
    assert_array_equal(case.out(parent), before)
    _assert_same_tensors(_state(parent), state)


def test_siblings_are_independent(few_shot_case):
    case = few_shot_case
    X_base, y_base, kw, X_new, y_new = case.base_novel()
    parent = case.make().fit(X_base, y_base, **kw)
    a = parent.adapt(X_new, y_new)
    b = parent.adapt(X_new, y_new)
    before = case.out(b)
    assert_array_equal(case.out(a), before)
    a.partial_fit(X_new, y_new, **({"groups": np.zeros(len(y_new))} if kw else {}))
    assert_array_equal(case.out(b), before)


def test_adapted_estimator_has_its_own_output_configuration(few_shot_case):
    case = few_shot_case
    X_base, y_base, kw, X_new, y_new = case.base_novel()
    parent = case.make().fit(X_base, y_base, **kw).set_output(transform="pandas")
    child = parent.adapt(X_new, y_new).set_output(transform="default")
    assert hasattr(parent.transform(X_new[:3]), "columns")
    assert isinstance(child.transform(X_new[:3]), np.ndarray)


def test_adapted_estimator_does_not_share_callbacks(few_shot_case, tmp_path):
    case = few_shot_case
    X_base, y_base, kw, X_new, y_new = case.base_novel()
    cp = Checkpoint(monitor=None, dirname=str(tmp_path))
    parent = case.make(max_iter=BLOCK, callbacks=[cp]).fit(X_base, y_base, **kw)
    saved = (tmp_path / "params.pt").read_bytes()
    child = parent.adapt(X_new, y_new)
    assert child.callbacks is None
    child.partial_fit(X_new, y_new, **({"groups": np.zeros(len(y_new))} if kw else {}))
    assert (tmp_path / "params.pt").read_bytes() == saved
    assert parent.callbacks_[0][1] is cp


# ----------------------------------------------------------- random streams
def test_fit_never_reseeds_torch(case, monkeypatch):
    """torch.manual_seed reseeds every CUDA device; no fit may call it."""
    calls = []
    for owner in (torch, torch.random):
        monkeypatch.setattr(owner, "manual_seed", lambda seed: calls.append(seed))
    monkeypatch.setattr(torch.cuda, "manual_seed_all", lambda seed: calls.append(seed))
    monkeypatch.setattr(torch.cuda, "seed_all", lambda: calls.append(None))
    est = case.fit(case.make(backbone=MLPBackbone(hidden=(16,), dropout=0.5)))
    case.partial_fit(est)
    if case.few_shot:
        est.adapt(case.X[:40], case.y[:40])
    assert calls == []


def test_fit_leaves_user_torch_stream_alone(case):
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    est = case.fit(case.make(backbone=MLPBackbone(hidden=(16,), dropout=0.5)))
    case.partial_fit(est)
    if case.few_shot:
        est.adapt(case.X[:40], case.y[:40])
    case.out(est)
    assert torch.equal(torch.rand(3), expected)


def _draws_while_a_thread_trains(case, backbone):
    """2000 draws from torch's global generator, made while another thread is inside a fit."""
    training, drawn = threading.Event(), threading.Event()

    class PauseOnce(Callback):
        """Holds the fit after its first update until the main thread has drawn."""

        def on_batch_end(self, net, **kwargs):
            if not training.is_set():
                training.set()
                drawn.wait(60)

    with ThreadPoolExecutor(1) as pool:
        future = pool.submit(case.fit, case.make(backbone=backbone, callbacks=[PauseOnce()]))
        future.add_done_callback(lambda f: training.set())  # a failed fit ends the wait
        try:
            assert training.wait(60)
            draws = torch.cat([torch.rand(1) for _ in range(2000)])
            still_training = not future.done()
        finally:
            drawn.set()
        future.result()
    assert still_training
    return draws


def test_fit_in_a_thread_leaves_main_thread_draws_alone(case):
    """A network without dropout: training never touches torch's global generators."""
    torch.manual_seed(5)
    expected = torch.rand(2000)
    torch.manual_seed(5)
    draws = _draws_while_a_thread_trains(case, MLPBackbone(hidden=(16,)))
    assert torch.equal(draws, expected)


@pytest.mark.xfail(
    strict=True,
    reason="a network with dropout draws from torch's global CPU generator, which the fit "
           "forks and reseeds for the whole of training: draws that user code makes in "
           "another thread meanwhile come from the fit's seed",
)
def test_fit_with_dropout_in_a_thread_leaves_main_thread_draws_alone(case):
    torch.manual_seed(5)
    expected = torch.rand(2000)
    torch.manual_seed(5)
    draws = _draws_while_a_thread_trains(case, MLPBackbone(hidden=(16,), dropout=0.3))
    assert torch.equal(draws, expected)


def test_threaded_fits_match_sequential_fits(case):
    def fit(seed):
        est = case.make(random_state=seed, backbone=MLPBackbone(hidden=(16,), dropout=0.3))
        return case.out(case.fit(est))

    seeds = [0, 1, 2]
    sequential = [fit(s) for s in seeds]
    torch.manual_seed(7)
    expected = torch.rand(2)
    torch.manual_seed(7)
    with parallel_backend("threading", n_jobs=3):
        threaded = Parallel()(delayed(fit)(s) for s in seeds)
    assert torch.equal(torch.rand(2), expected)
    for a, b in zip(sequential, threaded):
        assert_array_equal(a, b)
    # the seeds matter: a test that compared equal models would prove nothing
    assert not np.array_equal(sequential[0], sequential[1])
