"""
=====================================================
Tuning a few-shot learner with class-disjoint folds
=====================================================

A few-shot model is judged on classes it never trained on, so its
hyper-parameters must be chosen the same way. Plain
:class:`~sklearn.model_selection.GridSearchCV` does it with two pieces from
:mod:`sklearn_meta.model_selection`:

* :class:`~sklearn_meta.model_selection.ClassDisjointKFold` puts whole
  classes in each fold, so every test fold holds unseen classes only;
* :func:`~sklearn_meta.model_selection.make_episodic_scorer` scores a fitted
  model the few-shot way: it adapts it to the support set of each of many
  5-way 1-shot episodes of the test classes and averages the query accuracy.

The question asked here is Snell et al.'s (2017): should training episodes
have more classes than the test episodes? They found that training on
60-way episodes helps 5-way tests on Omniglot.
"""

# %%
# The search
# ----------
# Three values of ``n_way`` times three folds: nine short fits (100
# meta-updates of a small network each), about a minute on one CPU core.
import matplotlib.pyplot as plt
import numpy as np
from sklearn.model_selection import GridSearchCV

from sklearn_meta import ProtoNetClassifier
from sklearn_meta.backbones import Conv4Backbone
from sklearn_meta.datasets import load_omniglot
from sklearn_meta.model_selection import ClassDisjointKFold, make_episodic_scorer

X, y = load_omniglot("small1", return_X_y=True)
search = GridSearchCV(
    ProtoNetClassifier(
        backbone=Conv4Backbone(channels=16),
        input_shape=(1, 28, 28),
        n_query=5,
        max_iter=100,
        random_state=0,
    ),
    {"n_way": [5, 20, 60]},
    cv=ClassDisjointKFold(n_splits=3),
    scoring=make_episodic_scorer(n_way=5, n_shot=1, n_episodes=200),
    refit=False,
).fit(X, y)
print("best:", search.best_params_, f"{search.best_score_:.3f}")

# %%
# The scores, fold by fold
# ------------------------
# Each point is one test fold (about 45 characters never trained on), scored
# on the same 200 episodes for every candidate (the scorer's
# ``random_state=0``), so the candidates are compared on identical tasks.
results = search.cv_results_
n_way = np.array(results["param_n_way"], dtype=int)
folds = np.array([results[f"split{k}_test_score"] for k in range(3)])

fig, ax = plt.subplots(figsize=(5.5, 4), layout="constrained")
for k, scores in enumerate(folds):
    ax.plot(
        n_way, scores, marker="o", color="0.7", label="a test fold" if k == 0 else None
    )
ax.errorbar(
    n_way,
    results["mean_test_score"],
    yerr=results["std_test_score"],
    marker="s",
    capsize=4,
    lw=2,
    label="mean ± std over folds",
)
ax.set_xscale("log")
ax.xaxis.set_minor_locator(plt.NullLocator())
ax.set_xticks(n_way, [str(v) for v in n_way])
ax.set_xlabel("classes per training episode (n_way)")
ax.set_ylabel("5-way 1-shot accuracy on unseen classes")
ax.legend()
plt.show()
