"""GridSearchCV and cross_validate on a Dask cluster give the local results.

One ``LocalCluster`` of two worker processes serves the whole module. For each
estimator a small grid search runs twice, locally (``n_jobs=1``) and under
``joblib.parallel_backend("dask", scatter=[X, y])``, with the splitter and the
scorer of its family; both must pick the same parameters with the same scores,
and the fits must have run in the worker processes, not in this one.

Worker processes start with one OpenMP / MKL thread (``env`` below), and
``conftest.py`` gives this process one torch thread too: the same seeds on the
same number of threads make the same floating-point sums, so the scores agree
exactly, not just to a tolerance (torch's CPU kernels split reductions by
thread count; with 2 threads here and 1 there, scores would differ in the last
bits and a tie between candidates could break the other way).
"""

import logging
import os
import re
import sys
import warnings

import joblib
import numpy as np
import pytest
import sklearn
import torch
from numpy.testing import assert_array_equal
from sklearn.model_selection import (
    GridSearchCV,
    GroupKFold,
    StratifiedKFold,
    cross_validate,
)

from sklearn_meta import (
    DomainAdaptedClassifier,
    FineTuneClassifier,
    MAMLClassifier,
    MAMLRegressor,
    ProtoNetClassifier,
    ReptileClassifier,
)
from sklearn_meta._devices import resolve_device
from sklearn_meta.backbones import MLPBackbone
from sklearn_meta.datasets import make_digits_shift, make_sinusoids
from sklearn_meta.model_selection import (
    ClassDisjointKFold,
    DomainShuffleSplit,
    make_da_scorer,
    make_episodic_scorer,
)

distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")
dask = pytest.importorskip("dask")

# The workers cannot import this test module (pytest put tests/ on sys.path
# here only): ship the functions defined here to them by value.
cloudpickle.register_pickle_by_value(sys.modules[__name__])

#: one thread per worker process, for torch (OpenMP) and any BLAS
ONE_THREAD = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
}
PROFILER = "distributed.worker.profile.enabled"
CPU = {"device": "cpu", "random_state": 0}
MLP = MLPBackbone(hidden=(16,))
#: a few small episodes on the held-out classes of each fold
EPISODIC = make_episodic_scorer(n_way=3, n_shot=1, n_query=5, n_episodes=10)


@pytest.fixture(scope="module")
def client():
    # Dask's statistical profiler samples each worker's running task every 10 ms;
    # on 2 busy cores that costs torch training loops up to 40 % more CPU
    # (benchmarks/scale_out.py --no-profiler), so it is off here.
    with (
        dask.config.set({PROFILER: False}),
        distributed.LocalCluster(
            n_workers=2,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
            env=ONE_THREAD,
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def sinusoids():
    X, y, groups = make_sinusoids(n_tasks=40, n_samples=10, random_state=0)
    return X.astype(np.float32), y.astype(np.float32), groups


@pytest.fixture(scope="module")
def shift():
    Xs, ys, Xt, _ = make_digits_shift(random_state=0)
    return np.concatenate([Xs, Xt]), np.concatenate([ys, np.full(len(Xt), -1)])


def _protonet():
    return ProtoNetClassifier(backbone=MLP, max_iter=20, lr=1e-2, **CPU)


#: tiny episodes for the gradient-based meta-learners
TASKS = dict(n_way=2, n_shot=2, n_query=2, meta_batch_size=2, max_iter=10, **CPU)

#: name -> (data fixture, () -> (estimator, grid, cv, scoring)); one per
#: estimator, with the splitter and the scorer of its family
CASES = {
    "protonet": (
        "digits",
        lambda: (
            _protonet(),
            {"n_shot": [1, 3, 5]},
            ClassDisjointKFold(2),
            EPISODIC,
        ),
    ),
    "maml": (
        "digits",
        lambda: (
            MAMLClassifier(backbone=MLP, **TASKS),
            {"inner_lr": [0.1, 0.4]},
            ClassDisjointKFold(2),
            EPISODIC,
        ),
    ),
    "reptile": (
        "digits",
        lambda: (
            ReptileClassifier(backbone=MLP, **TASKS),
            {"inner_lr": [0.05, 0.2]},
            ClassDisjointKFold(2),
            EPISODIC,
        ),
    ),
    "finetune": (
        "digits",
        lambda: (
            FineTuneClassifier(backbone=MLP, max_epochs=2, **CPU),
            {"lr": [1e-2, 1e-3]},
            StratifiedKFold(2),
            "accuracy",
        ),
    ),
    "maml_regressor": (
        "sinusoids",
        lambda: (
            MAMLRegressor(
                backbone=MLP, n_shot=3, n_query=3, meta_batch_size=4, max_iter=10, **CPU
            ).set_fit_request(groups=True),
            {"inner_lr": [0.01, 0.05]},
            GroupKFold(2),
            None,
        ),
    ),
    "domain_adapted": (
        "shift",
        lambda: (
            DomainAdaptedClassifier(
                backbone=MLP, method="dann", max_epochs=2, lr=3e-3, **CPU
            ),
            {"trade_off": [0.1, 1.0]},
            DomainShuffleSplit(n_splits=2, random_state=0),
            make_da_scorer("dev"),
        ),
    ),
}


def _worker_pids(client):
    return set(client.run(os.getpid).values())


def _record_scatters(client, monkeypatch):
    """Shapes of what each ``client.scatter`` call sends, and whether it broadcasts."""
    calls = []
    scatter = client.scatter

    def recording(data, *args, **kwargs):
        items = data if isinstance(data, (list, tuple)) else [data]
        calls.append(
            ([getattr(a, "shape", None) for a in items], kwargs.get("broadcast"))
        )
        return scatter(data, *args, **kwargs)

    monkeypatch.setattr(client, "scatter", recording)
    return calls


def test_workers_run_one_torch_thread(client):
    assert set(client.run(torch.get_num_threads).values()) == {1}
    assert set(client.run(dask.config.get, PROFILER).values()) == {False}
    assert len(_worker_pids(client)) == 2 and os.getpid() not in _worker_pids(client)


@pytest.mark.parametrize("name", list(CASES))
def test_grid_search_on_dask_equals_the_local_one(name, client, request, monkeypatch):
    data, make = CASES[name]
    X, y, *rest = request.getfixturevalue(data)
    fit_params = {"groups": rest[0]} if rest else {}

    def search():
        estimator, grid, cv, scoring = make()
        return GridSearchCV(estimator, grid, cv=cv, scoring=scoring, refit=False)

    # MAMLRegressor takes groups in fit: metadata routing sends them there
    with sklearn.config_context(enable_metadata_routing=bool(fit_params)):
        local = search().fit(X, y, **fit_params)
        scatters = _record_scatters(client, monkeypatch)
        with (
            distributed.get_task_stream(client) as stream,
            joblib.parallel_backend("dask", scatter=[X, y, *rest]),
        ):
            remote = search().fit(X, y, **fit_params)

    assert remote.best_params_ == local.best_params_
    keys = [k for k in local.cv_results_ if "test_score" in k]
    assert len(keys) > 3
    for key in keys:
        assert_array_equal(remote.cv_results_[key], local.cv_results_[key], err_msg=key)
    assert remote.best_score_ == local.best_score_

    # every fit ran in a worker, and both workers took some (joblib names a task
    # "batch_of__fit_and_score_<n>_calls-<hash>", n fits batched together)
    tasks = [t for t in stream.data if "_fit_and_score" in t["key"]]
    n_fits = sum(int(re.search(r"_(\d+)_calls", t["key"]).group(1)) for t in tasks)
    assert n_fits == len(remote.cv_results_["params"]) * 2
    assert {t["worker"] for t in tasks} == set(client.scheduler_info()["workers"])
    # X went out once, broadcast to every worker; no fit sent its own copy (joblib
    # swaps in the scattered future only for the very objects it was given)
    sent_X = [call for call in scatters if X.shape in call[0]]
    assert sent_X == [([a.shape for a in (X, y, *rest)], True)], scatters


def test_cross_validate_on_dask_runs_in_the_workers_and_returns_fitted_models(
    client, digits
):
    X, y = digits

    def pid(estimator, X, y):
        # a "score" that says which process scored the fold
        return float(os.getpid())

    kw = {"cv": ClassDisjointKFold(3), "scoring": {"acc": EPISODIC, "pid": pid}}
    local = cross_validate(_protonet(), X, y, return_estimator=True, **kw)
    with joblib.parallel_backend("dask", scatter=[X, y]):
        remote = cross_validate(_protonet(), X, y, return_estimator=True, **kw)

    assert_array_equal(remote["test_acc"], local["test_acc"])
    assert set(local["test_pid"]) == {os.getpid()}
    workers = _worker_pids(client)
    assert set(remote["test_pid"]) <= workers and os.getpid() not in set(
        remote["test_pid"]
    )
    # the fitted models came back from the workers (pickled state dicts) intact
    for a, b in zip(remote["estimator"], local["estimator"]):
        assert a.device_ == b.device_ == torch.device("cpu")
        assert_array_equal(a.predict_proba(X[:50]), b.predict_proba(X[:50]))


# --------------------------------------------------------------- devices
def test_auto_device_is_the_current_cuda_device(monkeypatch):
    """A worker pinned to a GPU (CUDA_VISIBLE_DEVICES or set_device) trains there."""
    # on this machine as it is: the current CUDA device when torch sees one, else the CPU
    here = (
        torch.device("cuda", torch.cuda.current_device())
        if torch.cuda.is_available()
        else torch.device("cpu")
    )
    assert resolve_device("auto") == here
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 4)
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 2)
    assert resolve_device("auto") == torch.device("cuda", 2)
    assert resolve_device("cuda") == torch.device("cuda", 2)
    assert resolve_device(torch.device("cuda")) == torch.device("cuda", 2)
    # an explicit index is kept, and checked
    assert resolve_device("cuda:3") == torch.device("cuda", 3)
    with pytest.raises(ValueError, match="has 4 CUDA device"):
        resolve_device("cuda:4")
    monkeypatch.setattr(torch.cuda, "current_device", lambda: 0)
    assert resolve_device("auto") == torch.device("cuda", 0)


def test_auto_device_without_cuda_is_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert resolve_device("auto") == torch.device("cpu")
    with pytest.raises(ValueError, match="sees no CUDA device"):
        resolve_device("cuda")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_gpu_worker_trains_on_its_own_gpu():
    """One worker per GPU, as the docs start them: device='auto' lands on that GPU."""
    # the worker sees only the last GPU, as its cuda:0
    last = str(torch.cuda.device_count() - 1)

    def fit_there():
        from sklearn.datasets import load_digits

        X, y = load_digits(return_X_y=True)
        clf = FineTuneClassifier(backbone=MLP, max_epochs=2, random_state=0)
        clf.fit(X / 16, y)
        return (
            os.environ.get("CUDA_VISIBLE_DEVICES"),
            str(clf.device_),
            {str(p.device) for p in clf.module_.parameters()},
            torch.cuda.get_device_name(0),
        )

    with (
        dask.config.set({PROFILER: False}),
        distributed.LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.ERROR,
            env={**ONE_THREAD, "CUDA_VISIBLE_DEVICES": last},
        ) as cluster,
        distributed.Client(cluster) as gpu_client,
    ):
        future = gpu_client.submit(fit_there, pure=False)
        visible, device, param_devices, name = future.result()
    assert visible == last
    assert device == "cuda:0"
    assert param_devices == {"cuda:0"}
    assert name == torch.cuda.get_device_name(int(last))
