"""Tests for load_mini_imagenet: the shipped split and the layouts it reads."""

import os
import pickle
import re
import warnings

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from sklearn_meta.datasets import DATA_HOME_ENV, load_mini_imagenet
from sklearn_meta.datasets._mini_imagenet import mini_imagenet_split

Image = pytest.importorskip("PIL.Image")


# --------------------------------------------------------------------------
# the shipped mini-ImageNet split
# --------------------------------------------------------------------------
SPLIT = mini_imagenet_split()
TRAIN, VAL, TEST = SPLIT["train"], SPLIT["val"], SPLIT["test"]


def test_shipped_split_is_64_16_20_disjoint_wnids():
    assert (len(TRAIN), len(VAL), len(TEST)) == (64, 16, 20)
    assert (len(set(TRAIN)), len(set(VAL)), len(set(TEST))) == (64, 16, 20)
    assert not set(TRAIN) & set(VAL)
    assert not set(TRAIN) & set(TEST)
    assert not set(VAL) & set(TEST)
    for wnid in TRAIN + VAL + TEST:
        assert re.fullmatch(r"n\d{8}", wnid)
    for ids in (TRAIN, VAL, TEST):
        assert list(ids) == sorted(ids)
    # first class of each of Ravi & Larochelle's CSV files
    assert (TRAIN[0], VAL[0], TEST[0]) == ("n01532829", "n01855672", "n01930112")


# --------------------------------------------------------------------------
# fake copies of mini-ImageNet
# --------------------------------------------------------------------------
SIDE = 84  # side of the fake images: the default image_size
N_PER_CLASS = 3
# a few classes of every split, so that split filtering is exercised
FAKE_CLASSES = {"train": TRAIN[:3], "val": VAL[:2], "test": TEST[:1]}
ALL_FAKE = [w for ids in FAKE_CLASSES.values() for w in ids]


def _colour(wnid, j):
    """A distinct constant colour for image ``j`` of class ``wnid``."""
    k = ALL_FAKE.index(wnid)
    return (20 * k + 5 * j, 200 - 10 * k, 40 + 30 * j)


def _pixels(wnid, j, side=SIDE):
    return np.full((side, side, 3), _colour(wnid, j), dtype=np.uint8)


def _save(path, wnid, j, side=SIDE):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(_pixels(wnid, j, side)).save(path)


def _expected_images(wnids, side=SIDE):
    """(n, 3, side, side) uint8 images of ``wnids`` in loader order."""
    return np.stack(
        [
            _pixels(w, j, side).transpose(2, 0, 1)
            for w in wnids
            for j in range(N_PER_CLASS)
        ]
    )


def _folder_per_class(root, *, by_split=False, suffix=".png"):
    for split, wnids in FAKE_CLASSES.items():
        for wnid in wnids:
            folder = root / split / wnid if by_split else root / wnid
            for j in range(N_PER_CLASS):
                _save(folder / f"{wnid}_{j:03d}{suffix}", wnid, j)
    return root


def _ravi_layout(root, *, with_csv=True, suffix=".png"):
    for split, wnids in FAKE_CLASSES.items():
        rows = ["filename,label"]
        for wnid in wnids:
            for j in range(N_PER_CLASS):
                name = f"{wnid}{j + 1:08d}{suffix}"
                _save(root / "images" / name, wnid, j)
                rows.append(f"{name},{wnid}")
        if with_csv:
            (root / f"{split}.csv").write_text("\n".join(rows) + "\n")
    return root


def _cache_dict(wnids, side=SIDE):
    images, class_dict = [], {}
    for wnid in wnids:
        # numpy ints, as the widely used caches hold
        class_dict[wnid] = list(np.arange(len(images), len(images) + N_PER_CLASS))
        images += [_pixels(wnid, j, side) for j in range(N_PER_CLASS)]
    return {"image_data": np.stack(images), "class_dict": class_dict}


def _pickles(root, *, protocol=pickle.HIGHEST_PROTOCOL, val_name="val"):
    root.mkdir(parents=True, exist_ok=True)
    for split, wnids in FAKE_CLASSES.items():
        name = val_name if split == "val" else split
        with open(root / f"mini-imagenet-cache-{name}.pkl", "wb") as file:
            pickle.dump(_cache_dict(wnids), file, protocol=protocol)
    return root


def _load(*args, **kwargs):
    """load_mini_imagenet on a partial fake copy: it warns about the rest."""
    with pytest.warns(UserWarning, match="lacks"):
        return load_mini_imagenet(*args, **kwargs)


LAYOUTS = {
    "folder_per_class": lambda root: _folder_per_class(root),
    "folder_per_split_and_class": lambda root: _folder_per_class(root, by_split=True),
    "images_and_csv": lambda root: _ravi_layout(root),
    "images_without_csv": lambda root: _ravi_layout(root, with_csv=False),
    "pickle": lambda root: _pickles(root),
    "pickle_protocol_2": lambda root: _pickles(root, protocol=2),
    "pickle_validation_name": lambda root: _pickles(root, val_name="validation"),
}


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_layouts(tmp_path, layout, split):
    root = LAYOUTS[layout](tmp_path / "copy")
    bunch = _load(root, split=split)
    wnids = FAKE_CLASSES[split]
    n = len(wnids) * N_PER_CLASS

    assert bunch.images.shape == (n, 3, SIDE, SIDE)
    assert bunch.images.dtype == np.uint8
    assert bunch.data.shape == (n, 3 * SIDE * SIDE)
    assert np.shares_memory(bunch.data, bunch.images)
    assert_array_equal(bunch.data, bunch.images.reshape(n, -1))
    # only the classes of the split, in sorted wnid order, pixels intact
    assert_array_equal(bunch.target_names, wnids)
    assert bunch.target.dtype == np.int64
    assert_array_equal(bunch.target, np.repeat(np.arange(len(wnids)), N_PER_CLASS))
    assert_array_equal(bunch.images, _expected_images(wnids))
    # the rest of the split is reported missing
    assert len(bunch.missing_classes) == len(SPLIT[split]) - len(wnids)
    assert set(bunch.missing_classes) == set(SPLIT[split]) - set(wnids)
    assert bunch.filenames.shape == (n,)
    assert f"Split {split!r}" in bunch.DESCR
    assert "Missing from this copy" in bunch.DESCR
    assert "meta-learning-lstm" in bunch.DESCR


def test_jpeg_images(tmp_path):
    root = _folder_per_class(tmp_path, suffix=".jpg")
    bunch = _load(root, split="train")
    assert bunch.images.shape == (9, 3, SIDE, SIDE)
    expected = _expected_images(FAKE_CLASSES["train"]).astype(int)
    assert np.abs(bunch.images.astype(int) - expected).max() <= 4  # JPEG is lossy


def test_warning_names_the_missing_classes(tmp_path):
    root = _folder_per_class(tmp_path)
    with pytest.warns(
        UserWarning, match="lacks 14 of the 16 classes of split='val'"
    ) as record:
        load_mini_imagenet(root, split="val")
    message = str(record[0].message)
    for wnid in VAL[2:]:
        assert wnid in message
    assert VAL[0] not in message


def test_complete_copy_does_not_warn(tmp_path):
    for wnid in VAL:
        _save(tmp_path / "val" / wnid / "a.png", VAL[0], 0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        bunch = load_mini_imagenet(tmp_path, split="val")
    assert len(bunch.target_names) == 16
    assert bunch.missing_classes.shape == (0,)
    assert "Missing" not in bunch.DESCR


def test_other_files_are_ignored(tmp_path):
    root = _folder_per_class(tmp_path)
    (root / TRAIN[0] / ".hidden.png").write_bytes(b"not an image")
    (root / TRAIN[0] / "notes.txt").write_text("not an image")
    (root / "n99999999").mkdir()  # not a class of the split
    _save(root / "n99999999" / "x.png", TRAIN[0], 0)
    bunch = _load(root, split="train")
    assert bunch.images.shape[0] == 9


@pytest.mark.parametrize("layout", ["folder_per_class", "pickle"])
def test_resize(tmp_path, layout):
    root = LAYOUTS[layout](tmp_path / "copy")
    bunch = _load(root, split="train", image_size=4)
    assert bunch.images.shape == (9, 3, 4, 4)
    assert bunch.data.shape == (9, 48)
    # constant images stay constant under LANCZOS
    assert_array_equal(bunch.images, _expected_images(FAKE_CLASSES["train"], side=4))
    assert "Resized: 9 images" in bunch.DESCR

    bunch = _load(root, split="train", image_size=SIDE)
    assert "Resized" not in bunch.DESCR


def test_resize_mixed_sizes(tmp_path):
    _save(tmp_path / TRAIN[0] / "big.png", TRAIN[0], 0, side=10)
    _save(tmp_path / TRAIN[0] / "small.png", TRAIN[0], 1, side=3)
    _save(tmp_path / TRAIN[0] / "right.png", TRAIN[0], 2, side=8)
    bunch = _load(tmp_path, split="train", image_size=8)
    assert bunch.images.shape == (3, 3, 8, 8)
    assert "Resized: 2 images" in bunch.DESCR


def test_grey_and_rgba_images_become_rgb(tmp_path):
    folder = tmp_path / TRAIN[0]
    folder.mkdir()
    Image.new("L", (SIDE, SIDE), 77).save(folder / "a.png")
    Image.new("RGBA", (SIDE, SIDE), (1, 2, 3, 128)).save(folder / "b.png")
    bunch = _load(tmp_path, split="train")
    assert bunch.images.shape == (2, 3, SIDE, SIDE)
    assert_array_equal(bunch.images[0], 77)
    assert_array_equal(bunch.images[1, :, 0, 0], [1, 2, 3])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, "float32"])
def test_float_dtype_scales_to_unit_interval(tmp_path, dtype):
    root = _pickles(tmp_path)
    raw = _load(root, split="train")
    scaled = _load(root, split="train", dtype=dtype)
    assert scaled.images.dtype == np.dtype(dtype)
    assert scaled.data.dtype == np.dtype(dtype)
    assert np.shares_memory(scaled.data, scaled.images)
    assert_array_equal(
        scaled.images, raw.images.astype(dtype) / np.dtype(dtype).type(255)
    )
    assert scaled.images.max() <= 1.0
    assert "values in [0, 1]" in scaled.DESCR


def test_return_X_y(tmp_path):
    root = _ravi_layout(tmp_path)
    X, y = _load(root, split="val", return_X_y=True)
    bunch = _load(root, split="val")
    assert_array_equal(X, bunch.data)
    assert_array_equal(y, bunch.target)
    assert X.shape == (6, 3 * SIDE * SIDE)


def test_path_may_name_the_pickle(tmp_path):
    root = _pickles(tmp_path)
    bunch = _load(root / "mini-imagenet-cache-test.pkl", split="test")
    assert_array_equal(bunch.target_names, FAKE_CLASSES["test"])
    assert bunch.filenames[0] == "mini-imagenet-cache-test.pkl[0]"


def test_pickle_of_another_split(tmp_path):
    root = _pickles(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"none of the 64 classes.*split test"):
        load_mini_imagenet(root / "mini-imagenet-cache-test.pkl", split="train")


def test_default_location_under_data_home(tmp_path, no_default_home):
    _folder_per_class(tmp_path / "home" / "mini_imagenet")
    bunch = _load(split="test", data_home=tmp_path / "home")
    assert_array_equal(bunch.target_names, FAKE_CLASSES["test"])


def test_default_location_from_environment(tmp_path, no_default_home, monkeypatch):
    _pickles(tmp_path / "env" / "mini_imagenet")
    monkeypatch.setenv(DATA_HOME_ENV, str(tmp_path / "env"))
    # data_home is searched first, but holds nothing: the next folder is used
    (tmp_path / "empty" / "mini_imagenet").mkdir(parents=True)
    bunch = _load(split="val", data_home=tmp_path / "empty")
    assert_array_equal(bunch.target_names, FAKE_CLASSES["val"])


def test_missing_data_error(tmp_path, no_default_home):
    with pytest.raises(FileNotFoundError) as info:
        load_mini_imagenet(split="train", data_home=tmp_path / "nothing")
    message = str(info.value)
    assert "mini-ImageNet (split='train') was not found" in message
    assert str(tmp_path / "nothing" / "mini_imagenet") in message
    assert str(no_default_home / "mini_imagenet") in message
    assert "image-net.org" in message
    assert "twitter-research/meta-learning-lstm" in message
    assert "mini-imagenet-cache-train.pkl" in message
    assert "<root>/images/<wnid><number>.jpg with <root>/train.csv" in message
    assert "<root>/<wnid>/*.jpg" in message
    assert "trust" in message


def test_missing_data_error_for_a_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="mini-imagenet-cache-val.pkl or"):
        load_mini_imagenet(tmp_path / "elsewhere", split="val")
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="was not found"):
        load_mini_imagenet(empty, split="test")


def test_csv_listing_absent_images(tmp_path):
    root = _ravi_layout(tmp_path)
    os.remove(root / "images" / f"{TRAIN[1]}00000002.png")
    with pytest.raises(
        FileNotFoundError, match=f"1 of the 3 images of class {TRAIN[1]}"
    ):
        load_mini_imagenet(root, split="train")


def test_csv_without_the_columns(tmp_path):
    root = _ravi_layout(tmp_path)
    (root / "train.csv").write_text("file,class\nx.png,n01532829\n")
    with pytest.raises(ValueError, match="must have the columns filename,label"):
        load_mini_imagenet(root, split="train")


class _Payload:
    """A pickle that would create a file when loaded with pickle.load."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_malicious_pickle_is_refused_before_it_runs(tmp_path):
    marker = str(tmp_path / "pwned")
    payload = {"image_data": _Payload(marker), "class_dict": {}}
    with open(tmp_path / "mini-imagenet-cache-train.pkl", "wb") as file:
        pickle.dump(payload, file)
    with pytest.raises(ValueError, match="is not a mini-ImageNet cache pickle.*mkdir"):
        load_mini_imagenet(tmp_path, split="train")
    assert not os.path.exists(marker)


@pytest.mark.parametrize(
    "content, why",
    [
        ([1, 2, 3], "lacks the keys"),
        ({"image_data": np.zeros((2, 4, 4, 3), np.uint8)}, "lacks the keys"),
        (
            {"image_data": np.zeros((2, 4, 4), np.uint8), "class_dict": {}},
            "uint8 array",
        ),
        ({"image_data": np.zeros((2, 4, 4, 3), np.float32), "class_dict": {}}, "uint8"),
        (
            {"image_data": np.zeros((2, 4, 4, 3), np.uint8), "class_dict": [1]},
            "not a dict",
        ),
        (
            {
                "image_data": np.zeros((2, 4, 4, 3), np.uint8),
                "class_dict": {TRAIN[0]: [5]},
            },
            "not a list of row indices",
        ),
    ],
)
def test_pickle_with_another_structure(tmp_path, content, why):
    path = tmp_path / "mini-imagenet-cache-train.pkl"
    with open(path, "wb") as file:
        pickle.dump(content, file)
    with pytest.raises(ValueError, match=f"not a mini-ImageNet cache pickle: .*{why}"):
        load_mini_imagenet(tmp_path, split="train")


def test_truncated_pickle(tmp_path):
    path = tmp_path / "mini-imagenet-cache-train.pkl"
    path.write_bytes(pickle.dumps(_cache_dict(TRAIN[:1]))[:50])
    with pytest.raises(ValueError, match="could not be read safely"):
        load_mini_imagenet(path, split="train")


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"split": "trainval"}, "split must be one of 'train', 'val', 'test'"),
        ({"split": None}, "split must be one of"),
        ({"image_size": 0}, "image_size must be an int >= 1"),
        ({"image_size": 84.0}, "image_size must be an int >= 1"),
        ({"dtype": np.int32}, "dtype must be np.uint8"),
        ({"dtype": "image"}, "dtype must be np.uint8"),
        ({"return_X_y": "yes"}, "return_X_y must be True or False"),
    ],
)
def test_bad_arguments(tmp_path, kwargs, match):
    with pytest.raises(ValueError, match=re.escape(match)):
        load_mini_imagenet(tmp_path, **kwargs)


# --------------------------------------------------------------------------
# return_paths: the files, nothing decoded
# --------------------------------------------------------------------------
FILE_LAYOUTS = sorted(name for name in LAYOUTS if not name.startswith("pickle"))


@pytest.mark.parametrize("layout", FILE_LAYOUTS)
@pytest.mark.parametrize("split", ["train", "test"])
def test_return_paths_lists_the_files_in_loader_order(tmp_path, layout, split):
    root = LAYOUTS[layout](tmp_path / "copy")
    decoded = _load(root, split=split)
    bunch = _load(root, split=split, return_paths=True)
    n = len(FAKE_CLASSES[split]) * N_PER_CLASS
    assert "images" not in bunch
    assert bunch.data.shape == (n,)
    assert bunch.data.dtype.kind == "U"
    assert_array_equal(bunch.data, bunch.filenames)
    assert_array_equal(bunch.filenames, decoded.filenames)
    assert_array_equal(bunch.target, decoded.target)
    assert_array_equal(bunch.target_names, decoded.target_names)
    assert_array_equal(bunch.missing_classes, decoded.missing_classes)
    # the files hold the decoded images, row for row
    reread = np.stack(
        [np.asarray(Image.open(p).convert("RGB")).transpose(2, 0, 1) for p in bunch.data]
    )
    assert_array_equal(reread, decoded.images)
    assert "not decoded" in bunch.DESCR


def test_return_paths_decodes_nothing(tmp_path, monkeypatch):
    root = _folder_per_class(tmp_path / "copy")
    # mixed sizes would be resized if decoded; with paths they are listed as they are
    _save(root / TEST[0] / f"{TEST[0]}_999.png", TEST[0], 0, side=31)

    def refuse(*args, **kwargs):
        raise AssertionError("an image was opened")

    monkeypatch.setattr(Image, "open", refuse)
    paths, y = _load(root, split="test", return_paths=True, return_X_y=True)
    assert len(paths) == N_PER_CLASS + 1
    assert paths[-1].endswith(f"{TEST[0]}_999.png")
    assert_array_equal(y, np.zeros(N_PER_CLASS + 1))


@pytest.mark.parametrize("layout", ["pickle", "pickle_validation_name"])
def test_return_paths_refuses_a_pickle(tmp_path, layout, monkeypatch):
    root = LAYOUTS[layout](tmp_path / "copy")

    def refuse(path):
        raise AssertionError("the pickle was read")

    # refused before the (large) pickle is read
    monkeypatch.setattr("sklearn_meta.datasets._mini_imagenet.read_mini_pickle", refuse)
    with pytest.raises(ValueError, match="return_paths=True needs a copy made of image files"):
        load_mini_imagenet(root, split="val", return_paths=True)


def test_return_paths_must_be_bool(tmp_path):
    root = _folder_per_class(tmp_path / "copy")
    with pytest.raises(ValueError, match="return_paths must be True or False"):
        load_mini_imagenet(root, return_paths="yes")
