"""Omniglot's original PNG files: found extracted, or extracted once from the official zips.

The official image sets are zips of ``<set>/<Alphabet>/characterNN/NNNN_DD.png``
(``<set>`` is ``images_background``, ``images_evaluation``,
``images_background_small1`` or ``images_background_small2``). The rows of
the shipped and offline arrays follow the files in sorted order of alphabet,
character folder and file name, the background set before the evaluation set;
so do the paths listed here.
"""

import os
import shutil
import tempfile
import zipfile
from pathlib import Path, PurePosixPath

import numpy as np

from ._home import get_data_home

# the image sets whose files make up each subset, in row order
RAW_SETS = {
    "small1": ("images_background_small1",),
    "small2": ("images_background_small2",),
    "background": ("images_background",),
    "evaluation": ("images_evaluation",),
    "all": ("images_background", "images_evaluation"),
    "vinyals": ("images_background", "images_evaluation"),
}
# where, in each data folder, extracted sets and zips are looked for: the folder
# itself, torchvision's download folder, and the layout of a copy of the raw files
EXTRACT_DIR = "omniglot-py"
_PLACES = ("", EXTRACT_DIR, "raw/brendenlake_omniglot")
_ZIP_URL = "https://github.com/brendenlake/omniglot/raw/master/python/{}.zip"


def _search_folders(data_home, extract_to):
    folders = [] if extract_to is None else [Path(os.fspath(extract_to)).expanduser()]
    for home in get_data_home(data_home):
        folders += [home / place if place else home for place in _PLACES]
    return list(dict.fromkeys(folders))


def _extract_targets(data_home, extract_to):
    if extract_to is not None:
        return [Path(os.fspath(extract_to)).expanduser()]
    return [home / EXTRACT_DIR for home in get_data_home(data_home)]


def _members(archive, name):
    """The PNG members of ``archive`` under ``name/``, checked to stay inside it."""
    members = []
    for info in archive.infolist():
        parts = PurePosixPath(info.filename).parts
        if info.is_dir() or not parts or parts[0] != name:
            continue
        if ".." in parts or info.filename.startswith("/") or "\\" in info.filename:
            raise ValueError(
                f"{archive.filename} holds the member {info.filename!r}, which would "
                "be written outside the folder it is extracted to; it is not an "
                "official Omniglot zip"
            )
        if parts[-1].lower().endswith(".png"):
            members.append(info)
    if not members:
        raise ValueError(
            f"{archive.filename} holds no PNG file under {name}/; it is not the "
            f"official {name}.zip"
        )
    return members


def _extract(zip_path, name, targets):
    """Extract the PNG files of ``zip_path`` as ``<target>/<name>/``, into the
    first of ``targets`` that can be written; return that folder.

    The files are written into a temporary folder beside the target and moved
    into place at the end, so an interrupted extraction leaves no partial set.
    """
    errors = []
    for target in targets:
        try:
            target.mkdir(parents=True, exist_ok=True)
            staging = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=target))
        except OSError as exc:
            errors.append(f"  - {target}: {exc}")
            continue
        try:
            with zipfile.ZipFile(zip_path) as archive:
                for info in _members(archive, name):
                    out = staging.joinpath(*PurePosixPath(info.filename).parts)
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with archive.open(info) as source, open(out, "wb") as sink:
                        shutil.copyfileobj(source, sink)
            if not (target / name).exists():
                os.replace(staging / name, target / name)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target / name
    raise OSError(
        f"could not extract {zip_path}: no folder to extract it to could be "
        "written:\n" + "\n".join(errors) + "\nPass extract_to=... naming a "
        "folder you can write."
    )


def raw_set_folder(name, data_home, extract_to):
    """The folder of the image set ``name``: an extracted copy found in the
    search folders, or the official ``name.zip`` found there, extracted once."""
    folders = _search_folders(data_home, extract_to)
    for folder in folders:
        if (folder / name).is_dir():
            return folder / name
    for folder in folders:
        if (folder / f"{name}.zip").is_file():
            return _extract(folder / f"{name}.zip", name, _extract_targets(data_home, extract_to))
    searched = "\n".join(f"  - {folder / name}[.zip]" for folder in folders)
    raise FileNotFoundError(
        f"return_paths=True needs Omniglot's original files, {name}/ or "
        f"{name}.zip, and found neither. Searched, in order:\n{searched}\n"
        f"To fix this, put the official {name}.zip ({_ZIP_URL.format(name)}) "
        "in one of these folders (data_home=... or the environment variable "
        "SKLEARN_META_DATA name the first ones); it is extracted once, into "
        "extract_to (default: <data home>/omniglot-py)."
    )


def _listing(folder):
    """``(paths, class names, drawers)`` of the PNG files of one image set, in
    sorted order of alphabet, character folder and file name."""
    paths, names, drawers = [], [], []
    for alphabet in sorted(p.name for p in folder.iterdir() if p.is_dir()):
        for char in sorted(p.name for p in (folder / alphabet).iterdir() if p.is_dir()):
            for png in sorted((folder / alphabet / char).glob("*.png")):
                paths.append(str(png))
                names.append(f"{alphabet}/{char}")
                drawers.append(int(png.stem.rsplit("_", 1)[-1]))
    return paths, names, drawers


def _needed_sets(subset, arrays, mask):
    """``[(set name, rows of arrays it holds)]`` for the rows ``mask`` selects."""
    n_rows = len(arrays["character"])
    if "background" not in arrays:  # a small subset: one set, every row
        (name,) = RAW_SETS[subset]
        return [(name, np.arange(n_rows))]
    selected = np.zeros(n_rows, dtype=bool)
    selected[mask] = True
    needed = []
    for name in RAW_SETS[subset]:
        rows = np.flatnonzero(arrays["background"] == (name == "images_background"))
        if selected[rows].any():
            needed.append((name, rows))
    return needed


def omniglot_paths(subset, arrays, mask, data_home, extract_to):
    """``(paths, folders)``: the paths of the PNG files of the rows of
    ``arrays`` that ``mask`` selects, and the image-set folders they lie in.

    Only the image sets that hold selected rows are needed. Raises a
    ValueError when the files found do not match the rows they stand for
    (an incomplete or different copy), naming the first row that differs.
    """
    paths = np.zeros(len(arrays["character"]), dtype=object)
    folders = []
    for name, rows in _needed_sets(subset, arrays, mask):
        folder = raw_set_folder(name, data_home, extract_to)
        folders.append(folder)
        listed, names, drawers = _listing(folder)
        if len(listed) != len(rows):
            raise ValueError(
                f"{folder} holds {len(listed)} PNG files but the Omniglot arrays "
                f"have {len(rows)} rows of {name}; the copy of the original files "
                "is incomplete or another one. Delete it to extract the official "
                "zip again."
            )
        expected_names = arrays["class_names"][arrays["character"][rows]].astype(str)
        expected_drawers = arrays["drawer"][rows].astype(int)
        differs = (np.array(names) != expected_names) | (
            np.array(drawers) != expected_drawers
        )
        if differs.any():
            i = int(np.flatnonzero(differs)[0])
            raise ValueError(
                f"the original file of row {int(rows[i])} should be drawer "
                f"{expected_drawers[i]} of {expected_names[i]}, but is {listed[i]}; "
                f"the files under {folder} are not those the arrays were made "
                "from. Delete them to extract the official zip again."
            )
        paths[rows] = listed
    return paths[mask].astype(str), folders
