"""User mistakes with backbones and weight files: each gives a clear error or just works.

No network: torchvision models are built with ``weights=None`` and weight files
are written to ``tmp_path``. Inputs are tiny so each test runs in about a second.
"""

import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from sklearn_meta import FineTuneClassifier
from sklearn_meta.backbones import Conv4Backbone, MLPBackbone, build_backbone

CPU = dict(device="cpu", random_state=0)


def _mlp_state(hidden, seed=0):
    torch.manual_seed(seed)
    return MLPBackbone(hidden=hidden).build((4,)).state_dict()


@pytest.fixture(scope="module")
def fitted_mlp():
    rng = np.random.RandomState(0)
    X = rng.rand(20, 4).astype(np.float32)
    return FineTuneClassifier(backbone=MLPBackbone(hidden=(8,)), max_epochs=1, **CPU).fit(
        X, np.arange(20) % 2
    )


# ------------------------------------------------- 1. auxiliary classifier heads
@pytest.mark.parametrize("name, size", [("googlenet", 32), ("inception_v3", 80)])
def test_aux_heads_are_dropped_so_train_mode_returns_features(name, size):
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)  # the init_weights warning
        module, n_features, _ = build_backbone(name, (3, size, size))
    module.train()
    out = module(torch.rand(2, 3, size, size))
    assert isinstance(out, torch.Tensor) and out.shape == (2, n_features)


class _AuxNet(nn.Module):
    """Like torchvision's googlenet: train mode returns (logits, aux) with aux_logits."""

    def __init__(self):
        super().__init__()
        self.aux_logits = True
        self.body, self.aux1 = nn.Linear(4, 3), nn.Linear(4, 2)

    def forward(self, x):
        if self.training and self.aux_logits:
            return self.body(x), self.aux1(x)
        return self.body(x)


def test_aux_heads_of_a_module_backbone_are_dropped():
    user = _AuxNet()
    module, _, _ = build_backbone(user, (4,))
    assert module(torch.rand(2, 4)).shape == (2, 3)
    assert user.aux_logits and user.aux1 is not None  # the user's module is left as it was


def test_googlenet_fine_tunes():
    X = np.random.RandomState(0).rand(4, 3, 32, 32).astype(np.float32)
    clf = FineTuneClassifier(backbone="googlenet", max_epochs=1, batch_size=4, **CPU)
    clf.fit(X, [0, 1, 0, 1])
    assert clf.predict(X).shape == (4,)


# ------------------------------------------------------ 2. images of the wrong size
@pytest.mark.parametrize(
    "name, shape, fix",
    [("inception_v3", (3, 32, 32), "at least 75x75"), ("vit_b_16", (3, 32, 32), "exactly 224x224")],
)
def test_images_of_wrong_size_for_torchvision_model(name, shape, fix):
    with pytest.raises(ValueError) as info:
        build_backbone(name, shape)
    msg = str(info.value)
    assert name in msg and str(shape) in msg and fix in msg and "resnet18" in msg


def test_module_backbone_with_wrong_input_shape():
    with pytest.raises(ValueError, match=r"backbone Linear cannot take samples of shape \(5,\)"):
        build_backbone(nn.Linear(4, 3), (5,))


# ------------------------------------------------------------- 3. has_batch_norm
def test_has_batch_norm():
    from sklearn_meta.backbones import has_batch_norm

    assert has_batch_norm(Conv4Backbone(channels=2).build((1, 8, 8)))
    assert has_batch_norm(MLPBackbone(norm="batch").build((4,)))
    assert has_batch_norm(nn.Sequential(nn.Linear(2, 2), nn.SyncBatchNorm(2)))
    assert not has_batch_norm(MLPBackbone().build((4,)))
    assert not has_batch_norm(nn.Sequential(nn.Conv2d(1, 2, 3), nn.InstanceNorm2d(2)))
    assert not has_batch_norm(nn.LayerNorm(3))


# ------------------------------------------------------------ 4. corrupt files
@pytest.mark.parametrize(
    "content",
    [np.random.RandomState(0).bytes(500), b"hello world\n", b""],
    ids=["random", "text", "empty"],
)
@pytest.mark.parametrize("backbone", [MLPBackbone(hidden=(8,)), "resnet18"], ids=["mlp", "rn18"])
def test_corrupt_weights_file(tmp_path, content, backbone):
    path = tmp_path / "w.pt"
    path.write_bytes(content)
    shape = (4,) if isinstance(backbone, MLPBackbone) else (3, 8, 8)
    with pytest.raises(ValueError) as info:
        build_backbone(backbone, shape, weights=str(path))
    msg = str(info.value)
    assert f"could not read {path} as a torch state dict" in msg
    assert "torch.save(module.state_dict(), path)" in msg


# ---------------------------------------------------------- 5. pickled objects
class _Evil:
    """Unpickling it creates a file: proof that a loader ran arbitrary code."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("how", ["torch.save", "pickle.dump", "evil", "module"])
def test_pickled_object_is_refused_not_unpickled(tmp_path, fitted_mlp, how):
    path, marker = tmp_path / "w.pt", str(tmp_path / "pwned")
    obj = {"torch.save": fitted_mlp, "pickle.dump": fitted_mlp, "evil": _Evil(marker)}.get(
        how, nn.Linear(4, 8)
    )
    if how == "pickle.dump":
        path.write_bytes(pickle.dumps(obj, protocol=4))
    else:
        torch.save(obj, path)
    with pytest.raises(ValueError) as info:
        build_backbone(MLPBackbone(hidden=(8,)), (4,), weights=path)
    msg = str(info.value)
    assert "pickled object, not a state dict" in msg
    assert "backbone=" in msg and "state_dict()" in msg
    assert not Path(marker).exists()


def test_non_state_dict_content(tmp_path):
    torch.save([torch.zeros(2)], tmp_path / "w.pt")
    with pytest.raises(ValueError, match="holds a list, not a state dict"):
        build_backbone(MLPBackbone(hidden=(8,)), (4,), weights=tmp_path / "w.pt")


# ------------------------------------------------------------- 6. key prefixes
@pytest.mark.parametrize(
    "prefix", ["module.", "features.", "backbone.", "model.", "module.features."]
)
def test_state_dict_with_a_prefix_loads(tmp_path, prefix):
    saved = _mlp_state((8,))
    torch.save({prefix + k: v for k, v in saved.items()}, tmp_path / "w.pt")
    module, _, pretrained = build_backbone(
        MLPBackbone(hidden=(8,)), (4,), weights=tmp_path / "w.pt"
    )
    assert pretrained
    for k, v in module.state_dict().items():
        assert torch.equal(v, saved[k])


def test_training_checkpoint_loads(tmp_path):
    """{"state_dict": ..., "epoch": ...} checkpoints, keys prefixed as Lightning does."""
    saved = _mlp_state((8,))
    state = {"model." + k: v for k, v in saved.items()}
    torch.save({"state_dict": state, "epoch": 3}, tmp_path / "w.pt")
    module, _, _ = build_backbone(MLPBackbone(hidden=(8,)), (4,), weights=tmp_path / "w.pt")
    assert torch.equal(module.state_dict()["1.0.weight"], saved["1.0.weight"])


def test_whole_estimator_network_state_dict_loads(tmp_path, fitted_mlp):
    """module_.state_dict() holds features.* and head.*: the features are taken."""
    torch.save(fitted_mlp.module_.state_dict(), tmp_path / "w.pt")
    module, _, _ = build_backbone(MLPBackbone(hidden=(8,)), (4,), weights=tmp_path / "w.pt")
    for k, v in fitted_mlp.module_.features.state_dict().items():
        assert torch.equal(module.state_dict()[k], v)


def test_torchvision_state_dict_with_prefix_and_without_classifier(tmp_path):
    import torchvision

    torch.manual_seed(1)
    saved = torchvision.models.resnet18(weights=None).state_dict()
    torch.save(
        {"module." + k: v for k, v in saved.items() if not k.startswith("fc.")}, tmp_path / "w.pt"
    )
    module, n_features, _ = build_backbone("resnet18", (3, 8, 8), weights=tmp_path / "w.pt")
    assert n_features == 512
    assert torch.equal(module.model.conv1.weight, saved["conv1.weight"])


@pytest.mark.parametrize(
    "saved, built, listed",
    [
        ((8,), (16,), "shape-mismatched: '1.0.weight' [8, 4] (expected [16, 4])"),
        ((8, 8), (8,), "unexpected: '2.0.weight', '2.0.bias'"),
        ((8,), (8, 8), "missing: '2.0.weight', '2.0.bias'"),
    ],
)
def test_state_dict_of_another_architecture(tmp_path, saved, built, listed):
    torch.save(_mlp_state(saved), tmp_path / "w.pt")
    with pytest.raises(ValueError) as info:
        build_backbone(MLPBackbone(hidden=built), (4,), weights=tmp_path / "w.pt")
    msg = str(info.value)
    assert listed in msg
    assert "different architecture" in msg and "same backbone config" in msg


# ---------------------------------------------------------------- 7. paths
BACKBONES = [(MLPBackbone(hidden=(8,)), (4,)), ("resnet18", (3, 8, 8))]


@pytest.mark.parametrize("backbone, shape", BACKBONES)
def test_home_and_pathlib_weights_paths(tmp_path, monkeypatch, backbone, shape):
    module, _, _ = build_backbone(backbone, shape)
    torch.save(getattr(module, "model", module).state_dict(), tmp_path / "w.pt")
    monkeypatch.setenv("HOME", str(tmp_path))
    for weights in ["~/w.pt", tmp_path / "w.pt"]:
        loaded, _, pretrained = build_backbone(backbone, shape, weights=weights)
        assert pretrained
        for k, v in module.state_dict().items():
            assert torch.equal(loaded.state_dict()[k], v)


@pytest.mark.parametrize("backbone, shape", BACKBONES)
@pytest.mark.parametrize("as_path", [False, True])
def test_missing_weights_file(tmp_path, monkeypatch, backbone, shape, as_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    weights = tmp_path / "nope.pt" if as_path else "~/nope.pt"
    with pytest.raises(ValueError) as info:
        build_backbone(backbone, shape, weights=weights)
    msg = str(info.value)
    assert str(tmp_path / "nope.pt") in msg
    assert "state-dict file" in msg and "weights name" in msg


def test_missing_weights_file_on_estimator(tmp_path):
    """FineTuneClassifier takes a pathlib.Path and reports the missing file."""
    clf = FineTuneClassifier(
        backbone=MLPBackbone(hidden=(8,)), weights=tmp_path / "nope.pt", **CPU
    )
    with pytest.raises(ValueError, match="nope.pt"):
        clf.fit(np.zeros((4, 4), dtype=np.float32), [0, 1, 0, 1])


# ------------------------------------------------------- 8. misspelt model names
@pytest.mark.parametrize("name, close", [("resnet1800", "'resnet18'"), ("mpl", "'mlp'")])
def test_unknown_backbone_name_suggests_close_names(name, close):
    known = "neither 'mlp', 'conv4', 'identity' nor a torchvision"
    with pytest.raises(ValueError, match=known) as info:
        build_backbone(name, (3, 8, 8))
    assert "Did you mean" in str(info.value) and close in str(info.value)


def test_non_classification_torchvision_model_is_refused():
    with pytest.raises(ValueError, match="torchvision classification model"):
        build_backbone("fasterrcnn_resnet50_fpn", (3, 8, 8))
