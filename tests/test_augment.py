"""Training-time augmentation: the augmenters, and how fits use them."""

import os
import signal
import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal
from sklearn.datasets import load_digits
from skorch.callbacks import Callback, Checkpoint, LoadInitState

from sklearn_meta import FineTuneClassifier, ProtoNetClassifier
from sklearn_meta._augment import PerImageAugment, StandardAugment, make_augmenter
from sklearn_meta.backbones import MLPBackbone
from sklearn_meta.exceptions import TrainingInterrupted

v2 = pytest.importorskip("torchvision.transforms.v2")


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def _same_images(n=16, shape=(3, 20, 30)):
    """A batch of one image repeated: any difference in the output is per-image randomness."""
    img = torch.rand(shape, generator=_gen(123))
    return img.expand(n, *shape).contiguous()


# ------------------------------------------------------------- augmenters
def test_make_augmenter_resolves_the_parameter():
    assert make_augmenter(None) is None
    assert isinstance(make_augmenter("standard"), StandardAugment)
    flip = v2.RandomHorizontalFlip()
    aug = make_augmenter(flip)
    assert isinstance(aug, PerImageAugment) and aug.transform is flip
    with pytest.raises(ValueError, match="augment='crop'"):
        make_augmenter("crop")
    with pytest.raises(TypeError, match="augment must be"):
        make_augmenter(3)


@pytest.mark.parametrize(
    "aug",
    [StandardAugment(), PerImageAugment(v2.Compose([v2.RandomResizedCrop((20, 30)),
                                                    v2.RandomHorizontalFlip()]))],
    ids=["standard", "torchvision"],
)
def test_each_image_gets_its_own_parameters_and_the_shape_is_kept(aug):
    batch = _same_images()
    out = aug(batch, _gen())
    assert out.shape == batch.shape and out.dtype == batch.dtype
    flat = out.flatten(1)
    n_distinct = len({tuple(row.tolist()) for row in flat})
    assert n_distinct >= 12  # 16 images, hardly two with the same crop and flip
    assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0


@pytest.mark.parametrize(
    "aug", [StandardAugment(), PerImageAugment(v2.RandomResizedCrop((20, 30)))],
    ids=["standard", "torchvision"],
)
def test_same_generator_seed_same_output_and_global_rng_untouched(aug):
    batch = torch.rand(8, 1, 20, 30, generator=_gen(1))
    cpu_state = torch.random.get_rng_state()
    a = aug(batch, _gen(5))
    b = aug(batch, _gen(5))
    c = aug(batch, _gen(6))
    assert torch.equal(torch.random.get_rng_state(), cpu_state)
    assert torch.equal(a, b)
    assert not torch.equal(a, c)


def test_standard_crops_lie_inside_the_image_with_the_documented_shares():
    aug = StandardAugment(scale=(0.25, 1.0), ratio=(3 / 4, 4 / 3), flip=0.5)
    theta = aug.matrices(4000, 28, 40, _gen(), torch.device("cpu"))
    sx, tx = theta[:, 0, 0], theta[:, 0, 2]
    sy, ty = theta[:, 1, 1], theta[:, 1, 2]
    eps = 1e-5
    # the sampled region [t - |s|, t + |s|] stays within [-1, 1] on both axes
    assert bool(((tx.abs() + sx.abs()) <= 1 + eps).all())
    assert bool(((ty.abs() + sy.abs()) <= 1 + eps).all())
    area = sx.abs() * sy
    assert float(area.min()) >= 0.25 - eps and float(area.max()) <= 1 + eps
    ratio = (sx.abs() * 40) / (sy * 28)
    fitted = area < 1 - eps  # the whole image (no candidate fitted) keeps its own ratio
    assert float(ratio[fitted].min()) >= 3 / 4 - 1e-4
    assert float(ratio[fitted].max()) <= 4 / 3 + 1e-4
    assert 0.45 < float((sx < 0).float().mean()) < 0.55
    assert torch.equal(theta[:, 0, 1], torch.zeros(4000))


def test_standard_without_randomness_is_the_identity_or_a_mirror():
    batch = torch.rand(3, 2, 6, 9, generator=_gen(2))
    same = StandardAugment(scale=(1, 1), ratio=(1.5, 1.5), flip=0.0)(batch, _gen())
    torch.testing.assert_close(same, batch, atol=1e-5, rtol=0)
    mirror = StandardAugment(scale=(1, 1), ratio=(1.5, 1.5), flip=1.0)(batch, _gen())
    torch.testing.assert_close(mirror, batch.flip(-1), atol=1e-5, rtol=0)


def test_a_transform_that_changes_the_shape_is_refused():
    aug = PerImageAugment(v2.Resize((10, 10)))
    with pytest.raises(ValueError, match=r"augment=.*Resize.*\(1, 20, 30\).*\(1, 10, 10\)"):
        aug(torch.rand(2, 1, 20, 30), _gen())


# ------------------------------------------------------------------- fits
def _digit_images():
    X, y = load_digits(return_X_y=True)
    return (X[:300] / 16.0).astype(np.float32), y[:300]


def _finetune(**kw):
    return FineTuneClassifier(
        MLPBackbone(hidden=(32,)), input_shape=(1, 8, 8), max_epochs=2, batch_size=32,
        device="cpu", random_state=0, **kw,
    )


def _protonet(**kw):
    kw = {"max_iter": 30, **kw}
    return ProtoNetClassifier(
        MLPBackbone(hidden=(32,)), input_shape=(1, 8, 8), n_way=5, n_query=3,
        device="cpu", random_state=0, **kw,
    )


def _same_network(a, b):
    sa, sb = a.module_.state_dict(), b.module_.state_dict()
    return all(torch.equal(sa[k], sb[k]) for k in sa)


class _Counting:
    """An identity transform that counts the images it saw."""

    def __init__(self):
        self.n = 0

    def __call__(self, image):
        self.n += 1
        return image


@pytest.mark.parametrize("make", [_finetune, _protonet], ids=["finetune", "protonet"])
def test_augmented_fit_repeats_and_differs_from_plain(make):
    X, y = _digit_images()
    plain = make().fit(X, y)
    a = make(augment="standard").fit(X, y)
    b = make(augment="standard").fit(X, y)
    assert _same_network(a, b)
    assert not _same_network(a, plain)
    assert_array_equal(a.predict_proba(X), b.predict_proba(X))


@pytest.mark.parametrize("make", [_finetune, _protonet], ids=["finetune", "protonet"])
def test_augmentation_runs_in_training_only(make):
    X, y = _digit_images()
    count = _Counting()
    est = make(augment=count).fit(X, y)
    seen = count.n
    assert seen > 0
    # an identity augmentation leaves the fit as it is without one
    assert _same_network(est, make().fit(X, y))
    est.predict(X)
    est.transform(X)
    if hasattr(est, "adapt"):
        est.adapt(X[:20], y[:20]).predict(X[:5])
    assert count.n == seen


@pytest.mark.parametrize("make", [_finetune, _protonet], ids=["finetune", "protonet"])
def test_augment_is_refused_on_tabular_rows(make):
    X, y = _digit_images()
    est = make(augment="standard").set_params(input_shape=None)
    with pytest.raises(ValueError, match="augment='standard' transforms images.*tabular"):
        est.fit(X, y)
    assert not hasattr(est, "module_")


class _SigintAt(Callback):
    """Ctrl-C (a real SIGINT) after update ``at``."""

    def __init__(self, at):
        self.at = at

    def initialize(self):
        self.count_ = 0
        return self

    def on_batch_end(self, net, **kwargs):
        self.count_ += 1
        if self.count_ == self.at:
            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize(
    "make, kw, at",
    [(_finetune, {}, 13), (_protonet, {"max_iter": 160}, 130)],
    ids=["finetune", "protonet"],
)
def test_augmented_fit_resumed_after_ctrl_c_equals_uninterrupted(make, kw, at, sigint, tmp_path):
    """Ctrl-C inside the second epoch (block of meta-updates), then resumed."""
    X, y = _digit_images()
    reference = make(augment="standard", **kw).fit(X, y)
    cp = Checkpoint(monitor=None, dirname=str(tmp_path))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(TrainingInterrupted):
            make(augment="standard", callbacks=[cp, _SigintAt(at)], **kw).fit(X, y)
    resumed = make(augment="standard", callbacks=[LoadInitState(cp)], **kw).fit(X, y)
    assert resumed.n_iter_ == reference.n_iter_
    assert _same_network(resumed, reference)
