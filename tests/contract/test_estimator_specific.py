"""Reliability checks that belong to one estimator: inference, shapes, devices, scoring.

They came with the failure-contract tests and stay next to them; what every
estimator promises is in the other modules of ``tests/contract/``.
"""

import warnings

import numpy as np
import pytest
import torch
from contract_cases import BY_NAME, CPU
from numpy.testing import assert_array_equal

from sklearn_meta import DomainAdaptedClassifier, FineTuneClassifier
from sklearn_meta.backbones import Conv4Backbone, MLPBackbone

FINETUNE, PROTONET = BY_NAME["finetune"], BY_NAME["protonet"]


# --------------------------------------------------------------- inference
def test_inference_does_not_copy_whole_input(digits, monkeypatch):
    """Only the last chunk is padded: no concatenation ever sees all of X."""
    X, y = digits
    clf = FINETUNE.make(max_epochs=1).fit(X, y)
    sizes = []

    def spy(real):
        def concat(arrays, *args, **kwargs):
            sizes.append(sum(len(a) for a in arrays))
            return real(arrays, *args, **kwargs)

        return concat

    real_np, real_torch = np.concatenate, torch.cat
    monkeypatch.setattr(np, "concatenate", spy(real_np))
    monkeypatch.setattr(torch, "cat", spy(real_torch))
    X_odd = X[:1001]
    proba = clf.predict_proba(X_odd)
    assert max(sizes, default=0) <= 64
    monkeypatch.setattr(np, "concatenate", real_np)
    monkeypatch.setattr(torch, "cat", real_torch)
    # batch independence still holds
    assert_array_equal(clf.predict_proba(X_odd[:7]), proba[:7])
    assert_array_equal(clf.predict(X_odd), clf.classes_[proba.argmax(1)])


def test_batch_statistics_networks_are_not_padded(digits):
    X, y = digits
    net = torch.nn.Sequential(
        torch.nn.Linear(64, 16), torch.nn.BatchNorm1d(16, track_running_stats=False)
    )
    clf = FINETUNE.make(backbone=net, max_epochs=1).fit(X, y)
    X70 = X[:70]
    with torch.no_grad():
        clf.module_.eval()
        expected = clf.module_(torch.from_numpy(X70).float()).double().numpy()
    np.testing.assert_allclose(clf.decision_function(X70), expected, rtol=1e-5, atol=1e-6)


# ----------------------------------------------------------------- shapes
def test_input_shape_channels_last_is_read_like_4d_arrays():
    rng = np.random.RandomState(0)
    imgs = rng.rand(40, 8, 8, 3).astype(np.float32)  # (n, H, W, C)
    y = np.repeat(np.arange(4), 10)
    kw = {"backbone": Conv4Backbone(channels=4, n_blocks=2), "max_epochs": 1, **CPU}
    a = FineTuneClassifier(**kw).fit(imgs, y)
    b = FineTuneClassifier(input_shape=(8, 8, 3), **kw).fit(imgs.reshape(40, -1), y)
    assert b.input_shape_ == (3, 8, 8) == a.input_shape_
    assert_array_equal(a.predict_proba(imgs), b.predict_proba(imgs.reshape(40, -1)))


def test_rows_flattened_from_channels_last_images_predict_like_the_images():
    rng = np.random.RandomState(0)
    imgs = rng.rand(40, 8, 8, 3).astype(np.float32)  # (n, H, W, C)
    y = np.repeat(np.arange(4), 10)
    kw = {"backbone": Conv4Backbone(channels=4, n_blocks=2), "max_epochs": 1, **CPU}
    clf = FineTuneClassifier(**kw).fit(imgs, y)
    assert_array_equal(clf.predict_proba(imgs.reshape(40, -1)), clf.predict_proba(imgs))
    assert_array_equal(clf.transform(imgs.reshape(40, -1)), clf.transform(imgs))


def test_fit_on_3d_predict_on_4d_and_rows(digits):
    X, y = digits
    imgs = X.reshape(-1, 8, 8)
    clf = FINETUNE.make(backbone=Conv4Backbone(channels=4, n_blocks=2), max_epochs=1)
    clf.fit(imgs, y)
    p = clf.predict_proba(imgs[:5])
    assert_array_equal(clf.predict_proba(imgs[:5, None]), p)
    assert_array_equal(clf.predict_proba(X[:5]), p)
    assert clf.n_features_in_ == 64


def test_batch_size_one_with_batch_norm_is_refused(digits):
    X, y = digits
    with pytest.raises(ValueError, match="batch_size=1"):
        FINETUNE.make(backbone=Conv4Backbone(channels=2, n_blocks=1), batch_size=1).fit(
            X.reshape(-1, 1, 8, 8), y
        )


# ----------------------------------------------------------------- devices
def test_device_accepts_torch_device_and_refuses_missing_backends(digits):
    X, y = digits
    clf = FINETUNE.make(device=torch.device("cpu"), max_epochs=1).fit(X, y)
    assert clf.device_ == torch.device("cpu")
    if not torch.backends.mps.is_available():
        with pytest.raises(ValueError, match="MPS"):
            FINETUNE.make(device="mps").fit(X, y)


def test_meta_device_is_refused(digits):
    X, y = digits
    with pytest.raises(ValueError, match="meta tensors"):
        FINETUNE.make(device="meta").fit(X, y)


# ---------------------------------------------------------------- backbones
def test_module_backbone_counts_as_pretrained_as_documented(digits):
    X, y = digits
    net = torch.nn.Sequential(torch.nn.Linear(64, 16), torch.nn.ReLU())
    clf = FINETUNE.make(backbone=net, max_epochs=1, lr=1e-2).fit(X, y)
    assert clf.pretrained_ is True
    assert clf.optimizer_.param_groups[0]["lr"] == pytest.approx(1e-3)  # 0.1 x lr
    fresh = FINETUNE.make(backbone=net, max_epochs=1, lr=1e-2, backbone_lr=1.0).fit(X, y)
    assert fresh.optimizer_.param_groups[0]["lr"] == pytest.approx(1e-2)
    assert "freshly initialised ``nn.Module``" in FineTuneClassifier.__doc__


def test_protonet_takes_path_and_home_relative_weights(digits, tmp_path, monkeypatch):
    from pathlib import Path

    X, y = digits
    backbone = MLPBackbone(hidden=(32,))
    first = PROTONET.make(backbone=backbone).fit(X, y)
    torch.save(first.module_.features.state_dict(), tmp_path / "w.pt")
    monkeypatch.setenv("HOME", str(tmp_path))
    for weights in (Path(tmp_path / "w.pt"), "~/w.pt"):
        clf = PROTONET.make(backbone=backbone, weights=weights, max_iter=1, lr=1e-12).fit(X, y)
        for name, value in first.module_.features.state_dict().items():
            assert torch.allclose(clf.module_.features.state_dict()[name], value, atol=1e-6)


# ------------------------------------------------------------------ labels
def test_protonet_adapt_takes_column_labels(digits):
    from sklearn.exceptions import DataConversionWarning

    X, y = digits
    clf = PROTONET.make().fit(X[y < 5], y[y < 5])
    with pytest.warns(DataConversionWarning):
        novel = clf.adapt(X[y >= 5][:25], y[y >= 5][:25, None])
    assert_array_equal(novel.classes_, [5, 6, 7, 8, 9])


def test_unlabelled_rows_are_left_out_of_classes_in_domain_adaptation_only():
    """y == -1 marks unlabelled target rows for domain adaptation; elsewhere -1 is a label."""
    rng = np.random.RandomState(0)
    X = rng.rand(60, 4).astype(np.float32)
    small = {"backbone": MLPBackbone(hidden=(8,)), "max_epochs": 1, **CPU}
    da = DomainAdaptedClassifier(**small).fit(X, np.array([3, -1, 7, 7, -1] * 12))
    assert_array_equal(da.classes_, [3, 7])
    assert set(da.predict(X)) <= {3, 7}
    with pytest.raises(ValueError, match="at least 2 classes"):
        DomainAdaptedClassifier(**small).fit(X, np.array([-1, -1, 5] * 20))
    plain = FineTuneClassifier(**small).fit(X, np.array([-1, 1] * 30))
    assert_array_equal(plain.classes_, [-1, 1])


# ----------------------------------------------------------------- scoring
def test_score_on_unseen_classes_warns(digits):
    X, y = digits
    clf = PROTONET.make().fit(X[y < 5], y[y < 5])
    with pytest.warns(UserWarning, match="make_episodic_scorer"):
        assert clf.score(X[y >= 5], y[y >= 5]) == 0.0


def test_grid_search_class_disjoint_default_scorer_warns(digits):
    from sklearn.model_selection import GridSearchCV

    from sklearn_meta.model_selection import ClassDisjointKFold

    X, y = digits
    search = GridSearchCV(PROTONET.make(max_iter=5), {"lr": [1e-3]}, cv=ClassDisjointKFold(2))
    with pytest.warns(UserWarning, match="not among classes_"):
        search.fit(X, y)


def test_score_warning_respects_weights_and_unfitted_prototypes(digits):
    X, y = digits
    clf = PROTONET.make().fit(X[y < 5], y[y < 5])
    weights = (y < 5).astype(float)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf.score(X, y, sample_weight=weights)  # unseen classes weigh nothing
    streaming = PROTONET.make().partial_fit(X[y < 5], y[y < 5], classes=np.arange(10))
    with pytest.warns(UserWarning, match="cannot predict"):
        assert streaming.score(X[y >= 5], y[y >= 5]) == 0.0


# ---------------------------------------------------------------- protonet
def test_protonet_partial_fit_on_one_class_updates_its_prototype(digits):
    X, y = digits
    clf = PROTONET.make().partial_fit(X[y < 5], y[y < 5], classes=np.arange(10))
    n_iter = clf.n_iter_
    with pytest.warns(UserWarning, match="one class"):
        clf.partial_fit(X[y == 7], y[y == 7])
    assert clf.n_iter_ == n_iter
    assert np.isfinite(clf.prototypes_[7]).all()
    assert np.isnan(clf.prototypes_[8]).all()


def test_left_out_class_is_named_right_with_early_stopping(digits):
    X, y = digits
    keep = (y != 8) | (np.cumsum(y == 8) <= 3)  # class 8 keeps 3 samples
    checked = 0
    for seed in range(6):
        clf = PROTONET.make(early_stopping=True, validation_fraction=0.2, random_state=seed,
                            max_iter=5)
        with warnings.catch_warnings(record=True) as record:
            warnings.simplefilter("always")
            clf.fit(X[keep], y[keep])
        if 8 in clf.validation_classes_:
            continue
        messages = [str(w.message) for w in record if "left out" in str(w.message)]
        assert len(messages) == 1 and "episodes: 8. They" in messages[0], messages
        checked += 1
    assert checked
