"""Dataset loaders for few-shot learning benchmarks.

Two small Omniglot subsets ship with the package and need no download; the
full Omniglot set and the official one-shot runs are read from a local
``omniglot.npz`` / ``omniglot_oneshot_runs.npz`` (see :func:`load_omniglot`
for where they are looked for).

mini-ImageNet cannot ship (ImageNet's terms); :func:`load_mini_imagenet` reads
the user's own copy and ships only the class split. :func:`make_sinusoids`
generates the sinusoid regression tasks of the MAML paper.
"""

import csv
import importlib
import os
import pickle
import re
import warnings
from importlib import resources
from numbers import Integral, Real
from pathlib import Path

import numpy as np
from sklearn.utils import Bunch, check_random_state

__all__ = [
    "load_mnist",
    "load_usps",
    "make_digits_shift",
    "load_omniglot",
    "load_omniglot_oneshot_runs",
    "load_mini_imagenet",
    "make_sinusoids",
    "get_data_home",
]

DATA_HOME_ENV = "SKLEARN_META_DATA"
DEFAULT_DATA_HOME = Path("~") / "sklearn_meta_data"

OMNIGLOT_FILE = "omniglot.npz"
ONESHOT_FILE = "omniglot_oneshot_runs.npz"
_PACKAGED = {"small1": "omniglot_small1.npz", "small2": "omniglot_small2.npz"}
_SUBSETS = ("small1", "small2", "background", "evaluation", "all", "vinyals")
_RESIZES = ("lanczos", "nearest")
_SPLITS = ("train", "val", "test", "trainval")
_IMAGE_KEY = {"lanczos": "images", "nearest": "images_nearest"}
_SIDE = 28
_ROTATIONS = (0, 90, 180, 270)

# The Vinyals et al. (2016) class split as distributed with the ProtoNet code
# (jakesnell/prototypical-networks, data/omniglot/splits/vinyals/*.txt, MIT).
# With the classes in the order used here (background set then evaluation set,
# alphabets, then character folders, in sorted order) it reduces to two facts:
# the validation classes are five whole background alphabets, and the first
# 236 evaluation classes are training classes, the remaining 423 test classes.
# Only used to rebuild omniglot.npz from torchvision's download; a local
# omniglot.npz carries the split itself (``class_vinyals_split``).
_VINYALS_VAL_ALPHABETS = frozenset(
    {"Armenian", "Bengali", "Early_Aramaic", "Hebrew", "Mkhedruli_(Georgian)"}
)
_VINYALS_N_EVAL_TRAIN = 236

_OMNIGLOT_CITATION = (
    "Lake, B. M., Salakhutdinov, R. and Tenenbaum, J. B. (2015). Human-level "
    "concept learning through probabilistic program induction. Science, "
    "350(6266), 1332-1338."
)
_OMNIGLOT_LICENSE = (
    "The MIT License (MIT), Copyright (c) 2015 Brenden Lake "
    "(https://github.com/brendenlake/omniglot). The full notice ships as "
    "sklearn_meta/data/OMNIGLOT_LICENSE.txt."
)


# --------------------------------------------------------------------------
# locating files
# --------------------------------------------------------------------------
def get_data_home(data_home=None):
    """Return the folders searched for local data files, in order.

    Parameters
    ----------
    data_home : str or path-like, default=None
        A folder to search first.

    Returns
    -------
    folders : list of pathlib.Path
        ``data_home`` (if given), then the folder named by the environment
        variable ``SKLEARN_META_DATA`` (if set), then ``~/sklearn_meta_data``.
        The folders need not exist.

    Examples
    --------
    >>> from sklearn_meta.datasets import get_data_home
    >>> get_data_home("/tmp/omniglot")[0].as_posix()
    '/tmp/omniglot'
    """
    folders = []
    if data_home is not None:
        folders.append(Path(os.fspath(data_home)).expanduser())
    env = os.environ.get(DATA_HOME_ENV)
    if env:
        folders.append(Path(env).expanduser())
    folders.append(DEFAULT_DATA_HOME.expanduser())
    unique = []
    for folder in folders:
        if folder not in unique:
            unique.append(folder)
    return unique


def _find_file(filename, data_home):
    folders = get_data_home(data_home)
    for folder in folders:
        candidate = folder / filename
        if candidate.is_file():
            return candidate, folders
    return None, folders


def _not_found(filename, folders, can_download):
    searched = "\n".join(f"  - {folder / filename}" for folder in folders)
    fixes = (
        f"  1. set the environment variable {DATA_HOME_ENV} (or pass "
        f"data_home=...) to a folder holding {filename}"
    )
    if can_download:
        fixes += (
            "\n  2. or pass download=True to build it from the official "
            "Omniglot zips via torchvision.datasets.Omniglot"
        )
    return FileNotFoundError(
        f"{filename} was not found. Searched, in order:\n{searched}\n"
        f"To fix this:\n{fixes}"
    )


def _read_npz(path, keys):
    with np.load(path, allow_pickle=False) as npz:
        missing = [key for key in keys if key not in npz.files]
        if missing:
            raise ValueError(f"{path} lacks the arrays {missing}")
        return {key: npz[key] for key in keys}


def _read_packaged(filename, keys):
    resource = resources.files("sklearn_meta").joinpath("data", filename)
    with resources.as_file(resource) as path:
        return _read_npz(path, keys)


# --------------------------------------------------------------------------
# building omniglot.npz from torchvision's download
# --------------------------------------------------------------------------
def _resize_mode1(image):
    """28x28 LANCZOS and NEAREST arrays (ink = 255) from a mode "1" PIL image.

    This is the recipe of the arrays in ``omniglot.npz``: LANCZOS on the
    inverted 8-bit image, and NEAREST on the mode "1" image (which is what
    Pillow does for mode "1" whatever filter is asked for), then inverted.
    """
    from PIL import Image

    gray = 255 - np.asarray(image.convert("L"), dtype=np.uint8)
    lanczos = Image.fromarray(gray, mode="L").resize((_SIDE, _SIDE), Image.LANCZOS)
    nearest = image.resize((_SIDE, _SIDE), Image.NEAREST).convert("L")
    return (
        np.asarray(lanczos, dtype=np.uint8),
        (255 - np.asarray(nearest, dtype=np.uint8)).astype(np.uint8),
    )


def _vinyals_split(class_alphabet, class_background):
    """``train``/``val``/``test`` per class, for classes in omniglot.npz order."""
    class_alphabet = np.asarray(class_alphabet)
    class_background = np.asarray(class_background, dtype=bool)
    split = np.full(class_alphabet.shape, "train", dtype="<U5")
    is_val = np.isin(class_alphabet, sorted(_VINYALS_VAL_ALPHABETS))
    split[class_background & is_val] = "val"
    eval_index = np.cumsum(~class_background) - 1
    split[~class_background & (eval_index >= _VINYALS_N_EVAL_TRAIN)] = "test"
    return split


def _build_omniglot_npz(root):
    """Download Omniglot with torchvision and write ``root/omniglot.npz``."""
    try:
        from torchvision.datasets import Omniglot
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "download=True needs torchvision (pip install torchvision)"
        ) from exc
    from PIL import Image

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    columns = {
        key: []
        for key in (
            "images",
            "images_nearest",
            "alphabet",
            "character",
            "character_in_alphabet",
            "drawer",
            "file_prefix",
            "background",
        )
    }
    class_names, class_alphabet, class_background = [], [], []
    for background in (True, False):
        dataset = Omniglot(root=str(root), background=background, download=True)
        folder = Path(dataset.target_folder)
        for alphabet in sorted(p.name for p in folder.iterdir() if p.is_dir()):
            alphabet_dir = folder / alphabet
            for char in sorted(p.name for p in alphabet_dir.iterdir() if p.is_dir()):
                class_id = len(class_names)
                class_names.append(f"{alphabet}/{char}")
                class_alphabet.append(alphabet)
                class_background.append(background)
                for png in sorted((alphabet_dir / char).glob("*.png")):
                    prefix, drawer = png.stem.split("_")
                    with Image.open(png) as image:
                        lanczos, nearest = _resize_mode1(image.convert("1"))
                    columns["images"].append(lanczos)
                    columns["images_nearest"].append(nearest)
                    columns["alphabet"].append(alphabet)
                    columns["character"].append(class_id)
                    columns["character_in_alphabet"].append(int(char[len("character"):]))
                    columns["drawer"].append(int(drawer))
                    columns["file_prefix"].append(int(prefix))
                    columns["background"].append(background)

    arrays = {
        "images": np.stack(columns["images"]).astype(np.uint8),
        "images_nearest": np.stack(columns["images_nearest"]).astype(np.uint8),
        "alphabet": np.array(columns["alphabet"], dtype=str),
        "character": np.array(columns["character"], dtype=np.int16),
        "character_in_alphabet": np.array(columns["character_in_alphabet"], dtype=np.int8),
        "drawer": np.array(columns["drawer"], dtype=np.int8),
        "file_prefix": np.array(columns["file_prefix"], dtype=np.int16),
        "background": np.array(columns["background"], dtype=bool),
        "class_names": np.array(class_names, dtype=str),
        "class_alphabet": np.array(class_alphabet, dtype=str),
        "class_background": np.array(class_background, dtype=bool),
    }
    arrays["class_vinyals_split"] = _vinyals_split(
        arrays["class_alphabet"], arrays["class_background"]
    )
    target = root / OMNIGLOT_FILE
    try:
        np.savez_compressed(target, **arrays)
    except OSError as exc:  # pragma: no cover - read-only folder
        warnings.warn(f"could not cache Omniglot as {target}: {exc}", stacklevel=3)
    return arrays


# --------------------------------------------------------------------------
# public loaders
# --------------------------------------------------------------------------
def _check_choice(name, value, allowed):
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(
            f"{name} must be one of {', '.join(repr(a) for a in allowed)}; "
            f"got {value!r}"
        )


def _contiguous_labels(labels):
    """Relabel to 0..k-1 in order of first appearance; return (new, order)."""
    uniques, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # order[new] = index into uniques
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[inverse.ravel()].astype(np.int64), uniques[order]


def _check_disjoint_from(disjoint_from):
    """``disjoint_from`` as a tuple of shipped subset names."""
    if disjoint_from is None:
        return ()
    names = (disjoint_from,) if isinstance(disjoint_from, str) else disjoint_from
    try:
        names = tuple(names)
    except TypeError:
        names = None
    if names is None or not all(isinstance(n, str) and n in _PACKAGED for n in names):
        raise ValueError(
            "disjoint_from must name shipped subsets, 'small1' and/or 'small2' "
            f"(a string or a list of them); got {disjoint_from!r}"
        )
    return tuple(dict.fromkeys(names))


def _alphabets_of(names):
    """Sorted alphabet names of the shipped subsets ``names``."""
    alphabets = set()
    for name in names:
        alphabets.update(_read_packaged(_PACKAGED[name], ["alphabet"])["alphabet"].astype(str))
    return sorted(alphabets)


def _describe(
    subset, split, resize, rotations, n_samples, n_classes, source, excluded=None
):
    what = f"subset={subset!r}"
    if split is not None:
        what += f", split={split!r}"
    lines = [
        "Omniglot handwritten characters (Lake, Salakhutdinov & Tenenbaum, 2015)",
        "",
        f"Selection: {what}, resize={resize!r}, rotations={rotations}.",
        f"{n_samples} images of 28x28 pixels in {n_classes} classes; pixel "
        "values are float32 in [0, 1] with ink = 1 (paper = 0).",
        "",
        f"Source: {source}",
        "Recipe: each 105x105 binary PNG was converted to 8-bit grey, inverted "
        "and resized to 28x28 with PIL LANCZOS (resize='lanczos', anti-aliased "
        "grey levels), or resized with NEAREST on the binary image "
        "(resize='nearest', values 0/1, what the MAML and ProtoNet reference "
        "code effectively used).",
    ]
    if rotations:
        lines.append(
            "Rotations: every character class appears as 4 classes rotated by "
            "0, 90, 180 and 270 degrees (np.rot90), target = class * 4 + "
            "rotation index, as in Vinyals et al. (2016) and Snell et al. (2017)."
        )
    if subset == "vinyals":
        lines.append(
            "Split: Vinyals et al. (2016) classes as distributed with the "
            "ProtoNet code (jakesnell/prototypical-networks, MIT): train 1028, "
            "val 172, test 423 characters."
        )
    if excluded:
        names, alphabets = excluded
        lines.append(
            f"Left out: the alphabets also in {' and '.join(names)} "
            f"({', '.join(alphabets) or 'none'}), so no alphabet, character or "
            f"image is shared with {'them' if len(names) > 1 else 'it'}."
        )
    lines += ["", f"License: {_OMNIGLOT_LICENSE}", f"Reference: {_OMNIGLOT_CITATION}"]
    return "\n".join(lines)


def load_omniglot(
    subset="small1",
    *,
    return_X_y=False,
    as_frame=False,
    resize="lanczos",
    split=None,
    rotations=False,
    disjoint_from=None,
    data_home=None,
    download=False,
):
    """Load Omniglot handwritten characters as 28x28 images.

    Omniglot (Lake et al., 2015) has 1623 handwritten characters from 50
    alphabets, each drawn by 20 people. It is the standard few-shot
    classification benchmark. The two ``small`` subsets ship with the package;
    the other subsets are read from a local copy of the full set.

    Parameters
    ----------
    subset : {"small1", "small2", "background", "evaluation", "all", \
"vinyals"}, default="small1"
        Which images to load.

        - ``"small1"``: the official ``images_background_small1`` subset,
          5 alphabets, 136 characters, 2720 images (shipped).
        - ``"small2"``: the official ``images_background_small2`` subset,
          5 alphabets, 156 characters, 3120 images (shipped). It shares the
          Greek and Latin alphabets with ``"small1"`` (50 identical
          characters, 1000 identical images); to test on characters a model
          fitted on ``"small1"`` never saw, pass ``disjoint_from="small1"``.
        - ``"background"``: the official background set, 30 alphabets, 964
          characters, 19280 images.
        - ``"evaluation"``: the official evaluation set, 20 alphabets, 659
          characters, 13180 images.
        - ``"all"``: both sets, 1623 characters, 32460 images.
        - ``"vinyals"``: the class split of Vinyals et al. (2016); choose the
          classes with ``split``.
    return_X_y : bool, default=False
        If True, return ``(data, target)`` instead of a Bunch.
    as_frame : bool, default=False
        If True, ``data`` is a :class:`pandas.DataFrame` with columns
        ``pixel_0`` .. ``pixel_783`` and ``target`` a :class:`pandas.Series`
        named ``"target"``; the Bunch also holds both in ``frame``.
    resize : {"lanczos", "nearest"}, default="lanczos"
        How the 105x105 originals were brought to 28x28: ``"lanczos"`` gives
        anti-aliased grey levels, ``"nearest"`` binary images (see Notes).
    split : {"train", "val", "test", "trainval"}, default=None
        Which classes of the Vinyals split to return; required when
        ``subset="vinyals"`` and not allowed otherwise. ``"trainval"`` is
        ``"train"`` plus ``"val"``.
    rotations : bool, default=False
        If True, every character class becomes 4 classes: the images rotated
        by 0, 90, 180 and 270 degrees (counter-clockwise, :func:`numpy.rot90`).
        This is the augmentation of Vinyals et al. (2016) and Snell et al.
        (2017); it multiplies the number of classes and images by 4.
    disjoint_from : {"small1", "small2"} or list of them, default=None
        Leave out every alphabet present in the named shipped subset(s): the
        result then shares no alphabet, character or image with them, which
        is what few-shot evaluation on "new characters" needs. The remaining
        classes are renumbered ``0 .. n_classes - 1`` in file order. For
        example ``load_omniglot("small2", disjoint_from="small1")`` keeps the
        Japanese (katakana), Sanskrit and Tagalog alphabets of ``"small2"``
        (106 characters, 2120 images) and drops its Greek and Latin, which
        ``"small1"`` holds too. Works with every ``subset``.
    data_home : str or path-like, default=None
        Folder holding ``omniglot.npz``, searched first. Only used for the
        full-set subsets.
    download : bool, default=False
        If ``omniglot.npz`` is not found, download the official zips with
        :class:`torchvision.datasets.Omniglot` into the first folder of the
        search path, build the 28x28 arrays with the recipe below, and cache
        them there as ``omniglot.npz``. This takes a few minutes once.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes:

        data : ndarray of shape (n_samples, 784), float32, or DataFrame
            Flattened images, values in [0, 1], ink = 1.
        images : ndarray of shape (n_samples, 28, 28), float32
            The same pixels as images (``data`` is a view of it when
            ``as_frame=False``).
        target : ndarray of shape (n_samples,), int64, or Series
            Class ids ``0 .. n_classes - 1``, numbered in the order in which
            the classes appear in the file (alphabets, then characters, in
            sorted order). With ``rotations=True`` the id is
            ``character_index * 4 + rotation_index``.
        target_names : ndarray of shape (n_classes,), str
            ``"Alphabet/characterNN"``, or ``"Alphabet/characterNN/rot090"``
            with ``rotations=True``.
        alphabet : ndarray of shape (n_samples,), str
            Alphabet of each image.
        drawer : ndarray of shape (n_samples,), int8
            Which of the 20 drawers (1..20) drew the image.
        rotation : ndarray of shape (n_samples,), int16
            Rotation in degrees (all 0 unless ``rotations=True``).
        frame : DataFrame of shape (n_samples, 785)
            Only with ``as_frame=True``: ``data`` and ``target`` together.
        DESCR : str
            Description of the selection, the source, license and recipe.

    (data, target) : tuple if ``return_X_y`` is True
        ``data`` and ``target`` as above.

    Raises
    ------
    FileNotFoundError
        If a full-set subset is asked for, ``omniglot.npz`` is in none of the
        searched folders and ``download=False``.
    ValueError
        If an argument is not one of its allowed values, or ``disjoint_from``
        leaves no image.

    See Also
    --------
    load_omniglot_oneshot_runs : The 20 official one-shot runs of Lake et al.

    Notes
    -----
    **Where the full set is looked for.** ``omniglot.npz`` is searched in
    ``data_home`` (if given), then in the folder named by the environment
    variable ``SKLEARN_META_DATA``, then in ``~/sklearn_meta_data``. It holds
    ``images`` and ``images_nearest`` (uint8, ink = 255, shape
    (32460, 28, 28)), per-image ``alphabet``, ``character`` (global class id),
    ``drawer`` and ``background``, and per-class ``class_names`` and
    ``class_vinyals_split``. The records are in sorted order of alphabet,
    character folder and file name, background set first.

    **Why the resize matters.** The official images are 105x105 binary PNG
    files (Pillow mode ``"1"``). Most few-shot papers work at 28x28. Pillow
    silently uses NEAREST whenever it resizes a mode ``"1"`` image, whatever
    filter is asked for, so the MAML resize script, which asks for LANCZOS on
    the mode ``"1"`` files, and the ProtoNet loader both produce *binary*
    nearest-neighbour images with thin, broken strokes. ``resize="nearest"``
    reproduces those images, and should be used to compare with numbers from
    such papers. ``resize="lanczos"`` converts to 8-bit grey first, so the
    LANCZOS filter really applies and gives anti-aliased strokes; models
    usually find these somewhat easier. The two are not interchangeable when
    comparing accuracies.

    **Rotations.** The Vinyals split lists every class with its four
    rotations; with ``rotations=True`` the class counts are train 4112, val
    688, test 1692 (trainval 4800), as used by Vinyals et al. and Snell et al.
    Many later papers (e.g. MAML) use the same classes with rotations only as
    augmentation; ``rotations=False`` gives the plain 1028/172/423 classes.

    The returned images are float32: ``"all"`` takes about 100 MB, and
    ``"all"`` with rotations about 400 MB.

    References
    ----------
    .. [1] Lake, B. M., Salakhutdinov, R. and Tenenbaum, J. B. (2015).
       "Human-level concept learning through probabilistic program
       induction". Science, 350(6266), 1332-1338.
       https://github.com/brendenlake/omniglot
    .. [2] Vinyals, O., Blundell, C., Lillicrap, T., Kavukcuoglu, K. and
       Wierstra, D. (2016). "Matching networks for one shot learning".
       NeurIPS.
    .. [3] Snell, J., Swersky, K. and Zemel, R. (2017). "Prototypical
       networks for few-shot learning". NeurIPS.
       https://github.com/jakesnell/prototypical-networks
    .. [4] Finn, C., Abbeel, P. and Levine, S. (2017). "Model-agnostic
       meta-learning for fast adaptation of deep networks". ICML.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_meta.datasets import load_omniglot
    >>> omniglot = load_omniglot("small1")
    >>> omniglot.data.shape, omniglot.images.shape
    ((2720, 784), (2720, 28, 28))
    >>> len(omniglot.target_names)
    136
    >>> print(omniglot.target_names[0], omniglot.alphabet[0], omniglot.drawer[0])
    Balinese/character01 Balinese 1
    >>> X, y = load_omniglot("small2", return_X_y=True, resize="nearest")
    >>> X.shape, int(y.max()), np.unique(X).tolist()
    ((3120, 784), 155, [0.0, 1.0])

    Characters from alphabets that ``"small1"`` does not hold, to evaluate a
    model fitted on ``"small1"`` on truly new characters:

    >>> novel = load_omniglot("small2", disjoint_from="small1")
    >>> np.unique(novel.alphabet).tolist()
    ['Japanese_(katakana)', 'Sanskrit', 'Tagalog']
    >>> novel.data.shape, len(novel.target_names)
    ((2120, 784), 106)

    The full set, here the test classes of the Vinyals split with rotations,
    needs ``omniglot.npz`` (see Notes):

    >>> test = load_omniglot("vinyals", split="test", rotations=True)  # doctest: +SKIP
    >>> len(test.target_names)  # doctest: +SKIP
    1692
    """
    _check_choice("subset", subset, _SUBSETS)
    _check_choice("resize", resize, _RESIZES)
    if subset == "vinyals":
        if split is None:
            raise ValueError(
                "subset='vinyals' needs split, one of "
                f"{', '.join(repr(s) for s in _SPLITS)}"
            )
        _check_choice("split", split, _SPLITS)
    elif split is not None:
        raise ValueError(
            f"split is only used with subset='vinyals'; got split={split!r} "
            f"with subset={subset!r}"
        )
    for name, value in (
        ("return_X_y", return_X_y),
        ("as_frame", as_frame),
        ("rotations", rotations),
        ("download", download),
    ):
        if not isinstance(value, (bool, np.bool_)):
            raise ValueError(f"{name} must be True or False; got {value!r}")
    disjoint_from = _check_disjoint_from(disjoint_from)

    image_key = _IMAGE_KEY[resize]
    if subset in _PACKAGED:
        keys = [image_key, "character", "alphabet", "drawer", "class_names"]
        arrays = _read_packaged(_PACKAGED[subset], keys)
        mask = slice(None)
        source = (
            f"official brendenlake/omniglot images_background_{subset}.zip, "
            f"shipped as sklearn_meta/data/{_PACKAGED[subset]}."
        )
    else:
        keys = [image_key, "character", "alphabet", "drawer", "class_names"]
        keys += ["background", "class_vinyals_split"]
        path, folders = _find_file(OMNIGLOT_FILE, data_home)
        if path is not None:
            arrays = _read_npz(path, keys)
            source = f"official brendenlake/omniglot image sets, read from {path}."
        elif download:
            arrays = _build_omniglot_npz(folders[0])
            arrays = {key: arrays[key] for key in keys}
            source = (
                "official brendenlake/omniglot image sets, downloaded with "
                f"torchvision into {folders[0]}."
            )
        else:
            raise _not_found(OMNIGLOT_FILE, folders, can_download=True)
        if subset == "background":
            mask = arrays["background"]
        elif subset == "evaluation":
            mask = ~arrays["background"]
        elif subset == "all":
            mask = slice(None)
        else:
            wanted = ["train", "val"] if split == "trainval" else [split]
            class_ok = np.isin(arrays["class_vinyals_split"], wanted)
            mask = class_ok[arrays["character"]]

    excluded = None
    if disjoint_from:
        left_out = _alphabets_of(disjoint_from)
        alphabets = arrays["alphabet"].astype(str)
        shared = np.isin(alphabets, left_out)
        selected = np.ones(shared.shape, dtype=bool) if isinstance(mask, slice) else mask
        if not (selected & ~shared).any():
            raise ValueError(
                f"disjoint_from={list(disjoint_from)!r} leaves no image of "
                f"subset={subset!r}: all its alphabets are among "
                f"{', '.join(left_out)}. Choose another subset."
            )
        excluded = (disjoint_from, np.unique(alphabets[selected & shared]).tolist())
        mask = selected & ~shared
    images_u8 = arrays[image_key][mask]
    character = arrays["character"][mask]
    alphabet = arrays["alphabet"][mask].astype(str)
    drawer = arrays["drawer"][mask].astype(np.int8)
    target, class_ids = _contiguous_labels(character)
    target_names = arrays["class_names"][class_ids].astype(str)
    rotation = np.zeros(target.shape, dtype=np.int16)

    if rotations:
        n = images_u8.shape[0]
        stacked = np.stack([np.rot90(images_u8, k=k, axes=(1, 2)) for k in range(4)])
        rot_target = target[None, :] * 4 + np.arange(4)[:, None]
        # order by new class id, keeping file order inside each class
        order = np.argsort(rot_target.ravel(), kind="stable")
        images_u8 = stacked.reshape(4 * n, _SIDE, _SIDE)[order]
        target = rot_target.ravel()[order]
        alphabet = np.tile(alphabet, 4)[order]
        drawer = np.tile(drawer, 4)[order]
        rotation = np.repeat(np.array(_ROTATIONS, dtype=np.int16), n)[order]
        target_names = np.array(
            [f"{name}/rot{angle:03d}" for name in target_names for angle in _ROTATIONS]
        )

    images = images_u8.astype(np.float32)
    images /= np.float32(255.0)
    data = images.reshape(images.shape[0], _SIDE * _SIDE)
    target = target.astype(np.int64)

    descr = _describe(
        subset,
        split,
        resize,
        bool(rotations),
        images.shape[0],
        len(target_names),
        source,
        excluded,
    )
    frame = None
    if as_frame:
        import pandas as pd

        columns = [f"pixel_{i}" for i in range(_SIDE * _SIDE)]
        data = pd.DataFrame(data, columns=columns, copy=True)
        target = pd.Series(target, name="target")
        frame = pd.concat([data, target], axis=1)

    if return_X_y:
        return data, target

    bunch = Bunch(
        data=data,
        images=images,
        target=target,
        target_names=target_names,
        alphabet=alphabet,
        drawer=drawer,
        rotation=rotation,
        DESCR=descr,
    )
    if frame is not None:
        bunch.frame = frame
    return bunch


def load_omniglot_oneshot_runs(data_home=None):
    """Load the 20 official one-shot classification runs of Lake et al.

    Each run is a 20-way, within-alphabet, one-shot task from the Omniglot
    evaluation set: 20 training images (one per class, all by one drawer) and
    20 test images (one per class, by another drawer).

    Parameters
    ----------
    data_home : str or path-like, default=None
        Folder holding ``omniglot_oneshot_runs.npz``, searched first; then the
        folder named by ``SKLEARN_META_DATA``, then ``~/sklearn_meta_data``.

    Returns
    -------
    runs : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes:

        train : ndarray of shape (20, 20, 784), float32
            ``train[r, k]`` is training image k of run r (28x28 LANCZOS,
            flattened, values in [0, 1], ink = 1).
        test : ndarray of shape (20, 20, 784), float32
            ``test[r, j]`` is test image j of run r.
        answer : ndarray of shape (20, 20), int64
            ``answer[r, j]`` is the index k of the training image of the same
            class as ``test[r, j]``.
        alphabet : ndarray of shape (20,), str
            Alphabet of each run.
        train_character, test_character : ndarray of shape (20, 20), int64
            Global class id of each image (as in ``omniglot.npz``).
        DESCR : str
            Description, source and scoring rule.

    Raises
    ------
    FileNotFoundError
        If ``omniglot_oneshot_runs.npz`` is in none of the searched folders.

    See Also
    --------
    load_omniglot : The Omniglot images themselves.

    Notes
    -----
    The file ``omniglot_oneshot_runs.npz`` is built from the official
    ``all_runs.zip``; it holds ``train_28``, ``test_28`` (uint8, ink = 255,
    shape (20, 20, 28, 28)), ``answer``, ``alphabet`` and the class ids.

    Score a run as in the paper: its error rate is
    ``mean(pred[r] != answer[r])``; the benchmark error is the mean of the 20
    per-run error rates.

    References
    ----------
    .. [1] Lake, B. M., Salakhutdinov, R. and Tenenbaum, J. B. (2015).
       "Human-level concept learning through probabilistic program
       induction". Science, 350(6266), 1332-1338.
       https://github.com/brendenlake/omniglot

    Examples
    --------
    >>> from sklearn_meta.datasets import load_omniglot_oneshot_runs
    >>> runs = load_omniglot_oneshot_runs()  # doctest: +SKIP
    >>> runs.train.shape, runs.test.shape, runs.answer.shape  # doctest: +SKIP
    ((20, 20, 784), (20, 20, 784), (20, 20))
    """
    path, folders = _find_file(ONESHOT_FILE, data_home)
    if path is None:
        raise _not_found(ONESHOT_FILE, folders, can_download=False)
    keys = ["train_28", "test_28", "answer", "alphabet", "train_character", "test_character"]
    arrays = _read_npz(path, keys)

    def _flat(images):
        out = images.astype(np.float32).reshape(*images.shape[:2], _SIDE * _SIDE)
        out /= np.float32(255.0)
        return out

    descr = "\n".join(
        [
            "Omniglot one-shot classification runs (Lake, Salakhutdinov & "
            "Tenenbaum, 2015)",
            "",
            "20 runs of 20-way, within-alphabet, one-shot classification from "
            "the evaluation set; 20 training and 20 test images per run, 28x28 "
            "LANCZOS, float32 in [0, 1], ink = 1.",
            "Scoring: error of run r = mean(pred[r] != answer[r]); benchmark "
            "error = mean over the 20 runs.",
            "",
            f"Source: official brendenlake/omniglot all_runs.zip, read from {path}.",
            f"License: {_OMNIGLOT_LICENSE}",
            f"Reference: {_OMNIGLOT_CITATION}",
        ]
    )
    return Bunch(
        train=_flat(arrays["train_28"]),
        test=_flat(arrays["test_28"]),
        answer=arrays["answer"].astype(np.int64),
        alphabet=arrays["alphabet"].astype(str),
        train_character=arrays["train_character"].astype(np.int64),
        test_character=arrays["test_character"].astype(np.int64),
        DESCR=descr,
    )


# --------------------------------------------------------------------------
# sinusoid regression tasks (MAML, section 5.1)
# --------------------------------------------------------------------------
def _check_int(name, value, minimum):
    is_int = isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))
    if not is_int or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")
    return int(value)


def _check_range(name, value):
    """``(low, high)`` as floats, finite, with ``low <= high``."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a pair (low, high) of real numbers; got {value!r}"
        ) from None
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"{name} must be finite; got {value!r}")
    if low > high:
        raise ValueError(f"{name} must have low <= high; got {value!r}")
    return low, high


def make_sinusoids(
    n_tasks=100,
    n_samples=20,
    *,
    amplitude_range=(0.1, 5.0),
    phase_range=(0.0, np.pi),
    x_range=(-5.0, 5.0),
    noise=0.0,
    random_state=None,
    return_params=False,
):
    """Generate the sinusoid regression tasks of Finn et al. (2017).

    Each task is a sine wave ``y = A sin(x - phase)`` with its own amplitude
    ``A`` and phase, drawn uniformly from ``amplitude_range`` and
    ``phase_range``; its inputs ``x`` are drawn uniformly from ``x_range``.
    The defaults are those of the MAML paper (section 5.1). The rows of all
    tasks are stacked, and ``groups`` says which task each row comes from:
    the scikit-learn group convention, as in
    ``MAMLRegressor().fit(X, y, groups=groups)`` or
    :class:`~sklearn.model_selection.GroupKFold`.

    Parameters
    ----------
    n_tasks : int, default=100
        Number of tasks (sine waves).
    n_samples : int, default=20
        Number of points per task. Few-shot regression adapts on ``K`` of
        them and evaluates on the others, so draw at least ``K`` plus the
        query points (the paper uses K = 5, 10 and 20).
    amplitude_range : tuple of float (low, high), default=(0.1, 5.0)
        Amplitudes are drawn from ``U(low, high)``; ``low == high`` fixes
        them.
    phase_range : tuple of float (low, high), default=(0.0, pi)
        Phases, in radians, are drawn from ``U(low, high)``.
    x_range : tuple of float (low, high), default=(-5.0, 5.0)
        Inputs are drawn from ``U(low, high)``, independently for each row.
    noise : float, default=0.0
        Standard deviation of the Gaussian noise added to ``y``.
    random_state : int, RandomState instance or None, default=None
        Determines the random draws. Pass an int for the same tasks at every
        call.
    return_params : bool, default=False
        If True, also return the amplitude and the phase of every task.

    Returns
    -------
    X : ndarray of shape (n_tasks * n_samples, 1), float64
        The inputs ``x``, task after task.
    y : ndarray of shape (n_tasks * n_samples,), float64
        The targets ``A sin(x - phase)``, plus noise if ``noise > 0``.
    groups : ndarray of shape (n_tasks * n_samples,), int64
        The task of each row, ``0 .. n_tasks - 1``; the rows of a task are
        contiguous.
    amplitude : ndarray of shape (n_tasks,), float64
        The amplitude ``A`` of each task. Only returned if
        ``return_params=True``.
    phase : ndarray of shape (n_tasks,), float64
        The phase of each task, in radians. Only returned if
        ``return_params=True``.

    Raises
    ------
    ValueError
        If ``n_tasks`` or ``n_samples`` is not a positive int, a range is not
        a finite pair with ``low <= high``, or ``noise`` is negative.

    See Also
    --------
    sklearn.model_selection.GroupKFold : Folds that keep the rows of a task
        together, so that test tasks are new tasks.

    Notes
    -----
    Without noise, ``y == amplitude[groups] * np.sin(X[:, 0] - phase[groups])``
    holds exactly. The draws are made in this order: amplitudes, phases,
    inputs (task after task), then the noise, so changing ``noise`` does not
    change ``X``, the amplitudes or the phases.

    References
    ----------
    .. [1] Finn, C., Abbeel, P. and Levine, S. (2017). "Model-agnostic
       meta-learning for fast adaptation of deep networks". ICML, section 5.1.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_meta.datasets import make_sinusoids
    >>> X, y, groups = make_sinusoids(n_tasks=3, n_samples=4, random_state=0)
    >>> X.shape, y.shape
    ((12, 1), (12,))
    >>> groups
    array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    >>> X, y, groups, amplitude, phase = make_sinusoids(
    ...     n_tasks=3, n_samples=4, random_state=0, return_params=True
    ... )
    >>> amplitude.round(2), phase.round(2)
    (array([2.79, 3.6 , 3.05]), array([1.71, 1.33, 2.03]))
    >>> bool(np.all(y == amplitude[groups] * np.sin(X[:, 0] - phase[groups])))
    True
    """
    n_tasks = _check_int("n_tasks", n_tasks, 1)
    n_samples = _check_int("n_samples", n_samples, 1)
    amplitude_range = _check_range("amplitude_range", amplitude_range)
    phase_range = _check_range("phase_range", phase_range)
    x_range = _check_range("x_range", x_range)
    if (
        isinstance(noise, (bool, np.bool_))
        or not isinstance(noise, Real)
        or not np.isfinite(noise)
        or noise < 0
    ):
        raise ValueError(f"noise must be a finite float >= 0; got {noise!r}")
    if not isinstance(return_params, (bool, np.bool_)):
        raise ValueError(f"return_params must be True or False; got {return_params!r}")
    rng = check_random_state(random_state)

    amplitude = rng.uniform(*amplitude_range, size=n_tasks)
    phase = rng.uniform(*phase_range, size=n_tasks)
    x = rng.uniform(*x_range, size=n_tasks * n_samples)
    groups = np.repeat(np.arange(n_tasks, dtype=np.int64), n_samples)
    y = amplitude[groups] * np.sin(x - phase[groups])
    if noise > 0:
        y += rng.normal(scale=noise, size=y.shape)
    X = x.reshape(-1, 1)
    if return_params:
        return X, y, groups, amplitude, phase
    return X, y, groups


# --------------------------------------------------------------------------
# mini-ImageNet (read from the user's own copy)
# --------------------------------------------------------------------------
MINI_IMAGENET_DIR = "mini_imagenet"
_MINI_SPLIT_FILE = "mini_imagenet_split.txt"
_MINI_SPLITS = ("train", "val", "test")
# learn2learn names the validation pickle "...-validation.pkl"
_MINI_PICKLE_NAMES = {
    "train": ("mini-imagenet-cache-train.pkl",),
    "val": ("mini-imagenet-cache-val.pkl", "mini-imagenet-cache-validation.pkl"),
    "test": ("mini-imagenet-cache-test.pkl",),
}
_MINI_SOURCE_CSV = (
    "data/miniImagenet/{train,val,test}.csv of "
    "https://github.com/twitter-research/meta-learning-lstm"
)
_IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
_WNID = re.compile(r"n\d{8}")

# The only globals a mini-ImageNet cache pickle may name: numpy arrays, dtypes
# and scalars as written by Python 2 or 3 and numpy 1 or 2 (and the bytes
# helper of protocol 2). A pickle runs code by naming other callables; those
# are refused before anything is called.
_PICKLE_GLOBALS = frozenset(
    {
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.numeric", "_frombuffer"),
        ("_codecs", "encode"),
    }
)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickler that builds dicts, lists, strings and numpy arrays only."""

    def find_class(self, module, name):
        if (module, name) not in _PICKLE_GLOBALS:
            raise pickle.UnpicklingError(
                f"it names {module}.{name}, which a mini-ImageNet cache never "
                "does (it holds only numpy arrays, lists, dicts and strings)"
            )
        if module.startswith(("numpy.core.", "numpy._core.")):
            submodule = module.rsplit(".", 1)[1]
            for candidate in (f"numpy._core.{submodule}", f"numpy.core.{submodule}"):
                try:
                    return getattr(importlib.import_module(candidate), name)
                except ImportError:
                    continue
        return super().find_class(module, name)


def _mini_imagenet_split():
    """``{"train": wnids, "val": wnids, "test": wnids}`` of the shipped split."""
    text = (
        resources.files("sklearn_meta")
        .joinpath("data", _MINI_SPLIT_FILE)
        .read_text(encoding="utf-8")
    )
    split = {name: [] for name in _MINI_SPLITS}
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            wnid, name = line.split()
            split[name].append(wnid)
    return {name: tuple(wnids) for name, wnids in split.items()}


def _read_mini_pickle(path):
    """``(image_data, {wnid: row indices})`` of a mini-ImageNet cache pickle."""

    def _not_cache(why):
        return ValueError(
            f"{path} is not a mini-ImageNet cache pickle: {why}. Expected a "
            "dict with 'image_data' (uint8, shape (N, 84, 84, 3)) and "
            "'class_dict' ({wnid: [row indices]})."
        )

    try:
        with open(path, "rb") as file:
            content = _ArrayUnpickler(file, encoding="latin1").load()
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        AttributeError,
        IndexError,
        KeyError,
    ) as exc:
        raise _not_cache(f"it could not be read safely ({exc})") from exc
    if not (isinstance(content, dict) and {"image_data", "class_dict"} <= content.keys()):
        raise _not_cache("it lacks the keys 'image_data' and 'class_dict'")
    images, class_dict = content["image_data"], content["class_dict"]
    if not (
        isinstance(images, np.ndarray)
        and images.dtype == np.uint8
        and images.ndim == 4
        and images.shape[3] == 3
    ):
        raise _not_cache("'image_data' is not a uint8 array of shape (N, H, W, 3)")
    if not isinstance(class_dict, dict):
        raise _not_cache("'class_dict' is not a dict")
    rows = {}
    for wnid, indices in class_dict.items():
        indices = np.asarray(indices)
        if (
            not isinstance(wnid, str)
            or indices.ndim != 1
            or (indices.size and indices.dtype.kind not in "iu")
            or (indices.size and (indices.min() < 0 or indices.max() >= len(images)))
        ):
            raise _not_cache(f"'class_dict'[{wnid!r}] is not a list of row indices")
        rows[wnid] = indices.astype(np.intp)
    return images, rows


def _is_image(path):
    return path.suffix.lower() in _IMAGE_SUFFIXES and not path.name.startswith(".")


def _class_files(root, split, wnids):
    """``{wnid: sorted image paths}`` of a folder copy of mini-ImageNet.

    With ``root/<split>.csv`` the files are those it lists (columns
    ``filename,label``), looked for in ``root/images/``, ``root/images/<wnid>/``
    and ``root/<wnid>/``. Without it, the images are the files of
    ``root/images/`` whose names start with a wnid, or of one folder per class:
    ``root/<wnid>/``, ``root/<split>/<wnid>/``, ``root/images/<wnid>/``.
    """
    files = {wnid: [] for wnid in wnids}
    images_dir = root / "images"
    csv_path = root / f"{split}.csv"
    if csv_path.is_file():
        with open(csv_path, newline="", encoding="utf-8") as file:
            reader = csv.DictReader(file)
            columns = set(reader.fieldnames or ())
            if not {"filename", "label"} <= columns:
                raise ValueError(
                    f"{csv_path} must have the columns filename,label (the "
                    "format of Ravi & Larochelle's split files); got "
                    f"{sorted(columns)}"
                )
            listed = {wnid: [] for wnid in wnids}
            for row in reader:
                if row["label"] in listed:
                    listed[row["label"]].append(row["filename"])
        for wnid, names in listed.items():
            found, absent = [], []
            for name in names:
                candidates = (images_dir / name, images_dir / wnid / name)
                candidates += (root / wnid / name,)
                path = next((p for p in candidates if p.is_file()), None)
                if path is None:
                    absent.append(images_dir / name)
                else:
                    found.append(path)
            if found and absent:
                raise FileNotFoundError(
                    f"{len(absent)} of the {len(names)} images of class {wnid} "
                    f"listed in {csv_path} are missing, e.g. {absent[0]}. The "
                    "copy looks incomplete; copy or extract it again."
                )
            files[wnid] = sorted(found)
        return files

    if images_dir.is_dir():
        with os.scandir(images_dir) as entries:
            for entry in entries:
                match = _WNID.match(entry.name)
                wanted = match is not None and match.group() in files
                if wanted and entry.is_file() and _is_image(Path(entry.name)):
                    files[match.group()].append(Path(entry.path))
    others = [name for name in _MINI_SPLITS if name != split]
    for wnid in wnids:
        if files[wnid]:
            continue
        folders = [root / wnid, root / split / wnid, images_dir / wnid]
        folders += [root / name / wnid for name in others]
        for folder in folders:
            if folder.is_dir():
                found = [p for p in folder.iterdir() if _is_image(p) and p.is_file()]
                if found:
                    files[wnid] = found
                    break
    return {wnid: sorted(paths) for wnid, paths in files.items()}


def _locate_mini_imagenet(path, split, data_home):
    """``(kind, where, roots)``: ``("pickle", file)``, ``("files", (root,
    {wnid: paths}))`` or ``(None, None)``, and the folders searched."""
    if path is not None:
        roots = [Path(os.fspath(path)).expanduser()]
    else:
        roots = [folder / MINI_IMAGENET_DIR for folder in get_data_home(data_home)]
    wnids = _mini_imagenet_split()[split]
    for root in roots:
        if root.is_file():
            return "pickle", root, roots
        for name in _MINI_PICKLE_NAMES[split]:
            if (root / name).is_file():
                return "pickle", root / name, roots
        if root.is_dir():
            files = _class_files(root, split, wnids)
            if any(files.values()):
                return "files", (root, files), roots
    return None, None, roots


def _mini_imagenet_not_found(split, roots, searched_default):
    searched = "\n".join(f"  - {root}" for root in roots)
    pickles = " or ".join(_MINI_PICKLE_NAMES[split])
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


def _read_image(path, size):
    """The RGB image at ``path`` as a (3, size, size) uint8 array; resized?"""
    from PIL import Image

    with Image.open(path) as image:
        rgb = image.convert("RGB")
    resized = rgb.size != (size, size)
    if resized:
        rgb = rgb.resize((size, size), Image.LANCZOS)
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1), resized


def _resize_rows(rows, size):
    """(n, H, W, 3) uint8 rows resized to (n, 3, size, size) with LANCZOS."""
    from PIL import Image

    out = np.empty((len(rows), 3, size, size), dtype=np.uint8)
    for i, row in enumerate(rows):
        image = Image.fromarray(row).resize((size, size), Image.LANCZOS)
        out[i] = np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)
    return out


def _describe_mini_imagenet(
    split, n_images, present, n_split, image_size, dtype, source, missing, n_resized
):
    if dtype == np.uint8:
        values = "uint8 values 0..255"
    else:
        values = f"{dtype.name} values in [0, 1] (uint8 / 255)"
    lines = [
        "mini-ImageNet (Vinyals et al., 2016), class split of Ravi & Larochelle (2017)",
        "",
        f"Split {split!r}: {n_images} images of {len(present)} of its {n_split} "
        f"classes, RGB, {image_size}x{image_size} pixels, channels first "
        f"(images: (n, 3, {image_size}, {image_size}); data: the same pixels "
        f"flattened), {values}.",
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
        "Class split: the 64 train, 16 val and 20 test ImageNet classes of "
        f"{_MINI_SOURCE_CSV}, shipped as sklearn_meta/data/{_MINI_SPLIT_FILE}; "
        "the split of MAML, ProtoNet and most later papers (600 images per "
        "class in the full set).",
        "License: the images are ImageNet's (ILSVRC-2012); ImageNet's terms of "
        "access allow non-commercial research and education only.",
        "References: Vinyals, O. et al. (2016). Matching networks for one shot "
        "learning. NeurIPS. Ravi, S. and Larochelle, H. (2017). Optimization "
        "as a model for few-shot learning. ICLR.",
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

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes:

        data : ndarray of shape (n_samples, 3 * image_size ** 2)
            The images flattened (a view of ``images``), for estimators given
            ``input_shape=(3, image_size, image_size)``.
        images : ndarray of shape (n_samples, 3, image_size, image_size)
            RGB images, channels first, of type ``dtype``.
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
        If an argument is invalid, or a pickle is not a mini-ImageNet cache.

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
    """
    _check_choice("split", split, _MINI_SPLITS)
    image_size = _check_int("image_size", image_size, 1)
    if not isinstance(return_X_y, (bool, np.bool_)):
        raise ValueError(f"return_X_y must be True or False; got {return_X_y!r}")
    dtype = _check_image_dtype(dtype)
    wnids = _mini_imagenet_split()[split]

    kind, where, roots = _locate_mini_imagenet(path, split, data_home)
    if kind is None:
        raise _mini_imagenet_not_found(split, roots, searched_default=path is None)
    n_resized = 0
    if kind == "pickle":
        rows, class_rows = _read_mini_pickle(where)
        present = [wnid for wnid in wnids if len(class_rows.get(wnid, ()))]
        if not present:
            split_of = {
                wnid: name
                for name, ids in _mini_imagenet_split().items()
                for wnid in ids
            }
            held = sorted({split_of[wnid] for wnid in class_rows if wnid in split_of})
            hint = f" (its classes are in the split {', '.join(held)})" if held else ""
            raise FileNotFoundError(
                f"{where} holds none of the {len(wnids)} classes of "
                f"split={split!r}{hint}."
            )
        index = np.concatenate([class_rows[wnid] for wnid in present])
        counts = [len(class_rows[wnid]) for wnid in present]
        filenames = np.array([f"{where.name}[{i}]" for i in index])
        images = np.empty((len(index), 3, image_size, image_size), dtype=np.uint8)
        chunk = 1024
        for start in range(0, len(index), chunk):
            block = rows[index[start : start + chunk]]
            if block.shape[1:3] == (image_size, image_size):
                images[start : start + chunk] = block.transpose(0, 3, 1, 2)
            else:
                images[start : start + chunk] = _resize_rows(block, image_size)
                n_resized += len(block)
        del rows
        source = f"mini-ImageNet cache pickle {where}."
    else:
        root, files = where
        present = [wnid for wnid in wnids if files[wnid]]
        paths = [p for wnid in present for p in files[wnid]]
        counts = [len(files[wnid]) for wnid in present]
        filenames = np.array([str(p) for p in paths])
        images = np.empty((len(paths), 3, image_size, image_size), dtype=np.uint8)
        for i, image_path in enumerate(paths):
            images[i], resized = _read_image(image_path, image_size)
            n_resized += resized
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
    if dtype != np.uint8:
        images = images.astype(dtype)
        images /= dtype.type(255)
    data = images.reshape(len(images), -1)
    if return_X_y:
        return data, target
    descr = _describe_mini_imagenet(
        split,
        len(images),
        present,
        len(wnids),
        image_size,
        dtype,
        source,
        missing,
        n_resized,
    )
    return Bunch(
        data=data,
        images=images,
        target=target,
        target_names=np.array(present, dtype=str),
        filenames=filenames,
        missing_classes=np.array(missing, dtype=str),
        DESCR=descr,
    )


# --------------------------------------------------------------------------
# digits for domain adaptation: MNIST, USPS and a shift of sklearn's digits
# --------------------------------------------------------------------------
MNIST_FILE = "mnist.npz"
USPS_FILE = "usps.npz"
_DIGIT_SUBSETS = ("train", "test")


def _digits_file(filename, data_home, download, fetch):
    """Path of a local ``filename``, or arrays fetched with torchvision.

    ``data_home`` may name the file itself or a folder to search first.
    Returns ``(path, None)`` or, with ``download=True`` and no file found,
    ``(None, fetch(folder))``.
    """
    if data_home is not None and Path(os.fspath(data_home)).expanduser().is_file():
        return Path(os.fspath(data_home)).expanduser(), None
    path, folders = _find_file(filename, data_home)
    if path is not None:
        return path, None
    if not download:
        searched = "\n".join(f"  - {folder / filename}" for folder in folders)
        raise FileNotFoundError(
            f"{filename} was not found. Searched, in order:\n{searched}\n"
            f"To fix this:\n  1. pass data_home= the file or a folder holding it, or set "
            f"the environment variable {DATA_HOME_ENV}\n  2. or pass download=True to "
            "fetch it with torchvision (needs a network)"
        )
    return None, fetch(folders[0] / "torchvision")


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
    _check_choice("subset", subset, _DIGIT_SUBSETS)

    def fetch(root):
        import torchvision

        ds = torchvision.datasets.MNIST(root, train=subset == "train", download=True)
        return ds.data.numpy(), ds.targets.numpy()

    path, fetched = _digits_file(MNIST_FILE, data_home, download, fetch)
    if fetched is None:
        arrays = _read_npz(path, [f"x_{subset}", f"y_{subset}"])
        images, target = arrays[f"x_{subset}"], arrays[f"y_{subset}"]
        source = str(path)
    else:
        images, target = fetched
        source = "torchvision.datasets.MNIST"
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
    _check_choice("subset", subset, _DIGIT_SUBSETS)
    image_size = _check_int("image_size", image_size, 1)

    def fetch(root):
        import torchvision

        ds = torchvision.datasets.USPS(root, train=subset == "train", download=True)
        return np.asarray(ds.data, dtype=np.uint8), np.asarray(ds.targets)

    path, fetched = _digits_file(USPS_FILE, data_home, download, fetch)
    if fetched is None:
        arrays = _read_npz(path, [f"x_{subset}", f"y_{subset}"])
        images, target = arrays[f"x_{subset}"], arrays[f"y_{subset}"]
        source = str(path)
    else:
        images, target = fetched
        source = "torchvision.datasets.USPS (LIBSVM encoding)"
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
