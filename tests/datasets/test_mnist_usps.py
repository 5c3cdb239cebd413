"""Tests for load_mnist and load_usps, on small files in their on-disk format.

Both read a ``.npz`` with Keras key names: ``x_train``, ``y_train``,
``x_test``, ``y_test``, uint8 images with the digit bright and uint8 labels
0..9 (``mnist.npz``: 28x28; ``usps.npz``: 16x16, plus arrays the loader does
not read, such as ``x_test_libsvm``). See ../shared/data/README.md.
"""

import sys
import types

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from sklearn_meta.datasets import DATA_HOME_ENV, load_mnist, load_usps

Image = pytest.importorskip("PIL.Image")

N_TRAIN, N_TEST = 23, 7
LOADERS = {"mnist": (load_mnist, "mnist.npz", 28), "usps": (load_usps, "usps.npz", 16)}


def _digit_arrays(side, seed=0):
    """Keras-style arrays: random uint8 images with 0 and 255 in each image,
    labels 0..9 cycling (train) and 9..0 (test), so the two sets differ."""
    rng = np.random.RandomState(seed)
    arrays = {}
    for subset, n in (("train", N_TRAIN), ("test", N_TEST)):
        images = rng.randint(1, 255, size=(n, side, side)).astype(np.uint8)
        images[:, 0, 0] = 0
        images[:, -1, -1] = 255
        labels = np.arange(n) % 10
        arrays[f"x_{subset}"] = images
        arrays[f"y_{subset}"] = (labels if subset == "train" else 9 - labels).astype(np.uint8)
    return arrays


def _write(path, side, seed=0, **extra):
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = _digit_arrays(side, seed)
    np.savez_compressed(path, **arrays, **extra)
    return arrays


@pytest.fixture(params=sorted(LOADERS))
def digits_file(request, tmp_path, no_default_home):
    """``(name, loader, filename, side)``; no real folder is ever searched."""
    return (request.param, *LOADERS[request.param])


# --------------------------------------------------------------------------
# content
# --------------------------------------------------------------------------
@pytest.mark.parametrize("subset, n", [("train", N_TRAIN), ("test", N_TEST)])
def test_reads_the_keras_npz(tmp_path, digits_file, subset, n):
    name, loader, filename, side = digits_file
    arrays = _write(tmp_path / filename, side)
    bunch = loader(subset, data_home=tmp_path)

    assert bunch.images.shape == (n, side, side) and bunch.images.dtype == np.float32
    assert bunch.data.shape == (n, side * side) and bunch.data.dtype == np.float32
    assert np.shares_memory(bunch.data, bunch.images)
    assert bunch.images.flags.c_contiguous
    # pixels scaled to [0, 1] by 255, the digit stays bright
    expected = (arrays[f"x_{subset}"] / 255.0).astype(np.float32)
    assert_array_equal(bunch.images, expected)
    assert_array_equal(bunch.data, expected.reshape(n, -1))
    assert bunch.data.min() == 0.0 and bunch.data.max() == 1.0
    # the labels of that subset, as int64 digits
    assert bunch.target.dtype == np.int64
    assert_array_equal(bunch.target, arrays[f"y_{subset}"])
    assert_array_equal(bunch.target_names, np.arange(10))
    assert f"{name.upper()} {subset} set, {n} images {side}x{side}" in bunch.DESCR
    assert str(tmp_path / filename) in bunch.DESCR


def test_train_and_test_are_the_two_sets_of_the_file(tmp_path, digits_file):
    _, loader, filename, side = digits_file
    arrays = _write(tmp_path / filename, side)
    train = loader("train", data_home=tmp_path)
    test = loader(subset="test", data_home=tmp_path)
    assert train.data.shape[0] == N_TRAIN and test.data.shape[0] == N_TEST
    assert_array_equal(train.target[:10], np.arange(10))
    assert_array_equal(test.target[:7], [9, 8, 7, 6, 5, 4, 3])
    assert_array_equal(test.images * np.float32(255), arrays["x_test"])
    assert not {row.tobytes() for row in train.data} & {row.tobytes() for row in test.data}


def test_return_X_y(tmp_path, digits_file):
    _, loader, filename, side = digits_file
    _write(tmp_path / filename, side)
    X, y = loader("test", return_X_y=True, data_home=tmp_path)
    bunch = loader("test", data_home=tmp_path)
    assert isinstance(X, np.ndarray) and X.dtype == np.float32
    assert_array_equal(X, bunch.data)
    assert_array_equal(y, bunch.target)
    assert y.dtype == np.int64


def test_usps_reads_only_the_keras_keys(tmp_path, no_default_home):
    # the real usps.npz also holds other encodings; they are not read
    libsvm = np.full((N_TEST, 16, 16), 7, dtype=np.uint8)
    arrays = _write(tmp_path / "usps.npz", 16, x_test_libsvm=libsvm)
    bunch = load_usps("test", data_home=tmp_path)
    assert_array_equal(bunch.images * np.float32(255), arrays["x_test"])


@pytest.mark.parametrize("size", [28, 8, 1])
def test_usps_image_size_resizes_bilinear_like_torchvision(tmp_path, no_default_home, size):
    tf = pytest.importorskip("torchvision.transforms.functional")
    from torchvision.transforms import InterpolationMode

    arrays = _write(tmp_path / "usps.npz", 16)
    bunch = load_usps("train", image_size=size, data_home=tmp_path)
    assert bunch.images.shape == (N_TRAIN, size, size)
    assert bunch.data.shape == (N_TRAIN, size * size)
    assert_array_equal(bunch.target, arrays["y_train"])
    # what torchvision.transforms.Resize((size, size)) gives on the same image
    for i in (0, N_TRAIN - 1):
        pil = tf.resize(
            Image.fromarray(arrays["x_train"][i]), [size, size],
            interpolation=InterpolationMode.BILINEAR,
        )
        expected = (np.asarray(pil) / 255.0).astype(np.float32)
        assert_array_equal(bunch.images[i], expected)
    assert f"{N_TRAIN} images {size}x{size}" in bunch.DESCR


def test_usps_resize_keeps_a_constant_image_constant(tmp_path, no_default_home):
    x = np.stack([np.full((16, 16), v, dtype=np.uint8) for v in (0, 51, 255)])
    y = np.array([0, 1, 2], dtype=np.uint8)
    np.savez(tmp_path / "usps.npz", x_train=x, y_train=y, x_test=x, y_test=y)
    bunch = load_usps("train", image_size=28, data_home=tmp_path)
    assert_array_equal(bunch.images[:, 5, 9], np.float32([0.0, 0.2, 1.0]))
    for image in bunch.images:
        assert np.unique(image).size == 1


# --------------------------------------------------------------------------
# where the file is looked for
# --------------------------------------------------------------------------
def test_data_home_may_name_the_file_itself(tmp_path, digits_file):
    _, loader, _, side = digits_file
    arrays = _write(tmp_path / "elsewhere" / "my_copy.npz", side)
    bunch = loader("test", data_home=tmp_path / "elsewhere" / "my_copy.npz")
    assert_array_equal(bunch.images * np.float32(255), arrays["x_test"])
    assert "my_copy.npz" in bunch.DESCR


def test_search_order_data_home_then_environment_then_home(
    tmp_path, digits_file, no_default_home, monkeypatch
):
    _, loader, filename, side = digits_file
    given = _write(tmp_path / "given" / filename, side, seed=1)
    env = _write(tmp_path / "env" / filename, side, seed=2)
    home = _write(no_default_home / filename, side, seed=3)
    monkeypatch.setenv(DATA_HOME_ENV, str(tmp_path / "env"))

    def pixels(**kwargs):
        return loader("train", **kwargs).images * np.float32(255)

    assert_array_equal(pixels(data_home=tmp_path / "given"), given["x_train"])
    assert_array_equal(pixels(), env["x_train"])
    # a data_home without the file: the next folders are searched
    assert_array_equal(pixels(data_home=tmp_path / "empty"), env["x_train"])
    monkeypatch.delenv(DATA_HOME_ENV)
    assert_array_equal(pixels(), home["x_train"])


def test_data_home_expands_the_user_folder(tmp_path, digits_file, monkeypatch):
    _, loader, filename, side = digits_file
    arrays = _write(tmp_path / "user" / "digits" / filename, side)
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    bunch = loader("test", data_home="~/digits")
    assert_array_equal(bunch.target, arrays["y_test"])


def test_missing_file_says_where_it_looked(tmp_path, digits_file, no_default_home, monkeypatch):
    _, loader, filename, _ = digits_file
    monkeypatch.setenv(DATA_HOME_ENV, str(tmp_path / "env"))
    with pytest.raises(FileNotFoundError) as info:
        loader(data_home=tmp_path / "given")
    message = str(info.value)
    assert message.startswith(f"{filename} was not found. Searched, in order:\n")
    searched = [tmp_path / "given", tmp_path / "env", no_default_home]
    positions = [message.index(f"  - {folder / filename}\n") for folder in searched]
    assert positions == sorted(positions)
    assert "data_home=" in message and DATA_HOME_ENV in message
    assert "download=True" in message


def test_file_without_the_subset(tmp_path, digits_file):
    _, loader, filename, side = digits_file
    x = np.zeros((2, side, side), dtype=np.uint8)
    np.savez(tmp_path / filename, x_train=x, y_train=np.zeros(2, dtype=np.uint8))
    assert loader("train", data_home=tmp_path).data.shape == (2, side * side)
    with pytest.raises(ValueError, match=r"lacks the arrays \['x_test', 'y_test'\]"):
        loader("test", data_home=tmp_path)


@pytest.mark.parametrize("subset", ["val", "Train", None])
def test_bad_subset(tmp_path, digits_file, subset):
    _, loader, _, _ = digits_file
    with pytest.raises(ValueError, match="subset must be one of 'train', 'test'"):
        loader(subset, data_home=tmp_path)


@pytest.mark.parametrize("size", [0, 2.5, True, "28"])
def test_usps_bad_image_size(tmp_path, size):
    with pytest.raises(ValueError, match="image_size must be an int >= 1"):
        load_usps(image_size=size, data_home=tmp_path)


# --------------------------------------------------------------------------
# download=True, with a stand-in for torchvision (no network)
# --------------------------------------------------------------------------
@pytest.fixture
def fake_torchvision(monkeypatch):
    """A torchvision whose MNIST and USPS record their calls and return the
    small arrays of _digit_arrays, typed as torchvision's are (MNIST: torch
    tensors; USPS: a numpy array and a list of ints)."""
    torch = pytest.importorskip("torch")
    calls = []

    def make(name, side):
        class FakeDataset:
            def __init__(self, root, train=True, download=False):
                calls.append((name, root, train, download))
                arrays = _digit_arrays(side, seed=5)
                subset = "train" if train else "test"
                data, targets = arrays[f"x_{subset}"], arrays[f"y_{subset}"]
                if name == "MNIST":
                    self.data = torch.from_numpy(data)
                    self.targets = torch.from_numpy(targets.astype(np.int64))
                else:
                    self.data, self.targets = data, [int(t) for t in targets]

        return FakeDataset

    torchvision = types.ModuleType("torchvision")
    tv_datasets = types.ModuleType("torchvision.datasets")
    tv_datasets.MNIST, tv_datasets.USPS = make("MNIST", 28), make("USPS", 16)
    torchvision.datasets = tv_datasets
    monkeypatch.setitem(sys.modules, "torchvision", torchvision)
    monkeypatch.setitem(sys.modules, "torchvision.datasets", tv_datasets)
    return calls


@pytest.mark.parametrize("subset", ["train", "test"])
def test_download_fetches_into_the_first_folder(
    tmp_path, digits_file, fake_torchvision, subset
):
    name, loader, _, side = digits_file
    bunch = loader(subset, data_home=tmp_path / "home", download=True)
    tv_name = name.upper()
    assert fake_torchvision == [
        (tv_name, tmp_path / "home" / "torchvision", subset == "train", True)
    ]
    arrays = _digit_arrays(side, seed=5)
    assert bunch.images.dtype == np.float32
    assert_array_equal(bunch.images * np.float32(255), arrays[f"x_{subset}"])
    assert bunch.target.dtype == np.int64
    assert_array_equal(bunch.target, arrays[f"y_{subset}"])
    assert f"from torchvision.datasets.{tv_name}" in bunch.DESCR
    assert ("LIBSVM encoding" in bunch.DESCR) == (name == "usps")


def test_download_goes_to_the_environment_folder_without_data_home(
    tmp_path, digits_file, fake_torchvision, monkeypatch
):
    _, loader, _, _ = digits_file
    monkeypatch.setenv(DATA_HOME_ENV, str(tmp_path / "env"))
    loader("test", download=True)
    assert fake_torchvision[0][1] == tmp_path / "env" / "torchvision"


def test_download_is_not_used_when_a_file_is_found(tmp_path, digits_file, fake_torchvision):
    _, loader, filename, side = digits_file
    arrays = _write(tmp_path / filename, side)
    bunch = loader("train", data_home=tmp_path, download=True)
    assert fake_torchvision == []
    assert_array_equal(bunch.target, arrays["y_train"])


def test_usps_download_then_resize(tmp_path, no_default_home, fake_torchvision):
    X, y = load_usps("test", image_size=28, return_X_y=True, download=True)
    assert X.shape == (N_TEST, 784) and X.dtype == np.float32
    assert_array_equal(y, _digit_arrays(16, seed=5)["y_test"])
    assert fake_torchvision[0][1] == no_default_home / "torchvision"


# --------------------------------------------------------------------------
# the real files (need ../shared/data beside the repository)
# --------------------------------------------------------------------------
def test_real_mnist(shared_data_file):
    path = shared_data_file("mnist.npz")
    train = load_mnist("train", data_home=path.parent)
    assert train.data.shape == (60000, 784) and train.images.shape == (60000, 28, 28)
    assert_array_equal(train.target[:10], [5, 0, 4, 1, 9, 2, 1, 3, 1, 4])
    assert_array_equal(np.unique(train.target), np.arange(10))
    # the usual normalisation constants of MNIST
    assert abs(train.data.mean() - 0.13066) < 1e-4
    assert abs(train.data.std() - 0.30811) < 1e-4
    X, y = load_mnist("test", return_X_y=True, data_home=path)
    assert X.shape == (10000, 784) and y.shape == (10000,)
    assert X.min() == 0.0 and X.max() == 1.0


def test_real_usps(shared_data_file):
    path = shared_data_file("usps.npz")
    train = load_usps("train", data_home=path.parent)
    assert train.data.shape == (7291, 256)
    assert_array_equal(np.unique(train.target), np.arange(10))
    assert 0.0 <= train.data.min() and train.data.max() <= 1.0
    # the digit is bright on a dark background
    assert np.median(train.data) < 0.2
    X, y = load_usps("test", image_size=28, return_X_y=True, data_home=path)
    assert X.shape == (2007, 784) and y.shape == (2007,)
