"""sklearn_meta demo: transfer and few-shot learning on data that ships.

Four short tables:

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

4. Domain adaptation on a shift of the digits (``make_digits_shift``: the
   target half rotated by 30 degrees, with pixel noise): ``DomainAdaptedClassifier``
   fitted on labelled source rows plus unlabelled (``y == -1``) target rows,
   source-only against three adaptation methods, with the label-free scores
   (``make_da_scorer``) one would select by when the target has no labels.

5. MAML on the sinusoid tasks of Finn et al. (2017): ``MAMLRegressor``
   meta-trained on 2,000 sine waves (tasks named by ``groups``) fits a new one
   from 10 points; its error after 0, 1 and 10 gradient steps.

Run it with ``make demo`` (a few minutes on a laptop CPU; seconds on a GPU).
"""

import time

import numpy as np
from sklearn.datasets import load_digits
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_meta import (
    DomainAdaptedClassifier,
    FineTuneClassifier,
    MAMLRegressor,
    ProtoNetClassifier,
)
from sklearn_meta.backbones import Conv4Backbone
from sklearn_meta.datasets import load_omniglot, make_digits_shift, make_sinusoids
from sklearn_meta.model_selection import evaluate_episodes, make_da_scorer


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


def domain_part(device):
    X_source, y_source, X_target, y_target = make_digits_shift(random_state=0)
    # a few source rows held out for the label-free scores, never fitted on
    X_fit, X_val, y_fit, y_val = train_test_split(
        X_source, y_source, test_size=0.2, stratify=y_source, random_state=0
    )
    X = np.concatenate([X_fit, X_target])
    y = np.concatenate([y_fit, np.full(len(X_target), -1)])  # -1: unlabelled target
    X_score = np.concatenate([X_val, X_target])
    y_score = np.concatenate([y_val, np.full(len(X_target), -1)])
    scorers = {kind: make_da_scorer(kind) for kind in ("entropy", "dev")}
    print(
        "\n4. Domain adaptation: digits -> the same digits rotated 30 degrees with noise "
        f"({len(y_fit)} labelled source rows, {len(X_target)} unlabelled target rows)"
    )
    print(f"   {'method':<22} {'target accuracy':>15} {'entropy score':>14} {'DEV score':>10}")
    for method in (None, "dann", "cdan+e", "mmd"):
        clf = DomainAdaptedClassifier(
            backbone=Conv4Backbone(channels=32), input_shape=(1, 8, 8), method=method,
            max_epochs=30, device=device, random_state=0,
        ).fit(X, y)
        scores = [scorers[k](clf, X_score, y_score) for k in ("entropy", "dev")]
        name = method or "None (source only)"
        print(
            f"   {name:<22} {clf.score(X_target, y_target):15.3f} {scores[0]:14.3f} "
            f"{scores[1]:10.3f}"
        )
    print("   (scores higher is better; neither reads a target label)")


def maml_part(device):
    X, y, groups = make_sinusoids(n_tasks=2000, n_samples=20, random_state=0)
    tic = time.perf_counter()
    reg = MAMLRegressor(max_iter=1000, device=device, random_state=0).fit(X, y, groups=groups)
    fit_time = time.perf_counter() - tic
    X_new, y_new, task = make_sinusoids(n_tasks=100, n_samples=60, random_state=1)
    print(
        f"\n5. MAML: {reg.n_iter_} meta-updates on 2000 sine waves ({fit_time:.0f} s on "
        f"{reg.device_}), then 100 new ones, each fitted from 10 points, scored on 50 others"
    )
    print(f"   {'gradient steps':<16} {'mean squared error':>18}")
    for steps in (0, 1, 10):
        reg.set_params(n_adapt_steps=steps)  # read when adapt runs
        errors = []
        for k in range(100):
            rows = np.flatnonzero(task == k)
            fitted = reg.adapt(X_new[rows[:10]], y_new[rows[:10]])
            errors.append(np.mean((fitted.predict(X_new[rows[10:]]) - y_new[rows[10:]]) ** 2))
        print(f"   {steps:<16} {np.mean(errors):18.3f}")
    print("   (a sine of amplitude 0.1-5 has a mean square of about 4.2)")


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
    domain_part(device)
    maml_part(device)


if __name__ == "__main__":
    main()
