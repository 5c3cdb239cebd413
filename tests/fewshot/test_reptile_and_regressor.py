"""ReptileClassifier and MAMLRegressor: the sklearn contract, their own updates
checked against references, and what a user does with them."""

import pickle
import warnings

import numpy as np
import pytest
import sklearn
import torch
import torch.nn.functional as F
from sklearn.model_selection import GridSearchCV, GroupKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks
from torch.func import functional_call

from sklearn_meta import MAMLRegressor, ReptileClassifier
from sklearn_meta.backbones import MLPBackbone
from sklearn_meta.datasets import make_sinusoids
from sklearn_meta.fewshot._base import TaskData

SMALL = dict(backbone=MLPBackbone(hidden=(16,)), max_iter=20, device="cpu", random_state=0)


@parametrize_with_checks(
    [
        ReptileClassifier(**SMALL, n_way=2, n_shot=2, n_query=2, meta_batch_size=2),
        # the checks fit unscaled inputs (around 100) too: there the default
        # step of 0.01 makes the loss grow a thousandfold, and the fit stops and
        # says so. A step that suits those data keeps the checks about the contract.
        MAMLRegressor(**SMALL, n_shot=3, n_query=3, meta_batch_size=4, n_adapt_steps=5,
                      inner_lr=3e-4),
    ]
)
def test_sklearn_checks(estimator, check):
    with warnings.catch_warnings():
        # the checks fit without groups: one task, as the warning says
        warnings.filterwarnings("ignore", message="MAMLRegressor.fit got no groups")
        check(estimator)


# ----------------------------------------------------------------- Reptile
def test_reptile_update_is_the_mean_of_the_trained_weights(digits):
    # lr=1: the new initialisation is the mean over the meta-batch of the
    # weights each episode trained to (Nichol et al., serial form with step 1)
    X, y = digits
    clf = ReptileClassifier(**{**SMALL, "max_iter": 1}, n_way=3, n_shot=2, n_query=2,
                            meta_batch_size=3, n_inner_steps=2, inner_lr=0.3, lr=1.0)
    clf.fit(X[y < 5], y[y < 5])
    X_t = torch.from_numpy(X)
    g = torch.Generator().manual_seed(0)
    rows = torch.stack([torch.randperm(900, generator=g)[:12] for _ in range(3)])
    s_idx, q_idx = rows[:, :6], rows[:, 6:]
    labels = torch.arange(3).repeat_interleave(2).expand(3, -1)
    before = {k: p.detach().clone() for k, p in clf.module_.features.named_parameters()}
    clf._meta_update(X_t, s_idx, labels, q_idx, labels, 3)
    trained = []
    for t in range(3):
        xs = X_t[torch.cat([s_idx[t], q_idx[t]])]
        ys = torch.cat([labels[t], labels[t]])
        params = {k: v.clone().requires_grad_(True) for k, v in before.items()}
        with torch.no_grad():
            z = functional_call(clf.module_.features, before, (xs,))
            means = torch.stack([z[ys == c].mean(0) for c in range(3)])
        w, b = (2 * means).requires_grad_(True), (-(means ** 2).sum(-1)).requires_grad_(True)
        for _ in range(2):
            loss = F.cross_entropy(functional_call(clf.module_.features, params, (xs,)) @ w.T + b,
                                   ys)
            grads = torch.autograd.grad(loss, [*params.values(), w, b])
            with torch.no_grad():
                params = {k: (v - 0.3 * gr).requires_grad_(True)
                          for (k, v), gr in zip(params.items(), grads[:-2])}
                w = (w - 0.3 * grads[-2]).requires_grad_(True)
                b = (b - 0.3 * grads[-1]).requires_grad_(True)
        trained.append(params)
    for k, p in clf.module_.features.named_parameters():
        expected = torch.stack([t[k] for t in trained]).mean(0)
        torch.testing.assert_close(p.detach(), expected, rtol=1e-5, atol=1e-6)


def test_reptile_learns_new_classes(digits):
    X, y = digits
    clf = ReptileClassifier(n_shot=5, max_iter=60, device="cpu", random_state=0)
    clf.fit(X[y < 5], y[y < 5])
    novel = clf.adapt(X[y >= 5][:25], y[y >= 5][:25])
    assert novel.score(X[y >= 5][25:], y[y >= 5][25:]) > 0.75
    assert clf.score(X[y < 5], y[y < 5]) > 0.9


# ------------------------------------------------------------ MAMLRegressor
@pytest.fixture(scope="module")
def sinusoids():
    return make_sinusoids(n_tasks=400, n_samples=20, random_state=0)


@pytest.fixture(scope="module")
def fitted_regressor(sinusoids):
    X, y, groups = sinusoids
    return MAMLRegressor(max_iter=300, device="cpu", random_state=0).fit(X, y, groups=groups)


def _task_mse(reg, n_tasks=30, seed=1):
    Xt, yt, gt = make_sinusoids(n_tasks=n_tasks, n_samples=60, random_state=seed)
    errors = []
    for k in range(n_tasks):
        rows = np.flatnonzero(gt == k)
        task = reg.adapt(Xt[rows[:10]], yt[rows[:10]])
        errors.append(np.mean((task.predict(Xt[rows[10:]]) - yt[rows[10:]]) ** 2))
    return float(np.mean(errors))


def test_regressor_adapts_to_new_tasks_and_steps_help(fitted_regressor):
    reg = fitted_regressor
    mse = {}
    for steps in (0, 1, 10):
        reg.set_params(n_adapt_steps=steps)
        mse[steps] = _task_mse(reg)
    reg.set_params(n_adapt_steps=None)
    # a sinusoid of amplitude up to 5 has variance ~4.2 around zero: the
    # meta-learned start adapts, and more steps fit better
    assert mse[10] < mse[1] < mse[0]
    assert mse[10] < 2.0


def test_regressor_meta_gradient_vmap_equals_loop_and_reference(sinusoids):
    X, y, groups = sinusoids
    reg = MAMLRegressor(max_iter=1, device="cpu", random_state=0).fit(X, y, groups=groups)
    # two steps of 0.3 diverge in training (the fit says so); the gradient
    # through them is what is checked here
    reg.set_params(inner_lr=0.3, n_inner_steps=2)
    reg.module_.double()
    X_t, y_t = torch.from_numpy(X).double(), torch.from_numpy(y).double()
    idx = torch.arange(200).view(10, 20)
    s_idx, q_idx = idx[:, :10], idx[:, 10:]
    grads = []
    for vec in (True, False):
        for p in reg.module_.parameters():
            p.grad = None
        reg._meta_backward(TaskData(X_t, y_t), s_idx, None, q_idx, None, 1, vectorize=vec)
        grads.append(torch.cat([p.grad.flatten() for p in reg.module_.parameters()]))
    params = dict(reg.module_.named_parameters())
    total = 0.0
    for t in range(10):
        fast = {k: v.clone() for k, v in params.items()}
        for _ in range(2):
            loss = F.mse_loss(functional_call(reg.module_, fast, (X_t[s_idx[t]],)).squeeze(-1),
                              y_t[s_idx[t]])
            g = torch.autograd.grad(loss, list(fast.values()), create_graph=True)
            fast = {k: v - 0.3 * gi for (k, v), gi in zip(fast.items(), g)}
        total = total + F.mse_loss(
            functional_call(reg.module_, fast, (X_t[q_idx[t]],)).squeeze(-1), y_t[q_idx[t]])
    ref = torch.autograd.grad(total / 10, list(params.values()))
    ref = torch.cat([g.flatten() for g in ref])
    for ours in grads:
        assert ((ours - ref).norm() / ref.norm()).item() < 1e-10


def test_regressor_adapt_leaves_the_parent_untouched(fitted_regressor, sinusoids):
    X, y, groups = sinusoids
    reg = pickle.loads(pickle.dumps(fitted_regressor))
    before = reg.predict(X[:40])
    task = reg.adapt(X[:10], y[:10] * 3)
    np.testing.assert_array_equal(reg.predict(X[:40]), before)
    task_pred = task.predict(X[:40])
    reg.partial_fit(X, y, groups=groups)
    np.testing.assert_array_equal(task.predict(X[:40]), task_pred)
    back = pickle.loads(pickle.dumps(task))
    np.testing.assert_array_equal(back.predict(X[:40]), task_pred)


def test_regressor_groups_reach_fit_through_metadata_routing(sinusoids):
    X, y, groups = sinusoids
    with sklearn.config_context(enable_metadata_routing=True):
        reg = MAMLRegressor(max_iter=20, device="cpu", random_state=0)
        reg.set_fit_request(groups=True)
        pipe = make_pipeline(StandardScaler().set_fit_request(sample_weight=False), reg)
        with warnings.catch_warnings():
            warnings.simplefilter("error", UserWarning)  # no "got no groups" warning
            scores = cross_val_score(pipe, X, y, cv=GroupKFold(2), params={"groups": groups})
        assert scores.shape == (2,)
        search = GridSearchCV(reg, {"inner_lr": [0.01, 0.05]}, cv=GroupKFold(2))
        search.fit(X, y, groups=groups)
        assert search.best_params_["inner_lr"] in (0.01, 0.05)


def test_regressor_bad_input_names_the_fix(sinusoids):
    X, y, groups = sinusoids
    with pytest.warns(UserWarning, match="got no groups.*set_fit_request"):
        MAMLRegressor(max_iter=2, device="cpu").fit(X, y)
    with pytest.raises(ValueError, match="groups has 5 entries"):
        MAMLRegressor(max_iter=2, device="cpu").fit(X, y, groups=groups[:5])
    with pytest.raises(ValueError, match="y must be numeric"):
        MAMLRegressor(max_iter=2, device="cpu").fit(X[:4], ["a", "b", "c", "d"])
    bad = groups.astype(float)
    bad[3] = np.nan
    with pytest.raises(ValueError, match="give every row a task"):
        MAMLRegressor(max_iter=2, device="cpu").fit(X, y, groups=bad)
    # groups too small for n_shot + n_query are left out, and the warning says so
    small = groups.copy()
    small[:15] = -1  # group -1: 15 rows, others keep 20 or fewer
    with pytest.warns(UserWarning, match="group\\(s\\) have fewer than n_shot \\+ n_query"):
        MAMLRegressor(max_iter=2, n_shot=10, n_query=10, device="cpu").fit(X, y, groups=small)


def test_regressor_refuses_batch_statistics_and_mixed_groups(sinusoids):
    from torch import nn

    X, y, groups = sinusoids
    net = nn.Sequential(nn.Linear(1, 8), nn.BatchNorm1d(8, track_running_stats=False))
    with pytest.raises(ValueError, match="track_running_stats"):
        MAMLRegressor(backbone=net, max_iter=2, device="cpu").fit(X, y, groups=groups)
    mixed = groups.astype(object)
    mixed[0] = "a"
    with pytest.raises(ValueError, match="one kind"):
        MAMLRegressor(max_iter=2, device="cpu").fit(X, y, groups=mixed)


def test_params_set_after_fit_are_validated_when_adapt_reads_them(fitted_regressor):
    X, y, _ = make_sinusoids(n_tasks=1, n_samples=10, random_state=3)
    reg = pickle.loads(pickle.dumps(fitted_regressor))
    reg.set_params(n_adapt_steps=-1)
    with pytest.raises(ValueError, match="n_adapt_steps"):
        reg.adapt(X, y)
