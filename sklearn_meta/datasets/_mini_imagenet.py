"""mini-ImageNet: the shipped class split, and the loader of the user's own copy."""

import os
import warnings
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch

from ._home import (
    DATA_HOME_ENV,
    DEFAULT_DATA_HOME,
    SHIPPED_DIR,
    get_data_home,
    shipped_file,
)
from ._mini_imagenet_layouts import (
    MINI_SPLITS,
    PICKLE_NAMES,
    file_images,
    locate_copy,
    pickle_images,
    read_mini_pickle,
)
from ._validation import check_bool, check_choice, check_int

MINI_IMAGENET_DIR = "mini_imagenet"
_MINI_SPLIT_FILE = "mini_imagenet_split.txt"
_MINI_SOURCE_CSV = (
    "data/miniImagenet/{train,val,test}.csv of "
    "https://github.com/twitter-research/meta-learning-lstm"
)


def mini_imagenet_split():
    """``{"train": wnids, "val": wnids, "test": wnids}`` of the shipped split.

    The 64, 16 and 20 ImageNet classes of Ravi & Larochelle (2017), each
    tuple of wnids sorted, as read from the shipped ``mini_imagenet_split.txt``.
    """
    text = shipped_file(_MINI_SPLIT_FILE).read_text(encoding="utf-8")
    split = {name: [] for name in MINI_SPLITS}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            wnid, name = line.split()
            split[name].append(wnid)
    return {name: tuple(wnids) for name, wnids in split.items()}


def _not_found(split, roots, searched_default):
    searched = "\n".join(f"  - {root}" for root in roots)
    pickles = " or ".join(PICKLE_NAMES[split])
    where = (
        "<root> is path, or a folder named mini_imagenet in data_home, in the "
        f"folder named by {DATA_HOME_ENV}, or in {DEFAULT_DATA_HOME}"
        if searched_default
        else "<root> is the path you passed"
    )
    return FileNotFoundError(
        f"mini-ImageNet (split={split!r}) was not found. Searched, in order:\n"
        f"{searched}\n"
        "It cannot ship with sklearn_meta (the images are ImageNet's); point "
        "path=... (or data_home=..., or the environment variable "
        f"{DATA_HOME_ENV}) at your own copy, in one of these layouts, where "
        f"{where}:\n"
        f"  1. <root>/{pickles}: the pickles distributed with many few-shot "
        "repositories and learn2learn (a dict with 'image_data', uint8 of "
        "shape (N, 84, 84, 3), and 'class_dict', {wnid: [row indices]}); use "
        "pickles only from a source you trust;\n"
        f"  2. <root>/images/<wnid><number>.jpg with <root>/{split}.csv "
        "(columns filename,label): the layout of Ravi & Larochelle's split "
        "files;\n"
        f"  3. <root>/<wnid>/*.jpg (or .png), or <root>/{split}/<wnid>/*.jpg: "
        "one folder per class, e.g. as made by data/miniImagenet/proc_images.py "
        "of https://github.com/cbfinn/maml.\n"
        "To get the images: request access to ImageNet (ILSVRC-2012) at "
        "https://image-net.org and take the 100 classes, 600 images each, "
        f"listed in {_MINI_SOURCE_CSV}; or use the mini-imagenet-cache-*.pkl "
        "files that several few-shot libraries download (e.g. learn2learn's "
        "MiniImagenet)."
    )


def _not_in_pickle(path, split, wnids, class_rows):
    """The error for a pickle that holds no class of ``split``."""
    split_of = {
        wnid: name for name, ids in mini_imagenet_split().items() for wnid in ids
    }
    held = sorted({split_of[wnid] for wnid in class_rows if wnid in split_of})
    hint = f" (its classes are in the split {', '.join(held)})" if held else ""
    return FileNotFoundError(
        f"{path} holds none of the {len(wnids)} classes of split={split!r}{hint}."
    )


def _check_image_dtype(dtype):
    try:
        dtype = np.dtype(dtype)
    except TypeError:
        dtype = None
    if dtype is None or not (dtype == np.uint8 or dtype.kind == "f"):
        raise ValueError(
            "dtype must be np.uint8 (pixel values 0..255) or a floating dtype "
            "such as np.float32 (values scaled to [0, 1])"
        )
    return dtype


def _describe(
    split, n_images, present, n_split, image_size, dtype, source, missing, n_resized
):
    """The DESCR text; ``image_size=None`` describes paths (nothing decoded)."""
    if image_size is None:
        what = (
            "the paths of the image files, not decoded (data and filenames: "
            "the same paths)"
        )
    else:
        if dtype == np.uint8:
            values = "uint8 values 0..255"
        else:
            values = f"{dtype.name} values in [0, 1] (uint8 / 255)"
        what = (
            f"RGB, {image_size}x{image_size} pixels, channels first "
            f"(images: (n, 3, {image_size}, {image_size}); data: the same pixels "
            f"flattened), {values}"
        )
    lines = [
        "mini-ImageNet (Vinyals et al., 2016), class split of Ravi & Larochelle (2017)",
        "",
        (
            f"Split {split!r}: {n_images} images of {len(present)} of its {n_split} "
            f"classes, {what}."
        ),
        f"Source: {source}",
    ]
    if n_resized:
        lines.append(
            f"Resized: {n_resized} images were not {image_size}x{image_size} "
            "and were resized with PIL LANCZOS to that square (aspect ratio "
            "not kept), as the MAML preprocessing script does."
        )
    if missing:
        lines.append(
            f"Missing from this copy: {len(missing)} classes of the split "
            f"({', '.join(missing)})."
        )
    lines += [
        "",
        (
            "Class split: the 64 train, 16 val and 20 test ImageNet classes of "
            f"{_MINI_SOURCE_CSV}, shipped as {SHIPPED_DIR}/{_MINI_SPLIT_FILE}; "
            "the split of MAML, ProtoNet and most later papers (600 images per "
            "class in the full set)."
        ),
        (
            "License: the images are ImageNet's (ILSVRC-2012); ImageNet's terms of "
            "access allow non-commercial research and education only."
        ),
        (
            "References: Vinyals, O. et al. (2016). Matching networks for one shot "
            "learning. NeurIPS. Ravi, S. and Larochelle, H. (2017). Optimization "
            "as a model for few-shot learning. ICLR."
        ),
    ]
    return "\n".join(lines)


def load_mini_imagenet(
    path=None,
    *,
    split="train",
    data_home=None,
    image_size=84,
    return_X_y=False,
    dtype=np.uint8,
    return_paths=False,
):
    """Load the classes of one mini-ImageNet split from your own copy.

    mini-ImageNet (Vinyals et al., 2016) has 100 ImageNet classes of 600
    colour images, usually 84x84. With the split of Ravi & Larochelle (2017),
    64 classes train, 16 validate and 20 test; it is the standard few-shot
    image benchmark. The images cannot ship with the package (ImageNet's
    terms); the split ships, and this function reads a local copy in any of
    the usual formats, keeps the classes of the requested split and returns
    them as channels-first arrays.

    Parameters
    ----------
    path : str or path-like, default=None
        Your copy: a folder in one of the layouts of the Notes, or a
        mini-ImageNet cache pickle. If None, a folder named ``mini_imagenet``
        is looked for in ``data_home``, in the folder named by the environment
        variable ``SKLEARN_META_DATA``, then in ``~/sklearn_meta_data``.
    split : {"train", "val", "test"}, default="train"
        Which classes of the Ravi & Larochelle split to return.
    data_home : str or path-like, default=None
        Folder searched first for ``mini_imagenet/`` when ``path`` is None.
    image_size : int, default=84
        Side of the returned square images. Images of another size are
        resized with PIL LANCZOS (aspect ratio not kept).
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    dtype : {np.uint8, np.float32, np.float64, ...}, default=np.uint8
        Pixel type. ``np.uint8`` keeps the values 0..255 (smallest: the train
        split takes 0.8 GB); a floating dtype scales them to [0, 1].
    return_paths : bool, default=False
        If True, decode nothing: ``data`` holds the paths of the image files
        (as ``filenames`` does) and there is no ``images``; ``image_size``
        and ``dtype`` are then not used. This takes no memory for pixels and
        no time to decode; give the paths to an estimator, which reads the
        files itself, or to your own loader. Only copies made of image files
        (layouts 2 and 3 of the Notes) have paths: a cache pickle holds
        decoded arrays, and raises a ValueError with ``return_paths=True``.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes:

        data : ndarray of shape (n_samples, 3 * image_size ** 2)
            The images flattened (a view of ``images``), for estimators given
            ``input_shape=(3, image_size, image_size)``. With
            ``return_paths=True``, an array of shape (n_samples,) of str: the
            paths of the image files.
        images : ndarray of shape (n_samples, 3, image_size, image_size)
            RGB images, channels first, of type ``dtype``. Absent with
            ``return_paths=True``.
        target : ndarray of shape (n_samples,), int64
            Class ids ``0 .. n_classes - 1``, in the order of
            ``target_names``; the images of a class are contiguous.
        target_names : ndarray of shape (n_classes,), str
            The ImageNet wnid of each class present (e.g. ``"n01532829"``),
            sorted.
        filenames : ndarray of shape (n_samples,), str
            Where each image was read from (``"file.pkl[row]"`` for pickles).
        missing_classes : ndarray of shape (n_missing,), str
            The wnids of the split that your copy lacks (empty when complete).
        DESCR : str
            Description of the selection, the source, split and license.

    (data, target) : tuple if ``return_X_y`` is True
        ``data`` and ``target`` as above.

    Raises
    ------
    FileNotFoundError
        If no copy is found (the message says where to get one and which
        layouts are read), it holds no class of ``split``, or a CSV lists
        images that are absent.
    ValueError
        If an argument is invalid, a pickle is not a mini-ImageNet cache, or
        ``return_paths=True`` and the copy found is a cache pickle.

    Warns
    -----
    UserWarning
        If your copy lacks some classes of the split; the others are loaded.

    See Also
    --------
    load_omniglot : The other standard few-shot benchmark, partly shipped.

    Notes
    -----
    **Layouts read**, tried in this order in the folder ``<root>``:

    1. ``<root>/mini-imagenet-cache-<split>.pkl`` (also
       ``mini-imagenet-cache-validation.pkl`` for ``"val"``, learn2learn's
       name): the pickles distributed with many few-shot repositories, a dict
       with ``image_data`` (uint8, shape (N, 84, 84, 3)) and ``class_dict``
       (``{wnid: [row indices]}``).
    2. ``<root>/images/`` with ``<root>/<split>.csv`` (columns
       ``filename,label``): the layout of Ravi & Larochelle's split files,
       images named ``<wnid><number>.jpg``. Without the CSV, the files of
       ``images/`` are assigned to classes by the wnid their names start with.
    3. One folder per class: ``<root>/<wnid>/*.jpg`` (or ``.png``), or
       ``<root>/<split>/<wnid>/*.jpg`` as made by the MAML preprocessing
       script.

    Whatever the layout, only the classes of ``split`` are kept, in sorted
    wnid order, and the images of a class in sorted file order (pickle row
    order for pickles).

    **Pickles can run code when loaded**, so only use pickles from a source
    you trust. This function does not call :func:`pickle.load`: it reads them
    with an unpickler that refuses every global except numpy's array, dtype
    and scalar constructors, then checks that the result has the structure
    above; a pickle that names anything else is rejected before it runs.

    **Getting the data.** Request access to ImageNet (ILSVRC-2012) at
    https://image-net.org, and take the 100 classes and 600 images per class
    listed in the split files ``data/miniImagenet/{train,val,test}.csv`` of
    https://github.com/twitter-research/meta-learning-lstm (resized to 84x84
    with LANCZOS, as ``data/miniImagenet/proc_images.py`` of
    https://github.com/cbfinn/maml does); or use the
    ``mini-imagenet-cache-*.pkl`` files that several few-shot libraries
    download.

    References
    ----------
    .. [1] Vinyals, O., Blundell, C., Lillicrap, T., Kavukcuoglu, K. and
       Wierstra, D. (2016). "Matching networks for one shot learning".
       NeurIPS.
    .. [2] Ravi, S. and Larochelle, H. (2017). "Optimization as a model for
       few-shot learning". ICLR.
       https://github.com/twitter-research/meta-learning-lstm

    Examples
    --------
    >>> from sklearn_meta.datasets import load_mini_imagenet
    >>> train = load_mini_imagenet("~/data/mini_imagenet")  # doctest: +SKIP
    >>> train.images.shape, train.images.dtype  # doctest: +SKIP
    ((38400, 3, 84, 84), dtype('uint8'))
    >>> len(train.target_names), train.target_names[0]  # doctest: +SKIP
    (64, 'n01532829')
    >>> X, y = load_mini_imagenet(split="test", return_X_y=True)  # doctest: +SKIP
    >>> X.shape  # doctest: +SKIP
    (12000, 21168)

    The file paths of a copy made of image files, nothing decoded:

    >>> paths, y = load_mini_imagenet(
    ...     "~/data/mini_imagenet", split="test", return_paths=True, return_X_y=True
    ... )  # doctest: +SKIP
    >>> paths[0]  # doctest: +SKIP
    '/home/me/data/mini_imagenet/images/n0193011200000005.jpg'
    """
    check_choice("split", split, MINI_SPLITS)
    image_size = check_int("image_size", image_size, 1)
    check_bool("return_X_y", return_X_y)
    check_bool("return_paths", return_paths)
    dtype = _check_image_dtype(dtype)
    wnids = mini_imagenet_split()[split]

    if path is not None:
        roots = [Path(os.fspath(path)).expanduser()]
    else:
        roots = [folder / MINI_IMAGENET_DIR for folder in get_data_home(data_home)]
    kind, where = locate_copy(roots, split, wnids)
    if kind is None:
        raise _not_found(split, roots, searched_default=path is None)
    if kind == "pickle" and return_paths:
        raise ValueError(
            f"return_paths=True needs a copy made of image files, but the copy "
            f"found is the cache pickle {where}, which holds decoded arrays and "
            "no files. Load it without return_paths (the uint8 arrays take 0.8 GB "
            "for the train split), or point path=... at a folder of image files "
            "(see the layouts in the docstring's Notes)."
        )
    if kind == "pickle":
        rows, class_rows = read_mini_pickle(where)
        present = [wnid for wnid in wnids if len(class_rows.get(wnid, ()))]
        if not present:
            raise _not_in_pickle(where, split, wnids, class_rows)
        images, filenames, counts, n_resized = pickle_images(
            where.name, rows, class_rows, present, image_size
        )
        del rows
        source = f"mini-ImageNet cache pickle {where}."
    else:
        root, files = where
        present = [wnid for wnid in wnids if files[wnid]]
        if return_paths:
            filenames = np.array([str(p) for wnid in present for p in files[wnid]])
            counts = [len(files[wnid]) for wnid in present]
            images, n_resized = None, 0
        else:
            images, filenames, counts, n_resized = file_images(
                files, present, image_size
            )
        source = f"image files under {root}."

    missing = [wnid for wnid in wnids if wnid not in present]
    if missing:
        warnings.warn(
            f"Your mini-ImageNet copy lacks {len(missing)} of the {len(wnids)} "
            f"classes of split={split!r}: {', '.join(missing)}. Loaded the "
            f"{len(present)} others; results are not comparable with papers "
            "that use the full split.",
            UserWarning,
            stacklevel=2,
        )
    target = np.repeat(np.arange(len(present), dtype=np.int64), counts)
    if return_paths:
        data = filenames.copy()
    else:
        if dtype != np.uint8:
            images = images.astype(dtype)
            images /= dtype.type(255)
        data = images.reshape(len(images), -1)
    if return_X_y:
        return data, target
    descr = _describe(
        split,
        len(target),
        present,
        len(wnids),
        None if return_paths else image_size,
        dtype,
        source,
        missing,
        n_resized,
    )
    bunch = Bunch(
        data=data,
        target=target,
        target_names=np.array(present, dtype=str),
        filenames=filenames,
        missing_classes=np.array(missing, dtype=str),
        DESCR=descr,
    )
    if not return_paths:
        bunch.images = images
    return bunch
