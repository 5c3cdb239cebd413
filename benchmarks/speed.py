"""Each estimator against its peer on the same work, float32 and bf16, in one run.

Protocol
--------
Every part times ours and the peers on the same data, network shape,
episode or batch shapes and device, in rounds that alternate the order of
the contenders (and of the precisions); the median over ``--rounds`` rounds
is reported, with its ratio to the peer. bf16 means ``precision="bf16"`` for
ours and the peer's training under ``torch.autocast(dtype=torch.bfloat16)``
(its whole fit, as a user would wrap it). One torch thread unless
``--threads``.

* ``protonet``: ``ProtoNetClassifier(backbone="conv4", n_way=W, n_shot=1,
  n_query=5)`` against easyfsl's ``PrototypicalNetworks`` around the same
  Conv4 (``fewshot_omniglot.py``'s ``conv4_sequential``), trained by a loop
  over easyfsl's ``TaskSampler`` episodes with Adam, on Omniglot background
  characters, 60-way and 5-way. Ours is timed through ``fit`` itself, its
  fixed costs cancelled: ``fit(max_iter=K2)`` minus ``fit(max_iter=K1)``
  over ``K2 - K1`` meta-updates (the issue's method); easyfsl's loop is
  timed over ``K2 - K1`` episodes after ``K1`` warm-up ones. Reported:
  meta-updates per second.
* ``finetune``: ``FineTuneClassifier(backbone=Conv4Backbone(channels=32),
  freeze="none", optimizer="adam")`` on MNIST images (28x28) against a
  hand-written loop over device tensors and against skorch's
  ``NeuralNetClassifier`` with the same network, batch size and optimiser.
  Reported: seconds per epoch (ours and skorch from ``history_`` /
  ``history``'s ``dur``, the hand loop timed per epoch), the mean over
  ``--epochs`` epochs after the first.
* ``dann``: ``DomainAdaptedClassifier(Conv4Backbone(channels=32),
  method="dann")`` against skada's ``DANN`` on MNIST -> USPS (the networks of
  ``domain_digits.py``, SGD with Nesterov momentum): seconds per epoch from
  both histories, after the first epoch.

* ``maml``: ``MAMLClassifier`` with the algorithm of
  ``_maml_peers.l2l_train`` (``Conv4Backbone(norm="instance")``, 5-way
  1-shot 5-query, meta-batch 32, second order, 1 inner step of 0.4, a zero
  head per task, ``backtrack=False``) against learn2learn's ``MAML`` on the
  episodes ``fit`` draws, Omniglot background characters. Ours through
  ``fit``: ``fit(max_iter=K2)`` minus ``fit(max_iter=K1)``
  (``--maml-k1``, ``--maml-k2``); learn2learn's loop over ``K2 - K1``
  meta-updates after one warm-up update. Reported: tasks per second.

Peers are imported from ``PYTHONPATH`` (``/work/peers`` on the development
machines; learn2learn from its own folder, see ``_maml_peers.py``); a
missing one is skipped with a note.

Usage (from the repository root)::

    PYTHONPATH=.:../peers OMP_NUM_THREADS=1 python benchmarks/speed.py --rounds 5
    PYTHONPATH=.:../peers-l2l OMP_NUM_THREADS=1 python benchmarks/speed.py --parts maml
    python benchmarks/speed.py --device cuda --data-home .bench_data  # gpu_check.sh, "speed"
    PYTHONPATH=. OMP_NUM_THREADS=1 python benchmarks/speed.py --accuracy   # bf16's cost

``--accuracy``: the test score of each estimator fitted at float32 and at
bf16 with the same seed and data (ours only, no timing): FineTune (5
epochs, 3,000 MNIST images, 2,000 test images), DANN (MNIST -> USPS, 10
epochs, the USPS test set), MAML and Reptile (``--meta-iters`` meta-updates
of 5-way 1-shot, meta-batch 4, on 200 Omniglot background characters;
5-way 1-shot accuracy over 200 episodes of 100 evaluation characters),
MAMLRegressor (300 meta-updates on 200 sinusoid tasks; 5-shot mean squared
error on 100 new tasks).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from domain_digits import _LogitDomainHead, _Net, load_task
from fewshot_omniglot import (
    conv4_sequential,
    easyfsl_task_sampler,
    make_easyfsl_dataset,
)
from speed_layout import load as load_omniglot

from sklearn_meta import (
    DomainAdaptedClassifier,
    FineTuneClassifier,
    MAMLClassifier,
    MAMLRegressor,
    ProtoNetClassifier,
    ReptileClassifier,
)
from sklearn_meta.backbones import Conv4Backbone, build_backbone
from sklearn_meta.datasets import make_sinusoids
from sklearn_meta.model_selection import evaluate_episodes

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
PRECISIONS = ("float32", "bf16")


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peer_autocast(precision, device):
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def rounds(contenders, n_rounds, run):
    """``run(c)`` for each contender, in an order rotated (and reversed) each round."""
    times = {c: [] for c in contenders}
    for r in range(n_rounds):
        order = contenders[r % len(contenders):] + contenders[: r % len(contenders)]
        if r % 2:
            order = order[::-1]
        for c in order:
            times[c].append(run(c))
        print(f"  round {r + 1}/{n_rounds}", flush=True)
    return {c: float(np.median(v)) for c, v in times.items()}, times


# ------------------------------------------------------------------ ProtoNet
def omniglot(n_classes):
    return load_omniglot(n_classes, DATA / "omniglot.npz")


def protonet_ours(X, y, way, precision, iters, device):
    def fit(k):
        clf = ProtoNetClassifier(backbone="conv4", n_way=way, n_shot=1, n_query=5, max_iter=k,
                                 early_stopping=False, precision=precision,
                                 device=str(device), random_state=0)
        sync(device)
        tic = time.perf_counter()
        clf.fit(X, y)
        sync(device)
        return time.perf_counter() - tic

    k1, k2 = iters
    return (k2 - k1) / (fit(k2) - fit(k1))


def protonet_easyfsl(dataset, way, precision, iters, device):
    from easyfsl.methods import PrototypicalNetworks
    from torch.utils.data import DataLoader

    torch.manual_seed(0)
    random.seed(0)
    model = PrototypicalNetworks(conv4_sequential()).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    k1, k2 = iters
    sampler = easyfsl_task_sampler(dataset, n_way=way, n_shot=1, n_query=5, n_tasks=k2)
    loader = DataLoader(dataset, batch_sampler=sampler, collate_fn=sampler.episodic_collate_fn)
    model.train()
    running = torch.zeros((), device=device)
    tic = None
    for episode, (s_img, s_lab, q_img, q_lab, _) in enumerate(loader):
        if episode == k1:
            sync(device)
            tic = time.perf_counter()
        with peer_autocast(precision, device):
            model.process_support_set(s_img.to(device), s_lab.to(device))
            loss = F.cross_entropy(model(q_img.to(device)).float(), q_lab.to(device))
        opt.zero_grad()
        loss.backward()
        opt.step()
        running += loss.detach()
    running.item()
    sync(device)
    return (k2 - k1) / (time.perf_counter() - tic)


def part_protonet(args, device):
    try:
        import easyfsl  # noqa: F401
    except ImportError:
        print("protonet: easyfsl is not installed; ours alone")
        have_peer = False
    else:
        have_peer = True
    X, y = omniglot(args.classes)
    dataset = make_easyfsl_dataset(X[:, 0], y) if have_peer else None
    rows = []
    for way in (60, 5):
        iters = (args.k1, args.k2) if way == 60 else (3 * args.k1, 3 * args.k2)
        contenders = [(who, p) for who in (("ours", "easyfsl") if have_peer else ("ours",))
                      for p in PRECISIONS]

        def run(c, way=way, iters=iters):
            who, p = c
            if who == "ours":
                return protonet_ours(X, y, way, p, iters, device)
            return protonet_easyfsl(dataset, way, p, iters, device)

        print(f"protonet {way}-way 1-shot 5-query, updates {iters[1]} - {iters[0]}", flush=True)
        med, all_ = rounds(contenders, args.rounds, run)
        for p in PRECISIONS:
            row = {"part": "protonet", "work": f"{way}-way 1-shot", "precision": p,
                   "unit": "updates/s", "ours": med[("ours", p)],
                   "ours_rounds": all_[("ours", p)]}
            if have_peer:
                row.update(peer="easyfsl", peer_value=med[("easyfsl", p)],
                           peer_rounds=all_[("easyfsl", p)],
                           ratio=med[("ours", p)] / med[("easyfsl", p)])
            rows.append(row)
    return rows


# ---------------------------------------------------------------- fine-tuning
def mnist(n):
    d = np.load(DATA / "mnist.npz")
    X = (d["x_train"][:n] / 255.0).astype(np.float32)[:, None]
    return X, d["y_train"][:n].astype(np.int64)


def _conv4_head(channels, n_classes=10):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.features = Conv4Backbone(channels=channels).build((1, 28, 28))
            self.head = nn.Linear(channels, n_classes)

        def forward(self, x):
            return self.head(self.features(x))

    return Net()


def finetune_ours(X, y, precision, args, device):
    clf = FineTuneClassifier(backbone=Conv4Backbone(channels=32), freeze="none",
                             optimizer="adam", max_epochs=args.epochs, batch_size=64,
                             early_stopping=False, precision=precision, device=str(device),
                             random_state=0).fit(X, y)
    return float(np.mean(clf.history_[1:, "dur"]))


def finetune_hand(X, y, precision, args, device):
    torch.manual_seed(0)
    X_t, y_t = torch.from_numpy(X).to(device), torch.from_numpy(y).to(device)
    model = _conv4_head(32).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    gen = torch.Generator(device=device).manual_seed(0)
    durs = []
    model.train()
    for _ in range(args.epochs):
        sync(device)
        tic = time.perf_counter()
        perm = torch.randperm(len(y), generator=gen, device=device)
        total = torch.zeros((), device=device)
        for start in range(0, len(y), 64):
            idx = perm[start:start + 64]
            with peer_autocast(precision, device):
                loss = F.cross_entropy(model(X_t[idx]).float(), y_t[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach()
        total.item()
        sync(device)
        durs.append(time.perf_counter() - tic)
    return float(np.mean(durs[1:]))


def finetune_skorch(X, y, precision, args, device):
    from skorch import NeuralNetClassifier

    torch.manual_seed(0)
    net = NeuralNetClassifier(_conv4_head, module__channels=32, criterion=nn.CrossEntropyLoss,
                              optimizer=torch.optim.Adam, lr=1e-3, max_epochs=args.epochs,
                              batch_size=64, train_split=None, iterator_train__shuffle=True,
                              device=str(device), verbose=0)
    with peer_autocast(precision, device):
        net.fit(X, y)
    return float(np.mean(net.history[1:, "dur"]))


def part_finetune(args, device):
    X, y = mnist(args.n_finetune)
    fits = {"ours": finetune_ours, "hand loop": finetune_hand, "skorch": finetune_skorch}
    contenders = [(who, p) for who in fits for p in PRECISIONS]
    print(f"finetune: conv4-32 on {len(y)} MNIST images, {args.epochs} epochs", flush=True)
    med, all_ = rounds(contenders, args.rounds,
                       lambda c: fits[c[0]](X, y, c[1], args, device))
    rows = []
    for p in PRECISIONS:
        for peer in ("hand loop", "skorch"):
            rows.append({"part": "finetune", "work": f"epoch of {len(y)} images",
                         "precision": p, "unit": "s/epoch", "ours": med[("ours", p)],
                         "ours_rounds": all_[("ours", p)], "peer": peer,
                         "peer_value": med[(peer, p)], "peer_rounds": all_[(peer, p)],
                         "ratio": med[("ours", p)] / med[(peer, p)]})
    return rows


# ------------------------------------------------------------------- DANN
def dann_ours(data, precision, args, device):
    clf = DomainAdaptedClassifier(backbone=Conv4Backbone(channels=32), method="dann",
                                  max_epochs=args.epochs, batch_size=64, lr=0.01,
                                  optimizer="sgd", early_stopping=False, precision=precision,
                                  device=str(device), random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf.fit(data["X"], data["y"])
    return float(np.mean(clf.history_[1:, "dur"]))


def dann_skada(data, precision, args, device):
    from skada.deep import DANN

    torch.manual_seed(0)
    net = DANN(_Net(32), layer_name="features", reg=1.0,
               domain_classifier=_LogitDomainHead(32),
               domain_criterion=torch.nn.BCEWithLogitsLoss(), batch_size=64,
               max_epochs=args.epochs, lr=0.01, optimizer=torch.optim.SGD,
               optimizer__momentum=0.9, optimizer__nesterov=True, train_split=None,
               device=str(device), verbose=0)
    sample_domain = np.where(data["y"] == -1, -2, 1)
    with warnings.catch_warnings(), peer_autocast(precision, device):
        warnings.simplefilter("ignore")
        net.fit(data["X"].astype(np.float32), data["y"], sample_domain=sample_domain)
    return float(np.mean(net.history[1:, "dur"]))


def part_dann(args, device):
    try:
        import skada  # noqa: F401
    except ImportError:
        print("dann: skada is not installed; skipped")
        return []
    data = load_task("M->U", 0, str(DATA), args.n_mnist, args.n_usps, 0)
    fits = {"ours": dann_ours, "skada": dann_skada}
    contenders = [(who, p) for who in fits for p in PRECISIONS]
    print(f"dann: MNIST {args.n_mnist} -> USPS {args.n_usps}, {args.epochs} epochs", flush=True)
    med, all_ = rounds(contenders, args.rounds, lambda c: fits[c[0]](data, c[1], args, device))
    return [{"part": "dann", "work": "epoch M->U", "precision": p, "unit": "s/epoch",
             "ours": med[("ours", p)], "ours_rounds": all_[("ours", p)], "peer": "skada",
             "peer_value": med[("skada", p)], "peer_rounds": all_[("skada", p)],
             "ratio": med[("ours", p)] / med[("skada", p)]} for p in PRECISIONS]


# ---------------------------------------------------------------------- MAML
def _maml_clf(k, precision, device):
    # the algorithm learn2learn runs in _maml_peers.l2l_train: second order, a
    # zero head per task, plain inner steps (Finn et al.'s 5-way Omniglot)
    return MAMLClassifier(backbone=Conv4Backbone(norm="instance"), n_way=5, n_shot=1,
                          n_query=5, n_inner_steps=1, inner_lr=0.4, head_init="zero",
                          backtrack=False, meta_batch_size=32, max_iter=k,
                          early_stopping=False, precision=precision, device=str(device),
                          random_state=0)


def maml_ours(X, y, precision, iters, device):
    def fit(k):
        clf = _maml_clf(k, precision, device)
        sync(device)
        tic = time.perf_counter()
        clf.fit(X, y)
        sync(device)
        return time.perf_counter() - tic

    k1, k2 = iters
    return 32 * (k2 - k1) / (fit(k2) - fit(k1))


def maml_l2l(X, y, precision, iters, device):
    import _maml_peers
    from maml_omniglot import _fit_episodes

    from sklearn_meta._devices import derive_seed, torch_rng

    with torch_rng(derive_seed(0), torch.device("cpu")):
        features, n_features, _ = build_backbone(Conv4Backbone(norm="instance"), (1, 28, 28))
    k1, k2 = iters
    # the episodes fit(max_iter=k2) draws; the peer's first update is warm-up
    episodes = _fit_episodes(np.unique(y, return_inverse=True)[1], 5, 1, 5, 32, k2,
                             derive_seed(0), device)
    X_dev = torch.from_numpy(X).to(device)
    with peer_autocast(precision, device):
        _, tasks_per_s, _ = _maml_peers.l2l_train(
            features.to(device), n_features, X_dev, episodes, n_way=5, inner_lr=0.4,
            n_inner_steps=1, first_order=False, lr=1e-3, n_updates=k2 - k1 + 1)
    return tasks_per_s


def part_maml(args, device):
    try:
        import _maml_peers

        _maml_peers._import_l2l()
    except ImportError:
        print("maml: learn2learn is not installed; ours alone")
        have_peer = False
    else:
        have_peer = True
    X, y = omniglot(args.classes)
    iters = (args.maml_k1, args.maml_k2)
    contenders = [(who, p) for who in (("ours", "learn2learn") if have_peer else ("ours",))
                  for p in PRECISIONS]

    def run(c):
        who, p = c
        return (maml_ours if who == "ours" else maml_l2l)(X, y, p, iters, device)

    print(f"maml 5-way 1-shot 5-query, meta-batch 32, updates {iters[1]} - {iters[0]}",
          flush=True)
    med, all_ = rounds(contenders, args.rounds, run)
    rows = []
    for p in PRECISIONS:
        row = {"part": "maml", "work": "5-way 1-shot, batch 32", "precision": p,
               "unit": "tasks/s", "ours": med[("ours", p)], "ours_rounds": all_[("ours", p)]}
        if have_peer:
            row.update(peer="learn2learn", peer_value=med[("learn2learn", p)],
                       peer_rounds=all_[("learn2learn", p)],
                       ratio=med[("ours", p)] / med[("learn2learn", p)])
        rows.append(row)
    return rows


# ------------------------------------------------------------ accuracy cost
def accuracy_costs(args, device):
    """Test scores of ours at float32 and bf16: the same fit, seed and test data."""
    rows = []
    X, y = mnist(args.n_finetune)
    d = np.load(DATA / "mnist.npz")
    X_te = (d["x_test"][:2000] / 255.0).astype(np.float32)[:, None]
    y_te = d["y_test"][:2000].astype(np.int64)
    data = load_task("M->U", 0, str(DATA), args.n_mnist, args.n_usps, 0)
    og = np.load(DATA / "omniglot.npz")
    bg, chars = og["background"], og["character"]
    Xo = (og["images"] / 255.0).astype(np.float32)[:, None]
    train = bg & np.isin(chars, np.unique(chars[bg])[:200])
    test = ~bg & np.isin(chars, np.unique(chars[~bg])[:100])
    Xs, ys, gs = make_sinusoids(n_tasks=200, n_samples=20, random_state=0)
    Xs_te, ys_te, gs_te = make_sinusoids(n_tasks=100, n_samples=20, random_state=1)
    gradient = {"n_way": 5, "n_shot": 1, "n_query": 5, "meta_batch_size": 4,
                "max_iter": args.meta_iters}

    def omniglot_case(cls):
        """A gradient-based few-shot estimator's case: Omniglot fit, 5-way 1-shot score."""
        return (
            lambda p: cls(**gradient, precision=p, device=str(device), random_state=0),
            lambda est: est.fit(Xo[train], chars[train]),
            lambda est: ("Omniglot 5-way 1-shot", evaluate_episodes(
                est, Xo[test], chars[test], n_way=5, n_shot=1, n_query=5, n_episodes=200,
                random_state=0).mean))

    cases = {
        "FineTuneClassifier": (
            lambda p: FineTuneClassifier(backbone=Conv4Backbone(channels=32), freeze="none",
                                         max_epochs=5, early_stopping=False, precision=p,
                                         device=str(device), random_state=0),
            lambda est: est.fit(X, y),
            lambda est: ("MNIST test accuracy", est.score(X_te, y_te))),
        "DomainAdaptedClassifier": (
            lambda p: DomainAdaptedClassifier(backbone=Conv4Backbone(channels=32),
                                              method="dann", max_epochs=10, lr=0.01,
                                              optimizer="sgd", early_stopping=False,
                                              precision=p, device=str(device),
                                              random_state=0),
            lambda est: est.fit(data["X"], data["y"]),
            lambda est: ("USPS test accuracy (DANN)", est.score(data["X_test"],
                                                                data["y_test"]))),
        "MAMLClassifier": omniglot_case(MAMLClassifier),
        "ReptileClassifier": omniglot_case(ReptileClassifier),
        "MAMLRegressor": (
            lambda p: MAMLRegressor(max_iter=300, precision=p, device=str(device),
                                    random_state=0),
            lambda est: est.fit(Xs, ys, groups=gs),
            lambda est: ("sinusoids MSE, 5-shot", evaluate_episodes(
                est, Xs_te, ys_te, groups=gs_te, n_shot=5, random_state=0).mse.mean)),
    }
    for name in args.accuracy:
        make, fit, score = cases[name]
        for p in PRECISIONS:
            est = make(p)
            tic = time.perf_counter()
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                fit(est)
                what, value = score(est)
            row = {"part": "accuracy", "estimator": name, "precision": p, "metric": what,
                   "value": float(value), "fit_s": time.perf_counter() - tic}
            rows.append(row)
            print(f"{name:>24} {p:>8}: {what} {value:.4f} (fit+score {row['fit_s']:.1f} s)",
                  flush=True)
    return rows


PARTS = {"protonet": part_protonet, "finetune": part_finetune, "dann": part_dann,
         "maml": part_maml}


def main():
    global DATA
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parts", nargs="+", default=list(PARTS), choices=list(PARTS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--classes", type=int, default=200, help="Omniglot characters")
    parser.add_argument("--k1", type=int, default=5, help="60-way: the shorter fit")
    parser.add_argument("--k2", type=int, default=45,
                        help="60-way: the longer fit (5-way: 3x); 15 until 2026-12-06, whose "
                             "differences spread more between rounds")
    parser.add_argument("--maml-k1", type=int, default=1, help="MAML: the shorter fit")
    parser.add_argument("--maml-k2", type=int, default=4, help="MAML: the longer fit")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--n-finetune", type=int, default=3000)
    parser.add_argument("--n-mnist", type=int, default=2000)
    parser.add_argument("--n-usps", type=int, default=1800)
    parser.add_argument("--accuracy", nargs="*", default=None,
                        help="instead of timing: the test scores of ours at float32 and bf16 "
                             "for these estimators (none named: all five)")
    parser.add_argument("--meta-iters", type=int, default=100)
    parser.add_argument("--data-home", default=os.environ.get("DATA_HOME", str(DATA)),
                        help="folder of omniglot.npz, mnist.npz, usps.npz")
    parser.add_argument("--out", default="bench_results/speed.json")
    args = parser.parse_args()
    DATA = Path(args.data_home)
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)
    if args.accuracy is not None:
        args.accuracy = args.accuracy or ["FineTuneClassifier", "DomainAdaptedClassifier",
                                          "MAMLClassifier", "ReptileClassifier", "MAMLRegressor"]
        rows = accuracy_costs(args, device)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).with_name("speed_accuracy.json").write_text(
            json.dumps({"args": vars(args), "rows": rows}, indent=1))
        return
    rows = []
    for part in args.parts:
        rows += PARTS[part](args, device)
    print(f"\nmedian of {args.rounds} alternating rounds, device {device}, "
          f"{torch.get_num_threads()} thread(s)")
    print(f"{'part':>9} {'work':>22} {'precision':>9} {'ours':>10} {'peer':>10} "
          f"{'peer value':>11} {'ours vs peer':>13}")
    for r in rows:
        better = r.get("ratio")
        if better is not None and r["unit"] == "s/epoch":
            text = f"{better:.2f}x time"
        elif better is not None:
            text = f"{better:.2f}x speed"
        else:
            text = ""
        print(f"{r['part']:>9} {r['work']:>22} {r['precision']:>9} {r['ours']:>10.3f} "
              f"{r.get('peer', ''):>10} {r.get('peer_value', float('nan')):>11.3f} {text:>13}")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
