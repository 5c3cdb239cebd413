"""Tests of sklearn_meta.fewshot.ProtoNetClassifier."""

import math
import pickle
import warnings

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose, assert_array_equal
from scipy.spatial.distance import cdist
from sklearn.datasets import make_blobs
from sklearn.exceptions import NotFittedError
from sklearn.neighbors import NearestCentroid
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks

from sklearn_meta import ProtoNetClassifier
from sklearn_meta._episodes import COSINE_SCALE
from sklearn_meta.backbones import Conv4Backbone, MLPBackbone
from sklearn_meta.datasets import load_omniglot
from sklearn_meta.model_selection import evaluate_episodes

DEGRADED = "The training data cannot supply"
# small2 alphabets that small1 does not hold: their characters are novel classes
NOVEL_ALPHABETS = ["Japanese_(katakana)", "Sanskrit", "Tagalog"]




def protonet(**params):
    """A small, fast ProtoNet on the CPU; keywords override the defaults."""
    defaults = dict(
        backbone=MLPBackbone(hidden=(16,)),
        n_way=5,
        n_shot=5,
        n_query=5,
        max_iter=20,
        lr=1e-2,
        device="cpu",
        random_state=0,
    )
    return ProtoNetClassifier(**{**defaults, **params})


def snapshot(est):
    """Everything about a fitted ProtoNet that must not change behind its back."""
    return dict(
        prototypes=est.prototypes_.copy(),
        classes=est.classes_.copy(),
        weights={k: v.detach().clone() for k, v in est.module_.state_dict().items()},
        n_history=len(est.history_),
        n_iter=est.n_iter_,
    )


def assert_snapshot_equal(before, after):
    assert_array_equal(after["prototypes"], before["prototypes"])
    assert_array_equal(after["classes"], before["classes"])
    assert after["weights"].keys() == before["weights"].keys()
    for key, tensor in before["weights"].items():
        assert torch.equal(after["weights"][key], tensor), key
    assert after["n_history"] == before["n_history"]
    assert after["n_iter"] == before["n_iter"]


# ---------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def split_digits(digits):
    """Base classes 0-4 (ints) for meta-training, novel classes 5-9 (strings)."""
    X, y = digits
    base = y < 5
    names = np.array([f"novel{k}" for k in range(10)], dtype=object)
    return X[base], y[base], X[~base], names[y[~base]]


@pytest.fixture(scope="module")
def meta(split_digits):
    """A ProtoNet meta-trained on digits 0-4. Shared: never fit or mutate it."""
    X, y, _, _ = split_digits
    return protonet(backbone=MLPBackbone(hidden=(32,)), max_iter=100).fit(X, y)


@pytest.fixture(scope="module")
def support_query(split_digits):
    """A 5-way 5-shot support set of the novel classes and the remaining queries."""
    _, _, X, y = split_digits
    support = np.concatenate([np.flatnonzero(y == c)[:5] for c in np.unique(y)])
    query = np.setdiff1d(np.arange(len(y)), support)
    return X[support], y[support], X[query], y[query]


@pytest.fixture(scope="module")
def omniglot():
    """Background classes from small1; novel alphabets from small2, resized to 28x28."""
    train = load_omniglot("small1")
    test = load_omniglot("small2")
    novel = np.isin(test.alphabet, NOVEL_ALPHABETS)
    assert not set(NOVEL_ALPHABETS) & set(train.alphabet)
    return train.images, train.target, test.images[novel], test.target[novel]


# ------------------------------------------------------- sklearn contract
@pytest.mark.filterwarnings(f"ignore:{DEGRADED}:UserWarning")
@parametrize_with_checks(
    [
        ProtoNetClassifier(
            backbone=MLPBackbone(hidden=(16,)),
            n_way=2,
            n_shot=2,
            n_query=2,
            max_iter=30,
            lr=1e-2,
            device="cpu",
            random_state=0,
        )
    ]
)
def test_sklearn_contract(estimator, check):
    check(estimator)


def test_tags_flag_cuda_as_non_deterministic():
    assert get_tags(ProtoNetClassifier(device="cuda")).non_deterministic
    assert not get_tags(ProtoNetClassifier(device="cpu")).non_deterministic


# ------------------------------------------- oracle: NearestCentroid
@pytest.mark.filterwarnings("ignore:self.within_class_std_dev_:UserWarning")
def test_identity_backbone_is_nearest_centroid_on_digits(digits):
    X, y = digits
    clf = protonet(backbone="identity").fit(X, y)
    ref = NearestCentroid().fit(X, y)
    assert_array_equal(clf.predict(X), ref.predict(X))
    assert_allclose(clf.prototypes_, ref.centroids_, rtol=1e-6, atol=1e-12)
    # logits are negative squared Euclidean distances to the prototypes
    assert_allclose(clf.decision_function(X), -cdist(X, ref.centroids_, "sqeuclidean"), atol=1e-8)


def test_identity_backbone_is_nearest_centroid_on_string_blobs():
    X, y = make_blobs(n_samples=300, centers=5, n_features=4, cluster_std=3.0, random_state=0)
    X = X.astype(np.float32)
    labels = np.array(["ant", "bee", "cat", "dog", "eel"], dtype=object)[y]
    X_new = np.random.RandomState(1).uniform(X.min(), X.max(), (500, 4)).astype(np.float32)
    clf = protonet(backbone="identity").fit(X, labels)
    ref = NearestCentroid().fit(X, labels)
    assert_array_equal(clf.classes_, ref.classes_)
    assert_array_equal(clf.predict(X), ref.predict(X))
    assert_array_equal(clf.predict(X_new), ref.predict(X_new))
    assert len(set(ref.predict(X_new))) == 5  # the comparison covers every class
    assert_allclose(clf.prototypes_, ref.centroids_, rtol=1e-5)


def test_cosine_metric_scores_are_scaled_cosine_similarities():
    X, y = make_blobs(n_samples=120, centers=3, n_features=5, random_state=0)
    clf = protonet(backbone="identity", metric="cosine").fit(X, y)
    expected = COSINE_SCALE * (1.0 - cdist(X.astype(np.float32), clf.prototypes_, "cosine"))
    assert_allclose(clf.decision_function(X), expected, atol=1e-6)
    assert_array_equal(clf.predict(X), clf.classes_[expected.argmax(1)])


def _episode(n_way, n_shot, seed):
    """Support rows on a 1/64 grid (class sums are exact) and query rows."""
    rng = np.random.RandomState(seed)
    centers = rng.normal(scale=3.0, size=(n_way, 6))
    codes = np.repeat(np.arange(n_way), n_shot)
    X = np.round((centers[codes] + rng.normal(size=(len(codes), 6))) * 64) / 64
    X_query = centers[rng.randint(n_way, size=30)] + rng.normal(size=(30, 6))
    return X.astype(np.float32), codes, X_query.astype(np.float32)


def _fit_predict(X, y, X_query):
    return protonet(backbone="identity").fit(X, y).predict(X_query)


@settings(max_examples=25, deadline=None)
@given(
    n_way=st.integers(2, 6),
    n_shot=st.integers(1, 4),
    seed=st.integers(0, 2**16),
    data=st.data(),
)
def test_predictions_ignore_row_order_and_label_values(n_way, n_shot, seed, data):
    labels = np.array(
        data.draw(st.lists(st.integers(0, 999), min_size=n_way, max_size=n_way, unique=True))
    )
    X, codes, X_query = _episode(n_way, n_shot, seed)
    expected = _fit_predict(X, codes, X_query)
    perm = np.random.RandomState(seed).permutation(len(codes))
    assert_array_equal(_fit_predict(X[perm], codes[perm], X_query), expected)
    assert_array_equal(_fit_predict(X[perm], labels[codes[perm]], X_query), labels[expected])


# ----------------------------------------------------------------- adapt
def test_adapt_predicts_among_support_classes(meta, support_query):
    X_s, y_s, X_q, y_q = support_query
    novel = meta.adapt(X_s, y_s)
    assert novel is not meta
    assert isinstance(novel, ProtoNetClassifier)
    assert_array_equal(novel.classes_, np.unique(y_s))
    assert novel.classes_.dtype == object and isinstance(novel.classes_[0], str)
    pred = novel.predict(X_q)
    assert set(pred) <= set(y_s)
    assert novel.predict_proba(X_q).shape == (len(X_q), 5)
    assert novel.score(X_q, y_q) > 0.4  # chance is 0.2
    # the new prototypes are the mean embeddings of the support samples
    z = meta.transform(X_s)
    means = np.stack([z[y_s == c].mean(0) for c in novel.classes_])
    assert_allclose(novel.prototypes_, means, rtol=1e-5, atol=1e-6)


def test_adapt_embeds_every_support_image_once(meta, support_query):
    X_s, y_s, _, _ = support_query
    seen = []
    hook = meta.module_.features.register_forward_hook(
        lambda module, inputs, output: seen.append(inputs[0].detach().clone())
    )
    try:
        novel = meta.adapt(X_s, y_s)
    finally:
        hook.remove()
    # every support row went through the backbone exactly once, in order
    assert sum(len(batch) for batch in seen) == len(X_s)
    assert_array_equal(torch.cat(seen).cpu().numpy().reshape(len(X_s), -1), X_s)
    assert np.isfinite(novel.prototypes_).all()


def test_adapt_leaves_the_meta_trained_estimator_exactly_unchanged(meta, support_query):
    X_s, y_s, X_q, _ = support_query
    before = snapshot(meta)
    proba = meta.predict_proba(X_q)
    for k in (1, 3, 5):
        first = np.concatenate([np.flatnonzero(y_s == c)[:k] for c in np.unique(y_s)])
        meta.adapt(X_s[first], y_s[first]).predict(X_q)
    assert_snapshot_equal(before, snapshot(meta))
    assert_array_equal(meta.predict_proba(X_q), proba)
    assert_array_equal(meta.classes_, np.arange(5))


def test_partial_fit_on_adapted_estimator_leaves_original_weights(meta, support_query):
    X_s, y_s, X_q, y_q = support_query
    before = snapshot(meta)
    novel = meta.adapt(X_s, y_s)
    assert novel.module_ is meta.module_  # adapt shares the network: no copy per episode
    novel.partial_fit(X_q, y_q)
    assert novel.module_ is not meta.module_
    assert_snapshot_equal(before, snapshot(meta))
    assert novel.n_iter_ > meta.n_iter_
    changed = [
        not torch.equal(novel.module_.state_dict()[k], v) for k, v in before["weights"].items()
    ]
    assert any(changed)


def test_adapt_rejects_other_feature_count(meta, support_query):
    X_s, y_s, _, _ = support_query
    with pytest.raises(ValueError, match="X has 10 features, but ProtoNetClassifier is expecting"):
        meta.adapt(X_s[:, :10], y_s)
    with pytest.raises(ValueError, match="X_support has 25 samples but y_support has 24"):
        meta.adapt(X_s, y_s[:-1])


# --------------------------------------------------- meta-training learns
def test_meta_training_beats_raw_pixels_on_novel_omniglot_alphabets(omniglot):
    X_train, y_train, X_test, y_test = omniglot
    assert X_train.shape[1:] == (28, 28)
    episodes = dict(n_way=5, n_shot=1, n_query=5, n_episodes=300, random_state=0)
    raw = protonet(backbone="identity").fit(X_train, y_train)
    learned = protonet(
        backbone=Conv4Backbone(channels=32),
        n_way=20,
        n_shot=1,
        n_query=4,
        max_iter=100,
        lr=5e-3,
    ).fit(X_train, y_train)
    raw_res = evaluate_episodes(raw, X_test, y_test, **episodes)
    learned_res = evaluate_episodes(learned, X_test, y_test, **episodes)
    assert learned_res.mean > raw_res.mean + 0.15
    assert learned_res.ci_low > raw_res.ci_high


# ---------------------------------------------------------------- pickling
@pytest.mark.parametrize("dumps", ["pickle", "joblib"])
def test_round_trip_keeps_predictions_and_adapt(meta, support_query, dumps, tmp_path):
    X_s, y_s, X_q, y_q = support_query
    if dumps == "pickle":
        loaded = pickle.loads(pickle.dumps(meta))
    else:
        joblib.dump(meta, tmp_path / "protonet.joblib")
        loaded = joblib.load(tmp_path / "protonet.joblib")
    assert_array_equal(loaded.predict_proba(X_q), meta.predict_proba(X_q))
    novel, novel_loaded = meta.adapt(X_s, y_s), loaded.adapt(X_s, y_s)
    assert_array_equal(novel_loaded.classes_, novel.classes_)
    assert_array_equal(novel_loaded.prototypes_, novel.prototypes_)
    assert_array_equal(novel_loaded.predict_proba(X_q), novel.predict_proba(X_q))
    # the optimizer state travels too: training continues identically
    cont = novel.partial_fit(X_q, y_q)
    cont_loaded = novel_loaded.partial_fit(X_q, y_q)
    assert_array_equal(cont_loaded.predict_proba(X_q), cont.predict_proba(X_q))


# ----------------------------------------------------------------- inputs
def test_string_labels_match_integer_labels(digits):
    X, y = digits
    names = np.array([f"digit{k}" for k in range(10)])  # same sort order as 0..9
    clf_int = protonet().fit(X, y)
    clf_str = protonet().fit(X, names[y])
    assert_array_equal(clf_str.classes_, names)
    assert_array_equal(clf_str.predict_proba(X), clf_int.predict_proba(X))
    assert_array_equal(clf_str.predict(X), names[clf_int.predict(X)])


def test_dataframe_input_matches_array(digits):
    X, y = digits
    df = pd.DataFrame(X, columns=[f"px{i}" for i in range(X.shape[1])])
    clf_df = protonet().fit(df, pd.Series(y))
    clf_np = protonet().fit(X, y)
    assert_array_equal(clf_df.feature_names_in_, df.columns)
    assert_array_equal(clf_df.predict_proba(df), clf_np.predict_proba(X))


def test_image_arrays_and_flattened_images_give_the_same_model(omniglot):
    X, y, _, _ = omniglot
    keep = y < 8
    images, y = X[keep][:, 2:-2, 2:-2], y[keep]  # 24x24 keeps Conv4 cheap
    params = dict(backbone=Conv4Backbone(channels=4), max_iter=5)
    clf_nd = protonet(**params).fit(images, y)
    clf_4d = protonet(**params).fit(images[:, None], y)
    flat = images.reshape(len(images), -1)
    clf_flat = protonet(**params, input_shape=(1, 24, 24)).fit(flat, y)
    assert clf_nd.input_shape_ == clf_flat.input_shape_ == (1, 24, 24)
    proba = clf_nd.predict_proba(images)
    assert_array_equal(clf_4d.predict_proba(images[:, None]), proba)
    assert_array_equal(clf_flat.predict_proba(flat), proba)
    assert clf_nd.transform(images).shape == (len(images), 4)  # 24 -> 12 -> 6 -> 3 -> 1
    with pytest.raises(ValueError, match=r"input_shape=\(1, 20, 20\) holds 400 values"):
        protonet(**params, input_shape=(1, 20, 20)).fit(flat, y)
    with pytest.raises(ValueError, match="was fitted on samples of shape"):
        clf_nd.predict(images[:, :, :-2])


def test_transform_gives_the_embedding(meta, digits):
    X, _ = digits
    Z = meta.transform(X[:7])
    assert Z.shape == (7, 32)
    assert meta.get_feature_names_out().tolist() == [f"protonetclassifier{i}" for i in range(32)]
    z0 = meta.transform(X[digits[1] == 0]).mean(0)
    assert_allclose(meta.prototypes_[0], z0, rtol=1e-5, atol=1e-6)


def test_cosine_metric_trains_and_generalises_to_new_samples(split_digits):
    X, y, _, _ = split_digits
    train, test = np.arange(len(y)) % 2 == 0, np.arange(len(y)) % 2 == 1
    scores = {}
    for max_iter in (1, 200):
        clf = protonet(metric="cosine", max_iter=max_iter).fit(X[train], y[train])
        scores[max_iter] = clf.score(X[test], y[test])  # rows it never saw
    loss = clf.history_[:, "train_loss"]
    assert loss[-1] < loss[0]
    assert scores[200] > scores[1] + 0.05


# ------------------------------------------------------------- training
def test_lr_decay_step_halves_the_learning_rate(digits):
    X, y = digits
    clf = protonet(max_iter=10, lr=1e-2, lr_decay_step=3).fit(X, y)
    # the last update (n_iter_ = 9 before it) ran at lr * 0.5 ** (9 // 3)
    assert clf.optimizer_.param_groups[0]["lr"] == pytest.approx(1e-2 / 8)
    assert protonet(max_iter=10, lr=1e-2).fit(X, y).optimizer_.param_groups[0]["lr"] == 1e-2


def test_meta_batch_size_counts_meta_updates(digits):
    X, y = digits
    clf = protonet(max_iter=10, meta_batch_size=4).fit(X, y)
    assert clf.n_iter_ == 10
    assert clf.history_[:, "iter"] == [10]
    assert np.isfinite(clf.history_[:, "train_loss"]).all()
    single = protonet(max_iter=10).fit(X, y)
    assert not np.array_equal(clf.predict_proba(X), single.predict_proba(X))


def test_partial_fit_needs_classes_on_the_first_call(digits):
    X, y = digits
    with pytest.raises(ValueError, match="classes must be passed on the first call"):
        protonet().partial_fit(X, y)


def test_partial_fit_accumulates_and_updates_present_prototypes(digits):
    X, y = digits
    first = y < 5
    clf = protonet()
    clf.partial_fit(X[first], y[first], classes=np.arange(10))
    per_call = math.ceil(first.sum() / (5 * (5 + 5)))
    assert clf.n_iter_ == per_call
    assert_array_equal(clf.classes_, np.arange(10))
    before = clf.prototypes_.copy()
    assert np.isnan(before[5:]).all()  # classes not seen yet have no prototype
    assert np.isin(clf.predict(X), np.arange(5)).all()  # ... and are never predicted
    assert_allclose(clf.predict_proba(X)[:, 5:], 0)
    clf.partial_fit(X[~first], y[~first])
    assert clf.n_iter_ == per_call + math.ceil((~first).sum() / 50)
    assert_array_equal(clf.prototypes_[:5], before[:5])
    assert np.isfinite(clf.prototypes_).all()
    assert clf.history_[:, "iter"] == [per_call, clf.n_iter_]
    with pytest.raises(ValueError, match=r"y holds labels \[10\] that are not in classes_"):
        clf.partial_fit(X[:5], np.full(5, 10))


def test_partial_fit_continues_a_fit(digits):
    X, y = digits
    clf = protonet().fit(X, y)
    clf.partial_fit(X, y)
    assert clf.n_iter_ == 20 + math.ceil(len(y) / 50)
    assert len(clf.history_) == 2


def test_same_random_state_is_bit_identical(digits):
    X, y = digits
    a = protonet(random_state=3).fit(X, y).predict_proba(X)
    b = protonet(random_state=3).fit(X, y).predict_proba(X)
    c = protonet(random_state=4).fit(X, y).predict_proba(X)
    assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_torch_global_rng_is_untouched(digits):
    X, y = digits
    torch.manual_seed(1234)
    expected = torch.rand(3)
    torch.manual_seed(1234)
    state = torch.get_rng_state()
    protonet(random_state=0).fit(X, y)
    protonet(random_state=None).fit(X, y)
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(torch.rand(3), expected)


# --------------------------------------------------------- warnings, errors
def test_n_way_above_the_number_of_classes_uses_them_all_quietly(digits):
    """Capping n_way at the classes there are is no degradation: no warning."""
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = protonet(n_way=12, max_iter=2).fit(X, y)
    assert clf.episode_shape_ == (10, 5, 5)


def test_one_short_class_is_left_out_not_shrinking_every_episode(digits):
    X, y = digits
    keep = (y != 3) | (np.cumsum(y == 3) <= 3)  # class 3 keeps 3 samples
    with pytest.warns(UserWarning, match=r"left out of the training episodes: 3\. "):
        clf = protonet(n_shot=2, n_query=2, max_iter=2).fit(X[keep], y[keep])
    assert clf.episode_shape_ == (5, 2, 2)
    # the left-out class is still predicted
    assert 3 in clf.classes_
    assert np.isfinite(clf.prototypes_).all()


def test_episodes_shrink_only_when_no_class_can_supply_them(digits):
    X, y = digits
    keep = np.concatenate([np.flatnonzero(y == c)[:3] for c in range(10)])
    with pytest.warns(UserWarning, match=r"smallest has 3\); training on 5-way 2-shot"):
        clf = protonet(n_shot=2, n_query=2, max_iter=2).fit(X[keep], y[keep])
    assert clf.episode_shape_ == (5, 2, 1)


def test_single_sample_classes_say_they_are_their_own_query(digits):
    X, y = digits
    keep = np.concatenate([np.flatnonzero(y == c)[:1] for c in range(10)])
    with pytest.warns(UserWarning, match="both the support and the query"):
        protonet(n_shot=1, n_query=1, max_iter=2).fit(X[keep], y[keep])


def test_fit_does_not_warn_when_episodes_fit(digits):
    X, y = digits
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = protonet(max_iter=2).fit(X, y)
    assert clf.episode_shape_ == (5, 5, 5)


@pytest.mark.parametrize(
    "params, X_y, match",
    [
        ({}, "nan", "Input X contains NaN"),
        ({}, "one_class", "needs samples of at least 2 classes; y has only one class"),
        ({}, "continuous", "Unknown label type: continuous"),
        ({"n_way": 1}, None, r"'n_way' parameter of .* must be an int in the range \[2, inf\)"),
        ({"metric": "manhattan"}, None, r"'metric' parameter of .* must be a str among"),
        ({"backbone": 42}, None, r"'backbone' parameter of .* must be .* Got 42 instead"),
    ],
)
def test_bad_input_raises_and_fits_nothing(digits, params, X_y, match):
    X, y = digits
    X, y = X[:100].copy(), y[:100].copy()
    if X_y == "nan":
        X[3, 5] = np.nan
    elif X_y == "one_class":
        y[:] = 7
    elif X_y == "continuous":
        y = np.linspace(0, 1, len(y))
    clf = protonet(**params)
    with pytest.raises(ValueError, match=match):
        clf.fit(X, y)
    assert not hasattr(clf, "module_")
    with pytest.raises(NotFittedError):
        clf.predict(X)


# -------------------------------------------------------- progress, history
def test_verbose_shows_a_progress_bar(digits, capsys):
    X, y = digits
    protonet(max_iter=5).fit(X, y)
    assert capsys.readouterr().err == ""
    protonet(max_iter=5, verbose=1).fit(X, y)
    err = capsys.readouterr().err
    assert "ProtoNetClassifier" in err
    assert "5/5" in err
    assert "loss=" in err


def test_train_loss_decreases_on_an_easy_problem(digits):
    X, y = digits
    clf = protonet(backbone=MLPBackbone(hidden=(32,)), max_iter=400, lr=1e-3).fit(X, y)
    assert clf.history_[:, "iter"] == [100, 200, 300, 400]
    loss = np.array(clf.history_[:, "train_loss"])
    assert loss[-1] < 0.5 * loss[0]
    assert clf.history_[-1, "train_acc"] > clf.history_[0, "train_acc"]


# ------------------------------------------------------------------- CUDA
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fit_predict_adapt_and_load(split_digits, support_query):
    X, y, _, _ = split_digits
    X_s, y_s, X_q, y_q = support_query
    ident = protonet(backbone="identity", device="cuda").fit(X, y)
    assert_array_equal(ident.predict(X_q), NearestCentroid().fit(X, y).predict(X_q))
    clf = protonet(backbone=MLPBackbone(hidden=(32,)), max_iter=50, device="cuda").fit(X, y)
    assert clf.device_.type == "cuda"
    assert next(clf.module_.parameters()).is_cuda
    assert isinstance(clf.prototypes_, np.ndarray)
    assert clf.score(X, y) > 0.8
    novel = clf.adapt(X_s, y_s)
    assert set(novel.predict(X_q)) <= set(y_s)
    loaded = pickle.loads(pickle.dumps(clf))
    assert loaded.device_.type == "cuda"
    assert_allclose(loaded.predict_proba(X_q), clf.predict_proba(X_q), rtol=1e-5, atol=1e-7)
    res = evaluate_episodes(clf, X_q, y_q, n_way=5, n_shot=1, n_episodes=20, random_state=0)
    assert res.scores.shape == (20,)
