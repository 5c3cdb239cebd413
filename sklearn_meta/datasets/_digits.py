"""Digits for domain adaptation: MNIST, USPS and a shift of scikit-learn's digits."""

import os
from numbers import Real
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch, check_random_state

from ._home import DATA_HOME_ENV, find_file, not_found_error, read_npz
from ._validation import check_choice, check_int

MNIST_FILE = "mnist.npz"
USPS_FILE = "usps.npz"
_DIGIT_SUBSETS = ("train", "test")
# DESCR's source when the digits come from torchvision rather than a file
_TORCHVISION_SOURCE = {
    "MNIST": "torchvision.datasets.MNIST",
    "USPS": "torchvision.datasets.USPS (LIBSVM encoding)",
}


def _read_digits(name, filename, subset, data_home, download):
    """``(images, target, source)`` of the MNIST or USPS ``subset``.

    The uint8 images and the labels come from ``filename`` (Keras key names
    ``x_train``, ``y_train``, ``x_test``, ``y_test``): ``data_home`` itself
    when it names a file, else the first found in the folders of
    :func:`get_data_home`. With ``download=True`` and no file found, they are
    fetched with ``torchvision.datasets.<name>`` into the first folder's
    ``torchvision/`` subfolder, where torchvision keeps its download.
    """
    if data_home is not None and Path(os.fspath(data_home)).expanduser().is_file():
        path = Path(os.fspath(data_home)).expanduser()
    else:
        path, folders = find_file(filename, data_home)
    if path is not None:
        arrays = read_npz(path, [f"x_{subset}", f"y_{subset}"])
        return arrays[f"x_{subset}"], arrays[f"y_{subset}"], str(path)
    if not download:
        raise not_found_error(
            filename,
            folders,
            [
                (
                    "pass data_home= the file or a folder holding it, or set the "
                    f"environment variable {DATA_HOME_ENV}"
                ),
                "or pass download=True to fetch it with torchvision (needs a network)",
            ],
        )
    import torchvision

    dataset = getattr(torchvision.datasets, name)(
        folders[0] / "torchvision", train=subset == "train", download=True
    )
    images = np.asarray(dataset.data, dtype=np.uint8)
    return images, np.asarray(dataset.targets), _TORCHVISION_SOURCE[name]


def _digits_bunch(images, target, descr, return_X_y):
    images = np.ascontiguousarray(images, dtype=np.float32)
    data = images.reshape(len(images), -1)
    target = np.asarray(target, dtype=np.int64)
    if return_X_y:
        return data, target
    return Bunch(
        data=data, images=images, target=target,
        target_names=np.arange(10), DESCR=descr,
    )


def load_mnist(subset="train", *, return_X_y=False, data_home=None, download=False):
    """Load MNIST handwritten digits (LeCun et al.) as 28x28 images.

    Read from a local ``mnist.npz`` (Keras key names ``x_train``,
    ``y_train``, ``x_test``, ``y_test``; uint8 images, digit bright), or
    fetched with :class:`torchvision.datasets.MNIST` when ``download=True``
    and no file is found.

    Parameters
    ----------
    subset : {"train", "test"}, default="train"
        The 60,000 training or the 10,000 test images.
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    data_home : str or path-like, default=None
        The ``mnist.npz`` file itself, or a folder searched first (then
        ``SKLEARN_META_DATA``, then ``~/sklearn_meta_data``).
    download : bool, default=False
        When no file is found, fetch MNIST with torchvision into the first
        folder searched (needs a network).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (n, 784) float32 in [0, 1], ``images`` (n, 28, 28) float32,
        ``target`` (n,) int64 digits 0..9, ``target_names``, ``DESCR``.
    (data, target) : tuple if ``return_X_y`` is True
        ``data`` and ``target`` as above.

    Raises
    ------
    FileNotFoundError
        When no ``mnist.npz`` is found and ``download=False``.

    See Also
    --------
    load_usps : The USPS digits, MNIST's usual partner in domain adaptation.

    Examples
    --------
    >>> from sklearn_meta.datasets import load_mnist
    >>> X, y = load_mnist("test", return_X_y=True)  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (10000, 784)
    """
    check_choice("subset", subset, _DIGIT_SUBSETS)
    images, target, source = _read_digits("MNIST", MNIST_FILE, subset, data_home, download)
    descr = (
        f"MNIST {subset} set, {len(target)} images 28x28, values in [0, 1], digit "
        f"bright; from {source}. LeCun, Y., Cortes, C. and Burges, C. J. C., The "
        "MNIST database of handwritten digits. License: CC BY-SA 3.0."
    )
    return _digits_bunch(images / 255.0, target, descr, return_X_y)


def _resize_images(images, size):
    """Bilinear resize of uint8 images to ``size`` x ``size`` (PIL, as torchvision)."""
    from PIL import Image

    out = np.empty((len(images), size, size), dtype=np.uint8)
    for i, im in enumerate(images):
        out[i] = np.asarray(Image.fromarray(im).resize((size, size), Image.BILINEAR))
    return out


def load_usps(
    subset="train", *, image_size=16, return_X_y=False, data_home=None, download=False
):
    """Load the USPS handwritten digits (Hull 1994), 16x16 or resized.

    Read from a local ``usps.npz`` (keys ``x_train``, ``y_train``,
    ``x_test``, ``y_test``: uint8 16x16 images, digit bright, the pixel
    values of the ESL "zip" copy), or fetched with
    :class:`torchvision.datasets.USPS` when ``download=True`` and no file is
    found (torchvision's copy is the smoother LIBSVM encoding of the same
    digits, so the pixels differ slightly).

    Parameters
    ----------
    subset : {"train", "test"}, default="train"
        The 7,291 training or the 2,007 test images.
    image_size : int, default=16
        Side of the returned images; 28 matches MNIST, as MNIST <-> USPS
        adaptation needs (bilinear, as ``torchvision.transforms.Resize``).
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    data_home : str or path-like, default=None
        The ``usps.npz`` file itself, or a folder searched first (then
        ``SKLEARN_META_DATA``, then ``~/sklearn_meta_data``).
    download : bool, default=False
        When no file is found, fetch USPS with torchvision into the first
        folder searched (needs a network).

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        ``data`` (n, image_size**2) float32 in [0, 1], ``images`` (n,
        image_size, image_size) float32, ``target`` (n,) int64 digits 0..9,
        ``target_names``, ``DESCR``.
    (data, target) : tuple if ``return_X_y`` is True
        ``data`` and ``target`` as above.

    Raises
    ------
    FileNotFoundError
        When no ``usps.npz`` is found and ``download=False``.

    See Also
    --------
    load_mnist : MNIST, in 28x28 images.

    Examples
    --------
    >>> from sklearn_meta.datasets import load_usps
    >>> X, y = load_usps("test", image_size=28, return_X_y=True)  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (2007, 784)
    """
    check_choice("subset", subset, _DIGIT_SUBSETS)
    image_size = check_int("image_size", image_size, 1)
    images, target, source = _read_digits("USPS", USPS_FILE, subset, data_home, download)
    if image_size != images.shape[1]:
        images = _resize_images(images, image_size)
    descr = (
        f"USPS {subset} set, {len(target)} images {image_size}x{image_size}, values in "
        f"[0, 1], digit bright; from {source}. Hull, J. J. (1994), A database for "
        "handwritten text recognition research, IEEE TPAMI 16(5). No license stated."
    )
    return _digits_bunch(images / 255.0, target, descr, return_X_y)


def make_digits_shift(*, angle=30.0, noise=0.1, target_fraction=0.5, random_state=None):
    """A domain shift of scikit-learn's 8x8 digits that needs no file.

    The digits are split (stratified) into a source part, kept as they are,
    and a target part whose images are rotated by ``angle`` degrees and get
    Gaussian pixel noise of standard deviation ``noise`` (then clipped to
    [0, 1]). A classifier trained on the source loses accuracy on the
    target; domain adaptation wins some of it back.

    Parameters
    ----------
    angle : float, default=30.0
        Rotation of the target images, in degrees, counter-clockwise.
    noise : float, default=0.1
        Standard deviation of the Gaussian noise added to target pixels.
    target_fraction : float, default=0.5
        Share of the digits that go to the target part.
    random_state : int, RandomState instance or None, default=None
        Seeds the split and the noise.

    Returns
    -------
    X_source : ndarray of shape (n_source, 64)
        Source rows, float32 in [0, 1].
    y_source : ndarray of shape (n_source,)
        Their digits.
    X_target : ndarray of shape (n_target, 64)
        Shifted target rows, float32 in [0, 1].
    y_target : ndarray of shape (n_target,)
        Their digits (to score with; a fit gets them as -1).

    Examples
    --------
    >>> from sklearn_meta.datasets import make_digits_shift
    >>> X_source, y_source, X_target, y_target = make_digits_shift(random_state=0)
    >>> X_source.shape, X_target.shape
    ((898, 64), (899, 64))
    """
    from scipy.ndimage import rotate
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    for name, value in (("angle", angle), ("noise", noise)):
        if isinstance(value, bool) or not isinstance(value, Real) or not np.isfinite(value):
            raise ValueError(f"{name} must be a finite float; got {value!r}")
    if noise < 0:
        raise ValueError(f"noise must be >= 0; got {noise!r}")
    if (
        isinstance(target_fraction, bool)
        or not isinstance(target_fraction, Real)
        or not 0 < target_fraction < 1
    ):
        raise ValueError(f"target_fraction must be in (0, 1); got {target_fraction!r}")
    rng = check_random_state(random_state)
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    src, tgt = train_test_split(
        np.arange(len(y)), test_size=target_fraction, stratify=y,
        random_state=rng.randint(np.iinfo(np.int32).max),
    )
    images = X[tgt].reshape(-1, 8, 8)
    if angle:
        images = rotate(images, angle, axes=(2, 1), reshape=False, order=1, mode="constant")
    if noise:
        images = images + rng.normal(scale=noise, size=images.shape)
    X_target = np.clip(images, 0.0, 1.0).reshape(len(tgt), 64).astype(np.float32)
    return X[src], y[src], X_target, y[tgt]
