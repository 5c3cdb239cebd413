"""Reading a local copy of mini-ImageNet in the layouts it is distributed in.

1. the ``mini-imagenet-cache-<split>.pkl`` pickles, read with an unpickler
   that builds numpy arrays, lists, dicts and strings only;
2. ``images/`` with Ravi & Larochelle's ``<split>.csv`` (or without it, the
   files named by the wnid they start with);
3. one folder per class, ``<wnid>/`` or ``<split>/<wnid>/``.

Whatever the layout, images come back as channels-first uint8 arrays of the
requested square size.
"""

import csv
import importlib
import os
import pickle
import re
from pathlib import Path

import numpy as np

MINI_SPLITS = ("train", "val", "test")
# learn2learn names the validation pickle "...-validation.pkl"
PICKLE_NAMES = {
    "train": ("mini-imagenet-cache-train.pkl",),
    "val": ("mini-imagenet-cache-val.pkl", "mini-imagenet-cache-validation.pkl"),
    "test": ("mini-imagenet-cache-test.pkl",),
}
_IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".png"})
_WNID = re.compile(r"n\d{8}")
_CHUNK = 1024  # pickle rows converted at a time

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


# --------------------------------------------------------------------------
# cache pickles
# --------------------------------------------------------------------------
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


def read_mini_pickle(path):
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


def _resize_rows(rows, size):
    """(n, H, W, 3) uint8 rows resized to (n, 3, size, size) with LANCZOS."""
    from PIL import Image

    out = np.empty((len(rows), 3, size, size), dtype=np.uint8)
    for i, row in enumerate(rows):
        image = Image.fromarray(row).resize((size, size), Image.LANCZOS)
        out[i] = np.asarray(image, dtype=np.uint8).transpose(2, 0, 1)
    return out


def pickle_images(name, rows, class_rows, wnids, size):
    """``(images, filenames, counts, n_resized)`` of the classes ``wnids``.

    ``rows`` and ``class_rows`` are what :func:`read_mini_pickle` returns for
    the pickle file ``name``; ``images`` has shape (n, 3, size, size).
    """
    index = np.concatenate([class_rows[wnid] for wnid in wnids])
    counts = [len(class_rows[wnid]) for wnid in wnids]
    filenames = np.array([f"{name}[{i}]" for i in index])
    images = np.empty((len(index), 3, size, size), dtype=np.uint8)
    n_resized = 0
    for start in range(0, len(index), _CHUNK):
        block = rows[index[start : start + _CHUNK]]
        if block.shape[1:3] == (size, size):
            images[start : start + _CHUNK] = block.transpose(0, 3, 1, 2)
        else:
            images[start : start + _CHUNK] = _resize_rows(block, size)
            n_resized += len(block)
    return images, filenames, counts, n_resized


# --------------------------------------------------------------------------
# image files
# --------------------------------------------------------------------------
def _is_image(path):
    return path.suffix.lower() in _IMAGE_SUFFIXES and not path.name.startswith(".")


def _listed_files(root, csv_path, wnids):
    """``{wnid: sorted image paths}`` of the files ``csv_path`` lists."""
    images_dir = root / "images"
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
    files = {}
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


def class_files(root, split, wnids):
    """``{wnid: sorted image paths}`` of a folder copy of mini-ImageNet.

    With ``root/<split>.csv`` the files are those it lists (columns
    ``filename,label``), looked for in ``root/images/``, ``root/images/<wnid>/``
    and ``root/<wnid>/``. Without it, the images are the files of
    ``root/images/`` whose names start with a wnid, or of one folder per class:
    ``root/<wnid>/``, ``root/<split>/<wnid>/``, ``root/images/<wnid>/``.
    """
    csv_path = root / f"{split}.csv"
    if csv_path.is_file():
        return _listed_files(root, csv_path, wnids)

    files = {wnid: [] for wnid in wnids}
    images_dir = root / "images"
    if images_dir.is_dir():
        with os.scandir(images_dir) as entries:
            for entry in entries:
                match = _WNID.match(entry.name)
                wanted = match is not None and match.group() in files
                if wanted and entry.is_file() and _is_image(Path(entry.name)):
                    files[match.group()].append(Path(entry.path))
    others = [name for name in MINI_SPLITS if name != split]
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


def _read_image(path, size):
    """The RGB image at ``path`` as a (3, size, size) uint8 array; resized?"""
    from PIL import Image

    with Image.open(path) as image:
        rgb = image.convert("RGB")
    resized = rgb.size != (size, size)
    if resized:
        rgb = rgb.resize((size, size), Image.LANCZOS)
    return np.asarray(rgb, dtype=np.uint8).transpose(2, 0, 1), resized


def file_images(files, wnids, size):
    """``(images, filenames, counts, n_resized)`` of the classes ``wnids``,
    read from the image paths ``files[wnid]``."""
    paths = [p for wnid in wnids for p in files[wnid]]
    counts = [len(files[wnid]) for wnid in wnids]
    filenames = np.array([str(p) for p in paths])
    images = np.empty((len(paths), 3, size, size), dtype=np.uint8)
    n_resized = 0
    for i, image_path in enumerate(paths):
        images[i], resized = _read_image(image_path, size)
        n_resized += resized
    return images, filenames, counts, n_resized


# --------------------------------------------------------------------------
# finding the copy
# --------------------------------------------------------------------------
def locate_copy(roots, split, wnids):
    """``("pickle", file)``, ``("files", (root, {wnid: paths}))`` or
    ``(None, None)``: the first copy of ``split`` found in ``roots``."""
    for root in roots:
        if root.is_file():
            return "pickle", root
        for name in PICKLE_NAMES[split]:
            if (root / name).is_file():
                return "pickle", root / name
        if root.is_dir():
            files = class_files(root, split, wnids)
            if any(files.values()):
                return "files", (root, files)
    return None, None
