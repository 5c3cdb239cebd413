"""sklearn_meta demo: transfer learning and few-shot learning on data that ships.

Two parts, each printed as a short table:

1. Fine-tuning (scikit-learn's digits): a network pretrained on digits 0-4 is
   fine-tuned with 5 labelled images per class of digits 5-9, against the same
   network trained from scratch on those 25 images.
2. Few-shot learning (the two small Omniglot subsets shipped with the
   package): a prototypical network meta-trained on the alphabets of
   ``small1`` is scored on 5-way episodes of alphabets it never saw
   (``small2`` minus the shared Greek and Latin), against the same rule on raw
   pixels (sklearn's NearestCentroid), with 95 % confidence intervals.

Run it with ``make demo`` (about two minutes on a laptop CPU; seconds on a GPU).
"""

import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.metrics import accuracy_score

from sklearn_meta import FineTuneClassifier, ProtoNetClassifier
from sklearn_meta.backbones import Conv4Backbone
from sklearn_meta.datasets import load_omniglot
from sklearn_meta.model_selection import evaluate_episodes


def finetune_part(device):
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).reshape(-1, 1, 8, 8).astype(np.float32)
    rng = np.random.RandomState(0)
    base, novel = y < 5, y >= 5
    few = np.concatenate([rng.choice(np.flatnonzero(y == c), 5, replace=False) for c in range(5, 10)])
    held_out = np.setdiff1d(np.flatnonzero(novel), few)

    net = dict(backbone=Conv4Backbone(channels=32, n_blocks=3), device=device, random_state=0)
    tic = time.perf_counter()
    pretrained = FineTuneClassifier(**net, max_epochs=15).fit(X[base], y[base])
    transfer = FineTuneClassifier(
        backbone=pretrained, freeze="backbone", unfreeze_at=20, max_epochs=40,
        lr=1e-2, device=device, random_state=0,
    ).fit(X[few], y[few])
    scratch = FineTuneClassifier(**net, max_epochs=40, lr=1e-2).fit(X[few], y[few])
    rows = [
        ("pretrained on 0-4, tested on 0-4 (no held-out split)",
         accuracy_score(y[base], pretrained.predict(X[base]))),
        ("fine-tuned from 0-4 on 25 images of 5-9", accuracy_score(y[held_out], transfer.predict(X[held_out]))),
        ("same network from scratch on those 25 images", accuracy_score(y[held_out], scratch.predict(X[held_out]))),
    ]
    print(f"\n1. Fine-tuning on digits ({time.perf_counter() - tic:.1f} s, device {pretrained.device_})")
    print(f"   {'model':<55} {'accuracy':>8}")
    for name, acc in rows:
        print(f"   {name:<55} {acc:8.3f}")
    print(f"   (tested on the {len(held_out)} other images of digits 5-9)")


def fewshot_part(device):
    train = load_omniglot("small1")
    test = load_omniglot("small2")
    unseen = ~np.isin(test.alphabet, np.unique(train.alphabet))
    X_test, y_test = test.images[unseen], test.target[unseen]
    tic = time.perf_counter()
    clf = ProtoNetClassifier(
        backbone=Conv4Backbone(channels=32), n_way=20, n_shot=1, n_query=5,
        max_iter=300, device=device, random_state=0,
    ).fit(train.images, train.target)
    fit_time = time.perf_counter() - tic
    raw = ProtoNetClassifier(backbone="identity", device=device).fit(train.images, train.target)
    print(
        f"\n2. Few-shot Omniglot: meta-trained on {len(np.unique(train.target))} characters of "
        f"{len(np.unique(train.alphabet))} alphabets ({fit_time:.1f} s), tested on "
        f"{len(np.unique(y_test))} characters of {len(np.unique(test.alphabet[unseen]))} unseen alphabets"
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


def main():
    device = "auto"
    print("sklearn_meta demo")
    finetune_part(device)
    fewshot_part(device)


if __name__ == "__main__":
    main()
