"""
===================================================
Domain adaptation: the embedding before and after
===================================================

:class:`~sklearn_meta.DomainAdaptedClassifier` learns from labelled rows of a
*source* domain and unlabelled rows of a *target* domain, marked ``y == -1``
as in scikit-learn's semi-supervised estimators. Here the source is
scikit-learn's 8x8 digits and the target the same kind of digits rotated by 30
degrees with pixel noise (:func:`~sklearn_meta.datasets.make_digits_shift`).

A network trained on the source alone (``method=None``) maps the two domains
to different places, and the classes of the target blur; CDAN+E (Long et al.
2018) trains the features so that a domain discriminator cannot tell the
domains apart, class by class.
"""

# sphinx_gallery_thumbnail_number = 2

# %%
# The data
# --------
import matplotlib.pyplot as plt
import numpy as np

from sklearn_meta import DomainAdaptedClassifier
from sklearn_meta.backbones import Conv4Backbone
from sklearn_meta.datasets import make_digits_shift
from sklearn_meta.model_selection import make_da_scorer
from sklearn_meta.plotting import EmbeddingDisplay

X_source, y_source, X_target, y_target = make_digits_shift(random_state=0)
X = np.concatenate([X_source, X_target])
y = np.concatenate([y_source, np.full(len(X_target), -1)])  # -1: unlabelled target

fig, axes = plt.subplots(2, 5, figsize=(6, 2.8), layout="constrained")
for digit in range(5):
    for row, (images, labels, domain) in enumerate(
        ((X_source, y_source, "source"), (X_target, y_target, "target"))
    ):
        ax = axes[row, digit]
        ax.imshow(images[labels == digit][0].reshape(8, 8), cmap="gray_r")
        ax.set_xticks([])
        ax.set_yticks([])
        if digit == 0:
            ax.set_ylabel(domain)
fig.suptitle("The digits 0-4 in each domain")
plt.show()

# %%
# Source only against CDAN+E
# --------------------------
# Both fits see the same rows; neither sees a target label. The entropy
# scorer of :func:`~sklearn_meta.model_selection.make_da_scorer` is one of the
# label-free scores that model selection can use when target labels are
# missing (higher is better).
entropy = make_da_scorer("entropy")
fitted = {}
for method in (None, "cdan+e"):
    clf = DomainAdaptedClassifier(
        backbone=Conv4Backbone(channels=32),
        input_shape=(1, 8, 8),
        method=method,
        max_epochs=30,
        random_state=0,
    ).fit(X, y)
    fitted[method or "source only"] = clf
    print(
        f"{method or 'source only':>12}: target accuracy {clf.score(X_target, y_target):.3f}, "
        f"entropy score {entropy(clf, X, y):.3f}"
    )

# %%
# The learned features, in two dimensions
# ---------------------------------------
# PCA of ``transform(X)``: colour is the digit (the target's true digit, which
# the fits never saw), the marker the domain.
rows = np.random.default_rng(0).choice(len(X), size=800, replace=False)
domain = np.where(y[rows] == -1, -2, 1)  # skada's convention: target < 0 < source
digits = np.concatenate([y_source, y_target])[rows]
fig, axes = plt.subplots(1, 2, figsize=(11, 4.8), layout="constrained")
for ax, (name, clf) in zip(axes, fitted.items()):
    EmbeddingDisplay.from_estimator(
        clf, X[rows], digits, sample_domain=domain, method="pca", ax=ax
    )
    ax.set_title(f"{name}: target accuracy {clf.score(X_target, y_target):.0%}")
plt.show()
