"""Pretrained networks get their own preprocessing: ``preprocess`` and ``preprocess_``.

No network: torchvision weights are read by name (their ``transforms()``
downloads nothing) or loaded from small local state-dict files made here.
Tiny images and one epoch or two meta-updates keep the file fast.
"""

import pickle

import numpy as np
import pytest
import torch
import torchvision
from numpy.testing import assert_allclose
from torch import nn
from torchvision.transforms import v2

from sklearn_meta import FineTuneClassifier, MAMLClassifier, ProtoNetClassifier
from sklearn_meta._preprocess import (
    Normalize,
    Preprocessed,
    Resize,
    ResizeCrop,
    resolve_preprocess,
)
from sklearn_meta.backbones import MLPBackbone, TorchvisionBackbone, module_blocks

CPU = {"device": "cpu", "random_state": 0}
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]
MEAN, STD = [0.2, 0.4, 0.6], [0.5, 0.25, 0.125]


@pytest.fixture(autouse=True)
def no_downloads(monkeypatch):
    def refuse(url, *args, **kwargs):
        raise AssertionError(f"tried to download {url}")

    monkeypatch.setattr(torch.hub, "download_url_to_file", refuse)


@pytest.fixture(scope="module")
def resnet18_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "resnet18.pt"
    with torch.random.fork_rng():
        torch.manual_seed(0)
        torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    return str(path)


@pytest.fixture(scope="module")
def images():
    rng = np.random.RandomState(0)
    X = rng.rand(12, 3, 32, 32).astype(np.float32)
    y = np.arange(12) % 2
    X[y == 1, 0] += 0.5  # a red tint marks class 1
    return X, y


def normalised(X, mean=MEAN, std=STD):
    mean = np.asarray(mean, np.float32).reshape(1, -1, 1, 1)
    std = np.asarray(std, np.float32).reshape(1, -1, 1, 1)
    return ((X - mean) / std).astype(np.float32)


# -------------------------------------------------------------- resolution
@pytest.mark.parametrize(
    "backbone, weights",
    [("auto", None), ("conv4", None), (MLPBackbone(), None), ("resnet18", None),
     (nn.Flatten(), None)],
)
def test_auto_without_torchvision_weights_is_nothing(backbone, weights):
    p = resolve_preprocess("auto", backbone, weights, None)
    assert p.geometry is None and p.layer is None and p.channels is None
    assert p.describe() == {"source": None}


@pytest.mark.parametrize("backbone", ["resnet18", TorchvisionBackbone("resnet18")])
@pytest.mark.parametrize("weights", ["IMAGENET1K_V1", "DEFAULT", "ResNet18_Weights.IMAGENET1K_V1"])
def test_auto_with_a_weights_name(backbone, weights):
    p = resolve_preprocess("auto", backbone, weights, None)
    assert isinstance(p.geometry, ResizeCrop)
    assert (p.geometry.resize, p.geometry.crop) == (256, (224, 224))
    assert isinstance(p.layer, Normalize) and p.channels == 3
    assert p.describe() == {
        "source": "weights",
        "weights": "ResNet18_Weights.IMAGENET1K_V1",
        "resize": 256,
        "crop": [224, 224],
        "interpolation": "bilinear",
        "mean": IMAGENET_MEAN,
        "std": IMAGENET_STD,
    }


def test_auto_follows_each_weights_own_transforms():
    p = resolve_preprocess("auto", "vit_b_16", "IMAGENET1K_SWAG_E2E_V1", None)
    assert (p.geometry.resize, p.geometry.crop, p.geometry.interpolation) == (
        384, (384, 384), "bicubic",
    )


def test_a_local_weights_file_gets_the_default_weights_preprocessing(resnet18_file):
    p = resolve_preprocess("auto", "resnet18", resnet18_file, None)
    described = p.describe()
    assert described["weights"] == "ResNet18_Weights.IMAGENET1K_V1"
    assert described["weights_file"] == resnet18_file
    assert described["resize"] == 256 and described["mean"] == IMAGENET_MEAN


def test_an_explicit_image_size_replaces_the_resize_and_keeps_the_normalisation():
    p = resolve_preprocess("auto", "resnet18", "DEFAULT", (40, 48))
    assert p.geometry is None and isinstance(p.layer, Normalize) and p.channels == 3
    described = p.describe()
    assert described["resize"] is None and described["crop"] is None
    assert described["mean"] == IMAGENET_MEAN


def test_unknown_weights_resolve_to_nothing_and_fit_says_why(images):
    assert resolve_preprocess("auto", "resnet18", "NO_SUCH", None).describe() == {"source": None}
    with pytest.raises(ValueError, match="not a weights name"):
        FineTuneClassifier("resnet18", weights="NO_SUCH", max_epochs=1, **CPU).fit(*images)


def test_none_and_a_user_transform():
    assert resolve_preprocess(None, "resnet18", "DEFAULT", None).describe() == {"source": None}
    transform = v2.Normalize(MEAN, STD)
    p = resolve_preprocess(transform, "resnet18", "DEFAULT", None)
    assert p.geometry is None and p.channels is None
    assert p.describe() == {"source": "user", "transform": repr(transform)}
    assert p.layer.transform is not transform  # a copy: the user's object is never moved


def test_a_user_transform_with_parameters_is_refused(images):
    clf = FineTuneClassifier("conv4", preprocess=nn.Conv2d(3, 3, 1), max_epochs=1, **CPU)
    with pytest.raises(ValueError, match="no trainable parameters"):
        clf.fit(*images)
    assert not hasattr(clf, "module_")


def test_a_transform_that_does_not_take_batches_is_clear(images):
    clf = FineTuneClassifier("conv4", preprocess=v2.Normalize([0.5] * 4, [1] * 4), **CPU)
    with pytest.raises(ValueError, match="preprocess=.*cannot take batches"):
        clf.fit(*images)


# ---------------------------------------------------------------- geometry
def test_geometry_matches_torchvision_transforms():
    """Our resize and crop, then [0, 1] and Normalize, give what weights.transforms() gives."""
    weights = torchvision.models.ResNet18_Weights.IMAGENET1K_V1
    p = resolve_preprocess("auto", "resnet18", "IMAGENET1K_V1", None)
    image = torch.randint(0, 256, (3, 300, 260), dtype=torch.uint8)
    ours = p.geometry(image)
    assert ours.dtype == torch.uint8 and ours.shape == (3, 224, 224)
    ours = p.layer(ours.float().div(255).unsqueeze(0))[0]
    assert torch.allclose(ours, weights.transforms()(image), atol=1e-5)
    floats = p.geometry(image.float() / 255)
    assert floats.dtype == torch.float32 and floats.shape == (3, 224, 224)


def test_resize_geometry():
    assert Resize(5)(torch.zeros(1, 9, 7, dtype=torch.uint8)).shape == (1, 5, 5)
    assert pickle.loads(pickle.dumps(Resize((4, 6)))).size == (4, 6)


# ------------------------------------------------------------ in the network
def test_resnet18_weights_file_normalises_inside_features(images, resnet18_file):
    X, y = images
    clf = FineTuneClassifier(
        "resnet18", weights=resnet18_file, image_size=32, freeze=2, max_epochs=1,
        batch_size=6, **CPU,
    ).fit(X, y)
    features = clf.module_.features
    assert isinstance(features, Preprocessed) and isinstance(features.layer, Normalize)
    assert clf.preprocess_["source"] == "weights"
    assert clf.preprocess_["mean"] == IMAGENET_MEAN and clf.preprocess_["resize"] is None
    assert clf._input_preprocessing(reset=False).geometry is None
    # the layer holds no parameters and the body's blocks are what freeze counts
    assert not list(features.layer.parameters())
    assert module_blocks(features) == module_blocks(features.body)
    # transform == the body on hand-normalised images
    with torch.no_grad():
        by_hand = features.body.eval()(torch.from_numpy(normalised(X, IMAGENET_MEAN, IMAGENET_STD)))
    assert_allclose(clf.transform(X), by_hand.numpy(), rtol=1e-4, atol=1e-5)
    # the protocol a fitted estimator as backbone= uses includes the layer
    assert isinstance(clf.get_feature_extractor().layer, Normalize)


def test_one_channel_images_take_imagenet_normalisation(resnet18_file):
    X = np.random.RandomState(0).rand(8, 1, 32, 32).astype(np.float32)
    y = np.arange(8) % 2
    clf = FineTuneClassifier(
        "resnet18", weights=resnet18_file, image_size=32, freeze="backbone", max_epochs=1, **CPU,
    ).fit(X, y)
    assert clf._input_preprocessing(reset=False).channels == 3
    assert clf.transform(X).shape == (8, 512)


def test_preprocess_none_applies_nothing(images, resnet18_file):
    clf = FineTuneClassifier(
        "resnet18", weights=resnet18_file, preprocess=None, freeze="backbone", max_epochs=1,
        **CPU,
    ).fit(*images)
    assert clf.preprocess_ == {"source": None}
    assert not isinstance(clf.module_.features, Preprocessed)


@pytest.mark.parametrize("backbone", ["mlp", "conv4"])
def test_user_transform_in_fit_and_predict(images, backbone):
    """A v2 transform in the network == fitting on what it outputs, by hand."""
    X, y = images
    common = dict(max_epochs=2, batch_size=6, **CPU)
    with_layer = FineTuneClassifier(backbone, preprocess=v2.Normalize(MEAN, STD), **common)
    by_hand = FineTuneClassifier(backbone, preprocess=None, **common)
    proba = with_layer.fit(X, y).predict_proba(X)
    assert_allclose(proba, by_hand.fit(normalised(X), y).predict_proba(normalised(X)), atol=1e-5)
    assert with_layer.preprocess_["source"] == "user"


@pytest.mark.parametrize("vectorize", [True, False])
def test_maml_runs_functionally_through_a_normalisation_layer(images, vectorize):
    X, y = images
    common = dict(
        backbone=MLPBackbone((16,), norm="layer"), n_way=2, n_shot=2, n_query=2,
        meta_batch_size=2, max_iter=2, n_inner_steps=1, vectorize=vectorize, **CPU,
    )
    with_layer = MAMLClassifier(preprocess=v2.Normalize(MEAN, STD), **common).fit(X, y)
    by_hand = MAMLClassifier(preprocess=None, **common).fit(normalised(X), y)
    assert isinstance(with_layer.module_.features, Preprocessed)
    assert_allclose(
        with_layer.predict_proba(X), by_hand.predict_proba(normalised(X)), atol=1e-5
    )


# -------------------------------------------------------------- persistence
def test_pickle_and_save_params_keep_the_preprocessing(images, tmp_path):
    X, y = images
    clf = FineTuneClassifier("conv4", preprocess=v2.Normalize(MEAN, STD), max_epochs=1, **CPU)
    proba = clf.fit(X, y).predict_proba(X)
    clf.set_params(preprocess=None)  # what was fitted is rebuilt, not the new parameter
    loaded = pickle.loads(pickle.dumps(clf))
    assert loaded.preprocess_ == clf.preprocess_
    assert isinstance(loaded.module_.features, Preprocessed)
    assert_allclose(loaded.predict_proba(X), proba, atol=1e-6)
    clf.save_params(f_params=tmp_path / "params.pt")
    twin = FineTuneClassifier(
        "conv4", preprocess=v2.Normalize(MEAN, STD), max_epochs=1, device="cpu", random_state=1
    ).fit(X, y)
    twin.load_params(f_params=tmp_path / "params.pt")
    assert_allclose(twin.predict_proba(X), proba, atol=1e-6)


def test_skops_round_trip_with_weights_preprocessing(images, resnet18_file, tmp_path):
    """The fitted record is plain data: skops saves it, trusting sklearn_meta types only."""
    sio = pytest.importorskip("skops.io")
    X, y = images
    clf = FineTuneClassifier(
        "resnet18", weights=resnet18_file, image_size=32, freeze="backbone", max_epochs=1, **CPU
    ).fit(X, y)
    sio.dump(clf, tmp_path / "model.skops")
    untrusted = sio.get_untrusted_types(file=tmp_path / "model.skops")
    assert all(t.startswith(("sklearn_meta.", "skorch.")) for t in untrusted), untrusted
    back = sio.load(tmp_path / "model.skops", trusted=untrusted)
    assert back.preprocess_ == clf.preprocess_
    assert isinstance(back.module_.features.layer, Normalize)
    assert_allclose(back.predict_proba(X), clf.predict_proba(X), atol=1e-6)


# ------------------------------------------------ a fitted estimator as backbone
@pytest.fixture(scope="module")
def finetuned(images, resnet18_file):
    # image_size keeps the 32x32 images (the weights' own resize would make them 224x224)
    return FineTuneClassifier(
        "resnet18", weights=resnet18_file, image_size=32, freeze="backbone", max_epochs=1, **CPU
    ).fit(*images)


def test_a_fitted_backbone_carries_its_preprocessing(images, finetuned):
    X, y = images
    proto = ProtoNetClassifier(
        backbone=finetuned, n_way=2, n_shot=2, n_query=2, max_iter=1, **CPU
    ).fit(X, y)
    assert proto.preprocess_["source"] == "backbone"
    assert proto.preprocess_["backbone"] == "FineTuneClassifier"
    assert proto.preprocess_["mean"] == IMAGENET_MEAN
    # the decoder resizes to the backbone's image_size; the layer came inside its features
    geometry = proto._input_preprocessing(reset=False).geometry
    assert repr(geometry) == "Resize(size=(32, 32))" and proto.preprocess_["resize"] == [32, 32]
    features = proto.module_.features
    assert isinstance(features, Preprocessed) and not isinstance(features.body, Preprocessed)
    # an explicit image_size replaces the carried resize, keeps the normalisation
    sized = resolve_preprocess("auto", finetuned, None, 32)
    assert sized.geometry is None and sized.describe()["mean"] == IMAGENET_MEAN


def test_preprocess_none_takes_a_fitted_backbones_layer_out(images, finetuned):
    proto = ProtoNetClassifier(
        backbone=finetuned, preprocess=None, n_way=2, n_shot=2, n_query=2, max_iter=1, **CPU
    ).fit(*images)
    assert proto.preprocess_ == {"source": None}
    assert not isinstance(proto.module_.features, Preprocessed)


def test_a_user_transform_replaces_a_fitted_backbones_layer(images, finetuned):
    X, y = images
    proto = ProtoNetClassifier(
        backbone=finetuned, preprocess=v2.Normalize(MEAN, STD), n_way=2, n_shot=2, n_query=2,
        max_iter=1, **CPU,
    ).fit(X, y)
    features = proto.module_.features
    assert proto.preprocess_["source"] == "user"
    assert features.layer.transform.mean == MEAN and not isinstance(features.body, Preprocessed)
    # the network still takes the channels the backbone's normalisation gave it
    assert proto._input_preprocessing(reset=False).channels == 3
