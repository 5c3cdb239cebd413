"""Quick measurements behind the defaults of ReptileClassifier and MAMLClassifier.

Protocol: meta-train on the shipped Omniglot ``small1`` subset (5 alphabets,
136 characters, 2720 images), score 5-way 1-shot on ``evaluate_episodes``
(15 queries, ``--episodes`` episodes, ``random_state=0``) on the characters
of ``small2`` that ``small1`` does not hold (``disjoint_from="small1"``: 3
alphabets, 106 characters never seen). CPU, one thread. Each config is
``name=value`` pairs on top of the estimator's defaults, e.g.
``inner_lr=0.1,lr=0.5``.

Usage::

    python benchmarks/gradient_defaults.py --estimator reptile --max-iter 200 \\
        --configs "" "inner_lr=0.1" "inner_lr=0.1,lr=0.3"
"""

from __future__ import annotations

import argparse
import ast
import json
import time
from pathlib import Path

import numpy as np
import torch

from sklearn_meta import MAMLClassifier, ReptileClassifier
from sklearn_meta.datasets import load_omniglot
from sklearn_meta.model_selection import evaluate_episodes

ESTIMATORS = {"maml": MAMLClassifier, "reptile": ReptileClassifier}


def _parse(config):
    out = {}
    for part in filter(None, config.split(",")):
        key, value = part.split("=")
        out[key] = ast.literal_eval(value)
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--estimator", choices=sorted(ESTIMATORS), default="reptile")
    parser.add_argument("--configs", nargs="+", default=[""])
    parser.add_argument("--max-iter", type=int, default=200)
    parser.add_argument("--episodes", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", default="bench_results/gradient_defaults.jsonl")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    X, y = load_omniglot("small1", return_X_y=True)
    Xn, yn = load_omniglot("small2", disjoint_from="small1", return_X_y=True)
    X = X.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
    Xn = Xn.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    print("| estimator | config | 5-way 1-shot (95 % CI) | fit s |")
    print("|---|---|---|---|")
    for config in args.configs:
        params = {"max_iter": args.max_iter, "random_state": 0, "device": "cpu",
                  **_parse(config)}
        clf = ESTIMATORS[args.estimator](**params)
        tic = time.perf_counter()
        clf.fit(X, y)
        fit_s = time.perf_counter() - tic
        res = evaluate_episodes(clf, Xn, yn, n_way=5, n_shot=1, n_query=15,
                                n_episodes=args.episodes, random_state=0)
        print(f"| {args.estimator} | {config or 'defaults'} | {100 * res.mean:.1f} ± "
              f"{100 * res.ci:.1f} | {fit_s:.0f} |", flush=True)
        with out.open("a") as f:
            f.write(json.dumps({"estimator": args.estimator, "config": config,
                                "max_iter": args.max_iter, "acc": res.mean, "ci": res.ci,
                                "fit_s": fit_s}) + "\n")


if __name__ == "__main__":
    main()
