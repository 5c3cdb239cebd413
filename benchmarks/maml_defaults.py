"""Measurements behind the defaults of MAMLClassifier: does adapting help?

The rule the defaults must meet: held-out accuracy after 1 and more
adaptation steps is never below the accuracy after 0 steps (within the 95 %
interval), after short fits as after long ones, on images and on rows.

Protocol
--------
* ``omniglot``: meta-train on the official *background* set (30 alphabets,
  964 characters, 28x28, pixels in [0, 1]; ``--train-chars N`` keeps the
  first N characters), score on the *evaluation* set (20 alphabets never
  seen in training). Default conv4 (instance norm).
* ``digits``: scikit-learn's digits, pixels / 16, rows (MLP); classes 0-4
  train, 5-9 are scored.
* ``digits16``: the same digits upsampled to 16x16 images (the conv4 path);
  the reproducer of issue 15.
* Each config is ``name=value`` pairs on top of MAMLClassifier's defaults
  (``old`` stands for the defaults before this change: ``inner_lr=0.4``,
  ``n_inner_steps=1``, ``meta_batch_size=32``); ``--meta-batch``, when
  given, overrides ``meta_batch_size`` (Omniglot on one CPU thread).
* Scored with ``evaluate_episodes``: 5-way, ``--shots`` support samples per
  class, 15 queries, ``--episodes`` episodes, ``random_state=0`` (the same
  episodes for every config), after each of ``--steps`` adaptation steps
  (``set_params(n_adapt_steps=k)`` on the fitted model; ``default`` is the
  config's own ``n_adapt_steps``). On digits also the training-class score
  (``score`` on the training classes).

Usage (from the repository root)::

    python benchmarks/maml_defaults.py --quick
    OMP_NUM_THREADS=1 python benchmarks/maml_defaults.py --data digits16 \\
        --configs old "" --max-iter 20 100 --seeds 0 1 2
    OMP_NUM_THREADS=1 python benchmarks/maml_defaults.py --data omniglot \\
        --configs old "" --max-iter 100 --meta-batch 4 --episodes 300 \\
        --data-home /work/shared/data

Every result is a line of ``--out`` (JSON lines, appended as it is made).
"""

from __future__ import annotations

import argparse
import ast
import json
import time
from pathlib import Path

import numpy as np
import torch

OLD = {"inner_lr": 0.4, "n_inner_steps": 1, "meta_batch_size": 32, "backtrack": False}


def _parse(config):
    if config == "old":
        return dict(OLD)
    out = {}
    for part in filter(None, config.split(",")):
        if part == "old":
            out.update(OLD)
            continue
        key, value = part.split("=")
        try:
            out[key] = ast.literal_eval(value)
        except ValueError:
            out[key] = value
    return out


def _data(name, data_home, train_chars):
    if name == "omniglot":
        from sklearn_meta.datasets import load_omniglot

        X, y = load_omniglot("background", data_home=data_home, return_X_y=True)
        Xn, yn = load_omniglot("evaluation", data_home=data_home, return_X_y=True)
        if train_chars:
            keep = np.isin(y, np.unique(y)[:train_chars])
            X, y = X[keep], y[keep]
        X = X.reshape(-1, 1, 28, 28).astype(np.float32)
        Xn = Xn.reshape(-1, 1, 28, 28).astype(np.float32)
        if X.max() > 1:
            X, Xn = X / 255.0, Xn / 255.0
        return X, y, Xn, yn
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    if name == "digits16":
        X = np.kron(X.reshape(-1, 8, 8), np.ones((2, 2))).astype(np.float32)
    return X[y < 5], y[y < 5], X[y >= 5], y[y >= 5]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", choices=["omniglot", "digits", "digits16"], default="digits")
    parser.add_argument("--configs", nargs="+", default=["old", ""])
    parser.add_argument("--max-iter", nargs="+", default=["20", "300"])
    parser.add_argument("--meta-batch", type=int, default=None)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--shots", type=int, nargs="+", default=[1, 5])
    parser.add_argument("--steps", nargs="+", default=["0", "1", "3", "10", "default"])
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--train-chars", type=int, default=None)
    parser.add_argument("--no-train-score", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-home", default="../shared/data")
    parser.add_argument("--quick", action="store_true",
                        help="digits16, old and new defaults, 20 meta-updates, 100 episodes")
    parser.add_argument("--out", default="bench_results/maml_defaults.jsonl")
    args = parser.parse_args(argv)
    if args.quick:
        args.data, args.configs, args.max_iter = "digits16", ["old", ""], ["20"]
        args.episodes, args.shots = 100, [5]
    torch.set_num_threads(args.threads)
    from sklearn_meta import MAMLClassifier
    from sklearn_meta.model_selection import evaluate_episodes

    X, y, Xn, yn = _data(args.data, args.data_home, args.train_chars)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    print(f"data {args.data}: train {X.shape} ({len(np.unique(y))} classes), "
          f"test {Xn.shape} ({len(np.unique(yn))} classes)", flush=True)
    for config in args.configs:
        for max_iter in args.max_iter:
            for seed in args.seeds:
                params = {"random_state": seed, "device": "cpu",
                          "max_iter": max_iter if max_iter == "auto" else int(max_iter),
                          "early_stopping": False, **_parse(config)}
                if args.meta_batch:
                    params["meta_batch_size"] = args.meta_batch
                clf = MAMLClassifier(**params)
                tic = time.perf_counter()
                clf.fit(X, y)
                fit_s = time.perf_counter() - tic
                default_steps = clf._adapt_steps()
                row = {"data": args.data, "config": config or "new", "params": {
                    k: v for k, v in params.items() if k != "device"},
                    "max_iter_": clf.max_iter_, "seed": seed, "fit_s": round(fit_s, 1),
                    "inner_lr_": float(getattr(clf, "inner_lr_", clf.inner_lr)),
                    "default_steps": int(default_steps),
                    "train_loss": float(clf.history_[-1]["train_loss"])}
                if not args.no_train_score and args.data != "omniglot":
                    row["train_score"] = float(clf.score(X, y))
                for shot in args.shots:
                    accs = {}
                    for k in args.steps:
                        steps = default_steps if k == "default" else int(k)
                        clf.set_params(n_adapt_steps=steps)
                        res = evaluate_episodes(clf, Xn, yn, n_way=5, n_shot=shot, n_query=15,
                                                n_episodes=args.episodes, random_state=0)
                        accs[k] = [round(float(res.mean), 4), round(float(res.ci), 4)]
                    clf.set_params(n_adapt_steps=params.get("n_adapt_steps"))
                    row[f"{shot}shot"] = accs
                print(json.dumps(row), flush=True)
                with out.open("a") as f:
                    f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
