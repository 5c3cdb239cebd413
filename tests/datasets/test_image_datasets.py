"""Tests for dataset_to_paths: folder datasets as arrays that splitters index."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from sklearn_meta.datasets import dataset_to_paths

Image = pytest.importorskip("PIL.Image")
datasets = pytest.importorskip("torchvision.datasets")
torch_data = pytest.importorskip("torch.utils.data")

# class folder -> grey level of its images (dark class, bright class)
CLASSES = {"bright": 220, "dark": 30}
N_PER_CLASS = 4


def _image_folder(root, *, n_per_class=N_PER_CLASS, sizes=((6, 6),)):
    """A tiny ImageFolder tree: one folder per class, PNGs of its grey level."""
    for name, level in CLASSES.items():
        (root / name).mkdir(parents=True)
        for i in range(n_per_class):
            h, w = sizes[i % len(sizes)]
            pixels = np.full((h, w, 3), level + i, dtype=np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:02d}.png")
    return root


@pytest.fixture
def folder(tmp_path):
    return datasets.ImageFolder(_image_folder(tmp_path / "images"))


def test_class_names_and_order(folder):
    paths, labels = dataset_to_paths(folder)
    assert paths.dtype.kind == "U"
    assert labels.dtype.kind == "U"
    assert_array_equal(paths, [path for path, _ in folder.samples])
    assert labels.tolist() == ["bright"] * N_PER_CLASS + ["dark"] * N_PER_CLASS
    # each path lies in the folder of its label
    for path, label in zip(paths, labels):
        assert path.split("/")[-2] == label


def test_class_indices(folder):
    _, labels = dataset_to_paths(folder, class_names=False)
    assert labels.dtype == np.int64
    assert_array_equal(labels, [index for _, index in folder.samples])
    assert_array_equal(np.asarray(folder.classes)[labels], dataset_to_paths(folder)[1])


def test_dataset_folder_and_imgs_attribute(tmp_path):
    root = _image_folder(tmp_path / "images")
    folder = datasets.DatasetFolder(root, loader=Image.open, extensions=(".png",))
    paths, labels = dataset_to_paths(folder)
    assert len(paths) == 2 * N_PER_CLASS
    assert set(labels) == set(CLASSES)

    class Listed(torch_data.Dataset):
        """A dataset of one's own that keeps torchvision's ``imgs`` list."""

        def __init__(self, imgs):
            self.imgs = imgs

        def __len__(self):
            return len(self.imgs)

        def __getitem__(self, i):
            return self.imgs[i]

    own = Listed([(root / "dark" / "00.png", 3), (str(root / "bright" / "01.png"), 1)])
    paths, labels = dataset_to_paths(own)  # no classes: the stored ints
    assert paths.tolist() == [str(root / "dark" / "00.png"), str(root / "bright" / "01.png")]
    assert labels.tolist() == [3, 1]


def test_subset_takes_its_indices(folder):
    subset = torch_data.Subset(folder, [5, 0, 2])
    paths, labels = dataset_to_paths(subset)
    all_paths, all_labels = dataset_to_paths(folder)
    assert_array_equal(paths, all_paths[[5, 0, 2]])
    assert_array_equal(labels, all_labels[[5, 0, 2]])


def _mean_grey(paths):
    """One feature per image: its mean grey level, read from the file."""
    return np.array([[np.asarray(Image.open(p).convert("L")).mean() / 255] for p in paths])


def test_splitters_and_grid_search_index_the_arrays(tmp_path):
    # mixed image sizes: the arrays hold paths, never pixels
    root = _image_folder(tmp_path / "images", n_per_class=6, sizes=((6, 6), (9, 5)))
    paths, labels = dataset_to_paths(datasets.ImageFolder(root))
    for train, test in StratifiedKFold(n_splits=3).split(paths, labels):
        assert sorted(set(labels[test])) == sorted(CLASSES)
        assert not set(paths[train]) & set(paths[test])
    model = make_pipeline(FunctionTransformer(_mean_grey), LogisticRegression())
    search = GridSearchCV(model, {"logisticregression__C": [1.0, 100.0]}, cv=3)
    search.fit(paths, labels)
    assert search.best_estimator_.classes_.tolist() == sorted(CLASSES)
    assert search.predict(paths[:2]).tolist() == labels[:2].tolist()


def test_dataset_without_a_file_list():
    import torch

    tensors = torch_data.TensorDataset(torch.zeros(3, 1, 4, 4), torch.tensor([0, 1, 0]))
    with pytest.raises(ValueError, match="TensorDataset does not list its files") as info:
        dataset_to_paths(tensors)
    message = str(info.value)
    assert "'samples' or 'imgs'" in message
    assert "pass the dataset itself to fit" in message


def test_empty_folder(tmp_path):
    for name in CLASSES:
        (tmp_path / "images" / name).mkdir(parents=True)
    empty = datasets.ImageFolder(tmp_path / "images", allow_empty=True)
    with pytest.raises(ValueError, match=r"lists no image file under .*images"):
        dataset_to_paths(empty)


class _Pairs(torch_data.Dataset):
    def __init__(self, samples, classes=None):
        self.samples = samples
        if classes is not None:
            self.classes = classes

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        return self.samples[i]


@pytest.mark.parametrize(
    "entry",
    [("a.png",), ("a.png", 1, 2), (3, 0), ("a.png", "cat"), ("a.png", -1), ("a.png", True)],
)
def test_bad_entries(entry):
    with pytest.raises(ValueError, match="entry 1 of the dataset's files"):
        dataset_to_paths(_Pairs([("ok.png", 0), entry]))


def test_class_index_without_a_name():
    with pytest.raises(ValueError, match="class index 2 but its classes name only 2"):
        dataset_to_paths(_Pairs([("a.png", 0), ("b.png", 2)], classes=["x", "y"]))
    _, labels = dataset_to_paths(
        _Pairs([("a.png", 0), ("b.png", 2)], classes=["x", "y"]), class_names=False
    )
    assert labels.tolist() == [0, 2]


def test_class_names_must_be_bool(folder):
    with pytest.raises(ValueError, match="class_names must be True or False"):
        dataset_to_paths(folder, class_names="yes")
