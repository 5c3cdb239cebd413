"""Write the compact Omniglot subsets shipped inside ``sklearn_meta/datasets/data``.

The package ships two small Omniglot subsets (the official
``images_background_small1`` and ``images_background_small2`` of
brendenlake/omniglot) so that examples, doctests and tests run without any
download.  This script re-saves them from the offline data folder, keeping only
the arrays that :func:`sklearn_meta.datasets.load_omniglot` reads (no 105x105
images), so that each file stays well under 1 MB.

Usage (from the repository root)::

    python benchmarks/data/make_omniglot_subsets.py \
        ../shared/data/omniglot_background_small1.npz \
        ../shared/data/omniglot_background_small2.npz \
        --out sklearn_meta/datasets/data

The input files are described in ``shared/data/README.md``: 28x28 uint8 images
with ink = 255, made by converting each official 105x105 mode "1" PNG to mode
"L", inverting it and resizing with ``Image.resize((28, 28), Image.LANCZOS)``
(``images``), plus ``images_nearest`` (NEAREST resize of the mode "1" image,
inverted, values 0/255).
"""

import argparse
import hashlib
from pathlib import Path

import numpy as np

# name of the output file for each accepted input stem
OUTPUT_NAMES = {
    "omniglot_background_small1": "omniglot_small1.npz",
    "omniglot_background_small2": "omniglot_small2.npz",
}
EXPECTED = {  # (n_images, n_classes), from the official zips
    "omniglot_small1.npz": (2720, 136),
    "omniglot_small2.npz": (3120, 156),
}


def _compact(src):
    with np.load(src) as z:
        images = np.ascontiguousarray(z["images"], dtype=np.uint8)
        images_nearest = np.ascontiguousarray(z["images_nearest"], dtype=np.uint8)
        character = z["character"].astype(np.int16)
        alphabet = z["alphabet"].astype(str)
        drawer = z["drawer"].astype(np.int8)
        class_names = z["class_names"].astype(str)

    n = images.shape[0]
    assert images.shape == (n, 28, 28) and images_nearest.shape == (n, 28, 28)
    assert set(np.unique(images_nearest)) <= {0, 255}
    assert character.shape == alphabet.shape == drawer.shape == (n,)
    # class ids are contiguous, grouped, and in file order
    assert np.array_equal(np.unique(character), np.arange(len(class_names)))
    assert np.all(np.diff(character) >= 0)
    # class names agree with the per-sample alphabet
    prefix = np.array([name.split("/")[0] for name in class_names])
    assert np.array_equal(prefix[character], alphabet)
    return {
        "images": images,
        "images_nearest": images_nearest,
        "character": character,
        "alphabet": alphabet,
        "drawer": drawer,
        "class_names": class_names,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "inputs",
        nargs="+",
        type=Path,
        help="omniglot_background_small1.npz / omniglot_background_small2.npz",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parents[2] / "sklearn_meta" / "datasets" / "data",
        help="output folder (default: sklearn_meta/datasets/data of this checkout)",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    for src in args.inputs:
        if src.stem not in OUTPUT_NAMES:
            parser.error(
                f"unexpected input {src.name!r}; expected one of "
                f"{sorted(k + '.npz' for k in OUTPUT_NAMES)}"
            )
        name = OUTPUT_NAMES[src.stem]
        arrays = _compact(src)
        n_images, n_classes = EXPECTED[name]
        assert arrays["images"].shape[0] == n_images, name
        assert len(arrays["class_names"]) == n_classes, name
        dst = args.out / name
        np.savez_compressed(dst, **arrays)
        digest = hashlib.sha256(dst.read_bytes()).hexdigest()
        print(
            f"{dst}: {dst.stat().st_size} bytes, {n_images} images, "
            f"{n_classes} classes, sha256 {digest}"
        )


if __name__ == "__main__":
    main()
