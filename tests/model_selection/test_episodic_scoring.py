"""Tests of episodic scoring: evaluate_episodes and make_episodic_scorer."""

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from scipy.stats import norm
from sklearn.datasets import load_digits, make_blobs
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, brier_score_loss, f1_score, log_loss, roc_auc_score
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_meta import ProtoNetClassifier
from sklearn_meta._episodes import episode_logits
from sklearn_meta.backbones import MLPBackbone
from sklearn_meta.model_selection import (
    ClassDisjointKFold,
    evaluate_episodes,
    make_episodic_scorer,
)

NAMES = np.array([f"digit{k}" for k in range(10)], dtype=object)


def protonet(**params):
    defaults = dict(
        backbone=MLPBackbone(hidden=(32,)),
        max_iter=60,
        lr=1e-2,
        device="cpu",
        random_state=0,
    )
    return ProtoNetClassifier(**{**defaults, **params})


@pytest.fixture(scope="module")
def digits():
    """Digits scaled to [0, 1], labelled with strings."""
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), NAMES[y]


@pytest.fixture(scope="module")
def base_novel(digits):
    X, y = digits
    base = np.isin(y, NAMES[:5])
    return X[base], y[base], X[~base], y[~base]


@pytest.fixture(scope="module")
def meta(base_novel):
    """ProtoNet meta-trained on digits 0-4. Shared: never fit or mutate it."""
    X, y, _, _ = base_novel
    return protonet().fit(X, y)


class AdaptOnly:
    """Hides the fast path: evaluate_episodes must adapt and predict per episode."""

    def __init__(self, estimator):
        self.estimator = estimator
        self.n_adapt = 0

    def adapt(self, X, y):
        self.n_adapt += 1
        return self.estimator.adapt(X, y)


# ------------------------------------------------------- evaluate_episodes
def test_evaluate_episodes_result(meta, base_novel):
    _, _, X, y = base_novel
    kw = dict(n_way=5, n_shot=1, n_query=5, n_episodes=200, random_state=0)
    res = evaluate_episodes(meta, X, y, **kw)
    assert res.scores.shape == (200,)
    assert_allclose(res.scores * 25, np.round(res.scores * 25))  # 25 queries per episode
    assert 0.2 < res.mean < 1  # better than chance
    assert res.mean == pytest.approx(res.scores.mean())
    assert res.std == pytest.approx(res.scores.std(ddof=1))
    assert res.ci == pytest.approx(1.96 * res.std / np.sqrt(200), rel=1e-3)
    assert res.ci_low < res.mean < res.ci_high
    assert res.ci_high - res.ci_low == pytest.approx(2 * res.ci)
    assert (res.n_way, res.n_shot, res.n_query, res.n_episodes) == (5, 1, 5, 200)
    wider = evaluate_episodes(meta, X, y, confidence=0.99, **kw)
    assert wider.ci == pytest.approx(norm.ppf(0.995) * res.std / np.sqrt(200))


def test_evaluate_episodes_random_state(meta, base_novel):
    _, _, X, y = base_novel
    kw = dict(n_way=3, n_shot=2, n_query=3, n_episodes=40)
    a = evaluate_episodes(meta, X, y, random_state=7, **kw).scores
    assert_array_equal(evaluate_episodes(meta, X, y, random_state=7, **kw).scores, a)
    assert not np.array_equal(evaluate_episodes(meta, X, y, random_state=8, **kw).scores, a)


def test_evaluate_episodes_leaves_the_estimator_unchanged(meta, base_novel):
    _, _, X, y = base_novel
    prototypes, classes, n_iter = meta.prototypes_.copy(), meta.classes_.copy(), meta.n_iter_
    weights = {k: v.clone() for k, v in meta.module_.state_dict().items()}
    proba = meta.predict_proba(X)
    evaluate_episodes(meta, X, y, n_way=5, n_shot=1, n_episodes=50, random_state=0)
    evaluate_episodes(AdaptOnly(meta), X, y, n_way=5, n_shot=1, n_episodes=20, random_state=0)
    assert_array_equal(meta.prototypes_, prototypes)
    assert_array_equal(meta.classes_, classes)
    assert meta.n_iter_ == n_iter
    for key, tensor in meta.module_.state_dict().items():
        assert torch.equal(tensor, weights[key]), key
    assert_array_equal(meta.predict_proba(X), proba)


@pytest.mark.parametrize("metric", ["euclidean", "cosine"])
def test_fast_path_equals_adapt_predict_loop(base_novel, metric):
    X_base, y_base, X, y = base_novel
    clf = protonet(metric=metric).fit(X_base, y_base)
    kw = dict(n_way=5, n_shot=1, n_query=5, n_episodes=100, random_state=0)
    fast = evaluate_episodes(clf, X, y, **kw)
    wrapped = AdaptOnly(clf)
    slow = evaluate_episodes(wrapped, X, y, **kw)
    assert wrapped.n_adapt == 100
    assert_array_equal(fast.scores, slow.scores)


def test_fast_path_equals_adapt_predict_loop_with_identity_backbone():
    X, y = make_blobs(n_samples=400, centers=8, n_features=3, cluster_std=4.0, random_state=0)
    labels = np.array(list("abcdefgh"), dtype=object)[y]
    clf = ProtoNetClassifier(backbone="identity", device="cpu").fit(X, labels)
    kw = dict(n_way=4, n_shot=2, n_query=6, n_episodes=100, random_state=3)
    fast = evaluate_episodes(clf, X, labels, **kw)
    assert 0.25 < fast.mean < 1  # informative: neither chance nor perfect
    assert_array_equal(fast.scores, evaluate_episodes(AdaptOnly(clf), X, labels, **kw).scores)


def test_pipeline_is_scored_on_its_transformed_inputs(base_novel):
    X_base, y_base, X, y = base_novel
    pipe = make_pipeline(StandardScaler(), protonet(max_iter=30)).fit(X_base, y_base)
    kw = dict(n_way=5, n_shot=1, n_query=5, n_episodes=60, random_state=0)
    res = evaluate_episodes(pipe, X, y, **kw)
    direct = evaluate_episodes(pipe[-1], pipe[0].transform(X), y, **kw)
    assert_array_equal(res.scores, direct.scores)
    assert 0.2 < res.mean <= 1


def test_custom_score_func_gets_each_episode(meta, base_novel):
    _, _, X, y = base_novel
    calls = []

    def macro_f1(y_true, y_pred):
        calls.append((y_true, y_pred))
        return f1_score(y_true, y_pred, average="macro")

    res = evaluate_episodes(meta, X, y, n_way=3, n_shot=1, n_query=4, n_episodes=30,
                            score_func=macro_f1, random_state=0)
    assert len(calls) == 30
    for (y_true, y_pred), score in zip(calls, res.scores):
        assert len(y_true) == len(y_pred) == 12
        assert len(set(y_true)) == 3 and set(y_true) <= set(NAMES[5:])
        assert set(y_pred) <= set(y_true)  # predictions come from the episode's classes
        assert score == f1_score(y_true, y_pred, average="macro")
    kwargs_res = evaluate_episodes(meta, X, y, n_way=3, n_shot=1, n_query=4, n_episodes=30,
                                   score_func=f1_score, average="macro", random_state=0)
    assert_array_equal(kwargs_res.scores, res.scores)
    # a metric other than the accuracy_score object takes the general route
    acc = evaluate_episodes(meta, X, y, n_way=3, n_shot=1, n_query=4, n_episodes=30,
                            score_func=lambda t, p: accuracy_score(t, p), random_state=0)
    plain = evaluate_episodes(meta, X, y, n_way=3, n_shot=1, n_query=4, n_episodes=30,
                              random_state=0)
    assert_allclose(acc.scores, plain.scores)


def test_episodes_the_data_cannot_supply_raise(meta, base_novel):
    _, _, X, y = base_novel
    three = np.isin(y, NAMES[5:8])
    with pytest.raises(ValueError, match="n_way=5 needs at least 5 classes; y has 3. Lower n_way"):
        evaluate_episodes(meta, X[three], y[three], n_way=5, n_shot=1)
    keep = (y != "digit7") | (np.cumsum(y == "digit7") <= 4)
    with pytest.raises(
        ValueError,
        match=r"needs 6 samples per class; class 'digit7' has 4. "
        r"Lower n_shot/n_query or drop that class",
    ):
        evaluate_episodes(meta, X[keep], y[keep], n_way=5, n_shot=1, n_query=5)


@pytest.mark.parametrize("n_way", [1, 0, 2.5])
def test_episodes_of_fewer_than_two_classes_are_refused(meta, base_novel, n_way):
    # adapt() refuses a single class: a 1-way episode is no test at all
    _, _, X, y = base_novel
    with pytest.raises(ValueError, match="n_way must be an int of at least 2.*single class"):
        evaluate_episodes(meta, X, y, n_way=n_way, n_shot=1, n_episodes=5)
    with pytest.raises(ValueError, match="n_way must be an int of at least 2"):
        make_episodic_scorer(n_way=n_way, n_episodes=5)(meta, X, y)
    with pytest.raises(ValueError, match="at least 2 classes"):
        meta.adapt(X[y == NAMES[5]][:3], y[y == NAMES[5]][:3])


def test_groups_are_for_regressors(meta, base_novel):
    _, _, X, y = base_novel
    with pytest.raises(ValueError, match="groups names the tasks of a few-shot regressor"):
        evaluate_episodes(meta, X, y, groups=np.zeros(len(y)), n_way=3, n_episodes=5)


def test_estimator_without_adapt_raises_type_error(base_novel):
    X_base, y_base, X, y = base_novel
    lr = LogisticRegression(max_iter=200).fit(X_base, y_base)
    with pytest.raises(TypeError, match=r"needs a few-shot estimator with an adapt\(\) method"):
        evaluate_episodes(lr, X, y, n_way=3)
    with pytest.raises(TypeError, match="got LogisticRegression"):
        evaluate_episodes(make_pipeline(StandardScaler(), lr).fit(X_base, y_base), X, y, n_way=3)


# ------------------------------------------------- probability metrics
class Recorder:
    """Records the support sets and query rows of the adapt/predict loop."""

    def __init__(self, estimator):
        self.estimator = estimator
        self.episodes = []

    def adapt(self, X, y):
        adapted = self.estimator.adapt(X, y)
        record = {"X_support": np.array(X), "y_support": np.array(y)}
        self.episodes.append(record)

        class Adapted:
            classes_ = adapted.classes_

            def predict_proba(_, X_query):
                record["X_query"] = np.array(X_query)
                return adapted.predict_proba(X_query)

        return Adapted()


@pytest.fixture(scope="module")
def identity_digits(base_novel):
    """ProtoNet on raw pixels (nothing to train), and the novel digits 5-9."""
    X_base, y_base, X, y = base_novel
    return ProtoNetClassifier(backbone="identity", device="cpu").fit(X_base, y_base), X, y


def manual_log_loss(X_support, y_support, X_query, y_query):
    """log_loss of prototypes on raw pixels, by hand (numpy, no sklearn)."""
    labels = np.unique(y_support)
    protos = np.stack([X_support[y_support == c].mean(0) for c in labels]).astype(np.float64)
    d2 = ((X_query[:, None, :].astype(np.float64) - protos[None]) ** 2).sum(-1)
    logits = -d2
    top = logits.max(1, keepdims=True)
    log_p = logits - top - np.log(np.exp(logits - top).sum(1, keepdims=True))
    true_col = np.searchsorted(labels, y_query)
    return -log_p[np.arange(len(y_query)), true_col].mean()


def test_log_loss_gets_episode_probabilities(identity_digits):
    clf, X, y = identity_digits
    kw = dict(n_way=5, n_shot=1, n_query=5, n_episodes=20, random_state=0,
              score_func=log_loss, response_method="predict_proba")
    res = evaluate_episodes(clf, X, y, **kw)
    assert np.all(np.isfinite(res.scores)) and np.all(res.scores > 0)
    assert 0 < res.mean < np.log(5) * 3  # finite, and not absurd for 5 classes
    rec = Recorder(clf)  # the adapt/predict_proba loop (clf may batch episodes)
    assert_allclose(evaluate_episodes(rec, X, y, **kw).scores, res.scores, rtol=1e-12)
    assert len(rec.episodes) == 20
    first = rec.episodes[0]
    assert first["X_query"].shape == (25, X.shape[1])
    rows = [np.flatnonzero((X == q).all(1))[0] for q in first["X_query"]]
    y_query = y[rows]
    expected = manual_log_loss(first["X_support"], first["y_support"], first["X_query"], y_query)
    assert res.scores[0] == pytest.approx(expected, rel=1e-6)


def test_probability_metric_sees_every_episode_class_in_sorted_order(identity_digits):
    clf, X, y = identity_digits
    calls = []

    def spy(y_true, y_prob, labels=None):
        calls.append((y_true, y_prob, labels))
        return log_loss(y_true, y_prob, labels=labels)

    evaluate_episodes(clf, X, y, n_way=3, n_shot=2, n_query=4, n_episodes=10, random_state=0,
                      score_func=spy, response_method="predict_proba")
    assert len(calls) == 10
    for y_true, y_prob, labels in calls:
        assert y_prob.shape == (12, 3)
        assert_allclose(y_prob.sum(1), 1)
        assert list(labels) == sorted(set(y_true))  # all 3 episode classes, sorted
        # the columns follow labels: the most probable column is the prediction
        pred = labels[y_prob.argmax(1)]
        assert (pred == y_true).mean() > 0.5


def test_binary_episodes_get_the_positive_class_column(identity_digits):
    clf, X, y = identity_digits
    kw = dict(n_way=2, n_shot=1, n_query=5, n_episodes=15, random_state=0,
              response_method="predict_proba")
    auc = evaluate_episodes(clf, X, y, score_func=roc_auc_score, **kw)
    assert np.all((auc.scores >= 0) & (auc.scores <= 1)) and auc.mean > 0.5
    brier = evaluate_episodes(clf, X, y, score_func=brier_score_loss, **kw)
    assert np.all((brier.scores >= 0) & (brier.scores <= 1))
    binary = evaluate_episodes(clf, X, y, score_func=log_loss, **kw)
    # the same episodes scored on the (n, 2) probabilities give the same loss
    two_cols = evaluate_episodes(
        clf, X, y, score_func=lambda t, p, labels: log_loss(t, np.c_[1 - p, p], labels=labels),
        **kw)
    assert_allclose(binary.scores, two_cols.scores)


def test_multiclass_roc_auc_with_score_kwargs(identity_digits):
    clf, X, y = identity_digits
    res = evaluate_episodes(clf, X, y, n_way=4, n_shot=1, n_query=5, n_episodes=10,
                            random_state=0, score_func=roc_auc_score,
                            response_method="predict_proba", multi_class="ovr")
    assert res.scores.shape == (10,) and 0.5 < res.mean <= 1


@pytest.mark.parametrize("metric", [log_loss, roc_auc_score, brier_score_loss])
def test_probability_metric_on_labels_names_the_fix(identity_digits, metric):
    clf, X, y = identity_digits
    with pytest.raises(ValueError, match="response_method='predict_proba'"):
        evaluate_episodes(clf, X, y, n_way=3, n_episodes=5, score_func=metric)
    with pytest.raises(ValueError, match="response_method='predict_proba'"):
        make_episodic_scorer(metric, greater_is_better=False)


def test_metric_failing_on_labels_names_the_fix(identity_digits):
    # not recognised by name: the metric's own error is caught and explained
    clf, X, y = identity_digits
    with pytest.raises(ValueError, match="response_method='predict_proba'") as info:
        evaluate_episodes(clf, X, y, n_way=3, n_episodes=5,
                          score_func=lambda t, p: log_loss(t, p))
    assert isinstance(info.value.__cause__, ValueError)


def test_invalid_response_method(identity_digits):
    clf, X, y = identity_digits
    with pytest.raises(ValueError, match="response_method must be 'predict' or 'predict_proba'"):
        evaluate_episodes(clf, X, y, n_way=3, n_episodes=5, response_method="proba")
    with pytest.raises(ValueError, match="response_method must be"):
        make_episodic_scorer(response_method="decision")


def test_episodic_scorer_with_log_loss(identity_digits):
    clf, X, y = identity_digits
    kw = dict(n_way=3, n_shot=1, n_query=5, n_episodes=20)
    scorer = make_episodic_scorer(log_loss, greater_is_better=False,
                                  response_method="predict_proba", **kw)
    expected = evaluate_episodes(clf, X, y, score_func=log_loss, random_state=0,
                                 response_method="predict_proba", **kw).mean
    assert scorer(clf, X, y) == pytest.approx(-expected)
    assert np.isfinite(expected) and expected > 0
    assert repr(scorer) == (
        "make_episodic_scorer(log_loss, n_way=3, n_shot=1, n_query=5, n_episodes=20, "
        "random_state=0, response_method='predict_proba', greater_is_better=False)"
    )


class BatchedProba(ProtoNetClassifier):
    """A ProtoNet with a batched probability path, as an estimator may offer."""

    def _predict_episodes_proba(self, X, s_idx, s_y, q_idx, n_way):
        self.batched_calls = getattr(self, "batched_calls", 0) + 1
        z = torch.as_tensor(self.transform(X), dtype=torch.float64)
        return episode_logits(z[s_idx], s_y, z[q_idx], n_way, self.metric).softmax(-1)


def test_batched_probability_path_equals_the_loop(base_novel):
    X_base, y_base, X, y = base_novel
    clf = BatchedProba(backbone="identity", device="cpu").fit(X_base, y_base)
    kw = dict(n_way=4, n_shot=2, n_query=3, n_episodes=25, random_state=0,
              score_func=log_loss, response_method="predict_proba")
    fast = evaluate_episodes(clf, X, y, **kw)
    assert clf.batched_calls == 1
    wrapped = AdaptOnly(clf)
    slow = evaluate_episodes(wrapped, X, y, **kw)
    assert wrapped.n_adapt == 25
    assert_allclose(fast.scores, slow.scores, rtol=1e-9)


# ---------------------------------------------------- make_episodic_scorer
def test_episodic_scorer_sign_and_repr(meta, base_novel):
    _, _, X, y = base_novel
    kw = dict(n_way=3, n_shot=1, n_query=5, n_episodes=50)
    gain = make_episodic_scorer(accuracy_score, **kw)
    loss = make_episodic_scorer(accuracy_score, greater_is_better=False, **kw)
    expected = evaluate_episodes(meta, X, y, random_state=0, **kw).mean
    assert gain(meta, X, y) == pytest.approx(expected)
    assert loss(meta, X, y) == pytest.approx(-expected)
    assert repr(gain) == (
        "make_episodic_scorer(accuracy_score, n_way=3, n_shot=1, n_query=5, "
        "n_episodes=50, random_state=0)"
    )
    assert repr(loss).endswith("random_state=0, greater_is_better=False)")
    f1 = make_episodic_scorer(f1_score, n_way=3, average="macro")
    assert repr(f1).startswith("make_episodic_scorer(f1_score, n_way=3,")
    assert "average='macro'" in repr(f1)
    with pytest.raises(ValueError, match="does not take sample_weight"):
        gain(meta, X, y, sample_weight=np.ones(len(y)))


def grid_search(X, y, n_jobs=None):
    return GridSearchCV(
        protonet(backbone=MLPBackbone(hidden=(16,)), max_iter=20),
        {"backbone__hidden": [(8,), (16,)]},
        cv=ClassDisjointKFold(3),
        scoring=make_episodic_scorer(accuracy_score, n_way=3, n_shot=1, n_query=5, n_episodes=50),
        n_jobs=n_jobs,
    ).fit(X, y)


@pytest.fixture(scope="module")
def search(digits):
    return grid_search(*digits)


def test_grid_search_with_class_disjoint_cv_and_episodic_scorer(search):
    assert search.best_params_["backbone__hidden"] in [(8,), (16,)]
    scores = search.cv_results_["mean_test_score"]
    assert scores.shape == (2,)
    assert np.all((scores >= 0) & (scores <= 1))
    assert np.all(scores > 1 / 3)  # better than chance on unseen classes
    assert_array_equal(search.best_estimator_.classes_, NAMES)
    assert search.best_estimator_.backbone.hidden == search.best_params_["backbone__hidden"]


class ZeroEmbedding(torch.nn.Module):
    """A backbone that destroys the input: every sample embeds to the origin."""

    def forward(self, x):
        return x.flatten(1)[:, :4] * 0.0


def test_grid_search_picks_the_candidate_that_generalises_to_unseen_classes(digits):
    # Two candidates with a large, built-in gap in few-shot accuracy: raw
    # pixels (nearest class mean, ~0.9 on 3-way 1-shot digits) and an
    # embedding that maps everything to one point (ties: chance, 1/3). The
    # better one is listed second, so picking the first would fail.
    X, y = digits
    kw = dict(n_way=3, n_shot=1, n_query=5, n_episodes=40)
    cv = ClassDisjointKFold(3)
    search = GridSearchCV(
        ProtoNetClassifier(device="cpu"),
        {"backbone": [ZeroEmbedding(), "identity"]},
        cv=cv,
        scoring=make_episodic_scorer(**kw),
    ).fit(X, y)
    assert search.best_params_["backbone"] == "identity"
    scores = search.cv_results_["mean_test_score"]
    assert scores[0] == pytest.approx(1 / 3)  # exactly chance on every fold
    assert scores[1] > 0.8
    # each fold's score is evaluate_episodes on the test fold's unseen classes,
    # with a model fitted on the other classes only
    for k, (train, test) in enumerate(cv.split(X, y)):
        assert not set(y[train]) & set(y[test])
        fold_model = ProtoNetClassifier(backbone="identity", device="cpu").fit(X[train], y[train])
        by_hand = evaluate_episodes(fold_model, X[test], y[test], random_state=0, **kw).mean
        assert search.cv_results_[f"split{k}_test_score"][1] == pytest.approx(by_hand)


def test_grid_search_in_parallel_gives_the_same_scores(digits, search):
    parallel = grid_search(*digits, n_jobs=2)
    assert parallel.best_params_ == search.best_params_
    for key in ("split0_test_score", "split1_test_score", "split2_test_score"):
        assert_allclose(parallel.cv_results_[key], search.cv_results_[key])
