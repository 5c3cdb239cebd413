"""Measure ProtoNetClassifier episode shapes and schedules on real Omniglot.

Used to choose the defaults of :class:`sklearn_meta.ProtoNetClassifier`
(``n_way``, ``n_shot``, ``n_query``, ``max_iter``, ``lr_decay_step``).

Protocol
--------
* Training data: the official Omniglot *background* set (30 alphabets, 964
  characters, 19,280 images), 28x28 LANCZOS, pixels in [0, 1] (ink = 1), no
  rotations, loaded with ``load_omniglot("background", return_X_y=True)``.
* Model: ``ProtoNetClassifier(backbone="conv4", input_shape=(1, 28, 28),
  lr=1e-3, random_state=0, device="cpu")`` with the episode shape, number of
  meta-updates (``max_iter``) and ``lr_decay_step`` of each config. Only the
  public API is used (``fit``, ``adapt``, ``predict``, ``evaluate_episodes``).
* Score 1, Lake et al.'s 20 official one-shot runs
  (``load_omniglot_oneshot_runs``): 20-way 1-shot within one alphabet of the
  evaluation set. For each run the fitted model is adapted on the run's 20
  training images and predicts its 20 test images (400 decisions in all).
  Reported: the mean of the 20 per-run accuracies (the paper's scoring) with a
  95 % Student-t interval over the 20 runs (``t_{0.975,19} * sd / sqrt(20)``),
  and, in the JSON, a 95 % Wilson interval over the 400 decisions.
* Score 2, ``evaluate_episodes`` on the *evaluation* set (20 alphabets, 659
  characters, 13,180 images; none seen in training): 20-way 1-shot and 5-way
  5-shot, ``n_query=5``, 600 episodes, ``random_state=0`` (the same episodes
  for every config); mean and 95 % normal interval over episodes.
* Fit time: wall seconds of ``fit`` (including the final prototypes of the 964
  training classes), with ``--threads`` torch threads.

Config syntax: ``WAYwSHOTsQUERYq[rot][:MAX_ITER[:DECAY]]``, e.g. ``60w1s5q`` (uses
``--max-iter`` and no decay) or ``60w1s5q:3000:1000`` (3000 meta-updates, lr
halved every 1000). ``DECAY`` may be ``none``. ``rot`` after the episode shape
(``20w1s5qrot:2000``) meta-trains with ``rotation_classes=True``: each
character turned by 0, 90, 180 and 270 degrees is its own class. These configs train without
early stopping. The config ``defaults`` is ``ProtoNetClassifier`` with every
parameter at its default (only ``input_shape``, ``random_state`` and
``device`` set), early stopping included.

Usage (from the repository root)::

    python benchmarks/protonet_defaults.py --quick          # smoke run, ~1 min
    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/protonet_defaults.py \\
        --configs 60w1s5q 60w5s5q 20w1s5q --max-iter 1500 --threads 1 \\
        --data-home /work/shared/data --out bench_results/protonet_defaults.json

Results are printed as a table and written (after every config, so a killed
run keeps what it finished) to the ``--out`` JSON file. See the "ProtoNet
defaults" section of benchmarks/README.md for the numbers measured so far.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import sys
import time
from pathlib import Path


def _parse_config(text, default_iter):
    if text.strip().lower() == "defaults":
        from sklearn_meta import ProtoNetClassifier

        p = ProtoNetClassifier().get_params()
        return {
            "name": "defaults",
            "defaults": True,
            "n_way": p["n_way"],
            "n_shot": p["n_shot"],
            "n_query": p["n_query"],
            "max_iter": p["max_iter"],
            "lr_decay_step": p["lr_decay_step"],
            "rotation_classes": False,
        }
    m = re.fullmatch(
        r"(\d+)w(\d+)s(\d+)q(rot)?(?::(\d+)(?::(\d+|none))?)?", text.strip().lower()
    )
    if m is None:
        raise argparse.ArgumentTypeError(
            f"bad config {text!r}; expected WAYwSHOTsQUERYq[rot][:MAX_ITER[:DECAY]], "
            "e.g. 60w1s5q:3000:1000"
        )
    way, shot, query, rot, n_iter, decay = m.groups()
    return {
        "name": text.strip(),
        "n_way": int(way),
        "n_shot": int(shot),
        "n_query": int(query),
        "max_iter": int(n_iter) if n_iter else default_iter,
        "lr_decay_step": None if decay in (None, "none") else int(decay),
        "rotation_classes": rot is not None,
    }


def _wilson(k, n, z=1.959963984540054):
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5 / denom
    return centre - half, centre + half


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--configs", nargs="+", default=["60w1s5q", "60w5s5q", "20w1s5q"],
                        help="WAYwSHOTsQUERYq[:MAX_ITER[:DECAY]] (default: %(default)s)")
    parser.add_argument("--max-iter", type=int, default=1500,
                        help="meta-updates for configs that do not give their own (default: 1500)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default: 1)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda", "auto"],
                        help="where to train (default: cpu)")
    parser.add_argument("--data-home", default=None,
                        help="folder with omniglot.npz and omniglot_oneshot_runs.npz")
    parser.add_argument("--out", default="bench_results/protonet_defaults.json", help="JSON output path")
    parser.add_argument("--eval-episodes", type=int, default=600,
                        help="episodes per evaluate_episodes setting (default: 600)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 30 meta-updates, 50 evaluation episodes, one small config")
    args = parser.parse_args(argv)

    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    import numpy as np
    import torch
    from scipy.stats import t as student_t

    import sklearn_meta
    from sklearn_meta import ProtoNetClassifier
    from sklearn_meta.datasets import load_omniglot, load_omniglot_oneshot_runs
    from sklearn_meta.model_selection import evaluate_episodes

    torch.set_num_threads(args.threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass

    if args.quick:
        args.max_iter = 30
        args.eval_episodes = 50
        if args.configs == parser.get_default("configs"):
            args.configs = ["20w1s5q"]
    configs = [_parse_config(c, args.max_iter) for c in args.configs]

    t0 = time.perf_counter()
    X_bg, y_bg = load_omniglot("background", data_home=args.data_home, return_X_y=True)
    X_ev, y_ev = load_omniglot("evaluation", data_home=args.data_home, return_X_y=True)
    runs = load_omniglot_oneshot_runs(data_home=args.data_home)
    X_bg = np.asarray(X_bg, dtype=np.float32)
    X_ev = np.asarray(X_ev, dtype=np.float32)
    checks = {
        "background": (X_bg.shape, int(np.unique(y_bg).size), float(X_bg.min()), float(X_bg.max())),
        "evaluation": (X_ev.shape, int(np.unique(y_ev).size), float(X_ev.min()), float(X_ev.max())),
        "runs": (runs.train.shape, runs.test.shape, float(runs.train.min()), float(runs.train.max())),
    }
    print(f"data loaded in {time.perf_counter() - t0:.1f}s: {checks}", flush=True)
    assert X_bg.shape == (19280, 784) and np.unique(y_bg).size == 964, checks["background"]
    assert X_ev.shape == (13180, 784) and np.unique(y_ev).size == 659, checks["evaluation"]
    for arr in (X_bg, X_ev, runs.train, runs.test):
        assert 0.0 <= float(arr.min()) and float(arr.max()) <= 1.0, "pixels must be in [0, 1]"
        assert float(arr.max()) > 0.5, "pixels look unscaled or empty"

    meta = {
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "sklearn_meta": getattr(sklearn_meta, "__version__", "?"),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "argv": sys.argv,
        "eval_episodes": args.eval_episodes,
        "data_checks": {k: [str(x) for x in v] for k, v in checks.items()},
    }
    results = []
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    t_crit = float(student_t.ppf(0.975, runs.train.shape[0] - 1))

    for cfg in configs:
        print(f"\n=== {cfg['name']}: n_way={cfg['n_way']} n_shot={cfg['n_shot']} "
              f"n_query={cfg['n_query']} max_iter={cfg['max_iter']} "
              f"lr_decay_step={cfg['lr_decay_step']} "
              f"rotation_classes={cfg['rotation_classes']}", flush=True)
        if cfg.get("defaults"):
            # every parameter at its default: early stopping ("auto") is on for
            # the 19,280 background images
            clf = ProtoNetClassifier(input_shape=(1, 28, 28), random_state=0, device=args.device)
        else:
            clf = ProtoNetClassifier(
                backbone="conv4",
                input_shape=(1, 28, 28),
                n_way=cfg["n_way"],
                n_shot=cfg["n_shot"],
                n_query=cfg["n_query"],
                max_iter=cfg["max_iter"],
                lr=1e-3,
                lr_decay_step=cfg["lr_decay_step"],
                rotation_classes=cfg["rotation_classes"],
                early_stopping=False,
                random_state=0,
                device=args.device,
            )
        tic = time.perf_counter()
        clf.fit(X_bg, y_bg)
        fit_s = time.perf_counter() - tic
        hist = [
            {k: h[k] for k in ("iter", "train_loss", "train_acc", "valid_acc", "dur") if k in h}
            for h in getattr(clf, "history_", [])
        ]
        for h in hist:
            if h.get("iter", 0) % 500 == 0 or h is hist[-1]:
                print(f"  iter {h.get('iter')}: loss {h.get('train_loss', float('nan')):.4f} "
                      f"episode acc {h.get('train_acc', float('nan')):.3f}", flush=True)
        print(f"  fit {fit_s:.1f}s", flush=True)

        # Lake et al.'s 20 one-shot runs
        tic = time.perf_counter()
        n_runs, n_cls = runs.answer.shape
        per_run = []
        for r in range(n_runs):
            pred = clf.adapt(runs.train[r], np.arange(n_cls)).predict(runs.test[r])
            per_run.append(float(np.mean(pred == runs.answer[r])))
        per_run = np.asarray(per_run)
        n_correct = int(round(per_run.sum() * n_cls))
        lake = {
            "mean": float(per_run.mean()),
            "ci_t95_runs": float(t_crit * per_run.std(ddof=1) / np.sqrt(n_runs)),
            "wilson95_decisions": list(_wilson(n_correct, n_runs * n_cls)),
            "n_correct": n_correct,
            "n_decisions": n_runs * n_cls,
            "per_run": per_run.tolist(),
        }
        print(f"  Lake one-shot runs: {100 * lake['mean']:.2f} % +- {100 * lake['ci_t95_runs']:.2f} "
              f"({n_correct}/{n_runs * n_cls}) in {time.perf_counter() - tic:.1f}s", flush=True)

        # episodes on the evaluation set
        episodes = {}
        for way, shot in ((20, 1), (5, 5)):
            tic = time.perf_counter()
            res = evaluate_episodes(clf, X_ev, y_ev, n_way=way, n_shot=shot, n_query=5,
                                    n_episodes=args.eval_episodes, random_state=0)
            key = f"{way}w{shot}s"
            episodes[key] = {"mean": float(res.mean), "ci95": float(res.ci),
                             "seconds": time.perf_counter() - tic}
            print(f"  eval set {key}: {100 * res.mean:.2f} % +- {100 * res.ci:.2f} "
                  f"in {episodes[key]['seconds']:.1f}s", flush=True)

        stopping = {
            "n_iter": int(clf.n_iter_),
            "validation_scores": getattr(clf, "validation_scores_", None),
            "best_validation_score": getattr(clf, "best_validation_score_", None),
        }
        if stopping["validation_scores"] is not None:
            print(f"  early stopping: {clf.n_iter_} meta-updates, best validation "
                  f"{100 * clf.best_validation_score_:.2f} %", flush=True)
        results.append({**cfg, "fit_seconds": fit_s, "stopping": stopping,
                        "episode_shape": [int(v) for v in getattr(clf, "episode_shape_", ())],
                        "lake_oneshot": lake, "eval_episodes": episodes, "history": hist})
        out.write_text(json.dumps({"meta": meta, "results": results}, indent=2))

    meta["total_seconds"] = time.perf_counter() - t0
    out.write_text(json.dumps({"meta": meta, "results": results}, indent=2))

    header = ("| config | max_iter | lr_decay_step | fit (s) | Lake 20 runs, 20w1s (95 % t-CI over runs) "
              "| eval set 20w1s | eval set 5w5s |")
    print("\n" + header)
    print("|" + "---|" * 7)
    for r in results:
        e = r["eval_episodes"]
        rot = " + rotation classes" if r["rotation_classes"] else ""
        print(f"| {r['n_way']}-way {r['n_shot']}-shot {r['n_query']}-query{rot} | {r['max_iter']} "
              f"| {r['lr_decay_step']} | {r['fit_seconds']:.0f} "
              f"| {100 * r['lake_oneshot']['mean']:.1f} ± {100 * r['lake_oneshot']['ci_t95_runs']:.1f} "
              f"| {100 * e['20w1s']['mean']:.1f} ± {100 * e['20w1s']['ci95']:.1f} "
              f"| {100 * e['5w5s']['mean']:.1f} ± {100 * e['5w5s']['ci95']:.1f} |")
    print(f"\ntotal {meta['total_seconds']:.0f}s; JSON written to {out}")
    return results


if __name__ == "__main__":
    main()
