"""
=============================================
One-shot learning of new Omniglot characters
=============================================

A :class:`~sklearn_meta.ProtoNetClassifier` is meta-trained on the 136
characters of Omniglot's ``small1`` background subset (it ships with the
package). It is then given **one** image of each of five characters from
alphabets it never saw, and ``adapt`` returns a classifier for those five.

Nothing here is tested on a character that was trained on: ``small2`` shares
Greek and Latin with ``small1``, and ``disjoint_from="small1"`` drops them.
"""

# %%
# Meta-training
# -------------
# Episodes of 20 characters, one support image and five queries each, 300
# meta-updates: about 30 seconds on one CPU core. (The defaults train longer,
# on 60-way episodes, and score 89.8 % on Lake's 20-way one-shot runs; see the
# benchmarks.)
import matplotlib.pyplot as plt
import numpy as np

from sklearn_meta import ProtoNetClassifier
from sklearn_meta.backbones import Conv4Backbone
from sklearn_meta.datasets import load_omniglot
from sklearn_meta.plotting import EpisodeDisplay, ShotCurveDisplay

X, y = load_omniglot("small1", return_X_y=True)
clf = ProtoNetClassifier(
    backbone=Conv4Backbone(channels=32),
    n_way=20,
    n_shot=1,
    n_query=5,
    input_shape=(1, 28, 28),
    max_iter=300,
    random_state=0,
).fit(X, y)

# %%
# Five new characters from one image each
# ---------------------------------------
# The characters come from the alphabets ``small1`` lacks. One image of each
# is the support set; three other drawers' images of each are the queries.
new = load_omniglot("small2", disjoint_from="small1")
rng = np.random.default_rng(3)
chosen = rng.choice(np.unique(new.target), size=5, replace=False)


def short(name):  # "Japanese_(katakana)/character19" -> "Japanese 19"
    alphabet, character = name.split("/")
    return f"{alphabet.split('_')[0]} {character[-2:]}"


names = np.array([short(n) for n in new.target_names])
support, query = [], []
for c in chosen:
    rows = rng.permutation(np.flatnonzero(new.target == c))
    support.append(rows[0])
    query.extend(rows[1:4])
X_support, y_support = new.data[support], names[new.target[support]]
X_query, y_query = new.data[query], names[new.target[query]]

display = EpisodeDisplay.from_estimator(
    clf, X_support, y_support, X_query, y_query, image_shape=(28, 28)
)
display.figure_.suptitle(
    f"adapted from one image each: {display.accuracy:.0%} of the queries right"
)
plt.show()

# %%
# ``adapt`` returned a new classifier and left ``clf`` as it was:
novel = clf.adapt(X_support, y_support)
print(novel.classes_)
print(novel.predict(X_query[:3]), "<- three images of", y_query[0])

# %%
# Accuracy against the number of shots
# ------------------------------------
# :func:`~sklearn_meta.model_selection.evaluate_episodes` scores many random
# episodes of the new characters (the few-shot papers' protocol): mean and
# 95 % confidence band, for 5-way and 20-way episodes.
X_new, y_new = new.data, new.target
ShotCurveDisplay.from_estimator(
    clf, X_new, y_new, n_shot=(1, 2, 5), n_way=(5, 20), n_episodes=100, random_state=0
)
plt.title("New alphabets, 100 episodes per point")
plt.show()
