"""
============================================
Fine-tuning a pretrained network vs scratch
============================================

:class:`~sklearn_meta.FineTuneClassifier` trains a network the ordinary
supervised way. Here one is first trained on the 136 characters of Omniglot's
``small1`` subset (the *source* task); a second task has 20 characters from
alphabets the source never saw, with only a few labelled images of each.

Passing the fitted source estimator as ``backbone=`` starts the new
classifier from its trained feature extractor (with a new head for the new
classes); the same estimator with ``backbone=Conv4Backbone(...)`` starts from
random weights. The figure compares the two: training loss per epoch, and
accuracy on held-out images as the number of labelled images per class grows.
"""

# %%
# The source task
# ---------------
import matplotlib.pyplot as plt
import numpy as np

from sklearn_meta import FineTuneClassifier
from sklearn_meta.backbones import Conv4Backbone
from sklearn_meta.datasets import load_omniglot
from sklearn_meta.plotting import TrainingCurveDisplay

X_source, y_source = load_omniglot("small1", return_X_y=True)
source = FineTuneClassifier(
    backbone=Conv4Backbone(channels=32),
    input_shape=(1, 28, 28),
    max_epochs=10,
    lr=3e-3,
    early_stopping=False,
    random_state=0,
).fit(X_source, y_source)
print(f"source training accuracy: {source.score(X_source, y_source):.3f}")

# %%
# The new task: 20 unseen characters
# ----------------------------------
# For each character, 10 of its 20 images are held out for testing; the
# models learn from 1, 2, 5 or 10 of the others.
new = load_omniglot("small2", disjoint_from="small1")
rng = np.random.default_rng(0)
chars = rng.choice(np.unique(new.target), size=20, replace=False)
order = {c: rng.permutation(np.flatnonzero(new.target == c)) for c in chars}
test = np.concatenate([rows[10:] for rows in order.values()])
X_test, y_test = new.data[test], new.target[test]


def train_rows(n_per_class):
    return np.concatenate([rows[:n_per_class] for rows in order.values()])


common = {
    "input_shape": (1, 28, 28),
    "max_epochs": 30,
    "lr": 3e-3,
    "batch_size": 20,
    "early_stopping": False,
    "random_state": 0,
}
models = {
    "fine-tuned": lambda: FineTuneClassifier(backbone=source, **common),
    "from scratch": lambda: FineTuneClassifier(
        backbone=Conv4Backbone(channels=32), **common
    ),
}

# %%
# Learning from 5 images per character, epoch by epoch
# ----------------------------------------------------
# ``partial_fit`` runs one epoch per call, so the held-out accuracy can be
# read after each one. The fine-tuned network starts from features that
# already tell strokes apart; its backbone also learns ten times slower than
# its new head (``backbone_lr="auto"`` for a pretrained backbone), so it keeps
# them. Its training loss falls more slowly than the scratch network's, which
# learns the 100 images by heart, but what it learns carries over to the
# held-out images.
rows = train_rows(5)
fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
for name, make in models.items():
    clf = make()
    held_out = []
    for epoch in range(common["max_epochs"]):
        clf.partial_fit(new.data[rows], new.target[rows], classes=chars)
        held_out.append(clf.score(X_test, y_test))
    TrainingCurveDisplay.from_estimator(clf, metric="loss", ax=ax_loss, name=name)
    epochs = np.arange(1, len(held_out) + 1)
    TrainingCurveDisplay(
        epochs,
        {"held-out": np.array(held_out)},
        xlabel="epoch",
        ylabel="accuracy",
        name=name,
    ).plot(ax=ax_acc)
    print(f"{name}: held-out accuracy after {len(epochs)} epochs {held_out[-1]:.3f}")
ax_loss.set_title("training loss (100 images)")
ax_acc.set_title("accuracy on the 200 held-out images")
plt.show()

# %%
# Accuracy against the number of labelled images
# ----------------------------------------------
sizes = [1, 2, 5, 10]
accuracy = {name: [] for name in models}
for n in sizes:
    rows = train_rows(n)
    for name, make in models.items():
        clf = make().fit(new.data[rows], new.target[rows])
        accuracy[name].append(clf.score(X_test, y_test))

fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
for name, acc in accuracy.items():
    ax.plot(sizes, acc, marker="o", label=name)
ax.axhline(1 / 20, color="0.6", ls=":", label="chance")
ax.set_xscale("log")
ax.set_xticks(sizes, [str(s) for s in sizes])
ax.set_xlabel("labelled images per character")
ax.set_ylabel("accuracy on 200 held-out images")
ax.set_ylim(0, 1)
ax.legend()
ax.set_title("20 new characters")
plt.show()
