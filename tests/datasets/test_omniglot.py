"""Tests for sklearn_meta.datasets (Omniglot loaders)."""

import sys
import types
from pathlib import Path

import numpy as np
import pytest

from sklearn_meta.datasets import load_omniglot, load_omniglot_oneshot_runs
from sklearn_meta.datasets._omniglot_build import resize_mode1, vinyals_split


# --------------------------------------------------------------------------
# shipped subsets
# --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "subset, n_classes, n_images, alphabets",
    [
        ("small1", 136, 2720, {"Balinese", "Early_Aramaic", "Greek", "Korean", "Latin"}),
        (
            "small2",
            156,
            3120,
            {"Greek", "Japanese_(katakana)", "Latin", "Sanskrit", "Tagalog"},
        ),
    ],
)
def test_shipped_subsets(subset, n_classes, n_images, alphabets):
    bunch = load_omniglot(subset)
    assert bunch.data.shape == (n_images, 784)
    assert bunch.data.dtype == np.float32
    assert bunch.images.shape == (n_images, 28, 28)
    assert bunch.images.dtype == np.float32
    np.testing.assert_array_equal(bunch.data, bunch.images.reshape(n_images, -1))
    assert bunch.target.dtype == np.int64
    np.testing.assert_array_equal(np.unique(bunch.target), np.arange(n_classes))
    # ordered as in the file: classes appear grouped and increasing
    assert np.all(np.diff(bunch.target) >= 0)
    np.testing.assert_array_equal(np.bincount(bunch.target), np.full(n_classes, 20))
    assert len(bunch.target_names) == n_classes
    assert len(set(bunch.target_names)) == n_classes
    assert set(bunch.alphabet) == alphabets
    names_alphabet = np.array([n.split("/")[0] for n in bunch.target_names])
    np.testing.assert_array_equal(names_alphabet[bunch.target], bunch.alphabet)
    assert bunch.drawer.min() == 1 and bunch.drawer.max() == 20
    np.testing.assert_array_equal(bunch.rotation, 0)
    # values in [0, 1], ink bright: mostly dark paper
    assert bunch.data.min() == 0.0 and bunch.data.max() == 1.0
    assert bunch.data.mean() < 0.2
    # LANCZOS gives grey levels
    assert len(np.unique(bunch.data)) > 2
    assert "MIT" in bunch.DESCR and "LANCZOS" in bunch.DESCR


def test_return_X_y():
    X, y = load_omniglot("small1", return_X_y=True)
    bunch = load_omniglot("small1")
    np.testing.assert_array_equal(X, bunch.data)
    np.testing.assert_array_equal(y, bunch.target)


def test_as_frame():
    pd = pytest.importorskip("pandas")
    bunch = load_omniglot("small2", as_frame=True)
    assert isinstance(bunch.data, pd.DataFrame)
    assert list(bunch.data.columns) == [f"pixel_{i}" for i in range(784)]
    assert (bunch.data.dtypes == np.float32).all()
    assert isinstance(bunch.target, pd.Series)
    assert bunch.target.name == "target"
    assert bunch.target.dtype == np.int64
    assert bunch.frame.shape == (3120, 785)
    assert list(bunch.frame.columns)[-1] == "target"
    np.testing.assert_array_equal(bunch.data.to_numpy(), bunch.images.reshape(3120, -1))

    X, y = load_omniglot("small2", as_frame=True, return_X_y=True)
    assert isinstance(X, pd.DataFrame) and isinstance(y, pd.Series)
    assert X.shape == (3120, 784)


def test_resize_nearest_is_binary():
    nearest = load_omniglot("small1", resize="nearest")
    lanczos = load_omniglot("small1")
    assert set(np.unique(nearest.data).tolist()) == {0.0, 1.0}
    np.testing.assert_array_equal(nearest.target, lanczos.target)
    # the same characters: the two resizes agree roughly
    assert np.abs(nearest.data - lanczos.data).mean() < 0.1
    assert nearest.data.mean() < 0.2


def test_rotations_on_shipped_subset():
    plain = load_omniglot("small1")
    rot = load_omniglot("small1", rotations=True)
    assert rot.data.shape == (4 * 2720, 784)
    assert len(rot.target_names) == 4 * 136
    np.testing.assert_array_equal(np.unique(rot.target), np.arange(4 * 136))
    assert rot.target_names[1] == "Balinese/character01/rot090"
    # class c, rotation k -> target 4 c + k; first sample of each kept in file order
    for k in range(4):
        first = np.flatnonzero(rot.target == 4 * 5 + k)[0]
        original = np.flatnonzero(plain.target == 5)[0]
        np.testing.assert_array_equal(
            rot.images[first], np.rot90(plain.images[original], k=k)
        )
        assert rot.rotation[first] == 90 * k
        assert rot.drawer[first] == plain.drawer[original]


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"subset": "large"}, "subset must be one of"),
        ({"subset": "small1", "resize": "bilinear"}, "resize must be one of"),
        ({"subset": "vinyals"}, "needs split"),
        ({"subset": "vinyals", "split": "training"}, "split must be one of"),
        ({"subset": "small1", "split": "train"}, "only used with subset='vinyals'"),
        ({"subset": "small1", "rotations": "yes"}, "rotations must be True or False"),
    ],
)
def test_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        load_omniglot(**kwargs)


def test_missing_full_set(tmp_path, monkeypatch, no_default_home):
    monkeypatch.setenv("SKLEARN_META_DATA", str(tmp_path / "env"))
    with pytest.raises(FileNotFoundError, match="SKLEARN_META_DATA") as info:
        load_omniglot("background", data_home=tmp_path / "given")
    message = str(info.value)
    for folder in (tmp_path / "given", tmp_path / "env", no_default_home):
        assert str(folder / "omniglot.npz") in message
    assert "download=True" in message
    with pytest.raises(FileNotFoundError, match="omniglot_oneshot_runs.npz"):
        load_omniglot_oneshot_runs(data_home=tmp_path / "given")


# --------------------------------------------------------------------------
# disjoint_from: evaluation classes from alphabets never seen in training
# --------------------------------------------------------------------------
def _image_bytes(bunch):
    return {image.tobytes() for image in bunch.images}


def test_small1_and_small2_overlap():
    # the reason for disjoint_from: the two shipped subsets share two whole
    # alphabets, 50 characters and 1000 byte-identical images
    small1, small2 = load_omniglot("small1"), load_omniglot("small2")
    assert set(small1.alphabet) & set(small2.alphabet) == {"Greek", "Latin"}
    assert len(set(small1.target_names) & set(small2.target_names)) == 50
    seen = _image_bytes(small1)
    assert sum(image.tobytes() in seen for image in small2.images) == 1000


@pytest.mark.parametrize("resize", ["lanczos", "nearest"])
def test_disjoint_from_small1_shares_no_alphabet_and_no_image(resize):
    small1 = load_omniglot("small1", resize=resize)
    small2 = load_omniglot("small2", resize=resize)
    novel = load_omniglot("small2", disjoint_from="small1", resize=resize)
    assert set(novel.alphabet) == {"Japanese_(katakana)", "Sanskrit", "Tagalog"}
    assert not set(novel.alphabet) & set(small1.alphabet)
    assert not set(novel.target_names) & set(small1.target_names)
    assert not _image_bytes(novel) & _image_bytes(small1)
    # everything else of small2 is kept, in file order, relabelled 0..105
    assert novel.data.shape == (2120, 784)
    keep = ~np.isin(small2.alphabet, ["Greek", "Latin"])
    np.testing.assert_array_equal(novel.images, small2.images[keep])
    np.testing.assert_array_equal(novel.drawer, small2.drawer[keep])
    np.testing.assert_array_equal(novel.target_names, np.unique(small2.target_names[
        small2.target[keep]]))
    np.testing.assert_array_equal(np.bincount(novel.target), np.full(106, 20))
    assert np.all(np.diff(novel.target) >= 0)
    names_alphabet = np.array([n.split("/")[0] for n in novel.target_names])
    np.testing.assert_array_equal(names_alphabet[novel.target], novel.alphabet)
    assert "Greek, Latin" in novel.DESCR and "small1" in novel.DESCR


def test_disjoint_from_forms():
    X, y = load_omniglot("small2", disjoint_from="small1", return_X_y=True)
    X_list, y_list = load_omniglot("small2", disjoint_from=["small1"], return_X_y=True)
    np.testing.assert_array_equal(X, X_list)
    np.testing.assert_array_equal(y, y_list)
    assert X.shape == (2120, 784) and y.max() == 105
    # small1 without small2's alphabets: Balinese, Early_Aramaic, Korean
    rest = load_omniglot("small1", disjoint_from="small2", rotations=True)
    assert set(rest.alphabet) == {"Balinese", "Early_Aramaic", "Korean"}
    assert len(rest.target_names) == 4 * (136 - 50)
    np.testing.assert_array_equal(np.unique(rest.target), np.arange(4 * 86))
    # None and an empty list change nothing
    plain = load_omniglot("small2", return_X_y=True)[0]
    np.testing.assert_array_equal(load_omniglot("small2", disjoint_from=[],
                                                return_X_y=True)[0], plain)


@pytest.mark.parametrize(
    "disjoint_from, match",
    [
        ("small3", "disjoint_from must name"),
        (["small1", "background"], "disjoint_from must name"),
        (1, "disjoint_from must name"),
        ("small2", "leaves no image"),
        (("small1", "small2"), "leaves no image"),
    ],
)
def test_disjoint_from_errors(disjoint_from, match):
    with pytest.raises(ValueError, match=match):
        load_omniglot("small2", disjoint_from=disjoint_from)


def test_disjoint_from_on_a_full_set_subset(tmp_path):
    # a stand-in omniglot.npz: 4 characters of 3 alphabets, 2 images each
    alphabets = ["Greek", "Greek", "Tengwar", "Korean"]
    names = ["Greek/character01", "Greek/character02", "Tengwar/character01",
             "Korean/character01"]
    character = np.repeat(np.arange(4), 2).astype(np.int16)
    images = (np.arange(8)[:, None, None] * np.ones((1, 28, 28))).astype(np.uint8)
    np.savez(
        tmp_path / "omniglot.npz",
        images=images,
        images_nearest=images,
        alphabet=np.array(alphabets)[character],
        character=character,
        drawer=np.tile([1, 2], 4).astype(np.int8),
        background=np.array([True, True, False, True])[character],
        class_names=np.array(names),
        class_vinyals_split=np.array(["train", "train", "test", "train"]),
    )
    bunch = load_omniglot("all", disjoint_from="small1", data_home=tmp_path)
    assert list(bunch.target_names) == ["Tengwar/character01"]
    np.testing.assert_array_equal(bunch.images * 255, images[4:6])
    background = load_omniglot("background", disjoint_from="small2", data_home=tmp_path)
    assert list(background.target_names) == ["Korean/character01"]  # Greek is in small2
    np.testing.assert_array_equal(background.target, [0, 0])
    train = load_omniglot("vinyals", split="train", disjoint_from=("small2",),
                          data_home=tmp_path)
    assert list(train.target_names) == ["Korean/character01"]
    with pytest.raises(ValueError, match="leaves no image"):  # Greek, Korean: small1
        load_omniglot("vinyals", split="train", disjoint_from="small1", data_home=tmp_path)


# --------------------------------------------------------------------------
# full set (needs ../shared/data beside the repository)
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def shared_data(shared_data_file):
    return shared_data_file("omniglot.npz").parent


@pytest.fixture(scope="module")
def full_npz(shared_data):
    with np.load(shared_data / "omniglot.npz") as npz:
        return {key: npz[key] for key in npz.files}


@pytest.fixture(scope="module")
def vinyals(shared_data):
    return {
        split: load_omniglot("vinyals", split=split, data_home=shared_data)
        for split in ("train", "val", "test", "trainval")
    }


def test_full_subsets(shared_data, full_npz):
    counts = {"background": (964, 19280), "evaluation": (659, 13180), "all": (1623, 32460)}
    for subset, (n_classes, n_images) in counts.items():
        bunch = load_omniglot(subset, data_home=shared_data)
        assert bunch.data.shape == (n_images, 784), subset
        assert len(bunch.target_names) == n_classes, subset
        np.testing.assert_array_equal(np.unique(bunch.target), np.arange(n_classes))
    evaluation = load_omniglot("evaluation", data_home=shared_data)
    np.testing.assert_array_equal(
        evaluation.target_names, full_npz["class_names"][~full_npz["class_background"]]
    )
    np.testing.assert_allclose(
        evaluation.images[0], full_npz["images"][19280] / np.float32(255)
    )


def test_disjoint_from_on_the_background_set(shared_data):
    # the shipped subsets are 8 whole alphabets of the background set (50
    # characters in both); the other 22 alphabets hold 964 - 242 characters
    rest = load_omniglot("background", disjoint_from=["small1", "small2"],
                         data_home=shared_data)
    assert len(set(rest.alphabet)) == 22 and len(rest.target_names) == 722
    shipped = load_omniglot("small1"), load_omniglot("small2")
    assert not set(rest.alphabet) & (set(shipped[0].alphabet) | set(shipped[1].alphabet))
    assert not _image_bytes(rest) & (_image_bytes(shipped[0]) | _image_bytes(shipped[1]))


def test_env_variable(shared_data, monkeypatch):
    monkeypatch.setenv("SKLEARN_META_DATA", str(shared_data))
    bunch = load_omniglot("evaluation")
    assert bunch.data.shape == (13180, 784)
    assert str(shared_data) in bunch.DESCR


def test_vinyals_counts(vinyals, full_npz):
    expected = {"train": 1028, "val": 172, "test": 423, "trainval": 1200}
    for split, n_classes in expected.items():
        bunch = vinyals[split]
        assert len(bunch.target_names) == n_classes, split
        assert bunch.data.shape == (20 * n_classes, 784), split
        np.testing.assert_array_equal(np.unique(bunch.target), np.arange(n_classes))
    # test classes all come from the evaluation set
    eval_names = set(full_npz["class_names"][~full_npz["class_background"]])
    assert set(vinyals["test"].target_names) <= eval_names
    # the splits are disjoint and trainval = train + val
    train, val, test = (set(vinyals[s].target_names) for s in ("train", "val", "test"))
    assert not (train & val) and not (train & test) and not (val & test)
    assert set(vinyals["trainval"].target_names) == train | val
    assert len(train | val | test) == 1623


def test_vinyals_rotations(shared_data, vinyals):
    expected = {"train": 4112, "test": 1692}
    for split, n_classes in expected.items():
        bunch = load_omniglot("vinyals", split=split, rotations=True, data_home=shared_data)
        assert len(bunch.target_names) == n_classes
        assert bunch.data.shape == (20 * n_classes, 784)
        np.testing.assert_array_equal(np.unique(bunch.target), np.arange(n_classes))
    # the last one loaded is test: rot090 is np.rot90 of rot000
    plain = vinyals["test"]
    name = plain.target_names[7]
    rot000 = bunch.images[np.flatnonzero(bunch.target_names[bunch.target] == name + "/rot000")]
    rot090 = bunch.images[np.flatnonzero(bunch.target_names[bunch.target] == name + "/rot090")]
    np.testing.assert_array_equal(rot000, plain.images[plain.target == 7])
    np.testing.assert_array_equal(rot090[3], np.rot90(rot000[3]))
    assert not np.array_equal(rot090[3], rot000[3])
    assert list(bunch.target_names[28:32]) == [
        f"{name}/rot{a:03d}" for a in (0, 90, 180, 270)
    ]


def test_vinyals_split_rule_matches_file(full_npz):
    # the compact rule used after download=True reproduces the shipped split
    rebuilt = vinyals_split(full_npz["class_alphabet"], full_npz["class_background"])
    np.testing.assert_array_equal(rebuilt, full_npz["class_vinyals_split"])


def test_oneshot_runs(shared_data):
    runs = load_omniglot_oneshot_runs(data_home=shared_data)
    assert runs.train.shape == (20, 20, 784) and runs.train.dtype == np.float32
    assert runs.test.shape == (20, 20, 784) and runs.test.dtype == np.float32
    assert runs.answer.shape == (20, 20)
    assert runs.answer.min() == 0 and runs.answer.max() == 19
    assert 0.0 <= runs.train.min() and runs.train.max() <= 1.0
    assert runs.train.mean() < 0.2
    np.testing.assert_array_equal(
        runs.test_character, np.take_along_axis(runs.train_character, runs.answer, 1)
    )
    assert "MIT" in runs.DESCR


# --------------------------------------------------------------------------
# the download=True path, with a stand-in for torchvision (no network)
# --------------------------------------------------------------------------
@pytest.fixture(scope="module")
def packbits_npz(shared_data_file):
    path = shared_data_file("omniglot_105_packbits.npz")
    with np.load(path) as npz:
        return {key: npz[key] for key in ("images_packbits", "character", "drawer")}


def _original_png(packbits, row):
    """The official 105x105 mode "1" image (paper white, ink black)."""
    from PIL import Image

    ink = np.unpackbits(packbits[row], axis=-1)[:, :105].astype(bool)
    return Image.fromarray(~ink)


def test_resize_recipe_matches_file(packbits_npz, full_npz):
    rows = np.linspace(0, 32459, 40).astype(int)
    for row in rows:
        image = _original_png(packbits_npz["images_packbits"], row)
        assert image.mode == "1"
        lanczos, nearest = resize_mode1(image)
        np.testing.assert_array_equal(lanczos, full_npz["images"][row])
        np.testing.assert_array_equal(nearest, full_npz["images_nearest"][row])


def test_download_path_with_fake_torchvision(tmp_path, monkeypatch, packbits_npz, full_npz):
    # two evaluation characters and one background character, written as PNG
    # files in the layout torchvision.datasets.Omniglot downloads
    picks = {True: ["Latin/character01"], False: ["Tengwar/character01", "ULOG/character02"]}
    names = list(full_npz["class_names"])

    class FakeOmniglot:
        def __init__(self, root, background=True, download=False):
            folder = Path(root) / "omniglot-py"
            folder /= "images_background" if background else "images_evaluation"
            for name in picks[background]:
                class_id = names.index(name)
                rows = np.flatnonzero(full_npz["character"] == class_id)
                (folder / name).mkdir(parents=True, exist_ok=True)
                for row in rows:
                    png = f"{full_npz['file_prefix'][row]:04d}_{full_npz['drawer'][row]:02d}.png"
                    _original_png(packbits_npz["images_packbits"], row).save(folder / name / png)
            self.target_folder = str(folder)

    torchvision = types.ModuleType("torchvision")
    tv_datasets = types.ModuleType("torchvision.datasets")
    tv_datasets.Omniglot = FakeOmniglot
    torchvision.datasets = tv_datasets
    monkeypatch.setitem(sys.modules, "torchvision", torchvision)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", tv_datasets)
    monkeypatch.delenv("SKLEARN_META_DATA", raising=False)

    bunch = load_omniglot("all", data_home=tmp_path, download=True)
    assert list(bunch.target_names) == [
        "Latin/character01",
        "Tengwar/character01",
        "ULOG/character02",
    ]
    expected_rows = np.concatenate(
        [np.flatnonzero(full_npz["character"] == names.index(n)) for n in bunch.target_names]
    )
    np.testing.assert_array_equal(
        bunch.images, full_npz["images"][expected_rows] / np.float32(255)
    )
    np.testing.assert_array_equal(bunch.drawer, full_npz["drawer"][expected_rows])
    # the result is cached as omniglot.npz and read back without download
    assert (tmp_path / "omniglot.npz").is_file()
    again = load_omniglot("evaluation", resize="nearest", data_home=tmp_path)
    np.testing.assert_array_equal(
        again.images, full_npz["images_nearest"][expected_rows[20:]] / np.float32(255)
    )
