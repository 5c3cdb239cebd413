"""What a short ``MAMLClassifier.fit`` costs on Omniglot: the meta-updates it runs.

``fit`` used to end by adapting the meta-learned initialisation to every
training image (the head that predicts the training classes); on the
Omniglot background set that took about 90 % of a fit of a few meta-updates,
and a search with class-disjoint folds and the episodic scorer never used
it. The head is now adapted on first use (``predict``, ``build_head()``), so
a fit of N meta-updates costs about N updates.

Protocol
--------
* Data: Omniglot background (``load_omniglot("background")``: 964 characters,
  19,280 images of 28x28, pixels in [0, 1]), or its first ``--classes``
  characters for a shorter run.
* Estimator: ``MAMLClassifier`` at its defaults (a conv4 with instance norm,
  5-way 1-shot, 5 queries per class, meta-batch 32, second order), with
  ``max_iter`` set to each of ``--iters`` and ``early_stopping=False`` (the
  default ``"auto"`` turns it on above 10,000 images, and its validation
  episodes are another cost; ``--early-stopping`` keeps the default).
* Measured per ``max_iter``: wall time of ``fit`` itself, tasks/s of ``fit``
  (``max_iter * meta_batch_size / fit time``: the throughput a search sees),
  the meta-updates' own tasks/s (``history_``'s ``dur``), and the time of the
  first ``build_head()``: the adaptation ``fit`` no longer runs. Run with
  the code of a release that adapted in ``fit`` (no ``build_head``), the
  same script shows the old cost of ``fit``.
* Peer: learn2learn's MAML (``l2l.algorithms.MAML``, zero head per task, as
  in ``benchmarks/maml_omniglot.py``) on the episodes ``fit`` draws, for the
  largest ``max_iter``, timed the same way, when it is installed
  (``bash ../shared/tools/install_learn2learn.sh .venv``).

Usage::

    python benchmarks/maml_fit_cost.py --data-home ../shared/data --iters 2 12 --threads 1
    python benchmarks/maml_fit_cost.py --data-home ../shared/data --classes 200 --iters 2 12
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sklearn_meta import MAMLClassifier  # noqa: E402
from sklearn_meta.datasets import load_omniglot  # noqa: E402


def _load(args):
    X, y = load_omniglot("background", data_home=args.data_home, return_X_y=True)
    if args.classes is not None:
        keep = y < args.classes
        X, y = X[keep], y[keep]
    return X.reshape(-1, 1, 28, 28).astype(np.float32), y


def _fit_row(n_iter, X, y, args):
    clf = MAMLClassifier(max_iter=n_iter, early_stopping="auto" if args.early_stopping else False,
                         device=args.device, random_state=args.seed)
    tic = time.perf_counter()
    clf.fit(X, y)
    fit_s = time.perf_counter() - tic
    tasks = clf.n_iter_ * clf.meta_batch_size
    train_s = float(sum(row["dur"] for row in clf.history_))
    row = {
        "max_iter": n_iter,
        "fit_s": fit_s,
        "tasks": tasks,
        "fit_tasks_per_s": tasks / fit_s,
        "update_tasks_per_s": tasks / train_s,
        "head_s": None,
    }
    if hasattr(clf, "build_head"):
        tic = time.perf_counter()
        clf.build_head()
        row["head_s"] = time.perf_counter() - tic
    return row, clf


def _peer_row(clf, X, y, n_iter, args):
    """learn2learn on the episodes fit drew, timed through its loop."""
    import _maml_peers
    from maml_omniglot import _fit_episodes

    from sklearn_meta._devices import derive_seed, resolve_device
    from sklearn_meta.backbones import Conv4Backbone, build_backbone

    _maml_peers._import_l2l()
    device = resolve_device(args.device)
    features, n_features, _ = build_backbone(Conv4Backbone(norm="instance"), (1, 28, 28))
    codes = np.unique(y, return_inverse=True)[1]
    episodes = _fit_episodes(codes, 5, 1, 5, clf.meta_batch_size, n_iter, derive_seed(args.seed),
                             device)
    X_dev = torch.from_numpy(X).to(device)
    tic = time.perf_counter()
    _maml_peers.l2l_train(features.to(device), n_features, X_dev, episodes, n_way=5,
                          inner_lr=clf.inner_lr, n_inner_steps=clf.n_inner_steps,
                          first_order=False, lr=clf.lr, n_updates=n_iter)
    loop_s = time.perf_counter() - tic
    return {"max_iter": n_iter, "loop_s": loop_s,
            "tasks_per_s": n_iter * clf.meta_batch_size / loop_s}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iters", type=int, nargs="+", default=[2, 12])
    parser.add_argument("--classes", type=int, default=None,
                        help="use the first CLASSES characters only (a shorter run)")
    parser.add_argument("--early-stopping", action="store_true",
                        help="keep early_stopping='auto' (on above 10,000 images)")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--out", default="bench_results/maml_fit_cost.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)

    X, y = _load(args)
    # a first small fit pays the one-time costs (imports, kernel selection)
    MAMLClassifier(max_iter=1, device=args.device, random_state=args.seed).fit(X[:200], y[:200])
    rows, clf = [], None
    for n_iter in args.iters:
        row, clf = _fit_row(n_iter, X, y, args)
        rows.append(row)
    peer = None
    if not args.no_peers:
        try:
            peer = _peer_row(clf, X, y, max(args.iters), args)
        except ImportError as exc:
            print(f"no peer run: {exc}")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"args": vars(args), "rows": rows, "peer": peer}, indent=2))

    print(f"Omniglot background, {len(np.unique(y))} characters, {len(y)} images; "
          f"device {args.device}, {args.threads} thread(s), torch {torch.__version__}")
    print("| max_iter | tasks | fit (s) | tasks/s of fit | tasks/s of the updates | "
          "head on first use (s) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        head = "in fit" if r["head_s"] is None else f"{r['head_s']:.1f}"
        print(f"| {r['max_iter']} | {r['tasks']} | {r['fit_s']:.1f} | "
              f"{r['fit_tasks_per_s']:.1f} | {r['update_tasks_per_s']:.1f} | {head} |")
    if len(rows) >= 2:
        a, b = rows[0], rows[-1]
        per_update = (b["fit_s"] - a["fit_s"]) / (b["max_iter"] - a["max_iter"])
        fixed = a["fit_s"] - a["max_iter"] * per_update
        print(f"fit time = {fixed:.1f} s + {per_update:.2f} s per meta-update")
    if peer is not None:
        print(f"learn2learn, {peer['max_iter']} meta-updates on the same episodes: "
              f"{peer['loop_s']:.1f} s, {peer['tasks_per_s']:.1f} tasks/s")


if __name__ == "__main__":
    main()
