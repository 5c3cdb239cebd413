"""Omniglot: the two shipped subsets, the full set and the official one-shot runs."""

import numpy as np
from sklearn.utils import Bunch

from ._home import (
    DATA_HOME_ENV,
    SHIPPED_DIR,
    find_file,
    not_found_error,
    read_npz,
    read_shipped_npz,
)
from ._omniglot_build import OMNIGLOT_FILE, SIDE, build_omniglot_npz
from ._omniglot_files import omniglot_paths
from ._validation import check_bool, check_choice

ONESHOT_FILE = "omniglot_oneshot_runs.npz"
_PACKAGED = {"small1": "omniglot_small1.npz", "small2": "omniglot_small2.npz"}
_SUBSETS = ("small1", "small2", "background", "evaluation", "all", "vinyals")
_RESIZES = ("lanczos", "nearest")
_SPLITS = ("train", "val", "test", "trainval")
_IMAGE_KEY = {"lanczos": "images", "nearest": "images_nearest"}
_ROTATIONS = (0, 90, 180, 270)
# the arrays every subset reads, besides the images
_KEYS = ["character", "alphabet", "drawer", "class_names"]

_OMNIGLOT_CITATION = (
    "Lake, B. M., Salakhutdinov, R. and Tenenbaum, J. B. (2015). Human-level "
    "concept learning through probabilistic program induction. Science, "
    "350(6266), 1332-1338."
)
_OMNIGLOT_LICENSE = (
    "The MIT License (MIT), Copyright (c) 2015 Brenden Lake "
    "(https://github.com/brendenlake/omniglot). The full notice ships as "
    f"{SHIPPED_DIR}/OMNIGLOT_LICENSE.txt."
)


def _not_found(filename, folders, can_download):
    fixes = [
        (
            f"set the environment variable {DATA_HOME_ENV} (or pass data_home=...) "
            f"to a folder holding {filename}"
        )
    ]
    if can_download:
        fixes.append(
            "or pass download=True to build it from the official Omniglot zips "
            "via torchvision.datasets.Omniglot"
        )
    return not_found_error(filename, folders, fixes)


# --------------------------------------------------------------------------
# arguments and selection
# --------------------------------------------------------------------------
def _check_split(subset, split):
    if subset == "vinyals":
        if split is None:
            raise ValueError(
                "subset='vinyals' needs split, one of "
                f"{', '.join(repr(s) for s in _SPLITS)}"
            )
        check_choice("split", split, _SPLITS)
    elif split is not None:
        raise ValueError(
            f"split is only used with subset='vinyals'; got split={split!r} "
            f"with subset={subset!r}"
        )


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


def _read_subset(subset, split, image_key, data_home, download):
    """``(arrays, mask, source)``: the file's arrays, the rows of ``subset``
    (a boolean mask or ``slice(None)``) and where they were read from."""
    keys = [image_key, *_KEYS]
    if subset in _PACKAGED:
        source = (
            f"official brendenlake/omniglot images_background_{subset}.zip, "
            f"shipped as {SHIPPED_DIR}/{_PACKAGED[subset]}."
        )
        return read_shipped_npz(_PACKAGED[subset], keys), slice(None), source

    keys += ["background", "class_vinyals_split"]
    path, folders = find_file(OMNIGLOT_FILE, data_home)
    if path is not None:
        arrays = read_npz(path, keys)
        source = f"official brendenlake/omniglot image sets, read from {path}."
    elif download:
        # warnings point at the caller of load_omniglot
        arrays = build_omniglot_npz(folders[0], stacklevel=3)
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
    return arrays, mask, source


def _alphabets_of(names):
    """Sorted alphabet names of the shipped subsets ``names``."""
    alphabets = set()
    for name in names:
        alphabets.update(read_shipped_npz(_PACKAGED[name], ["alphabet"])["alphabet"].astype(str))
    return sorted(alphabets)


def _leave_out(alphabet, mask, disjoint_from, subset):
    """``(mask, excluded)``: ``mask`` without the alphabets of the shipped
    subsets ``disjoint_from``, and ``(disjoint_from, alphabets dropped)``."""
    left_out = _alphabets_of(disjoint_from)
    alphabets = alphabet.astype(str)
    shared = np.isin(alphabets, left_out)
    selected = np.ones(shared.shape, dtype=bool) if isinstance(mask, slice) else mask
    if not (selected & ~shared).any():
        raise ValueError(
            f"disjoint_from={list(disjoint_from)!r} leaves no image of "
            f"subset={subset!r}: all its alphabets are among "
            f"{', '.join(left_out)}. Choose another subset."
        )
    excluded = (disjoint_from, np.unique(alphabets[selected & shared]).tolist())
    return selected & ~shared, excluded


def _contiguous_labels(labels):
    """Relabel to 0..k-1 in order of first appearance; return (new, order)."""
    uniques, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # order[new] = index into uniques
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[inverse.ravel()].astype(np.int64), uniques[order]


def _rotate(images_u8, target, alphabet, drawer, target_names):
    """Every class as 4 classes, rotated by 0, 90, 180 and 270 degrees.

    Returns ``(images_u8, target, alphabet, drawer, rotation, target_names)``,
    ordered by new class id, keeping file order inside each class.
    """
    n = images_u8.shape[0]
    stacked = np.stack([np.rot90(images_u8, k=k, axes=(1, 2)) for k in range(4)])
    rot_target = target[None, :] * 4 + np.arange(4)[:, None]
    order = np.argsort(rot_target.ravel(), kind="stable")
    return (
        stacked.reshape(4 * n, SIDE, SIDE)[order],
        rot_target.ravel()[order],
        np.tile(alphabet, 4)[order],
        np.tile(drawer, 4)[order],
        np.repeat(np.array(_ROTATIONS, dtype=np.int16), n)[order],
        np.array(
            [f"{name}/rot{angle:03d}" for name in target_names for angle in _ROTATIONS]
        ),
    )


def _describe(
    subset,
    split,
    resize,
    rotations,
    n_samples,
    n_classes,
    source,
    excluded=None,
    folders=None,
):
    """The DESCR text; ``folders`` (the image-set folders) describes paths."""
    what = f"subset={subset!r}"
    if split is not None:
        what += f", split={split!r}"
    if folders is None:
        selection = f"Selection: {what}, resize={resize!r}, rotations={rotations}."
        content = (
            f"{n_samples} images of 28x28 pixels in {n_classes} classes; pixel "
            "values are float32 in [0, 1] with ink = 1 (paper = 0)."
        )
    else:
        selection = f"Selection: {what}, return_paths=True."
        content = (
            f"The paths of {n_samples} original PNG files in {n_classes} classes, "
            f"under {' and '.join(str(f) for f in folders)}: 105x105 binary "
            "images (PIL mode '1') with black ink on white paper, the opposite "
            "polarity of the arrays (decode with 255 - grey to get ink = 255). "
            "Rows and targets are those of the arrays."
        )
    lines = [
        "Omniglot handwritten characters (Lake, Salakhutdinov & Tenenbaum, 2015)",
        "",
        selection,
        content,
        "",
        f"Source: {source}",
        (
            "Recipe: each 105x105 binary PNG was converted to 8-bit grey, inverted "
            "and resized to 28x28 with PIL LANCZOS (resize='lanczos', anti-aliased "
            "grey levels), or resized with NEAREST on the binary image "
            "(resize='nearest', values 0/1, what the MAML and ProtoNet reference "
            "code effectively used)."
        ),
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


# --------------------------------------------------------------------------
# public loaders
# --------------------------------------------------------------------------
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
    return_paths=False,
    extract_to=None,
):
    """Load Omniglot handwritten characters as 28x28 images, or their files.

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
        full-set subsets, and to find the original files with
        ``return_paths=True``.
    download : bool, default=False
        If ``omniglot.npz`` is not found, download the official zips with
        :class:`torchvision.datasets.Omniglot` into the first folder of the
        search path, build the 28x28 arrays with the recipe below, and cache
        them there as ``omniglot.npz``. This takes a few minutes once.
    return_paths : bool, default=False
        If True, ``data`` holds the paths of the original 105x105 PNG files
        (as ``filenames`` does) instead of pixels, in the same rows, with the
        same ``target``, as the arrays; there is no ``images``, and ``resize``
        is not used. The files are the official image sets,
        ``images_background_small1`` for ``"small1"`` and so on (see Notes
        for where they are looked for). Not allowed with ``rotations=True``
        or ``as_frame=True``.
    extract_to : str or path-like, default=None
        With ``return_paths=True``, the folder an official zip found is
        extracted into (once; later calls find the extracted files there). If
        None, ``omniglot-py`` in the first folder of the search path
        (``data_home``, ``SKLEARN_META_DATA``, ``~/sklearn_meta_data``) that
        can be written.

    Returns
    -------
    data : :class:`~sklearn.utils.Bunch`
        Dictionary-like object with the attributes:

        data : ndarray of shape (n_samples, 784), float32, or DataFrame
            Flattened images, values in [0, 1], ink = 1. With
            ``return_paths=True``, an array of shape (n_samples,) of str: the
            paths of the original PNG files.
        images : ndarray of shape (n_samples, 28, 28), float32
            The same pixels as images (``data`` is a view of it when
            ``as_frame=False``). Absent with ``return_paths=True``.
        filenames : ndarray of shape (n_samples,), str
            Only with ``return_paths=True``: the same paths as ``data``.
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
        searched folders and ``download=False``; or ``return_paths=True`` and
        the original files are found neither extracted nor as the official
        zip.
    ValueError
        If an argument is not one of its allowed values, ``disjoint_from``
        leaves no image, or the original files found do not match the rows
        of the arrays.

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

    **Original files.** With ``return_paths=True`` the official image sets
    are looked for, as extracted folders (``images_background_small1/`` and
    so on) and then as the official zips (``images_background_small1.zip``),
    in ``extract_to``, then in each folder of the search path above, in it
    and in its ``omniglot-py/`` (where :class:`torchvision.datasets.Omniglot`
    and ``download=True`` put them) and ``raw/brendenlake_omniglot/``
    subfolders. A zip is extracted once, its PNG files only, and the files
    are checked against the rows of the arrays (class and drawer of each).
    The full-set subsets need ``images_background`` and/or
    ``images_evaluation``, and ``omniglot.npz`` for the rows. The files are
    black ink on white; the arrays are their inverted, resized copies, so
    ``255 - np.asarray(Image.open(path).convert("L"))`` resized to 28x28
    with LANCZOS gives the ``resize="lanczos"`` pixels exactly.

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

    The original PNG files of ``"small1"``, from the official
    ``images_background_small1.zip`` in ``~/sklearn_meta_data``:

    >>> files = load_omniglot("small1", return_paths=True)  # doctest: +SKIP
    >>> files.data[0]  # doctest: +SKIP
    '/home/me/sklearn_meta_data/omniglot-py/images_background_small1/Balinese/character01/0108_01.png'
    """
    check_choice("subset", subset, _SUBSETS)
    check_choice("resize", resize, _RESIZES)
    _check_split(subset, split)
    for name, value in (
        ("return_X_y", return_X_y),
        ("as_frame", as_frame),
        ("rotations", rotations),
        ("download", download),
        ("return_paths", return_paths),
    ):
        check_bool(name, value)
    disjoint_from = _check_disjoint_from(disjoint_from)
    if return_paths and (rotations or as_frame):
        raise ValueError(
            "return_paths=True gives the paths of the original files, which "
            "cannot be rotated or be a DataFrame of pixels; drop "
            f"{'rotations=True' if rotations else 'as_frame=True'}, or load the "
            "arrays without return_paths"
        )

    image_key = _IMAGE_KEY[resize]
    arrays, mask, source = _read_subset(subset, split, image_key, data_home, download)
    excluded = None
    if disjoint_from:
        mask, excluded = _leave_out(arrays["alphabet"], mask, disjoint_from, subset)
    if return_paths:
        paths, folders = omniglot_paths(subset, arrays, mask, data_home, extract_to)
        return _paths_bunch(
            paths, arrays, mask, return_X_y, (subset, split, source, excluded, folders)
        )
    images_u8 = arrays[image_key][mask]
    alphabet = arrays["alphabet"][mask].astype(str)
    drawer = arrays["drawer"][mask].astype(np.int8)
    target, class_ids = _contiguous_labels(arrays["character"][mask])
    target_names = arrays["class_names"][class_ids].astype(str)
    rotation = np.zeros(target.shape, dtype=np.int16)
    if rotations:
        images_u8, target, alphabet, drawer, rotation, target_names = _rotate(
            images_u8, target, alphabet, drawer, target_names
        )

    images = images_u8.astype(np.float32)
    images /= np.float32(255.0)
    data = images.reshape(images.shape[0], SIDE * SIDE)
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

        columns = [f"pixel_{i}" for i in range(SIDE * SIDE)]
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


def _paths_bunch(paths, arrays, mask, return_X_y, described):
    """What ``load_omniglot(..., return_paths=True)`` returns."""
    subset, split, source, excluded, folders = described
    target, class_ids = _contiguous_labels(arrays["character"][mask])
    if return_X_y:
        return paths, target
    target_names = arrays["class_names"][class_ids].astype(str)
    descr = _describe(
        subset,
        split,
        None,
        False,
        len(paths),
        len(target_names),
        source,
        excluded,
        folders,
    )
    return Bunch(
        data=paths,
        filenames=paths.copy(),
        target=target,
        target_names=target_names,
        alphabet=arrays["alphabet"][mask].astype(str),
        drawer=arrays["drawer"][mask].astype(np.int8),
        rotation=np.zeros(target.shape, dtype=np.int16),
        DESCR=descr,
    )


def _flat(images):
    """(runs, k, 28, 28) uint8 images as (runs, k, 784) float32 in [0, 1]."""
    out = images.astype(np.float32).reshape(*images.shape[:2], SIDE * SIDE)
    out /= np.float32(255.0)
    return out


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
    path, folders = find_file(ONESHOT_FILE, data_home)
    if path is None:
        raise _not_found(ONESHOT_FILE, folders, can_download=False)
    keys = ["train_28", "test_28", "answer", "alphabet", "train_character", "test_character"]
    arrays = read_npz(path, keys)
    descr = "\n".join(
        [
            (
                "Omniglot one-shot classification runs (Lake, Salakhutdinov & "
                "Tenenbaum, 2015)"
            ),
            "",
            (
                "20 runs of 20-way, within-alphabet, one-shot classification from "
                "the evaluation set; 20 training and 20 test images per run, 28x28 "
                "LANCZOS, float32 in [0, 1], ink = 1."
            ),
            (
                "Scoring: error of run r = mean(pred[r] != answer[r]); benchmark "
                "error = mean over the 20 runs."
            ),
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
