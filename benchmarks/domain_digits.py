"""MNIST <-> USPS domain adaptation: every method of DomainAdaptedClassifier.

For each task (M->U: MNIST source, USPS target; U->M the reverse) and each
seed, the script samples the ADDA protocol's training sets (2000 MNIST and
1800 USPS training images; USPS resized to 28x28 bilinearly), fits
``DomainAdaptedClassifier`` with ``method=None`` (source only) and every
adaptation method on the labelled source plus the unlabelled (y == -1)
target training images, and scores on the whole target test set (2007 USPS
or 10000 MNIST test images). Beside it, in the same process and on the same
network, data, batch size, optimiser and epochs, skada's DANN (skipped when
skada is not installed) with a working domain head: our two-hidden-layer
logit head behind a gradient reversal layer, trained with
``BCEWithLogitsLoss`` (skada's default head ends in a softmax over one
output, which is constant and gives no gradient).

``--select`` adds label-free model selection: DANN is fitted for each
``trade_off`` of a grid (seed 0), each scorer of ``make_da_scorer`` scores
each fit on held-out rows (500 labelled source and 500 unlabelled target
training images, never used to fit), and the table shows which trade_off
each scorer picks and the target test accuracy of that pick, beside the
best and worst of the grid.

Published numbers (Long et al. 2018, Table 4, taken from the ADDA protocol
for the first two): M->U source only 75.2, DANN 77.1, CDAN 93.9, CDAN+E 95.6;
U->M source only 57.1, DANN 73.0, CDAN 96.9, CDAN+E 98.0. They were obtained
with LeNet and (for CDAN) the full training sets on a GPU; this script's CPU
default budget is smaller (see benchmarks/README.md).

Run from the repository root:

    python benchmarks/domain_digits.py --threads 1 --seeds 0 1 2 --select

Data: mnist.npz and usps.npz from ``--data-home`` (default ../shared/data,
then SKLEARN_META_DATA).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sklearn_meta import DomainAdaptedClassifier  # noqa: E402
from sklearn_meta.backbones import Conv4Backbone  # noqa: E402
from sklearn_meta.datasets import load_mnist, load_usps  # noqa: E402
from sklearn_meta.model_selection import make_da_scorer  # noqa: E402
from sklearn_meta.transfer._adaptation import grad_reverse  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from domain_tables import parse_spec as parse_method_spec  # noqa: E402

PUBLISHED = {
    "M->U": {"source only": 75.2, "dann": 77.1, "cdan": 93.9, "cdan+e": 95.6},
    "U->M": {"source only": 57.1, "dann": 73.0, "cdan": 96.9, "cdan+e": 98.0},
}
METHODS = [None, "dann", "cdan", "cdan+e", "mmd", "coral", "mdd", "mcc", "bnm"]


def parse_spec(spec):
    """``"mcc:trade_off=3"`` -> ``("mcc", {"trade_off": 3.0})``; None stays None."""
    return (None, {}) if spec is None else parse_method_spec(spec)


def load_task(task, seed, data_home, n_mnist, n_usps, n_holdout):
    m_tr = load_mnist("train", data_home=data_home)
    m_te = load_mnist("test", data_home=data_home)
    u_tr = load_usps("train", image_size=28, data_home=data_home)
    u_te = load_usps("test", image_size=28, data_home=data_home)
    rng = np.random.RandomState(seed)
    im = rng.permutation(len(m_tr.target))
    iu = rng.permutation(len(u_tr.target))
    mnist = (m_tr.images[im[:n_mnist]], m_tr.target[im[:n_mnist]])
    usps = (u_tr.images[iu[:n_usps]], u_tr.target[iu[:n_usps]])
    mnist_hold = (m_tr.images[im[n_mnist : n_mnist + n_holdout]],
                  m_tr.target[im[n_mnist : n_mnist + n_holdout]])
    usps_hold = (u_tr.images[iu[n_usps : n_usps + n_holdout]],
                 u_tr.target[iu[n_usps : n_usps + n_holdout]])
    if task == "M->U":
        src, tgt, src_hold, tgt_hold, test = mnist, usps, mnist_hold, usps_hold, u_te
    else:
        src, tgt, src_hold, tgt_hold, test = usps, mnist, usps_hold, mnist_hold, m_te
    X = np.concatenate([src[0], tgt[0]])[:, None]
    y = np.concatenate([src[1], np.full(len(tgt[1]), -1)])
    X_hold = np.concatenate([src_hold[0], tgt_hold[0]])[:, None]
    y_hold = np.concatenate([src_hold[1], np.full(len(tgt_hold[1]), -1)])
    return dict(X=X, y=y, X_test=test.images[:, None], y_test=test.target,
                X_hold=X_hold, y_hold=y_hold)


def ours(method, args, seed, **extra):
    return DomainAdaptedClassifier(
        backbone=Conv4Backbone(channels=args.channels), method=method,
        max_epochs=args.epochs if args.epochs == "auto" else int(args.epochs),
        batch_size=args.batch_size, lr=args.lr,
        optimizer=args.optimizer, device=args.device, random_state=seed, **extra,
    )


def run_ours(spec, data, args, seed, **extra):
    method, params = parse_spec(spec)
    clf = ours(method, args, seed, **{**params, **extra})
    tic = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(data["X"], data["y"])
    fit_s = time.perf_counter() - tic
    acc = clf.score(data["X_test"], data["y_test"])
    epoch_s = float(np.mean(clf.history_[:, "dur"]))
    steps = clf.history_[-1, "train_batch_count"]
    return clf, dict(acc=acc, fit_s=fit_s, epoch_s=epoch_s, step_ms=1000 * epoch_s / steps)


class _Net(torch.nn.Module):
    """The same Conv4 + linear head, as a plain module for skada."""

    def __init__(self, channels, n_classes=10):
        super().__init__()
        self.features = Conv4Backbone(channels=channels).build((1, 28, 28))
        self.head = torch.nn.Linear(channels, n_classes)

    def forward(self, x, sample_weight=None):
        return self.head(self.features(x))


class _LogitDomainHead(torch.nn.Module):
    """Gradient reversal, then our domain head: one logit, no softmax."""

    def __init__(self, n_features, hidden=256):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(n_features, hidden), torch.nn.ReLU(),
            torch.nn.Linear(hidden, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1),
        )

    def forward(self, x, sample_weight=None):
        return self.net(grad_reverse(x, 1.0)).squeeze(1)


def skada_epochs(data, args):
    """``--epochs``, or for "auto" the epochs our "auto" gives this source (1,000 updates)."""
    if args.epochs != "auto":
        return int(args.epochs)
    n_batches = -(-int(np.sum(data["y"] != -1)) // args.batch_size)
    return max(20, -(-1000 // n_batches))


def run_skada(data, args, seed, name="DANN"):
    try:
        from skada import deep
    except ImportError:
        return None
    torch.manual_seed(seed)
    extra = {"T": 2.5} if name == "MCC" else {  # MCC: our (and the paper's) temperature
        "domain_classifier": _LogitDomainHead(args.channels),
        "domain_criterion": torch.nn.BCEWithLogitsLoss(),
    }
    net = getattr(deep, name)(
        _Net(args.channels), layer_name="features", reg=1.0, **extra,
        batch_size=args.batch_size, max_epochs=skada_epochs(data, args), lr=args.lr,
        optimizer=torch.optim.SGD, optimizer__momentum=0.9, optimizer__nesterov=True,
        train_split=None, device=args.device, verbose=0,
    )
    X = data["X"].astype(np.float32)
    sample_domain = np.where(data["y"] == -1, -2, 1)
    tic = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net.fit(X, data["y"], sample_domain=sample_domain)
    fit_s = time.perf_counter() - tic
    pred = net.predict(data["X_test"].astype(np.float32),
                       sample_domain=np.full(len(data["y_test"]), -2))
    acc = float(np.mean(pred == data["y_test"]))
    epoch_s = float(np.mean(net.history[:, "dur"]))
    steps = len(net.history[-1, "batches"])
    return dict(acc=acc, fit_s=fit_s, epoch_s=epoch_s, step_ms=1000 * epoch_s / steps)


def fmt(values):
    a = 100 * np.asarray(values)
    return f"{a.mean():.1f} ± {a.std():.1f}" if len(a) > 1 else f"{a.mean():.1f}"


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--tasks", nargs="+", default=["M->U", "U->M"])
    p.add_argument("--methods", nargs="+", default=["none", *METHODS[1:]])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--epochs", default="20",
                   help='epochs of every fit, or "auto": our max_epochs="auto" (1,000 updates)')
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--lr", type=float, default=0.01)
    p.add_argument("--optimizer", default="sgd")
    p.add_argument("--channels", type=int, default=32)
    p.add_argument("--n-mnist", type=int, default=2000)
    p.add_argument("--n-usps", type=int, default=1800)
    p.add_argument("--n-holdout", type=int, default=500)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--no-skada", action="store_true")
    p.add_argument("--skada", nargs="+", default=["DANN", "MCC"], choices=["DANN", "MCC"],
                   help="skada 0.6's deep methods to run beside ours")
    p.add_argument("--quick", action="store_true",
                   help="a first look: M->U, seed 0, source only and MCC, 3 epochs")
    p.add_argument("--select", action="store_true")
    p.add_argument("--grid", nargs="+", type=float, default=[0.03, 0.1, 0.3, 1.0, 3.0])
    p.add_argument("--data-home", default=os.environ.get(
        "DATA_HOME", str(ROOT.parent / "shared" / "data")))
    p.add_argument("--out", default=None)
    args = p.parse_args()
    if args.quick:
        args.tasks, args.seeds, args.methods, args.epochs = ["M->U"], [0], ["none", "mcc"], 3
        args.skada, args.select = ["MCC"], False
    if args.threads:
        torch.set_num_threads(args.threads)
    methods = [None if m == "none" else m for m in args.methods]
    print(f"device: {args.device}, torch threads {torch.get_num_threads()}, conv4-"
          f"{args.channels}, {args.epochs} epochs, batch {args.batch_size}+{args.batch_size}, "
          f"{args.optimizer} lr {args.lr}, seeds {args.seeds}", flush=True)
    results = {"args": vars(args), "runs": [], "select": []}
    for task in args.tasks:
        for seed in args.seeds:
            data = load_task(task, seed, args.data_home, args.n_mnist, args.n_usps,
                             args.n_holdout)
            for method in methods:
                _, r = run_ours(method, data, args, seed)
                r.update(task=task, seed=seed, method=method or "source only", lib="sklearn_meta")
                results["runs"].append(r)
                print(json.dumps(r), flush=True)
            for name in [] if args.no_skada else args.skada:
                r = run_skada(data, args, seed, name)
                if r is not None:
                    r.update(task=task, seed=seed, method=name.lower(), lib="skada")
                    results["runs"].append(r)
                    print(json.dumps(r), flush=True)
        if args.select:
            data = load_task(task, args.seeds[0], args.data_home, args.n_mnist,
                             args.n_usps, args.n_holdout)
            scorers = {k: make_da_scorer(k) for k in ("entropy", "iwv", "dev")}
            for t in args.grid:
                clf, r = run_ours("dann", data, args, args.seeds[0], trade_off=t)
                r.update(task=task, trade_off=t, scores={
                    k: s(clf, data["X_hold"], data["y_hold"]) for k, s in scorers.items()
                })
                results["select"].append(r)
                print(json.dumps(r), flush=True)
    report(results, methods)
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(results, indent=1))


def report(results, methods):
    runs = results["runs"]
    tasks = list(OrderedDict.fromkeys(r["task"] for r in runs))
    print("\ntarget test accuracy (%), mean ± std over seeds; s/epoch of our fit")
    print("| method | " + " | ".join(f"{t} ours | {t} published" for t in tasks)
          + " | s/epoch | ms/step |")
    print("|---|" + "---|---|" * len(tasks) + "---|---|")
    rows = [(m or "source only", "sklearn_meta") for m in methods]
    rows += [(name, "skada") for name in ("dann", "mcc")]
    for name, lib in rows:
        cells, times, steps = [], [], []
        for t in tasks:
            rs = [r for r in runs if r["task"] == t and r["method"] == name and r["lib"] == lib]
            cells.append(fmt([r["acc"] for r in rs]) if rs else "-")
            cells.append(str(PUBLISHED[t].get(name, "-")) if lib == "sklearn_meta" else "-")
            times += [r["epoch_s"] for r in rs]
            steps += [r["step_ms"] for r in rs]
        if all(c == "-" for c in cells[::2]):
            continue
        label = name if lib == "sklearn_meta" else f"{name} (skada 0.6)"
        print(f"| {label} | " + " | ".join(cells)
              + f" | {np.mean(times):.2f} | {np.mean(steps):.1f} |")
    sel = results["select"]
    if sel:
        print("\nlabel-free selection of DANN's trade_off (held-out rows, no target label)")
        print("| task | scorer | picks trade_off | its target acc | best of grid | worst |")
        print("|---|---|---|---|---|---|")
        for t in OrderedDict.fromkeys(r["task"] for r in sel):
            rs = [r for r in sel if r["task"] == t]
            best = max(r["acc"] for r in rs)
            worst = min(r["acc"] for r in rs)
            for k in ("entropy", "iwv", "dev"):
                pick = max(rs, key=lambda r: r["scores"][k])
                print(f"| {t} | {k} | {pick['trade_off']} | {100 * pick['acc']:.1f} | "
                      f"{100 * best:.1f} | {100 * worst:.1f} |")


if __name__ == "__main__":
    main()
