"""Folders of JPEG files of mixed sizes, one folder per class, made from MNIST.

Used by ``images_finetune_files.py`` and ``images_memory.py``. Each image is
an MNIST digit (``mnist.npz`` through :func:`sklearn_meta.datasets.load_mnist`)
painted in a random ink colour on a random paper colour, upsampled with
bicubic interpolation to a random width and height drawn independently from
``sizes`` (inclusive), and saved as a JPEG (quality 90) under
``root/train/<digit>/`` or ``root/test/<digit>/``. The first ``n_train``
MNIST training images make the training folders, the first ``n_test`` test
images the test folders. A ``made.json`` in ``root`` records the recipe; a
folder made with the same recipe is reused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]


def mnist_home(data_home=None):
    """The folder holding ``mnist.npz``: ``data_home``, ``$SKLEARN_META_DATA`` or shared/data."""
    home = data_home or os.environ.get("SKLEARN_META_DATA")
    if home is None and (REPO_ROOT.parent / "shared" / "data" / "mnist.npz").is_file():
        home = REPO_ROOT.parent / "shared" / "data"
    if home is None and Path("/work/shared/data/mnist.npz").is_file():
        home = "/work/shared/data"
    return home


def _paint(digit, size, rng):
    from PIL import Image

    ink = rng.integers(0, 256, 3)
    paper = rng.integers(0, 256, 3)
    while np.abs(ink - paper).sum() < 200:  # keep the digit visible
        paper = rng.integers(0, 256, 3)
    a = digit.astype(np.float32)[..., None] / 255.0
    rgb = (paper * (1 - a) + ink * a).round().astype(np.uint8)
    return Image.fromarray(rgb).resize(size, Image.BICUBIC)


def make_jpeg_folders(root, *, n_train=3000, n_test=1000, sizes=(64, 96), seed=0,
                      data_home=None):
    """Write the JPEG folders (or reuse them); return ``(train_dir, test_dir, recipe)``."""
    from sklearn_meta.datasets import load_mnist

    root = Path(root)
    recipe = {"source": "MNIST", "n_train": n_train, "n_test": n_test,
              "sizes": list(sizes), "seed": seed, "quality": 90}
    marker = root / "made.json"
    if marker.is_file() and json.loads(marker.read_text()) == recipe:
        return root / "train", root / "test", recipe
    home = mnist_home(data_home)
    rng = np.random.default_rng(seed)
    for part, n in (("train", n_train), ("test", n_test)):
        images, target = load_mnist(part, return_X_y=True, data_home=home)
        images = np.asarray(images).reshape(-1, 28, 28)
        if images.dtype != np.uint8:
            images = (images * 255).round().astype(np.uint8)
        for i in range(n):
            folder = root / part / f"digit_{int(target[i])}"
            folder.mkdir(parents=True, exist_ok=True)
            w, h = (int(s) for s in rng.integers(sizes[0], sizes[1] + 1, 2))
            _paint(images[i], (w, h), rng).save(folder / f"{i:05d}.jpg", quality=90)
    marker.write_text(json.dumps(recipe))
    return root / "train", root / "test", recipe


def folder_bytes(folder):
    """Total size of the files under ``folder``."""
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())
