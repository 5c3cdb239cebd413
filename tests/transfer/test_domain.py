"""Tests of DomainAdaptedClassifier and its adaptation losses.

Small MLPs on the rotated-digits shift, a few epochs each: the file stays
fast on a two-core CPU. Accuracy against published numbers is measured in
benchmarks/domain_digits.py, never here.
"""

import functools
import pickle
import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn import config_context
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_meta import DomainAdaptedClassifier, FineTuneClassifier
from sklearn_meta.backbones import MLPBackbone
from sklearn_meta.datasets import make_digits_shift
from sklearn_meta.exceptions import DomainAdaptationWarning
from sklearn_meta.transfer import _adaptation as A

CPU = dict(device="cpu", random_state=0)
#: every method that adapts with source and target rows ("shot" is source-free:
#: tests/transfer/test_shot.py)
METHODS = ["dann", "cdan", "cdan+e", "mmd", "coral", "mdd", "mcc", "bnm"]


def small(method="dann", **kw):
    params = dict(
        backbone=MLPBackbone(hidden=(32,)), method=method, max_epochs=3, optimizer="adam",
        lr=3e-3, **CPU,
    )
    params.update(kw)
    return DomainAdaptedClassifier(**params)


def same_state(a, b):
    sa, sb = a.module_.state_dict(), b.module_.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def shift():
    Xs, ys, Xt, yt = make_digits_shift(random_state=0)
    X = np.concatenate([Xs, Xt])
    y = np.concatenate([ys, np.full(len(Xt), -1)])
    return X, y, Xt, yt


@pytest.fixture(scope="module")
def fitted(shift):
    """One fitted CDAN+E. Read only: no further fit or set_params on it."""
    X, y, _, _ = shift
    return small("cdan+e").fit(X, y)


# ------------------------------------------------------- sklearn contract
def _as_semi_supervised(check):
    """Run check_classifiers_classes as sklearn runs it on its semi-supervised classifiers.

    That check ends by fitting labels {-1, 1} and asking for ``classes_ ==
    [-1, 1]``, which contradicts the semi-supervised convention (-1 =
    unlabelled; the issue asks that ``classes_`` never hold -1). sklearn
    swaps in numeric labels for ``SelfTrainingClassifier``,
    ``LabelPropagation`` and ``LabelSpreading``, by name; we do the same,
    and run every other check as it is.
    """
    if getattr(check, "func", None) is not None and check.func.__name__ == (
        "check_classifiers_classes"
    ):
        return functools.partial(check.func, "SelfTrainingClassifier")
    return check


@parametrize_with_checks(
    [
        DomainAdaptedClassifier(
            backbone=MLPBackbone(hidden=(16,)), method=None, max_epochs=20,
            optimizer="adam", lr=1e-2, **CPU,
        ),
    ]
)
def test_sklearn_contract(estimator, check):
    _as_semi_supervised(check)(estimator)


@parametrize_with_checks(
    [
        DomainAdaptedClassifier(
            backbone=MLPBackbone(hidden=(16,)), method="cdan+e", max_epochs=20,
            optimizer="adam", lr=1e-2, **CPU,
        ),
    ]
)
def test_sklearn_contract_adaptive_method(estimator, check):
    # sklearn's checks have no target rows: each fit trains on the source
    # and warns that nothing was adapted, which is what the issue asks
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DomainAdaptationWarning)
        _as_semi_supervised(check)(estimator)


def test_string_labels_with_unlabelled_rows(shift):
    """SelfTrainingClassifier's convention: object y, strings and the int -1."""
    X, y, Xt, _ = shift
    names = np.array([f"digit_{d}" for d in range(10)], dtype=object)
    y_obj = np.where(y == -1, -1, names[np.maximum(y, 0)]).astype(object)
    clf = small().fit(X, y_obj)
    assert list(clf.classes_) == list(names)
    assert set(clf.predict(Xt[:20])) <= set(names)
    # numpy turns -1 into "-1" in a string array: refused, with the fix
    with pytest.raises(ValueError, match="Use dtype object"):
        small().fit(X, y_obj.astype(str))
    # string labels without unlabelled rows are ordinary labels
    with pytest.warns(DomainAdaptationWarning):
        small().fit(X[y != -1], names[y[y != -1]].astype(str))


# ------------------------------------------------------- gradient reversal
def test_grad_reverse_flips_and_scales_the_gradient():
    x = torch.randn(5, 3, requires_grad=True)
    w = torch.randn(5, 3)
    (g_plain,) = torch.autograd.grad((x * w).sum(), x)
    (g_rev,) = torch.autograd.grad((A.grad_reverse(x, 0.3) * w).sum(), x)
    assert torch.equal(A.grad_reverse(x, 0.3), x)
    assert_allclose(g_rev.numpy(), -0.3 * g_plain.numpy(), rtol=1e-6)


@pytest.mark.parametrize("method", ["dann", "cdan", "cdan+e", "mdd"])
def test_features_get_the_reversed_non_zero_gradient_of_the_domain_loss(method):
    """What the feature extractor receives is -coeff x the head's own gradient."""
    torch.manual_seed(0)
    n_features, n_classes, coeff = 8, 3, 0.7
    crit = A.make_criterion(method, n_features, n_classes, hidden=16)
    f = torch.randn(12, n_features, requires_grad=True)
    logits = torch.randn(12, n_classes)
    loss = crit(f[:6], f[6:], logits[:6], logits[6:], coeff)
    (g_rev,) = torch.autograd.grad(loss, f)
    # the same loss without the reversal layer: coeff -1 is the identity gradient
    plain = crit(f[:6], f[6:], logits[:6], logits[6:], -1.0)
    (g_plain,) = torch.autograd.grad(plain, f)
    assert torch.allclose(loss, plain)
    assert g_plain.abs().sum() > 0
    assert_allclose(g_rev.numpy(), -coeff * g_plain.numpy(), rtol=1e-5, atol=1e-8)


@pytest.mark.parametrize("method", METHODS)
def test_adaptation_loss_reaches_the_backbone_weights(method, shift):
    """Through a fitted network: non-zero gradient on the first layer's weights."""
    X, y, _, _ = shift
    clf = small(method, max_epochs=1).fit(X, y)
    m = clf.module_
    m.train()
    xs = torch.from_numpy(X[:32]).float()
    xt = torch.from_numpy(X[-32:]).float()
    f = m.features(torch.cat([xs, xt]))
    logits = m.head(f)
    loss = m.criterion(f[:32], f[32:], logits[:32], logits[32:], 1.0)
    first = next(m.features.parameters())
    (g,) = torch.autograd.grad(loss, first)
    assert g.abs().sum() > 0


def test_domain_head_outputs_logits_not_a_constant(fitted, shift):
    X, _, _, _ = shift
    with torch.no_grad():
        f = fitted.module_.features(torch.from_numpy(X[:64]).float())
        g = torch.softmax(fitted.module_.head(f), 1)
        d = fitted.module_.criterion.domain_head(fitted.module_.criterion.multilinear(f, g))
    assert d.shape == (64, 1)
    assert d.std() > 0
    # a logit, not a probability: nothing squashes it into [0, 1]
    assert not isinstance(fitted.module_.criterion.domain_head[-1], torch.nn.Softmax)


def test_dann_schedule_is_ganins():
    assert A.grl_coeff(0.0) == 0.0
    assert A.grl_coeff(0.5) == pytest.approx(2 / (1 + np.exp(-5)) - 1)
    assert A.grl_coeff(1.0) == pytest.approx(2 / (1 + np.exp(-10)) - 1)


def test_history_records_the_rising_coefficient(fitted):
    coeff = fitted.history_[:, "coeff"]
    assert coeff == sorted(coeff) and coeff[-1] == pytest.approx(A.grl_coeff(1.0))
    assert all(np.isfinite(fitted.history_[:, "adapt_loss"]))


# ------------------------------------------------------------ the losses
def test_cdan_multilinear_map_is_the_outer_product():
    crit = A.CDANLoss(4, 3)
    assert not crit.randomized
    f, g = torch.randn(5, 4), torch.softmax(torch.randn(5, 3), 1)
    h = crit.multilinear(f, g)
    assert h.shape == (5, 12)
    assert torch.allclose(h[2].view(3, 4), torch.outer(g[2], f[2]))


def test_cdan_randomizes_wide_heads_and_keeps_the_map_in_the_state_dict():
    torch.manual_seed(0)
    crit = A.CDANLoss(512, 10)  # 5120 > 4096
    assert crit.randomized and crit.R_f.shape == (512, 1024) and crit.R_g.shape == (10, 1024)
    assert {"R_f", "R_g"} <= set(crit.state_dict())
    f, g = torch.randn(3, 512), torch.softmax(torch.randn(3, 10), 1)
    expected = (f @ crit.R_f) * (g @ crit.R_g) / np.sqrt(1024)
    assert torch.allclose(crit.multilinear(f, g), expected)


def test_cdan_entropy_weights_follow_the_paper():
    torch.manual_seed(0)
    crit = A.CDANLoss(4, 3, entropy=True)
    f_s, f_t = torch.randn(4, 4), torch.randn(6, 4)
    l_s, l_t = torch.randn(4, 3), torch.randn(6, 3)
    loss = crit(f_s, f_t, l_s, l_t, 1.0)
    g = torch.softmax(torch.cat([l_s, l_t]), 1)
    w = 1 + torch.exp(-A.entropy(g))
    d = crit.domain_head(crit.multilinear(torch.cat([f_s, f_t]), g)).squeeze(1)
    bce = torch.nn.functional.binary_cross_entropy_with_logits(
        d, torch.cat([torch.zeros(4), torch.ones(6)]), reduction="none"
    )
    ws, wt = w[:4] / w[:4].sum(), w[4:] / w[4:].sum()
    manual = 0.5 * ((ws * bce[:4]).sum() + (wt * bce[4:]).sum())
    assert torch.allclose(loss, manual)


def test_mk_mmd_estimates():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(400, 3, generator=gen)
    y = torch.randn(400, 3, generator=gen)
    shifted = y + 1.5
    for linear in (True, False):
        same = A.mk_mmd(x, y, linear=linear)
        apart = A.mk_mmd(x, shifted, linear=linear)
        assert abs(float(same)) < 0.05 < float(apart)
    # the quadratic estimate against a direct numpy computation
    xs, ys = x[:30].double(), shifted[:20].double()
    pooled = torch.cat([xs, ys]).numpy()
    d2 = ((pooled[:, None] - pooled[None]) ** 2).sum(-1)
    base = d2.sum() / (50 * 49)
    k = sum(np.exp(-d2 / (base * 2.0**j)) for j in range(-2, 3))
    kxx = (k[:30, :30].sum() - np.trace(k[:30, :30])) / (30 * 29)
    kyy = (k[30:, 30:].sum() - np.trace(k[30:, 30:])) / (20 * 19)
    expected = kxx + kyy - 2 * k[:30, 30:].mean()
    assert float(A.mk_mmd(xs, ys, linear=False)) == pytest.approx(expected, rel=1e-9)


def test_coral_is_sun_and_saenkos_formula():
    rng = np.random.RandomState(0)
    a, b = rng.randn(20, 5), rng.randn(30, 5) * 2
    expected = ((np.cov(a, rowvar=False) - np.cov(b, rowvar=False)) ** 2).sum() / (4 * 25)
    assert float(A.coral(torch.from_numpy(a), torch.from_numpy(b))) == pytest.approx(expected)


def test_mdd_loss_is_the_margin_disparity():
    torch.manual_seed(0)
    crit = A.MDDLoss(4, 3, margin=4.0)
    f_s, f_t = torch.randn(5, 4), torch.randn(7, 4)
    l_s, l_t = torch.randn(5, 3), torch.randn(7, 3)
    loss = crit(f_s, f_t, l_s, l_t, 1.0)
    adv_s, adv_t = crit.adv_head(f_s), crit.adv_head(f_t)
    src = torch.nn.functional.cross_entropy(adv_s, l_s.argmax(1))
    p = torch.softmax(adv_t, 1)[torch.arange(7), l_t.argmax(1)]
    assert torch.allclose(loss, 4.0 * src - torch.log(1 - p).mean())


def _softmax(z):
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def test_mcc_loss_is_jin_et_als_minimum_class_confusion():
    rng = np.random.RandomState(0)
    z_s, z_t = rng.randn(4, 3), rng.randn(6, 3) * 2
    T = 2.5
    # by hand: temperature-scaled predictions, entropy weights rescaled to sum
    # to the batch size, class confusion Y^T W Y, columns normalised, mean
    # off-diagonal mass per class
    p = _softmax(z_t / T)
    h = -(p * np.log(p)).sum(axis=1)
    w = 1 + np.exp(-h)
    w = 6 * w / w.sum()
    c = sum(w[i] * np.outer(p[i], p[i]) for i in range(6))
    c = c / c.sum(axis=0, keepdims=True)
    expected = (c.sum() - np.trace(c)) / 3
    crit = A.make_criterion("mcc", 5, 3, temperature=T)
    f = torch.zeros(10, 5, dtype=torch.float64)
    got = crit(f[:4], f[4:], torch.from_numpy(z_s), torch.from_numpy(z_t), 0.3)
    assert float(got) == pytest.approx(expected, rel=1e-6)
    # the source logits are not read; the temperature is
    assert float(A.mcc(torch.from_numpy(z_t), T)) == pytest.approx(expected, rel=1e-6)
    assert float(A.mcc(torch.from_numpy(z_t), 1.0)) != pytest.approx(expected, rel=1e-3)
    # no confusion for one-hot rows; (k - 1) / k for uniform ones
    assert float(A.mcc(torch.eye(3) * 200.0, 1.0)) == pytest.approx(0.0, abs=1e-6)
    assert float(A.mcc(torch.zeros(5, 3))) == pytest.approx(2 / 3)


def test_mcc_entropy_weights_are_not_differentiated():
    z = torch.randn(6, 4, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(A.mcc(z), z)

    def fixed_weights(z):  # the same loss with the weights computed outside autograd
        p = torch.softmax(z / 2.5, 1)
        w = 1 + torch.exp(-A.entropy(p.detach()))
        w = 6 * w / w.sum()
        c = (p * w[:, None]).T @ p
        c = c / c.sum(0, keepdim=True)
        return (c.sum() - c.trace()) / 4

    (g_fixed,) = torch.autograd.grad(fixed_weights(z), z)
    assert_allclose(g.numpy(), g_fixed.numpy(), rtol=1e-10)
    assert g.abs().sum() > 0


def test_bnm_loss_is_minus_the_nuclear_norm_over_the_batch_size():
    rng = np.random.RandomState(0)
    z_s, z_t = rng.randn(4, 3), rng.randn(7, 3) * 2
    p = _softmax(z_t)
    expected = -np.linalg.svd(p, compute_uv=False).sum() / 7
    crit = A.make_criterion("bnm", 5, 3)
    f = torch.zeros(11, 5, dtype=torch.float64)
    got = crit(f[:4], f[4:], torch.from_numpy(z_s), torch.from_numpy(z_t), 0.3)
    assert float(got) == pytest.approx(expected, rel=1e-9)
    # confident, diverse predictions have the larger norm: the lower loss
    diverse = torch.eye(3).repeat(2, 1) * 50.0
    collapsed = torch.zeros(6, 3)
    collapsed[:, 0] = 50.0
    # two one-hot rows per class: three singular values sqrt(2)
    assert float(A.bnm(diverse)) == pytest.approx(-3 * np.sqrt(2) / 6, rel=1e-6)
    assert float(A.bnm(collapsed)) == pytest.approx(-np.sqrt(6) / 6, rel=1e-6)


@pytest.mark.parametrize("method", METHODS)
def test_each_method_fits_continues_repeats_and_pickles(method, shift):
    X, y, Xt, _ = shift
    a = small(method, max_epochs=1).fit(X, y)
    assert a.adapted_ and np.isfinite(a.history_[-1, "adapt_loss"])
    b = small(method, max_epochs=1).partial_fit(X, y, classes=np.arange(10))
    assert same_state(a, b)
    back = pickle.loads(pickle.dumps(a))
    assert_array_equal(back.predict_proba(Xt), a.predict_proba(Xt))
    back.partial_fit(X, y)
    a.partial_fit(X, y)
    assert a.n_iter_ == back.n_iter_ == 2
    assert same_state(a, back)


def test_temperature_reaches_the_mcc_loss_and_is_kept_by_the_fit(shift):
    X, y, _, _ = shift
    clf = small("mcc", temperature=1.5, max_epochs=1).fit(X, y)
    assert clf.module_.criterion.temperature == 1.5
    again = pickle.loads(pickle.dumps(clf.set_params(temperature=4.0)))
    assert again.module_.criterion.temperature == 1.5
    with pytest.raises(ValueError, match="temperature"):
        small("mcc", temperature=0.0).fit(X, y)


@pytest.mark.parametrize("method", ["mcc", "bnm"])
def test_label_free_selection_with_the_confusion_methods(method, shift):
    from sklearn_meta.model_selection import DomainShuffleSplit, make_da_scorer

    X, y, Xt, yt = shift
    for kind in ("entropy", "iwv", "dev", "reverse"):
        search = GridSearchCV(
            small(method, max_epochs=1), {"trade_off": [0.1, 1.0]},
            cv=DomainShuffleSplit(n_splits=2, random_state=0), scoring=make_da_scorer(kind),
        ).fit(X, y)
        assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
        assert search.best_estimator_.score(Xt, yt) > 0.1


# -------------------------------------------------------- domains and y
def test_unlabelled_rows_and_sample_domain_give_the_same_fit(shift):
    X, y, _, _ = shift
    a = small().fit(X, y)
    b = small().fit(X, y, sample_domain=np.where(y == -1, -2, 1))
    assert same_state(a, b)
    assert_array_equal(a.classes_, np.arange(10))


def test_labelled_target_rows_and_several_source_domains(shift):
    X, y, Xt, yt = shift
    n_s = int((y != -1).sum())
    y_lab = y.copy()
    y_lab[n_s : n_s + 20] = yt[:20]  # 20 labelled target rows
    domain = np.r_[np.where(np.arange(n_s) % 2, 1, 2), np.full(len(Xt), -1)]
    clf = small().fit(X, y_lab, sample_domain=domain)
    assert -1 not in clf.classes_
    assert clf.n_target_ == len(Xt) and clf.n_source_ == n_s
    assert clf.adapted_


def test_no_target_rows_trains_source_only_with_a_warning(shift):
    X, y, _, _ = shift
    with pytest.warns(DomainAdaptationWarning, match="nothing was adapted"):
        clf = small().fit(X[y != -1], y[y != -1])
    assert not clf.adapted_
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not small(None).fit(X[y != -1], y[y != -1]).adapted_


def test_source_only_ignores_target_rows(shift):
    X, y, _, _ = shift
    a = small(None).fit(X, y)
    b = small(None).fit(X[y != -1], y[y != -1])
    assert same_state(a, b)
    assert not a.adapted_ and a.n_target_ == (y == -1).sum()


def test_bad_input(shift):
    X, y, _, _ = shift
    with pytest.raises(ValueError, match="no labelled row"):
        small().fit(X, np.full(len(y), -1))
    with pytest.raises(ValueError, match="sample_domain has 3 entries"):
        small().fit(X, y, sample_domain=[1, 1, -2])
    with pytest.raises(ValueError, match="holds 0"):
        small().fit(X, y, sample_domain=np.zeros(len(y), dtype=int))
    with pytest.raises(ValueError, match="source rows need labels"):
        small().fit(X, y, sample_domain=np.ones(len(y), dtype=int))
    with pytest.raises(ValueError, match="integers"):
        small().fit(X, y, sample_domain=np.full(len(y), 0.5))
    with pytest.raises(ValueError, match="only one class"):
        small().fit(X, np.where(y == -1, -1, 3))
    with pytest.raises(ValueError, match="-1 marks unlabelled"):
        small().partial_fit(X, y, classes=np.arange(-1, 10))
    X_nan = X.copy()
    X_nan[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        small().fit(X_nan, y)
    with pytest.raises(ValueError, match="method"):
        small("dan").fit(X, y)
    clf = small()
    with pytest.raises(NotFittedError):
        clf.predict(X[:2])


@pytest.mark.parametrize("method", ["mdd", "dann"])
def test_a_blow_up_with_an_adaptation_loss_names_trade_off(method, shift):
    X, y, _, _ = shift
    with pytest.raises(ValueError, match=r"became nan.*lower trade_off .*'%s'.* or lr" % method):
        small(method, trade_off=1e6, max_epochs=2, optimizer="sgd").fit(X, y)
    # the source-only baseline has no trade_off to lower
    assert small(None)._lr_hint == "lr"


def test_object_labels_holding_the_string_minus_one_are_refused(shift):
    X, y, _, _ = shift
    # np.concatenate of an object array of names with ["-1"] * n: the marker
    # is a string, and would quietly become a class
    names = np.array([f"digit_{d}" for d in range(10)], dtype=object)
    y_obj = np.where(y == -1, "-1", names[np.maximum(y, 0)]).astype(object)
    with pytest.raises(ValueError, match="holds the string '-1'.*Use dtype object"):
        small().fit(X, y_obj)
    with pytest.raises(ValueError, match="holds the string '-1'"):
        small().partial_fit(X, y_obj, classes=names)


def test_failed_fit_leaves_it_unfitted(fitted, shift):
    X, y, _, _ = shift
    clf = clone(fitted)
    with pytest.raises(ValueError):
        clf.fit(X, np.full(len(y), -1))
    with pytest.raises(NotFittedError):
        clf.predict(X[:2])


# ---------------------------------------------------------- sklearn tools
def test_pipeline_grid_search_with_each_scorer(shift):
    from sklearn_meta.model_selection import DomainShuffleSplit, make_da_scorer

    X, y, Xt, yt = shift
    pipe = make_pipeline(FunctionTransformer(lambda z: z * 2.0), small(max_epochs=2))
    for kind in ("entropy", "iwv", "dev", "reverse"):
        search = GridSearchCV(
            pipe, {"domainadaptedclassifier__trade_off": [0.1, 1.0]},
            cv=DomainShuffleSplit(n_splits=2, random_state=0), scoring=make_da_scorer(kind),
        ).fit(X, y)
        assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))
        assert search.best_estimator_.score(Xt, yt) > 0.2


def test_cross_val_score_with_metadata_routing(shift):
    from sklearn_meta.model_selection import DomainShuffleSplit, make_da_scorer

    X, y, _, _ = shift
    domain = np.where(y == -1, -2, 1)
    with config_context(enable_metadata_routing=True):
        clf = small(max_epochs=1).set_fit_request(sample_domain=True)
        scores = cross_val_score(
            clf, X, y, cv=DomainShuffleSplit(n_splits=2, random_state=0),
            scoring=make_da_scorer("entropy"), params={"sample_domain": domain},
        )
    assert scores.shape == (2,) and np.all(scores <= 0)


@pytest.mark.parametrize("kind", ["entropy", "iwv", "dev", "reverse"])
def test_label_free_scorers_never_read_target_labels(kind, fitted, shift):
    from sklearn_meta.model_selection import make_da_scorer

    X, y, _, yt = shift
    domain = np.where(y == -1, -2, 1)
    y_true = y.copy()
    y_true[y == -1] = yt  # target labels present...
    scrambled = y.copy()
    scrambled[y == -1] = np.random.RandomState(1).permutation(yt)  # ...or scrambled
    nonsense = y.astype(object)
    nonsense[y == -1] = "never read"
    scorer = make_da_scorer(kind)
    a = scorer(fitted, X, y_true, sample_domain=domain)
    assert a == scorer(fitted, X, scrambled, sample_domain=domain)
    assert a == scorer(fitted, X, nonsense, sample_domain=domain)
    assert a == scorer(fitted, X, y)  # y == -1 marks the same target rows


def test_label_free_scorers_on_a_plain_scikit_learn_model(shift):
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    from sklearn_meta.model_selection import make_da_scorer

    X, y, _, _ = shift
    plain = LogisticRegression(max_iter=200).fit(X[y != -1], y[y != -1])
    for kind in ("entropy", "iwv"):
        assert np.isfinite(make_da_scorer(kind)(plain, X, y))
    with pytest.raises(TypeError, match=r"make_da_scorer\('dev'\).*own features \(transform\)"
                                        r".*LogisticRegression has no transform.*'iwv'"):
        make_da_scorer("dev")(plain, X, y)
    svc = LinearSVC().fit(X[y != -1], y[y != -1])
    with pytest.raises(TypeError, match="LinearSVC has no predict_proba"):
        make_da_scorer("entropy")(svc, X, y)
    assert 0.2 < make_da_scorer("reverse")(svc, X, y) <= 1  # predict is all it reads


def test_reverse_scorer_is_the_hand_computed_reverse_accuracy(fitted, shift):
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from sklearn_meta.model_selection import make_da_scorer

    X, y, _, _ = shift
    src, tgt = y != -1, y == -1
    # by hand: fit a scaled logistic regression to the model's target labels,
    # then score it on the labelled source rows
    pseudo = fitted.predict(X[tgt])
    scaler = StandardScaler().fit(X[tgt])
    reverse = LogisticRegression(max_iter=1000, random_state=0)
    reverse.fit(scaler.transform(X[tgt]).astype(np.float64), pseudo)
    expected = np.mean(reverse.predict(scaler.transform(X[src])) == y[src])
    got = make_da_scorer("reverse", random_state=0)(fitted, X, y)
    assert got == pytest.approx(expected, abs=1e-12)
    assert 0.2 < got <= 1.0


def test_reverse_scorer_matches_labels_by_value_whatever_their_type(shift):
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from sklearn_meta.model_selection import make_da_scorer

    X, y, _, _ = shift
    src = y != -1
    scorer = make_da_scorer("reverse")
    plain = LogisticRegression(max_iter=300).fit(X[src], y[src])
    base = scorer(plain, X, y)
    as_float = LogisticRegression(max_iter=300).fit(X[src], y[src].astype(float))
    assert scorer(as_float, X, y) == base  # 0.0 predicted, 0 given: the same label
    names = np.array([f"digit {v}" for v in y], dtype=object)
    names[~src] = -1
    named = LogisticRegression(max_iter=300).fit(X[src], names[src].astype(str))
    assert scorer(named, pd.DataFrame(X), pd.Series(names)) == base


def test_reverse_scorer_of_a_model_that_says_one_class(shift):
    from sklearn.dummy import DummyClassifier

    from sklearn_meta.model_selection import make_da_scorer

    X, y, _, _ = shift
    src = y != -1
    const = DummyClassifier(strategy="most_frequent").fit(X[src], y[src])
    share = np.mean(y[src] == const.predict(X[:1])[0])  # what "one class everywhere" gets right
    assert make_da_scorer("reverse")(const, X, y) == pytest.approx(share)


def test_input_space_scorers_refuse_paths_clearly(fitted, shift):
    from sklearn_meta.model_selection import make_da_scorer

    _, y, _, _ = shift
    paths = np.array([f"img{i}.png" for i in range(len(y))], dtype=object)

    class Paths:  # a model that takes paths: the scorer must say what it cannot do
        classes_ = fitted.classes_

        def predict(self, X):
            return np.resize(self.classes_, len(X))

        def predict_proba(self, X):
            return np.full((len(X), len(self.classes_)), 1 / len(self.classes_))

    for kind in ("iwv", "reverse"):
        with pytest.raises(TypeError, match=rf"make_da_scorer\('{kind}'\).*not a numeric"
                                            r".*'dev'"):
            make_da_scorer(kind)(Paths(), paths, y)

    class OneClass(Paths):  # one label for every target row: still refused, not scored
        def predict(self, X):
            return np.full(len(X), self.classes_[0])

    with pytest.raises(TypeError, match=r"make_da_scorer\('reverse'\).*not a numeric"):
        make_da_scorer("reverse")(OneClass(), paths, y)


def test_domain_shuffle_split_keeps_both_domains_on_both_sides(shift):
    from sklearn_meta.model_selection import DomainShuffleSplit

    X, y, _, _ = shift
    for train, test in DomainShuffleSplit(n_splits=3, random_state=0).split(X, y):
        assert len(np.intersect1d(train, test)) == 0
        for idx in (train, test):
            assert (y[idx] == -1).any() and (y[idx] != -1).any()
    with pytest.raises(ValueError, match="at least 2 target rows"):
        next(DomainShuffleSplit().split(X[y != -1], y[y != -1]))


def test_pickle_round_trip_with_randomized_cdan(shift):
    X, y, Xt, _ = shift
    clf = small("cdan", backbone=MLPBackbone(hidden=(512,)), max_epochs=1).fit(X, y)
    assert clf.module_.criterion.randomized
    again = pickle.loads(pickle.dumps(clf))
    assert same_state(clf, again)
    assert_array_equal(again.predict_proba(Xt), clf.predict_proba(Xt))
    again.partial_fit(X, y)
    assert again.n_iter_ == 2


def test_fitted_estimator_as_backbone(shift):
    X, y, Xt, yt = shift
    pre = FineTuneClassifier(backbone=MLPBackbone(hidden=(32,)), max_epochs=3, **CPU)
    pre.fit(X[y != -1], y[y != -1])
    clf = small(backbone=pre).fit(X, y)
    assert clf.pretrained_
    assert clf.transform(Xt[:3]).shape == (3, 32)


def test_repeatable_and_partial_fit_continues(shift):
    X, y, Xt, _ = shift
    a = small("mdd", max_epochs=2).fit(X, y)
    b = small("mdd", max_epochs=2).fit(X, y)
    assert same_state(a, b)
    c = small("mdd", max_epochs=2).partial_fit(X, y, classes=np.arange(10))
    c.partial_fit(X, y)
    assert c.n_iter_ == 2
    assert same_state(a, c)
    assert c.predict(Xt[:5]).shape == (5,)


def test_import_leaves_metadata_routing_off():
    import sklearn

    import sklearn_meta  # noqa: F401

    assert sklearn.get_config()["enable_metadata_routing"] is False
    assert hasattr(DomainAdaptedClassifier(), "set_fit_request")


def test_max_epochs_auto_gives_small_sources_enough_updates():
    from sklearn_meta.datasets import make_digits_shift

    Xs, ys, Xt, _ = make_digits_shift(random_state=0)
    X = np.concatenate([Xs[:100], Xt[:100]])
    y = np.concatenate([ys[:100], np.full(100, -1)])
    clf = DomainAdaptedClassifier(backbone=MLPBackbone(hidden=(8,)), batch_size=50,
                                  random_state=0, device="cpu")
    clf.partial_fit(X, y, classes=np.arange(10))
    assert clf.max_epochs_ == 500  # 2 minibatches an epoch: 1,000 updates
    big = DomainAdaptedClassifier(batch_size=1)
    big._resolve_max_epochs(60_000)
    assert big.max_epochs_ == 20  # large sets keep their 20 epochs
    fixed = DomainAdaptedClassifier(max_epochs=3, backbone=MLPBackbone(hidden=(8,)),
                                    random_state=0, device="cpu").fit(X, y)
    assert fixed.max_epochs_ == fixed.n_iter_ == 3


def test_trade_off_auto_is_three_for_mcc_and_one_for_the_others(shift):
    X, y, _, _ = shift
    assert DomainAdaptedClassifier().get_params()["method"] == "mcc"
    auto = small("mcc", max_epochs=2, trade_off="auto").fit(X, y)
    three = small("mcc", max_epochs=2, trade_off=3.0).fit(X, y)
    assert auto.trade_off_ == three.trade_off_ == 3.0
    assert same_state(auto, three)  # "auto" is exactly the weight 3.0 for MCC
    dann = small("dann", max_epochs=1, trade_off="auto").fit(X, y)
    assert dann.trade_off_ == 1.0
    assert same_state(dann, small("dann", max_epochs=1, trade_off=1.0).fit(X, y))
    with pytest.raises(ValueError, match="trade_off"):
        small("mcc", trade_off="high").fit(X, y)


def test_trade_off_is_recorded_by_every_way_of_fitting(shift):
    from sklearn_meta import FineTuneClassifier

    X, y, Xt, _ = shift
    part = small("mcc").partial_fit(X, y, classes=np.arange(10))
    assert part.trade_off_ == 3.0
    assert small(None, max_epochs=1).fit(X, y).trade_off_ == 0.0
    source = FineTuneClassifier(MLPBackbone(hidden=(16,)), max_epochs=1, **CPU)
    source.fit(X[y != -1], y[y != -1])
    shot = DomainAdaptedClassifier(backbone=source, method="shot", max_epochs=1, **CPU)
    assert shot.fit(Xt).trade_off_ == 1.0
    # a model pickled before trade_off_ existed gets the weight it trained with
    state = part.__getstate__()
    del state["trade_off_"]
    old = DomainAdaptedClassifier.__new__(DomainAdaptedClassifier)
    old.__setstate__(state)
    assert old.trade_off_ == 3.0
    assert_array_equal(old.predict(Xt), part.predict(Xt))
