"""MAMLRegressor: early stopping on held-out tasks, and few-shot regression scored
task by task with evaluate_episodes and make_episodic_scorer."""

import copy

import numpy as np
import pytest
import sklearn
import torch
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import norm
from sklearn.metrics import mean_absolute_error, r2_score
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import Callback, EarlyStopping

from sklearn_meta import MAMLRegressor
from sklearn_meta.backbones import MLPBackbone
from sklearn_meta.datasets import make_sinusoids
from sklearn_meta.model_selection import evaluate_episodes, make_episodic_scorer

CPU = dict(device="cpu", random_state=0)


def small(**kw):
    return MAMLRegressor(**{**CPU, "backbone": MLPBackbone(hidden=(16,)), **kw})


@pytest.fixture(scope="module")
def sinusoids():
    return make_sinusoids(n_tasks=200, n_samples=20, random_state=0)


@pytest.fixture(scope="module")
def new_tasks():
    return make_sinusoids(n_tasks=40, n_samples=20, random_state=1)


@pytest.fixture(scope="module")
def fitted(sinusoids):
    X, y, groups = sinusoids
    return MAMLRegressor(max_iter=300, n_adapt_steps=5, **CPU).fit(X, y, groups=groups)


class _KeepStates(Callback):
    """Records a copy of the weights at the end of every epoch."""

    def initialize(self):
        self.states_ = []
        return self

    def on_epoch_end(self, net, **kwargs):
        self.states_.append(copy.deepcopy(net.module_.state_dict()))


# ------------------------------------------------------------ early stopping
def test_early_stopping_restores_the_best_weights(sinusoids):
    X, y, groups = sinusoids
    keep = _KeepStates()
    # tol=10 never counts as an improvement: as in MLPClassifier, training stops
    # once n_iter_no_change + 1 checks after the first did not improve
    reg = small(early_stopping=True, n_iter_no_change=2, tol=10.0, max_iter=10_000,
                callbacks=[keep]).fit(X, y, groups=groups)
    scores = reg.validation_scores_
    assert len(scores) == 4 == len(reg.history_) and reg.n_iter_ == 400
    assert reg.best_validation_score_ == max(scores)
    assert_allclose(reg.history_[:, "valid_acc"], scores)
    assert np.all(np.asarray(reg.history_[:, "valid_loss"]) > 0)
    best = int(np.argmax(scores))
    for name, value in reg.module_.state_dict().items():
        assert torch.equal(value, keep.states_[best][name]), name
    # the fitted model predicts like every fit does: adapted to all of X
    assert reg.predict(X[:5]).shape == (5,)


def test_early_stopping_holds_out_whole_tasks_and_trains_on_the_others(sinusoids):
    X, y, groups = sinusoids
    reg = small(early_stopping=True, validation_fraction=0.2, n_iter_no_change=50,
                max_iter=200).fit(X, y, groups=groups)
    held = reg.validation_groups_
    assert len(held) == 40 and len(np.unique(held)) == 40 and reg.n_groups_ == 200
    # training saw the other tasks only: the same fit on them alone trains alike
    rest = ~np.isin(groups, held)
    alone = small(max_iter=200).fit(X[rest], y[rest], groups=groups[rest])
    assert_array_equal(reg.history_[:, "train_loss"], alone.history_[:, "train_loss"])
    for name, value in alone.module_.state_dict().items():
        assert torch.equal(reg.module_.state_dict()[name], value), name
    # held-out tasks are scored after adaptation: training lowers their error
    assert reg.history_[-1, "valid_loss"] < reg.history_[0, "valid_loss"]
    assert reg.validation_scores_[-1] > reg.validation_scores_[0]


def test_early_stopping_is_repeatable_and_stops_when_validation_stalls(sinusoids):
    X, y, groups = sinusoids
    kw = dict(early_stopping=True, n_iter_no_change=1, tol=0.05, max_iter=20_000)
    a = small(**kw).fit(X, y, groups=groups)
    b = small(**kw).fit(X, y, groups=groups)
    assert a.n_iter_ < 20_000
    assert a.validation_scores_ == b.validation_scores_
    assert_array_equal(a.predict(X), b.predict(X))


def test_early_stopping_off_auto_and_what_it_needs(sinusoids):
    X, y, groups = sinusoids
    off = small(max_iter=5).fit(X, y, groups=groups)
    assert off.validation_scores_ is None and off.best_validation_score_ is None
    assert small(early_stopping="auto", max_iter=5).fit(X, y, groups=groups).validation_scores_ is None
    with pytest.warns(UserWarning, match="got no groups"), pytest.raises(
        ValueError, match="early_stopping=True holds out whole tasks.*early_stopping=False"
    ):
        small(early_stopping=True, max_iter=5).fit(X, y)
    with pytest.raises(ValueError, match=r"n_shot \+ 2 = 22 rows"):
        small(early_stopping=True, n_shot=20, n_query=1, max_iter=5).fit(X, y, groups=groups)
    with pytest.raises(ValueError, match="validation_fraction"):
        small(early_stopping=True, validation_fraction=1.5).fit(X, y, groups=groups)
    # partial_fit never stops early
    part = small(early_stopping=True, max_iter=5).partial_fit(X, y, groups=groups)
    assert part.validation_scores_ is None


def test_skorch_callbacks_monitor_the_validation_of_the_regressor(sinusoids):
    X, y, groups = sinusoids
    stop = EarlyStopping(monitor="valid_loss", patience=1, threshold=10.0)
    reg = small(early_stopping=True, n_iter_no_change=100, max_iter=10_000,
                callbacks=[stop]).fit(X, y, groups=groups)
    assert len(reg.history_) == 2
    with pytest.raises(ValueError, match="early_stopping=True"):
        small(max_iter=5, callbacks=[EarlyStopping()]).fit(X, y, groups=groups)


# ------------------------------------------------------- evaluate_episodes
def test_evaluate_episodes_scores_each_task_after_adaptation(fitted, new_tasks):
    X, y, groups = new_tasks
    res = evaluate_episodes(fitted, X, y, groups=groups, n_shot=10, random_state=0)
    assert res.n_episodes == 40 and res.metric == "mean_squared_error"
    assert_array_equal(res.groups, np.unique(groups))
    assert_array_equal(res.scores, res.mse.scores)
    z = norm.ppf(0.975)
    for part in (res, res.mse, res.r2):
        assert part.scores.shape == (40,)
        assert part.mean == pytest.approx(part.scores.mean())
        assert part.ci == pytest.approx(z * part.scores.std(ddof=1) / np.sqrt(40))
        assert part.ci_low < part.mean < part.ci_high
    # the same as adapting to n_shot rows of each task and predicting the others
    slow = AdaptOnly(fitted)
    res_slow = evaluate_episodes(slow, X, y, groups=groups, n_shot=10, random_state=0)
    row = {float(v): i for i, v in enumerate(X[:, 0])}
    by_hand_mse, by_hand_r2 = [], []
    for (Xs, Xq, pred), name in zip(slow.calls, res.groups):
        s_rows = [row[float(v)] for v in Xs[:, 0]]
        q_rows = [row[float(v)] for v in Xq[:, 0]]
        assert len(s_rows) == 10 and not set(s_rows) & set(q_rows)
        assert sorted(s_rows + q_rows) == list(np.flatnonzero(groups == name))
        by_hand_mse.append(np.mean((pred - y[q_rows]) ** 2))
        by_hand_r2.append(r2_score(y[q_rows], pred))
    assert_allclose(res.mse.scores, by_hand_mse, rtol=1e-4)
    assert_allclose(res.r2.scores, by_hand_r2, rtol=1e-4, atol=1e-5)
    assert_array_equal(res_slow.mse.scores, by_hand_mse)
    # adapting helps: the meta-learned start fits new sines from 10 points
    assert res.mean < np.mean([np.var(y[groups == g]) for g in res.groups])


class AdaptOnly:
    """Hides the fast path: each task is adapt() then predict(), recorded."""

    def __init__(self, estimator):
        self.estimator = estimator
        self.calls = []

    def adapt(self, Xs, ys):
        task, calls = self.estimator.adapt(Xs, ys), self.calls

        class Task:
            def predict(self, Xq):
                pred = task.predict(Xq)
                calls.append((Xs, Xq, pred))
                return pred

        return Task()

    def __sklearn_tags__(self):
        return self.estimator.__sklearn_tags__()


def test_evaluate_episodes_options_and_pipelines(fitted, new_tasks):
    X, y, groups = new_tasks
    few = evaluate_episodes(fitted, X, y, groups=groups, n_shot=5, n_query=3,
                            n_episodes=10, random_state=0)
    assert few.n_episodes == 10 and len(set(few.groups)) == 10 and few.n_query == 3
    assert few.r2.scores.shape == (10,)
    again = evaluate_episodes(fitted, X, y, groups=groups, n_shot=5, n_query=3,
                              n_episodes=10, random_state=0)
    assert_array_equal(few.scores, again.scores)
    mae = evaluate_episodes(fitted, X, y, groups=groups, n_shot=10, random_state=0,
                            score_func=mean_absolute_error)
    assert mae.metric == "mean_absolute_error" and np.all(mae.scores > 0)
    assert_array_equal(mae.mse.scores, evaluate_episodes(
        fitted, X, y, groups=groups, n_shot=10, random_state=0).scores)
    pipe = make_pipeline(StandardScaler(), MAMLRegressor(max_iter=20, **CPU))
    Xs, ys, gs = make_sinusoids(n_tasks=50, n_samples=20, random_state=2)
    pipe.fit(Xs, ys, mamlregressor__groups=gs)
    assert evaluate_episodes(pipe, X, y, groups=groups, n_shot=10).scores.shape == (40,)


def test_evaluate_episodes_on_a_regressor_names_the_fix(fitted, new_tasks):
    X, y, groups = new_tasks
    with pytest.raises(ValueError, match="needs groups=.*set_score_request\\(groups=True\\)"):
        evaluate_episodes(fitted, X, y, n_shot=10)
    with pytest.raises(ValueError, match=r"fewer than 22 rows.*n_shot=20"):
        evaluate_episodes(fitted, X, y, groups=groups, n_shot=20)
    with pytest.raises(ValueError, match="groups has 3 entries"):
        evaluate_episodes(fitted, X, y, groups=groups[:3], n_shot=10)
    # groups are read as fit reads them: NaN is no task
    with pytest.raises(ValueError, match="groups holds NaN"):
        evaluate_episodes(fitted, X, y, groups=np.where(groups == groups[0], np.nan, groups),
                          n_shot=10)
    with pytest.raises(ValueError, match="response_method must be 'predict'"):
        evaluate_episodes(fitted, X, y, groups=groups, response_method="predict_proba")
    diverged = copy.deepcopy(fitted).set_params(inner_lr=1e6, n_adapt_steps=20)
    with pytest.raises(ValueError, match="diverged.*inner_lr"):
        evaluate_episodes(diverged, X, y, groups=groups, n_shot=10)


# -------------------------------------------------------------- the scorer
def test_episodic_scorer_of_a_regressor_is_minus_the_mean_squared_error(fitted, new_tasks):
    X, y, groups = new_tasks
    scorer = make_episodic_scorer(n_shot=10)
    res = evaluate_episodes(fitted, X, y, groups=groups, n_shot=10, random_state=0)
    assert scorer(fitted, X, y, groups=groups) == -res.mean
    assert make_episodic_scorer(r2_score, n_shot=10)(fitted, X, y, groups=groups) == res.r2.mean
    with pytest.raises(ValueError, match="set_score_request\\(groups=True\\)"):
        scorer(fitted, X, y)
    assert scorer.set_score_request(groups=True) is scorer
    assert "groups" in str(scorer.get_metadata_routing())
    assert repr(scorer) == (
        "make_episodic_scorer(n_way=5, n_shot=10, n_query=None, n_episodes=100, random_state=0)"
    )


def test_grid_search_with_group_kfold_tunes_inner_lr(sinusoids):
    X, y, groups = sinusoids
    cv = GroupKFold(2)
    with sklearn.config_context(enable_metadata_routing=True):
        reg = MAMLRegressor(max_iter=200, n_adapt_steps=5, **CPU).set_fit_request(groups=True)
        scorer = make_episodic_scorer(n_shot=10).set_score_request(groups=True)
        search = GridSearchCV(reg, {"inner_lr": [1e-4, 0.01]}, cv=cv, scoring=scorer)
        search.fit(X, y, groups=groups)
        scores = cross_val_score(reg, X, y, cv=cv, scoring=scorer, params={"groups": groups})
    # a step size that adapts beats one that barely moves, on tasks never trained on
    assert search.best_params_["inner_lr"] == 0.01
    assert np.all(search.cv_results_["mean_test_score"] < 0)
    # each fold's score is minus the mean squared error after adaptation on the
    # test fold's tasks, by a model fitted on the other tasks only
    for k, (train, test) in enumerate(cv.split(X, y, groups)):
        assert not set(groups[train]) & set(groups[test])
        model = MAMLRegressor(max_iter=200, n_adapt_steps=5, inner_lr=0.01, **CPU)
        model.fit(X[train], y[train], groups=groups[train])
        by_hand = evaluate_episodes(model, X[test], y[test], groups=groups[test], n_shot=10,
                                    n_episodes=100, random_state=0)
        assert search.cv_results_[f"split{k}_test_score"][1] == pytest.approx(-by_hand.mean)
        assert scores[k] == pytest.approx(-by_hand.mean)
