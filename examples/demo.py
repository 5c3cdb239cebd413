"""sklearn_meta demo: transfer and few-shot learning on data that ships.

Three short tables:

1. scikit-learn's digits: ``FineTuneClassifier`` in a ``Pipeline``, beside
   ``LogisticRegression``: an ordinary scikit-learn classifier.
2. Few-shot Omniglot (the two small subsets shipped with the package): a
   prototypical network meta-trained on the alphabets of ``small1`` is scored
   on 5-way episodes of alphabets it never saw
   (``load_omniglot("small2", disjoint_from="small1")``: ``small2`` minus the
   shared Greek and Latin), against the same rule on raw pixels (NearestCentroid),
   with 95 % confidence intervals.
3. Transfer: the meta-trained network becomes the backbone of a
   ``FineTuneClassifier`` for 20 unseen characters with 5 images each, against
   the same network trained from scratch on those 100 images.

Run it with ``make demo`` (a few minutes on a laptop CPU; seconds on a GPU).
"""

import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_meta import FineTuneClassifier, ProtoNetClassifier
from sklearn_meta.backbones import Conv4Backbone
from sklearn_meta.datasets import load_omniglot
from sklearn_meta.model_selection import evaluate_episodes


def digits_part(device):
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.3, random_state=0)
    models = {
        "Pipeline(StandardScaler, FineTuneClassifier(mlp))": make_pipeline(
            StandardScaler(), FineTuneClassifier(max_epochs=20, device=device, random_state=0)
        ),
        "Pipeline(StandardScaler, LogisticRegression)": make_pipeline(
            StandardScaler(), LogisticRegression(max_iter=1000)
        ),
    }
    print("\n1. Digits (scikit-learn), 30 % held out")
    print(f"   {'model':<52} {'accuracy':>8}")
    for name, model in models.items():
        print(f"   {name:<52} {model.fit(X_train, y_train).score(X_test, y_test):8.3f}")


def fewshot_part(device, train, X_test, y_test):
    tic = time.perf_counter()
    clf = ProtoNetClassifier(
        backbone=Conv4Backbone(channels=32), n_way=20, n_shot=1, n_query=5,
        max_iter=300, device=device, random_state=0,
    ).fit(train.images, train.target)
    fit_time = time.perf_counter() - tic
    raw = ProtoNetClassifier(backbone="identity", device=device).fit(train.images, train.target)
    print(
        f"\n2. Few-shot Omniglot: meta-trained on {len(np.unique(train.target))} characters of "
        f"{len(np.unique(train.alphabet))} alphabets ({fit_time:.0f} s on {clf.device_}), "
        f"tested on {len(np.unique(y_test))} characters of unseen alphabets"
    )
    print(f"   {'episodes':<18} {'ProtoNet (conv4)':>18} {'raw pixels':>18}")
    for n_shot in (1, 5):
        res = [
            evaluate_episodes(model, X_test, y_test, n_way=5, n_shot=n_shot, n_query=15,
                              n_episodes=600, random_state=1)
            for model in (clf, raw)
        ]
        cells = [f"{100 * r.mean:.1f} ± {100 * r.ci:.1f} %" for r in res]
        print(f"   {f'5-way {n_shot}-shot':<18} {cells[0]:>18} {cells[1]:>18}")
    print("   (600 episodes, 15 queries per class, mean ± 95 % CI; raw pixels = NearestCentroid)")
    return clf


def transfer_part(device, meta_trained, X_test, y_test):
    rng = np.random.RandomState(0)
    chars = rng.choice(np.unique(y_test), 20, replace=False)
    few, held_out = [], []
    for c in chars:
        rows = rng.permutation(np.flatnonzero(y_test == c))
        few.extend(rows[:5])
        held_out.extend(rows[5:])
    few, held_out = np.array(few), np.array(held_out)
    common = dict(max_epochs=30, lr=3e-3, batch_size=25, device=device, random_state=0)
    models = {
        "FineTuneClassifier(backbone=<the ProtoNet above>)": FineTuneClassifier(
            backbone=meta_trained, **common
        ),
        "FineTuneClassifier(backbone=Conv4(32)), from scratch": FineTuneClassifier(
            backbone=Conv4Backbone(channels=32), **common
        ),
    }
    print(f"\n3. Transfer: 20 unseen characters, 5 images each; tested on the other {len(held_out)}")
    print(f"   {'model':<52} {'accuracy':>8}")
    for name, model in models.items():
        model.fit(X_test[few], y_test[few])
        print(f"   {name:<52} {model.score(X_test[held_out], y_test[held_out]):8.3f}")


def main():
    device = "auto"
    print("sklearn_meta demo")
    digits_part(device)
    train = load_omniglot("small1")
    # small2 shares Greek and Latin with small1: keep only the alphabets small1 lacks
    test = load_omniglot("small2", disjoint_from="small1")
    X_test, y_test = test.images, test.target
    meta_trained = fewshot_part(device, train, X_test, y_test)
    transfer_part(device, meta_trained, X_test, y_test)


if __name__ == "__main__":
    main()
