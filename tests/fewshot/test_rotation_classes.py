"""rotation_classes: meta-training on each class turned by quarter turns as new classes."""

import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal
from torch import nn

from sklearn_meta import MAMLClassifier, ProtoNetClassifier, ReptileClassifier
from sklearn_meta.backbones import MLPBackbone
from sklearn_meta.fewshot._base import rotate_quarters

#: the images the recording backbone saw in training mode
SEEN = []


class _Recorder(nn.Module):
    """A tiny embedding that records its training inputs (in SEEN, shared by copies)."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(36, 8)

    def forward(self, x):
        if self.training:
            SEEN.append(x.detach().reshape(-1, 6, 6).clone())
        return self.fc(x.flatten(1))


def _asymmetric_classes(n_classes=3, per_class=6, seed=0):
    """Square images with no rotational symmetry, one random pattern per class plus noise."""
    rng = np.random.RandomState(seed)
    base = rng.rand(n_classes, 1, 6, 6).astype(np.float32)
    X = np.repeat(base, per_class, axis=0) + 0.01 * rng.rand(n_classes * per_class, 1, 6, 6)
    y = np.repeat(np.array(["a", "b", "c", "d", "e"][:n_classes]), per_class)
    return X.astype(np.float32), y


def test_rotate_quarters_turns_each_image_by_its_own_count():
    images = torch.rand(2, 4, 3, 5, 5)
    turns = torch.tensor([[0, 1, 2, 3], [3, 2, 1, 0]])
    out = rotate_quarters(images, turns)
    for i in range(2):
        for j in range(4):
            want = torch.rot90(images[i, j], int(turns[i, j]), dims=(-2, -1))
            assert torch.equal(out[i, j], want)


def test_protonet_episodes_draw_the_rotated_classes_and_classes_stay():
    X, y = _asymmetric_classes()
    SEEN.clear()
    clf = ProtoNetClassifier(
        _Recorder(), n_way=12, n_shot=1, n_query=2, max_iter=20, rotation_classes=True,
        device="cpu", random_state=0,
    ).fit(X, y)
    # 3 classes turned 4 ways: 12-way episodes
    assert clf.episode_shape_[0] == 12
    assert_array_equal(clf.classes_, ["a", "b", "c"])
    assert set(clf.predict(X)) <= {"a", "b", "c"}
    assert clf.predict_proba(X).shape == (18, 3)
    seen = torch.cat(SEEN)  # (n_seen, 6, 6)
    originals = torch.from_numpy(X[:, 0])
    turned = torch.stack([torch.rot90(originals, k, dims=(-2, -1)) for k in range(4)])
    # equal[i, k, j]: seen image i is original j turned k times
    equal = (seen[:, None, None] == turned[None]).flatten(3).all(-1)
    turns = equal.any(-1)
    assert bool((turns.sum(1) == 1).all())  # every training image is one turn of a real one
    assert set(turns.float().argmax(1).tolist()) == {0, 1, 2, 3}


def test_without_rotation_classes_episodes_see_only_the_originals():
    X, y = _asymmetric_classes()
    SEEN.clear()
    clf = ProtoNetClassifier(
        _Recorder(), n_way=12, n_shot=1, n_query=2, max_iter=5, device="cpu", random_state=0
    ).fit(X, y)
    assert clf.episode_shape_[0] == 3
    originals = torch.from_numpy(X[:, 0])
    equal = (torch.cat(SEEN)[:, None] == originals[None]).flatten(2).all(-1)
    assert bool(equal.any(1).all())


@pytest.mark.parametrize("cls", [MAMLClassifier, ReptileClassifier])
def test_maml_family_fits_with_rotation_classes(cls):
    X, y = _asymmetric_classes(n_classes=2, per_class=4)
    params = {"n_way": 8, "n_shot": 1, "n_query": 1, "max_iter": 3, "rotation_classes": True,
              "device": "cpu", "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = cls(MLPBackbone(hidden=(16,), norm="layer"), **params).fit(X, y)
        ref = cls(MLPBackbone(hidden=(16,), norm="layer"), **params).fit(X, y)
    assert clf.episode_shape_[0] == 8
    assert_array_equal(clf.classes_, ["a", "b"])
    assert_array_equal(clf.predict_proba(X), ref.predict_proba(X))
    assert clf.adapt(X[:4], np.array([1, 1, 2, 2])).classes_.tolist() == [1, 2]


def test_rotation_classes_needs_square_images():
    rng = np.random.RandomState(0)
    X, y = rng.rand(12, 1, 4, 6).astype(np.float32), np.arange(12) % 2
    clf = ProtoNetClassifier(n_way=2, max_iter=2, n_query=2, rotation_classes=True, device="cpu")
    with pytest.raises(ValueError, match=r"rotation_classes=True .* square .*\(1, 4, 6\)"):
        clf.fit(X, y)
    with pytest.raises(ValueError, match=r"rotation_classes=True .* square .*\(6,\)"):
        clf.fit(rng.rand(12, 6), y)
    assert not hasattr(clf, "classes_")
