"""The scikit-learn contract of every estimator: clone, searches, pickling, skops.

``clone`` keeps what a user set (output config, metadata requests, a fitted
backbone); ``GridSearchCV`` clones and fits the same models one job or two;
pickle and skops round trips predict identically, read torch state with
``weights_only=True`` and train on (DESIGN.md, "The sklearn contract").
"""

import contextlib
import pickle

import numpy as np
import pytest
import torch
from contract_cases import BY_NAME
from joblib import parallel_config
from numpy.testing import assert_array_equal
from sklearn import config_context
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV, GroupKFold, StratifiedKFold


# ------------------------------------------------------------------- clone
def test_clone_keeps_output_config_and_metadata_requests(case):
    with config_context(enable_metadata_routing=True):
        est = case.make().set_output(transform="pandas")
        est.set_score_request(sample_weight=True)
        new = clone(est)
        assert new._sklearn_output_config == {"transform": "pandas"}
        routing = new.get_metadata_routing()
        assert routing.score.requests["sample_weight"] is True


def test_clone_keeps_fitted_backbone_by_reference(case):
    proto = BY_NAME["protonet"]
    pretrained = proto.fit(proto.make(max_iter=5))
    est = case.make(backbone=pretrained)
    assert clone(est).backbone is pretrained


def _search(case, n_jobs):
    """A grid search over lr, its folds and scorer chosen to suit the estimator."""
    X, y, fit_params = case.data()
    est = case.make(max_iter=20, max_epochs=1).set_output(transform="pandas")
    kw = {"cv": StratifiedKFold(2, shuffle=True, random_state=0)}
    routing = contextlib.nullcontext()
    if case.name == "maml_regressor":
        kw["cv"] = GroupKFold(2)
        routing = config_context(enable_metadata_routing=True)
    elif case.name == "domain_adapted":
        from sklearn_meta.model_selection import DomainShuffleSplit, make_da_scorer

        kw.update(cv=DomainShuffleSplit(n_splits=2, random_state=0),
                  scoring=make_da_scorer("entropy"))
    with routing:
        if case.name == "maml_regressor":
            est.set_fit_request(groups=True)
        search = GridSearchCV(est, {"lr": [1e-3, 3e-3]}, n_jobs=n_jobs, **kw)
        # one torch thread in the workers too: torch's CPU sums depend on the count
        with parallel_config(backend="loky", inner_max_num_threads=1):
            search.fit(X, y, **fit_params)
    return est, search


def test_grid_search_clones_and_two_jobs_fit_what_one_does(case):
    pd = pytest.importorskip("pandas")
    est, one = _search(case, n_jobs=1)
    _, two = _search(case, n_jobs=2)
    # the estimator given stays unfitted; the search fits clones
    assert not hasattr(est, "n_iter_")
    assert one.best_estimator_ is not est
    assert_array_equal(one.cv_results_["mean_test_score"], two.cv_results_["mean_test_score"])
    assert np.isfinite(one.cv_results_["mean_test_score"]).all()
    assert one.best_params_ == two.best_params_
    X = case.X[::11]
    assert_array_equal(case.out(two.best_estimator_, X), case.out(one.best_estimator_, X))
    assert isinstance(two.best_estimator_.transform(X[:3]), pd.DataFrame)


# ---------------------------------------------------------------- pickling
def test_pickle_round_trip_predicts_identically_and_trains_on(case):
    est = case.fit(case.make(max_iter=20, max_epochs=1))
    back = pickle.loads(pickle.dumps(est))
    assert_array_equal(case.out(back), case.out(est))
    assert back.n_iter_ == est.n_iter_
    assert back.history_.to_list() == est.history_.to_list()
    case.partial_fit(back)
    case.partial_fit(est)
    # the optimiser state came along: both go on alike
    assert_array_equal(case.out(back), case.out(est))


def test_skops_round_trip(case, tmp_path):
    sio = pytest.importorskip("skops.io")
    est = case.fit(case.make(max_iter=20, max_epochs=1))
    path = tmp_path / "model.skops"
    sio.dump(est, path)
    untrusted = sio.get_untrusted_types(file=path)
    assert all(t.startswith(("sklearn_meta.", "skorch.")) for t in untrusted), untrusted
    back = sio.load(path, trusted=untrusted)
    assert_array_equal(case.out(back), case.out(est))
    case.partial_fit(back)  # and it trains on


def test_pickled_torch_state_is_read_with_weights_only(case, monkeypatch):
    est = case.fit(case.make(max_iter=20, max_epochs=1))
    blob = pickle.dumps(est)
    seen = []
    real = torch.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get("weights_only"))
        return real(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    back = pickle.loads(blob)
    assert seen and all(w is True for w in seen)
    assert_array_equal(case.out(back), case.out(est))


def test_pickle_rebuilds_the_fitted_network_after_set_params(case):
    est = case.fit(case.make(max_iter=20, max_epochs=1))
    before = case.out(est)
    changes = {"backbone__hidden": (8,)}
    params = est.get_params()
    if "optimizer" in params:
        changes["optimizer"] = "sgd" if params["optimizer"] != "sgd" else "adam"
    if "learn_inner_lr" in params:
        changes["learn_inner_lr"] = not params["learn_inner_lr"]
    est.set_params(**changes)
    back = pickle.loads(pickle.dumps(est))
    assert_array_equal(case.out(back), before)
    case.partial_fit(back)  # the optimiser state matches the optimiser rebuilt


def test_shared_backbone_config_does_not_break_the_other_estimator(case):
    from sklearn_meta.backbones import MLPBackbone

    shared = MLPBackbone(hidden=(16,))
    a = case.fit(case.make(backbone=shared, max_iter=10, max_epochs=1))
    b = case.make(backbone=shared)
    b.set_params(backbone__hidden=(4,))
    assert_array_equal(case.out(pickle.loads(pickle.dumps(a))), case.out(a))
