"""Tests for load_omniglot(return_paths=True): the original PNG files, in the rows of the arrays."""

import zipfile

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from sklearn_meta.datasets import DATA_HOME_ENV, load_omniglot
from sklearn_meta.datasets._home import read_shipped_npz

Image = pytest.importorskip("PIL.Image")

RAW = "raw/brendenlake_omniglot"


def _decode(paths):
    """The README's recipe: grey, inverted, 28x28 LANCZOS; and NEAREST on mode "1"."""
    lanczos, nearest = [], []
    for path in paths:
        with Image.open(path) as image:
            assert image.mode == "1" and image.size == (105, 105)
            grey = 255 - np.asarray(image.convert("L"), dtype=np.uint8)
            small = Image.fromarray(grey).resize((28, 28), Image.LANCZOS)
            lanczos.append(np.asarray(small))
            near = image.resize((28, 28), Image.NEAREST).convert("L")
            nearest.append(255 - np.asarray(near, dtype=np.uint8))
    return np.stack(lanczos), np.stack(nearest)


# --------------------------------------------------------------------------
# the official zips (need ../shared/data beside the repository)
# --------------------------------------------------------------------------
@pytest.mark.parametrize("subset", ["small1", "small2"])
def test_paths_decode_to_the_shipped_arrays(shared_data_file, tmp_path, subset):
    raw = shared_data_file(f"{RAW}/images_background_{subset}.zip").parent
    bunch = load_omniglot(subset, data_home=raw, return_paths=True, extract_to=tmp_path)
    arrays = load_omniglot(subset)
    shipped = read_shipped_npz(f"omniglot_{subset}.npz", ["images", "images_nearest"])

    assert "images" not in bunch
    assert bunch.data.dtype.kind == "U"
    assert_array_equal(bunch.data, bunch.filenames)
    for key in ("target", "target_names", "alphabet", "drawer", "rotation"):
        assert_array_equal(bunch[key], arrays[key])
    assert bunch.data[0].startswith(str(tmp_path / f"images_background_{subset}"))
    # every file in the folder of its class, named by its drawer
    for path, name, drawer in zip(bunch.data, bunch.target_names[bunch.target], bunch.drawer):
        assert path.endswith(f"/{name}/{path[-11:-7]}_{drawer:02d}.png")
    # decoded with the README's recipe, the files give the shipped arrays exactly
    lanczos, nearest = _decode(bunch.data)
    assert_array_equal(lanczos, shipped["images"])
    assert_array_equal(nearest, shipped["images_nearest"])
    assert "original PNG files" in bunch.DESCR


def test_zip_is_extracted_once(shared_data_file, tmp_path, monkeypatch):
    raw = shared_data_file(f"{RAW}/images_background_small1.zip").parent
    first = load_omniglot("small1", data_home=raw, return_paths=True, extract_to=tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images_background_small1"]

    def refuse(*args, **kwargs):
        raise AssertionError("the zip was extracted again")

    monkeypatch.setattr("sklearn_meta.datasets._omniglot_files._extract", refuse)
    again = load_omniglot("small1", data_home=raw, return_paths=True, extract_to=tmp_path)
    assert_array_equal(again.data, first.data)
    # the extracted folder is found in the search folders too
    found = load_omniglot("small1", data_home=tmp_path, return_paths=True)
    assert_array_equal(found.data, first.data)


def test_disjoint_from_and_return_X_y(shared_data_file, tmp_path):
    raw = shared_data_file(f"{RAW}/images_background_small2.zip").parent
    kwargs = {"data_home": raw, "return_paths": True, "extract_to": tmp_path}
    every = load_omniglot("small2", **kwargs)
    paths, y = load_omniglot("small2", disjoint_from="small1", return_X_y=True, **kwargs)
    novel = load_omniglot("small2", disjoint_from="small1")
    keep = ~np.isin(every.alphabet, ["Greek", "Latin"])
    assert_array_equal(paths, every.data[keep])
    assert_array_equal(y, novel.target)
    assert len(paths) == 2120


def test_default_extraction_folder(shared_data_file, tmp_path, no_default_home, monkeypatch):
    zip_path = shared_data_file(f"{RAW}/images_background_small1.zip")
    home = tmp_path / "home"
    home.mkdir()
    (home / zip_path.name).write_bytes(zip_path.read_bytes())
    bunch = load_omniglot("small1", data_home=home, return_paths=True)
    assert bunch.data[0].startswith(str(home / "omniglot-py" / "images_background_small1"))
    # where data_home cannot take it, the next folder of the search path does
    other = tmp_path / "other"
    other.mkdir()
    (other / zip_path.name).write_bytes(zip_path.read_bytes())
    (other / "omniglot-py").write_text("a file, not a folder")
    monkeypatch.setenv(DATA_HOME_ENV, str(tmp_path / "env"))
    bunch = load_omniglot("small1", data_home=other, return_paths=True)
    assert bunch.data[0].startswith(str(tmp_path / "env" / "omniglot-py"))


# --------------------------------------------------------------------------
# a stand-in full set: fake omniglot.npz and zips, no shared data needed
# --------------------------------------------------------------------------
# (class name, background?) in the order of omniglot.npz; 2 drawers each
CLASSES = [
    ("Greek/character01", True),
    ("Korean/character02", True),
    ("Tengwar/character01", False),
]
DRAWERS = (3, 7)


def _fake_png(k):
    pixels = np.ones((105, 105), dtype=bool)
    pixels[10 + k, :] = False  # one black stroke per image
    return Image.fromarray(pixels)


def _fake_full_set(folder, *, drop_last=False, bad_member=None):
    """``folder/omniglot.npz`` and the two official zips of its 6 images."""
    folder.mkdir(parents=True, exist_ok=True)
    character = np.repeat(np.arange(len(CLASSES)), len(DRAWERS)).astype(np.int16)
    names = np.array([name for name, _ in CLASSES])
    background = np.array([bg for _, bg in CLASSES])
    images = np.zeros((len(character), 28, 28), dtype=np.uint8)
    np.savez(
        folder / "omniglot.npz",
        images=images,
        images_nearest=images,
        alphabet=np.array([n.split("/")[0] for n in names])[character],
        character=character,
        drawer=np.tile(DRAWERS, len(CLASSES)).astype(np.int8),
        background=background[character],
        class_names=names,
        class_vinyals_split=np.array(["train", "val", "test"]),
    )
    zips = {
        True: zipfile.ZipFile(folder / "images_background.zip", "w"),
        False: zipfile.ZipFile(folder / "images_evaluation.zip", "w"),
    }
    k = 0
    for class_id, (name, is_background) in enumerate(CLASSES):
        archive = zips[is_background]
        top = "images_background" if is_background else "images_evaluation"
        for drawer in DRAWERS:
            if drop_last and class_id == len(CLASSES) - 1 and drawer == DRAWERS[-1]:
                continue
            png = folder / "png.png"
            _fake_png(k).save(png)
            archive.write(png, f"{top}/{name}/{900 + class_id:04d}_{drawer:02d}.png")
            k += 1
    if bad_member is not None:
        zips[True].writestr(bad_member, b"x")
    for archive in zips.values():
        archive.close()
    (folder / "png.png").unlink()
    return folder


@pytest.mark.parametrize(
    "subset, split, classes",
    [
        ("all", None, [0, 1, 2]),
        ("background", None, [0, 1]),
        ("evaluation", None, [2]),
        ("vinyals", "val", [1]),
    ],
)
def test_full_set_subsets(tmp_path, no_default_home, subset, split, classes):
    folder = _fake_full_set(tmp_path / "data")
    bunch = load_omniglot(
        subset, split=split, data_home=folder, return_paths=True, extract_to=tmp_path / "x"
    )
    arrays = load_omniglot(subset, split=split, data_home=folder)
    assert_array_equal(bunch.target, arrays.target)
    assert_array_equal(bunch.drawer, arrays.drawer)
    assert bunch.target_names.tolist() == [CLASSES[c][0] for c in classes]
    expected = [
        str(
            tmp_path / "x" / ("images_background" if CLASSES[c][1] else "images_evaluation")
            / CLASSES[c][0] / f"{900 + c:04d}_{d:02d}.png"
        )
        for c in classes
        for d in DRAWERS
    ]
    assert bunch.data.tolist() == expected
    # only the image sets that hold the rows are extracted
    needed = {"images_background" if CLASSES[c][1] else "images_evaluation" for c in classes}
    assert {p.name for p in (tmp_path / "x").iterdir()} == needed
    # the k-th file written has its stroke on row 10 + k
    strokes = [int(np.flatnonzero(~np.asarray(Image.open(p)).all(1))[0]) - 10 for p in bunch.data]
    assert strokes == [2 * c + i for c in classes for i in range(len(DRAWERS))]


def test_incomplete_copy_is_refused(tmp_path, no_default_home):
    folder = _fake_full_set(tmp_path / "data", drop_last=True)
    with pytest.raises(ValueError, match="holds 1 PNG files but the Omniglot arrays have 2 rows of images_evaluation"):
        load_omniglot("all", data_home=folder, return_paths=True, extract_to=tmp_path / "x")


def test_files_of_other_rows_are_refused(tmp_path, no_default_home):
    folder = _fake_full_set(tmp_path / "data")
    # an extracted copy whose files are named by other drawers
    moved = tmp_path / "x" / "images_evaluation" / "Tengwar" / "character01"
    moved.mkdir(parents=True)
    for drawer in (1, 2):
        _fake_png(0).save(moved / f"0902_{drawer:02d}.png")
    with pytest.raises(ValueError, match="row 4 should be drawer 3 of Tengwar/character01"):
        load_omniglot("all", data_home=folder, return_paths=True, extract_to=tmp_path / "x")


def test_zip_member_outside_its_folder_is_refused(tmp_path, no_default_home):
    folder = _fake_full_set(tmp_path / "data", bad_member="images_background/../../evil.png")
    with pytest.raises(ValueError, match="outside the folder"):
        load_omniglot("background", data_home=folder, return_paths=True, extract_to=tmp_path / "x")
    # nothing was left behind, not even a partial extraction
    assert not list((tmp_path / "x").iterdir())
    assert not (tmp_path / "evil.png").exists()


def test_missing_files(tmp_path, no_default_home):
    with pytest.raises(FileNotFoundError, match="images_background_small1.zip") as info:
        load_omniglot("small1", data_home=tmp_path, return_paths=True)
    message = str(info.value)
    assert str(tmp_path / "omniglot-py" / "images_background_small1") in message
    assert "github.com/brendenlake/omniglot" in message


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"rotations": True}, "drop rotations=True"),
        ({"as_frame": True}, "drop as_frame=True"),
        ({"return_paths": "yes"}, "return_paths must be True or False"),
    ],
)
def test_bad_arguments(kwargs, match):
    kwargs = {"return_paths": True, **kwargs}
    with pytest.raises(ValueError, match=match):
        load_omniglot("small1", **kwargs)
