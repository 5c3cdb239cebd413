"""Building ``omniglot.npz`` from the official zips that torchvision downloads.

``load_omniglot(..., download=True)`` uses this when no local
``omniglot.npz`` is found: the 105x105 PNG files become 28x28 arrays with the
recipe of the shipped and offline files, and the class split of Vinyals et al.
is added, so that the rebuilt file is the one the loader reads otherwise.
"""

import warnings
from pathlib import Path

import numpy as np

OMNIGLOT_FILE = "omniglot.npz"
SIDE = 28

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

# the per-image arrays of omniglot.npz, in the order they are collected
_IMAGE_COLUMNS = (
    "images",
    "images_nearest",
    "alphabet",
    "character",
    "character_in_alphabet",
    "drawer",
    "file_prefix",
    "background",
)


def resize_mode1(image):
    """28x28 LANCZOS and NEAREST arrays (ink = 255) from a mode "1" PIL image.

    This is the recipe of the arrays in ``omniglot.npz``: LANCZOS on the
    inverted 8-bit image, and NEAREST on the mode "1" image (which is what
    Pillow does for mode "1" whatever filter is asked for), then inverted.
    """
    from PIL import Image

    gray = 255 - np.asarray(image.convert("L"), dtype=np.uint8)
    lanczos = Image.fromarray(gray, mode="L").resize((SIDE, SIDE), Image.LANCZOS)
    nearest = image.resize((SIDE, SIDE), Image.NEAREST).convert("L")
    return (
        np.asarray(lanczos, dtype=np.uint8),
        (255 - np.asarray(nearest, dtype=np.uint8)).astype(np.uint8),
    )


def vinyals_split(class_alphabet, class_background):
    """``train``/``val``/``test`` per class, for classes in omniglot.npz order."""
    class_alphabet = np.asarray(class_alphabet)
    class_background = np.asarray(class_background, dtype=bool)
    split = np.full(class_alphabet.shape, "train", dtype="<U5")
    is_val = np.isin(class_alphabet, sorted(_VINYALS_VAL_ALPHABETS))
    split[class_background & is_val] = "val"
    eval_index = np.cumsum(~class_background) - 1
    split[~class_background & (eval_index >= _VINYALS_N_EVAL_TRAIN)] = "test"
    return split


def _add_character(columns, folder, class_id, background):
    """Append the images of one character folder to ``columns``."""
    from PIL import Image

    alphabet, char = folder.parent.name, folder.name
    for png in sorted(folder.glob("*.png")):
        prefix, drawer = png.stem.split("_")
        with Image.open(png) as image:
            lanczos, nearest = resize_mode1(image.convert("1"))
        columns["images"].append(lanczos)
        columns["images_nearest"].append(nearest)
        columns["alphabet"].append(alphabet)
        columns["character"].append(class_id)
        columns["character_in_alphabet"].append(int(char[len("character"):]))
        columns["drawer"].append(int(drawer))
        columns["file_prefix"].append(int(prefix))
        columns["background"].append(background)


def build_omniglot_npz(root, stacklevel=2):
    """Download Omniglot with torchvision and write ``root/omniglot.npz``.

    Returns the arrays written. If the folder is read-only, warns (at
    ``stacklevel``, counted from the caller) and returns them all the same.
    """
    try:
        from torchvision.datasets import Omniglot
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "download=True needs torchvision (pip install torchvision)"
        ) from exc

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    columns = {key: [] for key in _IMAGE_COLUMNS}
    class_names, class_alphabet, class_background = [], [], []
    for background in (True, False):
        dataset = Omniglot(root=str(root), background=background, download=True)
        folder = Path(dataset.target_folder)
        for alphabet in sorted(p.name for p in folder.iterdir() if p.is_dir()):
            alphabet_dir = folder / alphabet
            for char in sorted(p.name for p in alphabet_dir.iterdir() if p.is_dir()):
                _add_character(columns, alphabet_dir / char, len(class_names), background)
                class_names.append(f"{alphabet}/{char}")
                class_alphabet.append(alphabet)
                class_background.append(background)

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
    arrays["class_vinyals_split"] = vinyals_split(
        arrays["class_alphabet"], arrays["class_background"]
    )
    target = root / OMNIGLOT_FILE
    try:
        np.savez_compressed(target, **arrays)
    except OSError as exc:  # pragma: no cover - read-only folder
        warnings.warn(
            f"could not cache Omniglot as {target}: {exc}", stacklevel=stacklevel + 1
        )
    return arrays
