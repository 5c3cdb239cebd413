"""ProtoNet meta-trained on Omniglot's original PNG files against the shipped arrays.

Training: the 2,720 images (136 characters) of the official
``images_background_small1`` subset, three ways, each with
``ProtoNetClassifier(n_way=--n-way, max_iter=--max-iter, random_state=0)``
and otherwise the defaults (Conv4, 1-shot episodes with 5 queries, Adam 1e-3):

- **files**: the original 105x105 PNG files,
  ``load_omniglot("small1", return_paths=True)``, with ``image_size=28``:
  the fit decodes them (grey, [0, 1]) and resizes them with antialiasing.
  They are black ink on white paper.
- **arrays**: the shipped 28x28 arrays of the same images,
  ``load_omniglot("small1").images`` (float32 in [0, 1], taken as given),
  which are white ink on black (inverted, then LANCZOS-resized by PIL; see
  ``shared/data/README.md``). Compared as they come.
- **arrays inverted**: ``1 - images`` (``255 - x`` in uint8 terms), black
  ink on white like the files; only the resize differs from ``files``.

Testing: the characters of ``images_background_small2`` that small1 lacks
(``load_omniglot("small2", disjoint_from="small1")``: Japanese (katakana),
Sanskrit and Tagalog, 106 characters, 2,120 images), as files for the files
model and as arrays (as shipped, or inverted) for the arrays models, with
:func:`~sklearn_meta.model_selection.evaluate_episodes`, 5-way and 20-way
1-shot, 15 queries, ``--n-episodes`` episodes, the same ``random_state`` for
every model (the same episodes), mean and 95 % confidence interval. The
files model is also scored on the inverted test arrays (same episodes), which
separates the decoding from the training.

Also reported: the mean absolute difference, in 0-255 grey levels, between
the files as resized here (PIL ``L``, torchvision's antialiased bilinear
resize to 28x28) and ``255 - x`` of the shipped arrays; fit and evaluation
seconds of every model (the files model decodes the files of every episode
in ``adapt`` and ``predict``). One torch thread, CPU.

Usage (from the repository root)::

    python benchmarks/images_omniglot_files.py               # 300 60-way updates, 600 episodes
    python benchmarks/images_omniglot_files.py --n-way 20 --max-iter 100 --n-episodes 300
    python benchmarks/images_omniglot_files.py --quick       # 30 updates, 50 episodes

The official zips are looked for in ``--data-home`` (default: the shared
data folder) and extracted once into ``--extract-to`` (default under
``/tmp``). The JSON report goes to ``--out`` (default
``$OUT/images_omniglot_files.json`` when ``$OUT`` is set, else
``bench_results/images_omniglot_files.json``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

import sklearn_meta
from sklearn_meta import ProtoNetClassifier
from sklearn_meta.datasets import load_omniglot
from sklearn_meta.model_selection import evaluate_episodes

REPO_ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ((5, 1), (20, 1))


def _default_data_home():
    for folder in (os.environ.get("SKLEARN_META_DATA"), REPO_ROOT.parent / "shared" / "data",
                   "/work/shared/data"):
        if folder and (Path(folder) / "raw" / "brendenlake_omniglot").is_dir():
            return str(folder)
    return None


def resize_difference(paths, arrays):
    """Mean |files resized here - (255 - shipped array)| in grey levels."""
    from PIL import Image
    from torchvision.transforms.v2 import functional as TF

    diffs = []
    for p, a in zip(paths, arrays):
        with Image.open(p) as img:
            x = torch.from_numpy(np.asarray(img.convert("L")).copy())[None]
        x = TF.resize(x, [28, 28], antialias=True)[0].numpy().astype(np.float32)
        diffs.append(np.abs(x - (255 - np.round(a * 255))).mean())
    return float(np.mean(diffs))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--max-iter", type=int, default=300, help="meta-updates of each fit")
    parser.add_argument("--n-way", type=int, default=60, help="classes per training episode")
    parser.add_argument("--n-episodes", type=int, default=600)
    parser.add_argument("--n-query", type=int, default=15)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--extract-to", default="/tmp/sklearn_meta_bench_omniglot")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true",
                        help="30 meta-updates, 50 episodes: checks the script runs")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.max_iter, args.n_episodes = 30, 50
    torch.set_num_threads(args.threads)
    home = args.data_home or _default_data_home()

    kw = {"data_home": home, "return_paths": True, "extract_to": args.extract_to}
    train_files = load_omniglot("small1", **kw)
    test_files = load_omniglot("small2", disjoint_from="small1", **kw)
    train_arr = load_omniglot("small1")
    test_arr = load_omniglot("small2", disjoint_from="small1")
    assert (train_files.target == train_arr.target).all()
    assert (test_files.target == test_arr.target).all()
    diff = resize_difference(train_files.data, train_arr.images)
    print(f"small1: {len(train_files.data)} PNG files / arrays, "
          f"{len(np.unique(train_files.target))} characters; small2 without small1's alphabets: "
          f"{len(test_files.data)} images, {len(np.unique(test_files.target))} characters")
    print(f"files resized here vs 255 - shipped arrays: mean |difference| {diff:.2f} grey levels")
    print(f"ProtoNetClassifier(n_way={args.n_way}, max_iter={args.max_iter}, "
          f"random_state={args.seed}); "
          f"{args.n_episodes} episodes per setting, {args.n_query} queries; torch "
          f"{torch.__version__}, {args.threads} thread(s); sklearn_meta {sklearn_meta.__version__}")

    runs = {  # name: (training X, extra fit params, test sets scored)
        "files": (train_files.data, {"image_size": 28},
                  {"files": test_files.data, "1 - arrays": 1 - test_arr.images}),
        "arrays": (train_arr.images, {}, {"arrays": test_arr.images}),
        "arrays inverted": (1 - train_arr.images, {}, {"1 - arrays": 1 - test_arr.images}),
    }
    rows = []
    for name, (X, params, tests) in runs.items():
        clf = ProtoNetClassifier(n_way=args.n_way, max_iter=args.max_iter,
                                 random_state=args.seed, device="cpu", **params)
        tic = time.perf_counter()
        clf.fit(X, train_files.target)
        fit_s = time.perf_counter() - tic
        for test_name, X_test in tests.items():
            for n_way, n_shot in SETTINGS:
                tic = time.perf_counter()
                res = evaluate_episodes(clf, X_test, test_files.target, n_way=n_way,
                                        n_shot=n_shot, n_query=args.n_query,
                                        n_episodes=args.n_episodes, random_state=2017)
                rows.append({"model": name, "test_X": test_name, "n_way": n_way,
                             "n_shot": n_shot, "mean": float(res.mean), "ci": float(res.ci),
                             "fit_s": fit_s, "eval_s": time.perf_counter() - tic})
                r = rows[-1]
                print(f"  {name} on {test_name}, {n_way}-way {n_shot}-shot: "
                      f"{100 * r['mean']:.1f} ± {100 * r['ci']:.1f} % "
                      f"(fit {fit_s:.0f} s, eval {r['eval_s']:.0f} s)", flush=True)

    print("\n| model trained on | scored on | 5-way 1-shot (%) | 20-way 1-shot (%) | fit s | "
          "eval s (both settings) |")
    print("|---|---|---:|---:|---:|---:|")
    for i in range(0, len(rows), len(SETTINGS)):
        a, b = rows[i], rows[i + 1]
        print(f"| {a['model']} | {a['test_X']} | {100 * a['mean']:.1f} ± {100 * a['ci']:.1f} | "
              f"{100 * b['mean']:.1f} ± {100 * b['ci']:.1f} | {a['fit_s']:.0f} | "
              f"{a['eval_s'] + b['eval_s']:.0f} |")

    out = Path(args.out) if args.out else (
        Path(os.environ["OUT"]) / "images_omniglot_files.json" if os.environ.get("OUT")
        else REPO_ROOT / "bench_results" / "images_omniglot_files.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"args": vars(args), "data_home": home, "torch": torch.__version__,
              "platform": platform.platform(), "resize_mean_abs_diff": diff, "results": rows}
    out.write_text(json.dumps(report, indent=2))
    print(f"\nJSON report: {out}")


if __name__ == "__main__":
    main()
