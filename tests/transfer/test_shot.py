"""Source-free domain adaptation: DomainAdaptedClassifier(method="shot").

A small MLP is trained on the source digits once per module; SHOT adapts a
copy with the rotated target digits alone. Everything runs a few epochs on
the CPU, so the file stays fast on two cores.
"""

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from scipy.spatial.distance import cdist
from sklearn.exceptions import NotFittedError
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from skorch.callbacks import LoadInitState, TrainEndCheckpoint

from sklearn_meta import DomainAdaptedClassifier, FineTuneClassifier, ProtoNetClassifier
from sklearn_meta.backbones import MLPBackbone
from sklearn_meta.datasets import make_digits_shift
from sklearn_meta.exceptions import TrainingInterrupted
from sklearn_meta.transfer import _shot as S

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "contract"))
from contract_cases import SigintAt  # the contract suite's Ctrl-C

CPU = {"device": "cpu", "random_state": 0}


def shot(source, **kw):
    # backbone_lr=1.0: the source's features train at lr, not a tenth of it
    # ("auto" treats them as pretrained); it adapts further in 5 epochs
    params = dict(method="shot", max_epochs=5, backbone_lr=1.0, **CPU)
    params.update(kw)
    return DomainAdaptedClassifier(backbone=source, **params)


def source_fit(Xs, ys, **kw):
    params = dict(max_epochs=20, optimizer="adam", lr=3e-3, **CPU)
    params.update(kw)
    return FineTuneClassifier(MLPBackbone(hidden=(32,)), **params).fit(Xs, ys)


def same_state(a, b):
    sa, sb = a.module_.state_dict(), b.module_.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


@pytest.fixture(scope="module")
def shift():
    return make_digits_shift(random_state=0)


@pytest.fixture(scope="module")
def source(shift):
    """A FineTuneClassifier trained on the source digits. Read only."""
    Xs, ys, _, _ = shift
    return source_fit(Xs, ys)


@pytest.fixture(scope="module")
def adapted(source, shift):
    """SHOT from ``source`` on the target rows. Read only."""
    _, _, Xt, _ = shift
    return shot(source).fit(Xt)


# ------------------------------------------------------------ the losses
def test_information_maximization_by_hand():
    rng = np.random.RandomState(0)
    z = rng.randn(5, 4)
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    mean_entropy = -(p * np.log(p)).sum(1).mean()
    q = p.mean(0)
    expected = mean_entropy + (q * np.log(q)).sum()
    got = S.information_maximization(torch.from_numpy(z))
    assert float(got) == pytest.approx(expected, rel=1e-6)
    # confident and diverse: the lowest, -log k; collapsed onto one class: 0
    assert float(S.information_maximization(torch.eye(4) * 100.0)) == pytest.approx(
        -np.log(4), rel=1e-6
    )
    collapsed = torch.zeros(4, 4)
    collapsed[:, 2] = 100.0
    assert float(S.information_maximization(collapsed)) == pytest.approx(0.0, abs=1e-6)


def test_pseudo_labels_are_nearest_centroids_refined_once():
    rng = np.random.RandomState(0)
    f = rng.randn(12, 5)
    z = rng.randn(12, 4) * 2
    z[:, 3] -= 10  # class 3 is nobody's argmax: it gets no centroid
    p = np.exp(z) / np.exp(z).sum(1, keepdims=True)
    fn = f / np.linalg.norm(f, axis=1, keepdims=True)
    present = np.unique(p.argmax(1))
    assert 3 not in present
    centroids = p.T @ fn / p.sum(0)[:, None]
    labels = present[cdist(fn, centroids[present], "cosine").argmin(1)]
    kept = np.unique(labels)
    centroids = np.stack([fn[labels == k].mean(0) for k in kept])
    expected = kept[cdist(fn, centroids, "cosine").argmin(1)]
    got = S.shot_pseudo_labels(torch.from_numpy(f), torch.from_numpy(p))
    assert_array_equal(got.numpy(), expected)


# ------------------------------------------------------------ end to end
def test_shot_adapts_a_fitted_source_model_with_target_rows_alone(source, adapted, shift):
    _, _, Xt, yt = shift
    before, after = source.score(Xt, yt), adapted.score(Xt, yt)
    # measured (source seeds 0-3, SHOT seed = source seed): the source MLP
    # scores 0.502 / 0.509 / 0.474 / 0.487 on the rotated digits, SHOT
    # 0.588 / 0.600 / 0.585 / 0.592 after 5 epochs; seed 0 is tested here
    assert after >= before + 0.05
    assert_array_equal(adapted.classes_, source.classes_)
    assert adapted.adapted_ and adapted.n_source_ == 0 and adapted.n_target_ == len(Xt)
    # the head is the source's, frozen; the features moved
    head = adapted.get_classifier_head()
    src_head = source.get_classifier_head()
    for a, b in zip(head.parameters(), src_head.parameters()):
        assert torch.equal(a, b)
    assert not any(p.requires_grad for p in adapted.module_.head.parameters())
    moved = [
        not torch.equal(a.cpu(), b)
        for a, b in zip(adapted.module_.features.parameters(),
                        source.get_feature_extractor().parameters())
    ]
    assert all(moved)
    hist = adapted.history_
    assert len(hist) == 5 and all(np.isfinite(hist[:, "adapt_loss"]))
    # train_acc: agreement with the pseudo-labels, which rises as they settle
    assert hist[-1, "train_acc"] > hist[0, "train_acc"]


def test_y_all_minus_one_is_the_same_fit_as_y_omitted(adapted, source, shift):
    _, _, Xt, _ = shift
    again = shot(source).fit(Xt, np.full(len(Xt), -1))
    assert same_state(adapted, again)


def test_string_classes_of_the_source_are_kept(shift):
    Xs, ys, Xt, _ = shift
    names = np.array([f"digit_{d}" for d in range(10)])
    src = source_fit(Xs, names[ys], max_epochs=2)
    clf = shot(src, max_epochs=1).fit(Xt)
    assert_array_equal(clf.classes_, names)
    assert set(clf.predict(Xt[:30])) <= set(names)


def test_in_a_pipeline(shift):
    Xs, ys, Xt, yt = shift
    source_pipe = make_pipeline(StandardScaler(), FineTuneClassifier(
        MLPBackbone(hidden=(32,)), max_epochs=10, optimizer="adam", lr=3e-3, **CPU
    )).fit(Xs, ys)
    src = source_pipe[-1]
    # the target gets its own scaling, then SHOT; fit(X) passes y=None on
    pipe = make_pipeline(StandardScaler(), shot(src, max_epochs=3)).fit(Xt)
    assert pipe.score(Xt, yt) > 0.3
    assert_array_equal(pipe.classes_, np.arange(10))


def test_pickled_and_reloaded_predicts_the_same_and_trains_on(adapted, shift):
    _, _, Xt, _ = shift
    back = pickle.loads(pickle.dumps(adapted))
    assert_array_equal(back.predict_proba(Xt), adapted.predict_proba(Xt))
    assert_array_equal(back.predict(Xt), adapted.predict(Xt))
    assert isinstance(back.module_.criterion, S.SHOTLoss)
    back.partial_fit(Xt)
    assert back.n_iter_ == adapted.n_iter_ + 1
    assert not any(p.requires_grad for p in back.module_.head.parameters())


def test_partial_fit_equals_fit_and_needs_no_classes(source, shift):
    _, _, Xt, _ = shift
    a = shot(source, max_epochs=2).fit(Xt)
    b = shot(source, max_epochs=2).partial_fit(Xt)
    b.partial_fit(Xt, classes=np.arange(10))
    assert same_state(a, b)


def test_features_and_head_pair(source, adapted, shift):
    _, _, Xt, _ = shift
    features, head = source.get_feature_extractor(), source.get_classifier_head()
    before = [p.detach().clone() for p in features.parameters()]
    clf = shot((features, head)).fit(Xt)
    # the same source network: the same adaptation as from the estimator
    assert_array_equal(clf.classes_, np.arange(10))
    assert_allclose(clf.predict_proba(Xt), adapted.predict_proba(Xt), rtol=1e-5, atol=1e-7)
    # the user's modules are copied, never trained in place
    assert all(torch.equal(a, b) for a, b in zip(before, features.parameters()))
    back = pickle.loads(pickle.dumps(clf))
    assert_array_equal(back.predict(Xt), clf.predict(Xt))


def test_a_source_free_model_is_a_source_for_the_next_one(adapted, shift):
    _, _, Xt, _ = shift
    clf = shot(adapted, max_epochs=1).fit(Xt)
    assert_array_equal(clf.classes_, adapted.classes_)


# ---------------------------------------------------------------- Ctrl-C
def test_ctrl_c_leaves_a_fitted_model_that_partial_fit_continues(source, shift, sigint):
    _, _, Xt, _ = shift
    per_epoch = -(-len(Xt) // 64)
    sigint_at = SigintAt("on_batch_end", at=per_epoch + 3)
    est = shot(source, max_epochs=3, callbacks=[sigint_at])
    with pytest.warns(UserWarning, match="interrupted after"), \
            pytest.raises(TrainingInterrupted) as info:
        est.fit(Xt)
    assert sigint_at.sent_ and info.value.estimator is est
    est.set_params(callbacks=None)
    assert est.n_iter_ == 1 and est.history_[-1, "epoch_complete"] is False
    assert est.predict(Xt[:10]).shape == (10,)
    est.partial_fit(Xt)  # finishes the epoch that was cut short
    assert est.n_iter_ == 2 and len(est.history_) == 2
    assert est.history_[-1, "train_batch_count"] == per_epoch


def test_resume_after_ctrl_c_mid_epoch_equals_uninterrupted_fit(source, shift, sigint, tmp_path):
    """The cut epoch goes on with the pseudo-labels it started with (saved with the network)."""
    _, _, Xt, _ = shift
    per_epoch = -(-len(Xt) // 64)
    reference = shot(source, max_epochs=2).fit(Xt)
    end = TrainEndCheckpoint(dirname=str(tmp_path))
    sigint_at = SigintAt("on_batch_end", at=per_epoch + per_epoch // 3)
    with pytest.warns(UserWarning, match="interrupted"), pytest.raises(TrainingInterrupted):
        shot(source, max_epochs=2, callbacks=[end, sigint_at]).fit(Xt)
    resumed = shot(source, max_epochs=2, callbacks=[LoadInitState(end)]).fit(Xt)
    assert resumed.n_iter_ == reference.n_iter_ == 2
    assert len(resumed.history_) == len(reference.history_)
    assert same_state(resumed, reference)
    assert_array_equal(resumed.predict_proba(Xt), reference.predict_proba(Xt))


# ---------------------------------------------------------------- errors
@pytest.mark.parametrize(
    "backbone, match",
    [
        ("mlp", "names a network to build"),
        (MLPBackbone(hidden=(8,)), "names a network to build"),
        (torch.nn.Linear(64, 8), "feature extractor without a classifier head"),
        ((torch.nn.Linear(64, 8),), r"pair of torch modules.*a tuple of 1"),
    ],
)
def test_a_backbone_without_a_head_is_refused(backbone, match, shift):
    _, _, Xt, _ = shift
    with pytest.raises(ValueError, match=match):
        shot(backbone).fit(Xt)


def test_few_shot_models_and_unfitted_sources_are_refused(shift):
    Xs, ys, Xt, _ = shift
    proto = ProtoNetClassifier(MLPBackbone(hidden=(8,)), max_iter=2, n_way=5, **CPU).fit(Xs, ys)
    with pytest.raises(ValueError, match="fitted ProtoNetClassifier has a feature extractor "
                                         "but no classifier head"):
        shot(proto).fit(Xt)
    with pytest.raises(NotFittedError):
        shot(FineTuneClassifier()).fit(Xt)


def test_labelled_rows_are_refused_not_ignored(source, shift):
    Xs, ys, Xt, _ = shift
    X = np.concatenate([Xs, Xt])
    y = np.concatenate([ys, np.full(len(Xt), -1)])
    with pytest.raises(ValueError, match=r"source-free.*898 row\(s\) are labelled"):
        shot(source).fit(X, y)
    with pytest.raises(ValueError, match="marked as source"):
        shot(source).fit(Xt, sample_domain=np.ones(len(Xt), dtype=int))
    with pytest.raises(ValueError, match="early_stopping=True"):
        shot(source, early_stopping=True).fit(Xt)


def test_classes_that_differ_from_the_source_are_refused(source, shift):
    _, _, Xt, _ = shift
    with pytest.raises(ValueError, match="do not match the classes of the source"):
        shot(source).partial_fit(Xt, classes=np.arange(5))
    clf = shot(source, max_epochs=1).partial_fit(Xt)
    with pytest.raises(ValueError, match="do not match"):
        clf.partial_fit(Xt, classes=np.arange(1, 11))


def test_a_head_that_does_not_fit_the_features_is_refused(source, shift):
    _, _, Xt, _ = shift
    features = source.get_feature_extractor()
    wrong = torch.nn.Sequential(torch.nn.Linear(32, 10), torch.nn.Flatten(0))
    with pytest.raises(ValueError, match="one logit per class"):
        shot((features, wrong)).fit(Xt)


def test_other_methods_keep_their_errors(source, shift):
    Xs, ys, Xt, _ = shift
    da = DomainAdaptedClassifier(MLPBackbone(hidden=(8,)), method="mcc", max_epochs=1, **CPU)
    with pytest.raises(ValueError, match="requires y to be passed"):
        da.fit(Xt)
    with pytest.raises(ValueError, match="no labelled row"):
        da.fit(Xt, np.full(len(Xt), -1))
    pair = (source.get_feature_extractor(), source.get_classifier_head())
    X = np.concatenate([Xs, Xt])
    y = np.concatenate([ys, np.full(len(Xt), -1)])
    with pytest.raises(ValueError, match=r"\(features, head\) is a source model for "
                                         "method='shot'"):
        da.set_params(backbone=pair).fit(X, y)


def test_a_pair_that_does_not_fit_the_data_is_refused(source, shift):
    _, _, Xt, _ = shift
    features = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.ReLU())
    head = torch.nn.Sequential(torch.nn.Linear(32, 10))
    with pytest.raises(ValueError, match="cannot take samples of shape"):
        shot((features, head)).fit(Xt)
    with pytest.raises(ValueError, match="cannot take the 16 features"):
        shot((features, torch.nn.Linear(32, 10))).fit(Xt)
