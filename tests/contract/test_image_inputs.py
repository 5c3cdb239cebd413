"""Images as users have them, in every estimator: files, PIL images, mixed sizes, datasets.

The same pictures given as file paths, PIL images or uint8 arrays give the
same model and the same predictions; uint8 pixels read as floats in [0, 1];
images of many sizes need ``image_size``; a torch dataset of ``(image,
label)`` pairs goes in with ``y=None``; a file that cannot be read is a
clear error before any training.
"""

import functools

import numpy as np
import pytest
import torch
from contract_cases import CASES, CPU
from PIL import Image
from sklearn.datasets import load_digits
from torchvision.transforms.v2 import functional as TF

from sklearn_meta import DomainAdaptedClassifier, MAMLRegressor
from sklearn_meta.backbones import Conv4Backbone

#: a conv4 small enough for 8x8 images; instance norm suits the MAML family
_NORM = {"maml": "instance", "reptile": "instance", "maml_regressor": "instance"}


def _make(case, **kw):
    backbone = Conv4Backbone(channels=8, n_blocks=2, norm=_NORM.get(case.name, "batch"))
    return case.make(backbone=backbone, **kw)


@functools.cache
def _digit_images():
    """150 digits as 8x8 uint8 images, their labels, and a task per row."""
    X, y = load_digits(return_X_y=True)
    rng = np.random.RandomState(0)
    rows = rng.permutation(len(y))[:150]
    images = np.round(X[rows] * (255 / 16)).astype(np.uint8).reshape(-1, 8, 8)
    return images, y[rows]


def _data(case):
    """``(images, y, fit_params)`` suited to ``case``."""
    images, y = _digit_images()
    if case.cls is MAMLRegressor:
        # a task per digit; the target is the image's brightness, scaled per task
        groups = y.copy()
        target = images.reshape(len(y), -1).mean(1) / 255 * (1 + groups % 3)
        return images, target.astype(np.float32), {"groups": groups}
    if case.cls is DomainAdaptedClassifier:
        y = y.copy()
        y[::3] = -1  # every third image an unlabelled target row
    return images, y, {}


def _write_pngs(images, folder):
    paths = []
    for i, img in enumerate(images):
        path = folder / f"img_{i:03d}.png"
        Image.fromarray(img).save(path)
        paths.append(str(path))
    return paths


def _out(est, X):
    return est.predict_proba(X) if hasattr(est, "predict_proba") else est.predict(X)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_paths_pil_and_uint8_arrays_give_the_same_model(case, tmp_path):
    images, y, kw = _data(case)
    paths = _write_pngs(images, tmp_path)
    pils = [Image.open(p) for p in paths]
    outs = []
    for X in (images, paths, np.asarray(paths), pils, list(images)):
        est = _make(case).fit(X, y, **kw)
        assert est.input_shape_ == (1, 8, 8)
        outs.append(_out(est, X))
    for out in outs[1:]:
        np.testing.assert_array_equal(out, outs[0])
    # uint8 pixels read as floats in [0, 1]: the same as the float images / 255
    est = _make(case).fit(images.astype(np.float32) / 255, y, **kw)
    np.testing.assert_allclose(_out(est, images.astype(np.float32) / 255), outs[0], atol=1e-6)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_mixed_sizes_need_image_size(case):
    images, y, kw = _data(case)
    # every third image twice as large, every third one three times
    mixed = [np.kron(img, np.ones((k, k), np.uint8)) for img, k in
             zip(images, np.resize([1, 2, 3], len(images)))]
    with pytest.raises(ValueError, match="image_size"):
        _make(case).fit(mixed, y, **kw)
    est = _make(case, image_size=8).fit(mixed, y, **kw)
    assert est.image_size_ == (8, 8) and est.input_shape_ == (1, 8, 8)
    assert _out(est, mixed).shape[0] == len(mixed)
    # prediction resizes as torchvision's Resize(antialias=True) does, image by image
    resized = np.stack([
        TF.resize(torch.from_numpy(m)[None], [8, 8], antialias=True)[0].numpy()
        for m in mixed[:30]
    ])
    np.testing.assert_array_equal(_out(est, mixed[:30]), _out(est, resized))
    big = [np.kron(img, np.ones((2, 2), np.uint8)) for img in images[:20]]
    with pytest.raises(ValueError, match="image_size"):
        _make(case).fit(images, y, **kw).predict(big)


class _Pairs(torch.utils.data.Dataset):
    """A map-style dataset of ``(PIL image, label[, group])`` items."""

    def __init__(self, images, *columns, classes=None):
        self.images, self.columns = images, columns
        if classes is not None:
            self.classes = classes

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        return (Image.fromarray(self.images[i]), *(c[i] for c in self.columns))


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_dataset_goes_in_with_y_none(case):
    images, y, kw = _data(case)
    columns = (y, kw["groups"]) if "groups" in kw else (y,)
    dataset = _Pairs(images, *columns)
    fit_kw = {"groups": None} if "groups" in kw else {}
    est = _make(case).fit(dataset, None, **fit_kw)
    ref = _make(case).fit(images, y, **kw)
    np.testing.assert_array_equal(_out(est, dataset), _out(ref, images))
    if case.few_shot and case.classifier:
        new = est.adapt(_Pairs(images[:40], y[:40]))
        np.testing.assert_array_equal(new.classes_, np.unique(y[:40]))


def test_an_image_folders_class_names_become_classes(tmp_path):
    case = next(c for c in CASES if c.name == "protonet")
    images, y = _digit_images()
    names = np.array([f"digit_{k}" for k in range(10)])
    est = _make(case).fit(_Pairs(images, y, classes=list(names)), None)
    np.testing.assert_array_equal(est.classes_, names)
    assert set(est.predict(images)) <= set(names)


@pytest.mark.parametrize("case", CASES, ids=str)
def test_unreadable_files_are_named_before_training(case, tmp_path):
    images, y, kw = _data(case)
    paths = _write_pngs(images, tmp_path)
    missing = list(paths)
    missing[7] = str(tmp_path / "gone.png")
    broken = list(paths)
    (tmp_path / "broken.png").write_bytes(b"not an image at all")
    broken[3] = str(tmp_path / "broken.png")
    est = _make(case)
    with pytest.raises(ValueError, match=r"X\[7\].*gone\.png"):
        est.fit(missing, y, **kw)
    assert not hasattr(est, "n_iter_")
    est.fit(paths, y, **kw)
    before = _out(est, images)
    with pytest.raises(ValueError, match=r"X\[3\].*broken\.png"):
        est.predict(broken)
    with pytest.raises(ValueError, match="mixes kinds"):
        est.predict([paths[0], images[1]])
    np.testing.assert_array_equal(_out(est, images), before)


def test_colour_alpha_and_grey_follow_one_rule(tmp_path):
    case = next(c for c in CASES if c.name == "finetune")
    images, y = _digit_images()
    rgb = np.stack([images, images[::-1], 255 - images], axis=-1)  # (n, 8, 8, 3)
    rgba = np.concatenate([rgb, np.full((*images.shape, 1), 128, np.uint8)], axis=-1)
    est = _make(case).fit(list(rgb), y)
    assert est.input_shape_ == (3, 8, 8)
    # the alpha channel is dropped; PIL images of both modes agree with the arrays
    expected = est.predict_proba(list(rgb))
    np.testing.assert_array_equal(est.predict_proba(list(rgba)), expected)
    np.testing.assert_array_equal(
        est.predict_proba([Image.fromarray(a, "RGBA") for a in rgba]), expected
    )
    # grey images on a colour model are repeated to three channels
    grey = est.predict_proba(list(images))
    np.testing.assert_array_equal(grey, est.predict_proba(list(np.repeat(images[..., None], 3, -1))))
    # a grey model turns colour into ITU-R 601-2 luma, as PIL's convert("L")
    grey_est = _make(case).fit(list(images), y)
    luma = [np.asarray(Image.fromarray(a).convert("L")) for a in rgb]
    np.testing.assert_array_equal(grey_est.predict_proba(list(rgb)), grey_est.predict_proba(luma))


def test_sixteen_bit_and_palette_files(tmp_path):
    case = next(c for c in CASES if c.name == "protonet")
    images, y = _digit_images()
    est = _make(case).fit(images.astype(np.float32) / 255, y)
    wide = []
    for i, img in enumerate(images[:10]):
        path = tmp_path / f"w{i}.png"
        Image.fromarray(img.astype(np.uint16) * 257).save(path)  # 16-bit, same picture
        wide.append(str(path))
    np.testing.assert_allclose(
        est.predict_proba(wide), est.predict_proba(images[:10].astype(np.float32) / 255),
        atol=1e-5,
    )
    palette = []
    for i, img in enumerate(images[:10]):
        path = tmp_path / f"p{i}.png"
        Image.fromarray(img).convert("P").save(path)
        palette.append(str(path))
    assert est.predict(palette).shape == (10,)


def test_rows_keep_their_path_and_image_size_needs_images():
    case = next(c for c in CASES if c.name == "protonet")
    X, y = case.X, case.y
    with pytest.raises(ValueError, match="image_size"):
        case.make(image_size=8).fit(X, y)
    est = case.make(**CPU)
    assert est.fit(X, y).image_size_ is None


@pytest.mark.parametrize("case", CASES, ids=str)
def test_images_kept_in_a_file_train_as_in_memory(case, tmp_path):
    images, y, kw = _data(case)
    paths = _write_pngs(images, tmp_path)
    in_memory = _make(case, storage="device").fit(paths, y, **kw)
    streamed = _make(case, storage="stream").fit(paths, y, **kw)
    assert (in_memory.storage_, streamed.storage_) == ("device", "stream")
    np.testing.assert_array_equal(_out(streamed, paths), _out(in_memory, paths))
    # arrays stay where they are
    assert _make(case, storage="stream").fit(images, y, **kw).storage_ == "device"


def test_auto_storage_streams_what_would_not_fit(monkeypatch, tmp_path):
    import sklearn_meta._inputs as inputs

    case = next(c for c in CASES if c.name == "finetune")
    images, y = _digit_images()
    paths = _write_pngs(images, tmp_path)
    assert _make(case).fit(paths, y).storage_ == "device"
    # as if the machine had 10 kB free: the 9.6 kB of pixels are more than half of it
    monkeypatch.setattr(inputs, "free_memory", lambda device: 10_000)
    est = _make(case).fit(paths, y)
    assert est.storage_ == "stream"
    np.testing.assert_array_equal(
        est.predict_proba(paths), _make(case, storage="device").fit(paths, y).predict_proba(paths)
    )


@pytest.mark.parametrize("case", CASES, ids=str)
def test_a_model_fitted_on_files_pickles_before_its_first_prediction(case, tmp_path):
    import pickle

    images, y, kw = _data(case)
    paths = _write_pngs(images, tmp_path)
    est = _make(case, storage="stream").fit(paths, y, **kw)
    loaded = pickle.loads(pickle.dumps(est))  # the MAML family's head is not built yet
    np.testing.assert_array_equal(_out(loaded, paths), _out(est, paths))
    assert (loaded.image_size_, loaded.storage_) == (None, "stream")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
@pytest.mark.parametrize("case", CASES, ids=str)
def test_on_cuda_streamed_images_train_as_images_on_the_device(case, tmp_path):
    images, y, kw = _data(case)
    paths = _write_pngs(images, tmp_path)
    on_device = _make(case, device="cuda", storage="device").fit(paths, y, **kw)
    streamed = _make(case, device="cuda", storage="stream").fit(paths, y, **kw)
    assert streamed.storage_ == "stream"
    # CUDA kernels need not repeat bit for bit; the two read the same pixels
    np.testing.assert_allclose(_out(streamed, paths), _out(on_device, paths), atol=0.05)


def test_grey_files_become_colour_for_a_module_that_takes_three_channels(tmp_path):
    import warnings

    case = next(c for c in CASES if c.name == "finetune")
    images, y = _digit_images()
    paths = _write_pngs(images, tmp_path)  # grey PNG files
    net = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(1),
        torch.nn.Flatten(),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "array is not writable" from the decoder
        est = case.make(backbone=net, image_size=16).fit(paths, y)
    assert est.input_shape_ == (3, 16, 16)


def test_what_a_hostile_user_tried(tmp_path):
    """Tensors, one-column frames, target transforms, RGBA and grey arrays, 16-bit arrays."""
    import pandas as pd

    case = next(c for c in CASES if c.name == "protonet")
    images, y = _digit_images()
    paths = _write_pngs(images, tmp_path)
    est = _make(case).fit(images, y)
    expected = est.predict_proba(images)
    # a uint8 tensor batch, as a DataLoader gives it, reads as [0, 1] like the array
    np.testing.assert_array_equal(est.predict_proba(torch.from_numpy(images)), expected)
    np.testing.assert_array_equal(
        est.predict_proba(torch.from_numpy(images[:, None])), expected
    )
    # one column of paths, as a DataFrame or an (n, 1) array
    np.testing.assert_array_equal(est.predict_proba(pd.DataFrame({"p": paths})), expected)
    np.testing.assert_array_equal(est.predict_proba(np.array(paths)[:, None]), expected)
    # 16-bit arrays read as 16-bit files are
    wide = images.astype(np.uint16) * 257
    np.testing.assert_allclose(est.predict_proba(wide), expected, atol=1e-6)
    # one image is a clear error
    with pytest.raises(ValueError, match="one image"):
        est.predict(paths[0])
    with pytest.raises(ValueError, match="one image"):
        est.predict(Image.open(paths[0]))
    # image_size takes ints only
    with pytest.raises(ValueError, match="image_size"):
        _make(case, image_size=(8.5, 8)).fit(paths, y)


def test_colour_arrays_follow_the_channel_rule_too():
    case = next(c for c in CASES if c.name == "finetune")
    images, y = _digit_images()
    rgb = np.stack([images, images[::-1], 255 - images], axis=-1)
    rgba = np.concatenate([rgb, np.full((*images.shape, 1), 9, np.uint8)], axis=-1)
    est = _make(case).fit(rgba, y)  # (n, H, W, 4): channels-last, alpha dropped
    assert est.input_shape_ == (3, 8, 8)
    np.testing.assert_array_equal(est.predict_proba(rgba), est.predict_proba(list(rgb)))
    # grey arrays on a colour model are repeated, as grey files are
    np.testing.assert_array_equal(est.predict_proba(images), est.predict_proba(list(images)))


def test_an_image_folders_target_transform_is_respected(tmp_path):
    from torchvision.datasets import ImageFolder

    case = next(c for c in CASES if c.name == "protonet")
    images, y = _digit_images()
    keep = y < 4
    for i, (img, label) in enumerate(zip(images[keep], y[keep])):
        folder = tmp_path / f"class_{label}"
        folder.mkdir(exist_ok=True)
        Image.fromarray(img).save(folder / f"{i}.png")
    merged = ImageFolder(tmp_path, target_transform=lambda k: k // 2)
    est = _make(case, n_way=2).fit(merged)
    np.testing.assert_array_equal(est.classes_, [0, 1])  # the labels it yields, not names
    named = _make(case, n_way=2).fit(ImageFolder(tmp_path))
    np.testing.assert_array_equal(named.classes_, [f"class_{k}" for k in range(4)])


def test_float_images_of_0_255_warn():
    case = next(c for c in CASES if c.name == "protonet")
    images, y = _digit_images()
    with pytest.warns(UserWarning, match="divide them by 255"):
        _make(case).fit(images.astype(np.float32), y)


def test_a_fitted_backbone_brings_its_image_size_and_channels(tmp_path):
    from sklearn_meta import FineTuneClassifier, ProtoNetClassifier

    images, y = _digit_images()
    rgb = np.stack([images] * 3, axis=-1)
    big = [np.kron(img, np.ones((2, 2, 1), np.uint8)) for img in rgb]
    source = FineTuneClassifier(
        backbone=Conv4Backbone(channels=8, n_blocks=2), image_size=8, max_epochs=1, **CPU
    ).fit(big, y)
    assert source.input_shape_ == (3, 8, 8)
    # grey 16x16 pictures: resized to 8x8 and repeated to colour, as the source was fitted
    grey = [np.kron(img, np.ones((2, 2), np.uint8)) for img in images]
    proto = ProtoNetClassifier(backbone=source, n_way=3, max_iter=2, **CPU).fit(grey, y)
    assert proto.input_shape_ == (3, 8, 8)


def test_ctrl_c_while_decoding_stops_at_once(sigint, monkeypatch, tmp_path):
    import os
    import signal

    import sklearn_meta._images as images_module

    case = next(c for c in CASES if c.name == "finetune")
    images, y = _digit_images()
    paths = _write_pngs(images, tmp_path)
    est = _make(case).fit(images, y)
    before = est.predict_proba(images)
    decode, calls = images_module._as_chw, []

    def pressed_at_the_tenth(item, kind, index):
        calls.append(index)
        if len(calls) == 10:
            os.kill(os.getpid(), signal.SIGINT)  # a real Ctrl-C
        return decode(item, kind, index)

    monkeypatch.setattr(images_module, "_as_chw", pressed_at_the_tenth)
    with pytest.raises(KeyboardInterrupt, match="decoding"):
        est.partial_fit(paths, y)
    assert len(calls) < 2 * len(paths)  # stopped in the pixels pass, not after it
    np.testing.assert_array_equal(est.predict_proba(images), before)  # as it was
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        est.fit(paths, y)
    assert not hasattr(est, "n_iter_")  # a fit that fails leaves nothing half-fitted
