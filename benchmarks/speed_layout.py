"""Time ProtoNet meta-updates on the CPU by memory layout and precision.

What decides two defaults of the CPU path: whether convolution weights go
channels-last (``BaseTorchEstimator._channels_last_ok``) and what
``precision="bf16"`` buys.

Protocol
--------
* Data: Omniglot background characters from ``../shared/data/omniglot.npz``
  (28x28, ink = 1), as float32 arrays.
* Model: ``ProtoNetClassifier(backbone="conv4", n_way=W, n_shot=1, n_query=5,
  precision=P, device="cpu", random_state=0)``, its network built by a fit of
  one meta-update; the layout is the base's choice (``channels_last``) or the
  default one (``contiguous``).
* One meta-update is the estimator's own training step (``_meta_update``
  under its ``_autocast()``, as the training loop runs it: the forward pass,
  the loss, the backward pass and Adam's step) on a fresh episode.
* Configs: 60-way and 5-way 1-shot 5-query episodes x float32 / bf16 x the
  two layouts. In each round every config runs one warm-up update and then
  ``--steps`` timed ones (the mean is its time in that round); rounds go
  through the configs in a rotated order (alternating). Reported: the median
  over ``--rounds`` rounds (>= 5) of the per-update time, and the speed-up
  against float32 in the contiguous layout.
* One torch thread (``torch.set_num_threads(1)``), one measuring process.
* ``--compile`` adds a third layout, "compiled": channels-last with
  ``compile=True`` (the feature extractor compiled in place by
  ``torch.compile``; the compile time of the first fit is printed).

``--accuracy ITERS`` measures what bf16 costs instead: ProtoNet fitted for
ITERS meta-updates on 20-way 1-shot 5-query episodes of the whole background
set (964 characters, no rotations, no early stopping), once per precision
with the same seed, then ``evaluate_episodes`` on the evaluation set (659
characters never seen), 5-way and 20-way 1-shot, 15 queries, 600 episodes
(the same episodes for both): mean accuracy +- 95 % CI, and the fit time.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 python benchmarks/speed_layout.py --rounds 5
    OMP_NUM_THREADS=1 python benchmarks/speed_layout.py --rounds 5 --compile
    OMP_NUM_THREADS=1 python benchmarks/speed_layout.py --accuracy 500
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from sklearn_meta import ProtoNetClassifier
from sklearn_meta._episodes import EpisodeSampler
from sklearn_meta.model_selection import evaluate_episodes

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "omniglot.npz"


def load(n_classes, path=DATA):
    """The first ``n_classes`` background characters: images (N, 1, 28, 28) and labels."""
    d = np.load(path)
    keep = d["background"]
    chars = d["character"][keep]
    wanted = np.isin(chars, np.unique(chars)[:n_classes])
    X = (d["images"][keep][wanted] / 255.0).astype(np.float32)[:, None]
    _, y = np.unique(chars[wanted], return_inverse=True)
    return X, y


def build(X, y, way, precision, layout):
    """The estimator of a config; ``layout`` "compiled" is channels-last with compile=True."""
    clf = ProtoNetClassifier(backbone="conv4", n_way=way, n_shot=1, n_query=5, max_iter=1,
                             precision=precision, compile=layout == "compiled", device="cpu",
                             random_state=0)
    clf._channels_last_ok = layout != "contiguous"
    tic = time.perf_counter()
    clf.fit(X, y)
    if layout == "compiled":
        print(f"{way}-way {precision}: first fit (compiling) {time.perf_counter() - tic:.1f} s",
              flush=True)
    X_t = torch.from_numpy(X)
    sampler = EpisodeSampler(torch.from_numpy(y), n_way=way, n_shot=1, n_query=5,
                             device=torch.device("cpu"))
    gen = torch.Generator().manual_seed(0)
    return clf, X_t, sampler, gen


def update(state, way):
    clf, X_t, sampler, gen = state
    s_idx, q_idx, s_y, q_y = sampler.sample(gen, 1)
    clf.module_.train()
    with clf._autocast():
        loss, _ = clf._meta_update(X_t, s_idx, s_y, q_idx, q_y, way)
    return float(loss)


def accuracy(args):
    """bf16 against float32: the same fit and the same test episodes."""
    d = np.load(DATA)
    X = (d["images"] / 255.0).astype(np.float32)[:, None]
    bg, chars = d["background"], d["character"]
    rows = []
    for precision in ("float32", "bf16"):
        clf = ProtoNetClassifier(backbone="conv4", n_way=20, n_shot=1, n_query=5,
                                 max_iter=args.accuracy, early_stopping=False,
                                 precision=precision, device="cpu", random_state=0)
        tic = time.perf_counter()
        clf.fit(X[bg], chars[bg])
        row = {"precision": precision, "fit_s": time.perf_counter() - tic}
        for way in (5, 20):
            res = evaluate_episodes(clf, X[~bg], chars[~bg], n_way=way, n_shot=1, n_query=15,
                                    n_episodes=600, random_state=0)
            row[f"{way}w1s"] = (100 * res.mean, 100 * res.ci)
        rows.append(row)
        print(f"{precision:>8}: fit {row['fit_s']:.1f} s, 5-way 1-shot "
              f"{row['5w1s'][0]:.1f} +- {row['5w1s'][1]:.1f}, 20-way 1-shot "
              f"{row['20w1s'][0]:.1f} +- {row['20w1s'][1]:.1f}", flush=True)
    out = Path(args.out).with_name("speed_layout_accuracy.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--steps", type=int, default=3, help="timed 60-way updates per round")
    parser.add_argument("--steps-5way", type=int, default=15)
    parser.add_argument("--classes", type=int, default=200)
    parser.add_argument("--out", default="bench_results/speed_layout.json")
    parser.add_argument("--compile", action="store_true",
                        help="add channels-last configs with compile=True")
    parser.add_argument("--accuracy", type=int, default=0, metavar="ITERS",
                        help="measure bf16's accuracy cost with fits of ITERS meta-updates")
    args = parser.parse_args()
    torch.set_num_threads(1)
    if args.accuracy:
        accuracy(args)
        return
    X, y = load(args.classes)
    layouts = ("contiguous", "channels_last") + (("compiled",) if args.compile else ())
    configs = [(way, p, lay) for way in (60, 5) for p in ("float32", "bf16") for lay in layouts]
    states = {c: build(X, y, *c) for c in configs}
    times = {c: [] for c in configs}
    for r in range(args.rounds):
        order = configs[r % len(configs):] + configs[: r % len(configs)]
        if r % 2:
            order = order[::-1]
        for c in order:
            way = c[0]
            steps = args.steps if way == 60 else args.steps_5way
            update(states[c], way)  # warm-up
            tic = time.perf_counter()
            for _ in range(steps):
                update(states[c], way)
            times[c].append((time.perf_counter() - tic) / steps)
        print(f"round {r + 1}/{args.rounds} done", flush=True)
    print(f"\nms per meta-update, median of {args.rounds} rounds (one thread)")
    print(f"{'episode':>8} {'precision':>9} {'layout':>14} {'ms':>8} {'vs f32 contiguous':>18}")
    rows = []
    for way in (60, 5):
        base = float(np.median(times[(way, "float32", "contiguous")]))
        for c in configs:
            if c[0] != way:
                continue
            med = float(np.median(times[c]))
            rows.append({"way": way, "precision": c[1], "layout": c[2], "ms": 1e3 * med,
                         "rounds_ms": [1e3 * t for t in times[c]], "speedup": base / med})
            print(f"{way:>6}-w {c[1]:>9} {c[2]:>14} {1e3 * med:8.1f} {base / med:17.2f}x")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
