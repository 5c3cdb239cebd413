"""What embedding a frozen backbone once saves in ``FineTuneClassifier.fit``.

With ``freeze="backbone"`` the backbone's output does not change during
training, so ``fit`` runs it once over the training rows (eval mode, inference
chunks, features kept on the device) and every minibatch step trains the head
on the stored features. Before, every minibatch step ran the whole network.
This script times both on the same data, backbone and seed in one process.

Workload: a backbone is first "pretrained" by a short
``FineTuneClassifier`` fit on MNIST digits 0-4 (``--pretrain-samples``
images, ``--pretrain-epochs`` epochs); the fitted estimator is then the
frozen backbone of ``FineTuneClassifier(backbone=pre, freeze="backbone",
max_epochs=--epochs, batch_size=64, random_state=0)`` trained on
``--n-samples`` images of digits 5-9 and scored on the test images of 5-9.
Backbones (``--backbones``): ``resnet18`` (torchvision, no downloaded
weights, images padded to 32x32, 512-d features) and ``conv4`` (28x28,
64-d features).

The two paths:

- **stored**: the estimator as shipped (``history_`` records
  ``stored_features=True``);
- **per step**: the same estimator with its private predicate
  ``FineTuneClassifier._embeds_once`` patched to return False, which is the
  path every fit took before (a forward pass of the whole network per
  minibatch, the frozen backbone in eval mode). Nothing else differs.

Each fit is timed end to end (``fit(X, y)``, ``torch.cuda.synchronize()`` on
CUDA). One warm-up fit per path, then ``--repeats`` fits per path,
interleaved; the median is reported. ``torch.set_num_threads(--threads)``
(default 1). Test accuracy and the largest difference of ``predict_proba``
between the two paths are measured outside the timings.

Data: ``mnist.npz`` through :func:`sklearn_meta.datasets.load_mnist`
(``--data-home``, ``$SKLEARN_META_DATA``, ``../shared/data``).

Usage (from the repository root)::

    python benchmarks/finetune_frozen.py                 # 2,000 images, 10 epochs
    python benchmarks/finetune_frozen.py --quick         # a smoke run, about a minute
    python benchmarks/finetune_frozen.py --device cuda --threads 4

The JSON report goes to ``--out`` (default ``$OUT/finetune_frozen.json`` when
``$OUT`` is set, else ``bench_results/finetune_frozen.json``).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import time
from pathlib import Path
from unittest import mock

import numpy as np
import torch

import sklearn_meta
from sklearn_meta import FineTuneClassifier
from sklearn_meta.datasets import load_mnist

REPO_ROOT = Path(__file__).resolve().parents[1]
PATHS = ("stored", "per step")
SIZES = {"resnet18": 32, "conv4": 28}


def load_data(args):
    """MNIST images (n, 1, 28, 28) in [0, 1] and labels, train and test."""
    home = args.data_home or os.environ.get("SKLEARN_META_DATA")
    if home is None and (REPO_ROOT.parent / "shared" / "data" / "mnist.npz").is_file():
        home = REPO_ROOT.parent / "shared" / "data"
    train = load_mnist("train", data_home=home)
    test = load_mnist("test", data_home=home)
    source = train.DESCR.split("; from ")[-1].split(". LeCun")[0]
    return train.images[:, None], train.target, test.images[:, None], test.target, source


def pad_to(X, size):
    pad = (size - X.shape[-1]) // 2
    return np.pad(X, ((0, 0), (0, 0), (pad, pad), (pad, pad))) if pad else X


def _sync(device):
    if device == "cuda":
        torch.cuda.synchronize()


def fit_timed(pre, X, y, args, path):
    clf = FineTuneClassifier(
        backbone=pre, freeze="backbone", max_epochs=args.epochs, batch_size=64,
        device=args.device, random_state=0,
    )
    ctx = (mock.patch.object(FineTuneClassifier, "_embeds_once", lambda self: False)
           if path == "per step" else contextlib.nullcontext())
    with ctx:
        _sync(args.device)
        tic = time.perf_counter()
        clf.fit(X, y)
        _sync(args.device)
        return clf, time.perf_counter() - tic


def run_backbone(name, data, args):
    x_train, y_train, x_test, y_test = data
    size = SIZES[name]
    old = np.flatnonzero(y_train < 5)[: args.pretrain_samples]
    new = np.flatnonzero(y_train >= 5)[: args.n_samples]
    test = np.flatnonzero(y_test >= 5)[: args.test_samples]
    X_pre, y_pre = pad_to(x_train[old], size), y_train[old]
    X, y = pad_to(x_train[new], size), y_train[new]
    X_test, y_test = pad_to(x_test[test], size), y_test[test]

    tic = time.perf_counter()
    pre = FineTuneClassifier(backbone=name, max_epochs=args.pretrain_epochs, batch_size=64,
                             device=args.device, random_state=0).fit(X_pre, y_pre)
    pretrain_s = time.perf_counter() - tic

    times = {p: [] for p in PATHS}
    models = {}
    for p in PATHS:  # warm-up
        models[p], _ = fit_timed(pre, X, y, args, p)
    for r in range(args.repeats):
        for p in PATHS[r % 2:] + PATHS[: r % 2]:
            models[p], t = fit_timed(pre, X, y, args, p)
            times[p].append(t)
    assert models["stored"].history_[:, "stored_features"] == [True] * args.epochs
    assert models["per step"].history_[:, "stored_features"] == [False] * args.epochs
    proba = {p: models[p].predict_proba(X_test) for p in PATHS}
    row = {
        "backbone": name,
        "image_size": size,
        "n_features": int(models["stored"].module_.head.in_features),
        "pretrain_s": round(pretrain_s, 2),
        "fit_s": {p: statistics.median(times[p]) for p in PATHS},
        "fit_s_all": times,
        "test_acc": {p: float(models[p].score(X_test, y_test)) for p in PATHS},
        "max_abs_proba_diff": float(np.abs(proba["stored"] - proba["per step"]).max()),
    }
    row["speedup"] = row["fit_s"]["per step"] / row["fit_s"]["stored"]
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backbones", nargs="+", default=["resnet18", "conv4"],
                        choices=sorted(SIZES))
    parser.add_argument("--n-samples", type=int, default=2000)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--pretrain-samples", type=int, default=3000)
    parser.add_argument("--pretrain-epochs", type=int, default=1)
    parser.add_argument("--test-samples", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--quick", action="store_true",
                        help="500 images, 3 epochs, 1 repeat: checks the script runs")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.n_samples, args.epochs, args.repeats = 500, 3, 1
        args.pretrain_samples, args.test_samples = 500, 500
    torch.set_num_threads(args.threads)

    x_train, y_train, x_test, y_test, source = load_data(args)
    print(f"MNIST from {source}; torch {torch.__version__}, {args.threads} thread(s), "
          f"device {args.device}; sklearn_meta {sklearn_meta.__version__}")
    print(f"{args.n_samples} images of digits 5-9, {args.epochs} epochs, batch 64, "
          f"median of {args.repeats}")
    rows = [run_backbone(b, (x_train, y_train, x_test, y_test), args) for b in args.backbones]

    print(f"\n{'backbone':<10} {'features':>8} {'per step (s)':>13} {'stored (s)':>11} "
          f"{'speed-up':>9} {'acc per step':>13} {'acc stored':>11} {'max |dp|':>9}")
    for r in rows:
        print(f"{r['backbone']:<10} {r['n_features']:>8} {r['fit_s']['per step']:>13.2f} "
              f"{r['fit_s']['stored']:>11.2f} {r['speedup']:>8.1f}x "
              f"{r['test_acc']['per step']:>13.4f} {r['test_acc']['stored']:>11.4f} "
              f"{r['max_abs_proba_diff']:>9.1e}")

    out = Path(args.out) if args.out else (
        Path(os.environ["OUT"]) / "finetune_frozen.json" if os.environ.get("OUT")
        else REPO_ROOT / "bench_results" / "finetune_frozen.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {
        "args": vars(args), "data": source, "torch": torch.__version__,
        "platform": platform.platform(), "processor": platform.processor(),
        "device_name": (torch.cuda.get_device_name() if args.device == "cuda" else "cpu"),
        "results": rows,
    }
    out.write_text(json.dumps(report, indent=2))
    print(f"\nJSON report: {out}")


if __name__ == "__main__":
    main()
