"""From a torch ``Dataset`` that lists its image files to indexable arrays."""

import os
from numbers import Integral

import numpy as np

from ._validation import check_bool

# the attributes of torchvision's folder datasets that list (path, class index)
_LISTING_ATTRIBUTES = ("samples", "imgs")


def _listing(dataset):
    """``(pairs, owner)``: the (path, class index) pairs ``dataset`` lists and
    the dataset that holds its ``classes`` (a ``Subset`` lists its parent's
    pairs at its indices)."""
    for name in _LISTING_ATTRIBUTES:
        pairs = getattr(dataset, name, None)
        if pairs is not None:
            return list(pairs), dataset
    parent = getattr(dataset, "dataset", None)
    indices = getattr(dataset, "indices", None)
    if parent is not None and indices is not None:
        pairs, owner = _listing(parent)
        try:
            return [pairs[int(i)] for i in indices], owner
        except (IndexError, TypeError, ValueError) as exc:
            raise ValueError(
                f"{type(dataset).__name__}.indices do not index the files of its "
                f"dataset ({len(pairs)} files): {exc}"
            ) from exc
    raise ValueError(
        f"{type(dataset).__name__} does not list its files: it has no 'samples' "
        "or 'imgs' attribute of (path, class index) pairs, as torchvision's "
        "ImageFolder and DatasetFolder have (nor is it a Subset of such a "
        "dataset). Build the arrays yourself, paths = [...] and labels = [...], "
        "or pass the dataset itself to fit and predict, which read (image, "
        "label) pairs from any Dataset."
    )


def _check_pair(i, pair):
    """``(path, class index)`` of the ``i``-th listed pair, or a ValueError."""
    try:
        path, index = pair
        path = os.fspath(path)
    except (TypeError, ValueError):
        path, index = None, None
    is_int = isinstance(index, Integral) and not isinstance(index, (bool, np.bool_))
    if not isinstance(path, str) or not is_int or index < 0:
        raise ValueError(
            f"entry {i} of the dataset's files is {pair!r}; every entry must be a "
            "(path, class index) pair, the path a str or os.PathLike and the "
            "class index an int >= 0"
        )
    return path, int(index)


def dataset_to_paths(dataset, *, class_names=True):
    """Turn a dataset that lists its image files into ``(paths, labels)`` arrays.

    A :class:`torch.utils.data.Dataset` cannot be split by scikit-learn's
    cross-validation splitters, :class:`~sklearn.model_selection.GridSearchCV`
    or :func:`~sklearn.model_selection.cross_val_score`, which index their
    data by rows. Datasets that list their files, such as torchvision's
    :class:`~torchvision.datasets.ImageFolder` and
    :class:`~torchvision.datasets.DatasetFolder`, give them up here as two
    arrays that every splitter can index; the estimators of this package take
    the file paths as ``X``. Nothing is opened or decoded.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        A dataset with a ``samples`` or ``imgs`` attribute holding
        ``(path, class_index)`` pairs (torchvision's ``ImageFolder`` and
        ``DatasetFolder``, or a dataset of yours that keeps the same list), or
        a :class:`~torch.utils.data.Subset` of one.
    class_names : bool, default=True
        If True and the dataset has a ``classes`` attribute (the class names,
        indexed by class index, as ``ImageFolder`` has), the labels are the
        class names, so that the ``classes_`` of an estimator fitted on them
        are the names. If False, or the dataset has no ``classes``, the labels
        are the stored class indices.

    Returns
    -------
    paths : ndarray of shape (n_samples,), str
        The file paths, in the dataset's order.
    labels : ndarray of shape (n_samples,)
        The class name (str) or class index (int64) of each file.

    Raises
    ------
    ValueError
        If the dataset does not list its files (the message says what to do
        instead), lists none, lists an entry that is not a
        ``(path, class_index)`` pair, or a class index that ``classes`` has
        no name for.

    See Also
    --------
    load_mini_imagenet : mini-ImageNet as paths with ``return_paths=True``.
    load_omniglot : Omniglot's original PNG files with ``return_paths=True``.

    Examples
    --------
    >>> import numpy as np
    >>> from PIL import Image
    >>> from torchvision.datasets import ImageFolder
    >>> from sklearn.model_selection import StratifiedKFold
    >>> from sklearn_meta.datasets import dataset_to_paths
    >>> import tempfile, pathlib
    >>> root = pathlib.Path(tempfile.mkdtemp())
    >>> for name, colour in [("cat", 0), ("dog", 255)]:
    ...     (root / name).mkdir()
    ...     for i in range(4):
    ...         pixels = np.full((8, 8, 3), colour, dtype=np.uint8)
    ...         Image.fromarray(pixels).save(root / name / f"{i}.png")
    >>> paths, labels = dataset_to_paths(ImageFolder(root))
    >>> paths.shape, labels.tolist()
    ((8,), ['cat', 'cat', 'cat', 'cat', 'dog', 'dog', 'dog', 'dog'])
    >>> train, test = next(StratifiedKFold(n_splits=2).split(paths, labels))
    >>> labels[test].tolist()
    ['cat', 'cat', 'dog', 'dog']
    >>> dataset_to_paths(ImageFolder(root), class_names=False)[1].tolist()
    [0, 0, 0, 0, 1, 1, 1, 1]
    >>> import shutil; shutil.rmtree(root)
    """
    check_bool("class_names", class_names)
    pairs, owner = _listing(dataset)
    if not pairs:
        root = getattr(owner, "root", None)
        where = f" under {root}" if root is not None else ""
        raise ValueError(
            f"{type(dataset).__name__} lists no image file{where}: there is "
            "nothing to split or fit. Check the folder, and that its files have "
            "extensions the dataset accepts."
        )
    checked = [_check_pair(i, pair) for i, pair in enumerate(pairs)]
    paths = np.array([path for path, _ in checked], dtype=str)
    indices = np.array([index for _, index in checked], dtype=np.int64)
    classes = getattr(owner, "classes", None)
    if not class_names or classes is None:
        return paths, indices
    names = np.asarray(list(classes))
    if indices.max() >= len(names):
        raise ValueError(
            f"the dataset lists class index {int(indices.max())} but its classes "
            f"name only {len(names)} classes; pass class_names=False to get the "
            "class indices"
        )
    return paths, names[indices]
