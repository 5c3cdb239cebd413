"""Prototypical networks on Omniglot (Vinyals split): sklearn_meta vs easyfsl.

The protocol of Snell, Swersky and Zemel (2017), Table 1:

* training classes: the Vinyals ``trainval`` split with rotations (1200
  characters x 4 rotations = 4800 classes; ``--split train`` gives 4112),
  28x28 images;
* Conv4 embedding (4 blocks of conv3x3(64) + batch norm + ReLU + maxpool 2);
* 60-way training episodes, 5 query samples per class, ``n_shot`` equal to
  the test shot (one model per shot, 1 and 5);
* Adam, lr 1e-3, halved every 2000 episodes, no early stopping (every
  training class is trained on; ``--early-stopping auto`` gives the
  estimator's default, which holds out 10 % of the classes above 10,000
  images);
* test on the 423 x 4 = 1692 test classes: 5-way and 20-way, 1-shot and
  5-shot, 15 query samples per class, ``--test-episodes`` episodes (default
  1000), mean and 95 % confidence interval.

sklearn_meta side: ``ProtoNetClassifier(...).fit`` then
``evaluate_episodes``. easyfsl side (when installed): its
``PrototypicalNetworks`` around the same Conv4 (built here as an
``nn.Sequential``; easyfsl ships only ResNets), trained with easyfsl's
``TaskSampler`` + ``DataLoader`` (its intended usage) for the same number of
episodes with the same optimiser and schedule, and tested on exactly the same
episodes as sklearn_meta (drawn once with sklearn_meta's ``EpisodeSampler``
and the seed ``evaluate_episodes`` uses; the script checks that the query
labels of every episode agree). Since the episodes are the same, the table
also gives the paired difference, ours minus easyfsl, with the 95 % CI of
the mean of the per-episode differences: the test of "equal accuracy".

Speed: training meta-updates/s (same episode shape for both), test episodes/s,
and on CUDA the peak memory (``torch.cuda.max_memory_allocated``), all measured
in the same process on the same device, with ``torch.cuda.synchronize``.

Usage (from the repository root)::

    python benchmarks/fewshot_omniglot.py --quick                 # CPU smoke run
    python benchmarks/fewshot_omniglot.py --device cuda           # 20000 updates
    python benchmarks/fewshot_omniglot.py --device cuda --iters 3000 --test-episodes 600

See benchmarks/README.md for the numbers measured so far.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy.stats import norm
from torch import nn

import sklearn_meta
from sklearn_meta import ProtoNetClassifier
from sklearn_meta._devices import derive_seed
from sklearn_meta._episodes import EpisodeSampler
from sklearn_meta.datasets import load_omniglot
from sklearn_meta.model_selection import evaluate_episodes

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA_HOME = REPO_ROOT.parent / "shared" / "data"
DEFAULT_OUT = REPO_ROOT / "bench_results" / "fewshot_omniglot.json"

#: Snell et al. (2017), Table 1, Omniglot, Prototypical Networks (Euclidean)
PAPER = {(5, 1): 98.8, (5, 5): 99.7, (20, 1): 96.0, (20, 5): 98.9}

#: seed given to evaluate_episodes (and used to rebuild its episodes for easyfsl)
TEST_SEED = 2017
#: easyfsl training losses are read back every this many episodes (as ours)
SYNC_EVERY = 100

# --quick: a CPU smoke budget (a few minutes on 2 shared cores)
QUICK = dict(iters=10, test_episodes=50, train_chars=30, test_chars=25)


# ------------------------------------------------------------------ helpers
def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def reset_peak(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def peak_mib(device):
    if device.type != "cuda":
        return None
    torch.cuda.synchronize(device)
    return torch.cuda.max_memory_allocated(device) / 2**20


def mean_ci(scores, confidence=0.95):
    """Mean and half-width of the normal CI, as evaluate_episodes computes them."""
    scores = np.asarray(scores, dtype=np.float64)
    std = scores.std(ddof=1) if scores.size > 1 else 0.0
    half = norm.ppf(0.5 + confidence / 2) * std / np.sqrt(scores.size)
    return float(scores.mean()), float(half)


def subset_characters(bunch, n_chars, seed):
    """Keep all 4 rotations of ``n_chars`` random characters (None keeps all)."""
    X, y = bunch.images, bunch.target
    if n_chars is None:
        return X, y
    chars = np.unique(y // 4)
    if n_chars >= len(chars):
        return X, y
    keep = np.random.default_rng(seed).choice(chars, n_chars, replace=False)
    mask = np.isin(y // 4, keep)
    _, y_new = np.unique(y[mask], return_inverse=True)
    return X[mask], y_new.astype(np.int64)


def conv4_sequential(channels=64, in_channels=1):
    """The Conv4 of Vinyals et al. / Snell et al. as a plain nn.Sequential.

    Layer for layer the same as sklearn_meta's ``Conv4Backbone`` on 28x28
    inputs (28 -> 14 -> 7 -> 3 -> 1, 64-d embedding).
    """
    layers = []
    c = in_channels
    for _ in range(4):
        layers += [
            nn.Conv2d(c, channels, 3, padding=1),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.MaxPool2d(2),
        ]
        c = channels
    layers.append(nn.Flatten())
    return nn.Sequential(*layers)


def draw_test_episodes(y, n_way, n_shot, n_query, n_episodes, random_state):
    """The episodes evaluate_episodes draws for these arguments (same code path)."""
    classes, codes = np.unique(y, return_inverse=True)
    sampler = EpisodeSampler(codes, n_way=n_way, n_shot=n_shot, n_query=n_query)
    gen = torch.Generator().manual_seed(derive_seed(random_state))
    return sampler.sample(gen, n_episodes)


class RecordingAccuracy:
    """Per-episode accuracy that also keeps each episode's y_true (for a check)."""

    __name__ = "accuracy"

    def __init__(self):
        self.y_true = []

    def __call__(self, y_true, y_pred):
        self.y_true.append(np.asarray(y_true))
        return float(np.mean(np.asarray(y_true) == np.asarray(y_pred)))


# ------------------------------------------------------------------ ours
def train_ours(X, y, n_shot, args, device):
    clf = ProtoNetClassifier(
        backbone="conv4",
        n_way=60,
        n_shot=n_shot,
        n_query=5,
        max_iter=args.iters,
        lr=1e-3,
        lr_decay_step=2000,
        # the paper's protocol and easyfsl's: every training class, no held-out
        # validation ("auto" would hold out 10 % of them above 10,000 images)
        early_stopping={"off": False, "on": True}.get(args.early_stopping, "auto"),
        precision=args.precision,
        device=str(device),
        random_state=0,
    )
    reset_peak(device)
    tic = time.perf_counter()
    clf.fit(X, y)
    sync(device)
    wall = time.perf_counter() - tic
    loop = float(np.sum(clf.history_[:, "dur"]))  # meta-update loop only, synced
    return clf, dict(
        updates=clf.n_iter_,
        loop_s=loop,
        fit_wall_s=wall,
        upd_per_s=clf.n_iter_ / loop,
        final_train_loss=float(clf.history_[-1, "train_loss"]),
        peak_mib=peak_mib(device),
    )


def test_ours(clf, X, y, n_way, n_shot, n_episodes, device):
    rec = RecordingAccuracy()
    reset_peak(device)
    tic = time.perf_counter()
    res = evaluate_episodes(
        clf,
        X,
        y,
        n_way=n_way,
        n_shot=n_shot,
        n_query=15,
        n_episodes=n_episodes,
        random_state=TEST_SEED,
        score_func=rec,
    )
    sync(device)
    wall = time.perf_counter() - tic
    return res, rec.y_true, dict(wall_s=wall, eps_per_s=n_episodes / wall, peak_mib=peak_mib(device))


# ------------------------------------------------------------------ easyfsl
def easyfsl_version():
    try:
        from importlib.metadata import version

        return version("easyfsl")
    except Exception:  # pragma: no cover
        return "?"


def make_easyfsl_dataset(X, y):
    from easyfsl.datasets import FewShotDataset

    class InMemoryFewShotDataset(FewShotDataset):
        """Images already in memory as a float tensor, labels as ints."""

        def __init__(self, images, labels):
            self.images = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
            if self.images.ndim == 3:
                self.images = self.images.unsqueeze(1)
            self.labels = [int(v) for v in labels]

        def __getitem__(self, item):
            return self.images[item], self.labels[item]

        def __len__(self):
            return len(self.labels)

        def get_labels(self):
            return self.labels

    return InMemoryFewShotDataset(X, y)


def easyfsl_task_sampler(dataset, **kwargs):
    """easyfsl's ``TaskSampler(dataset, **kwargs)``, runnable on recent torch."""
    from easyfsl.samplers import TaskSampler
    from torch.utils.data import Sampler

    class _SamplerBase(Sampler):
        # easyfsl 1.5.0's TaskSampler calls Sampler.__init__(data_source=None);
        # recent torch removed that argument (TypeError). Sitting between
        # TaskSampler and Sampler in the MRO, this base swallows it; easyfsl's
        # own code runs unchanged.
        def __init__(self, data_source=None):
            super().__init__()

    class CompatTaskSampler(TaskSampler, _SamplerBase):
        pass

    return CompatTaskSampler(dataset, **kwargs)


def train_easyfsl(dataset, n_shot, args, device):
    from easyfsl.methods import PrototypicalNetworks
    from torch.utils.data import DataLoader

    torch.manual_seed(0)
    random.seed(0)  # TaskSampler draws with Python's random module
    model = PrototypicalNetworks(conv4_sequential()).to(device)
    if args.easyfsl_distance == "squared":
        # the paper's (and sklearn_meta's) squared distance, for a side-by-side
        # of the two pipelines with the same method
        model.l2_distance_to_prototypes = (
            lambda z: -torch.cdist(z, model.prototypes).square())
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2000, gamma=0.5)
    loss_fn = nn.CrossEntropyLoss()

    reset_peak(device)
    tic = time.perf_counter()
    sampler = easyfsl_task_sampler(dataset, n_way=60, n_shot=n_shot, n_query=5,
                                   n_tasks=args.iters)
    loader = DataLoader(
        dataset,
        batch_sampler=sampler,
        num_workers=args.easyfsl_workers,
        pin_memory=device.type == "cuda",
        collate_fn=sampler.episodic_collate_fn,
    )
    model.train()
    losses = []
    running = torch.zeros((), device=device)
    for episode, (s_img, s_lab, q_img, q_lab, _) in enumerate(loader, 1):
        optimizer.zero_grad()
        model.process_support_set(s_img.to(device), s_lab.to(device))
        scores = model(q_img.to(device))
        loss = loss_fn(scores, q_lab.to(device))
        loss.backward()
        optimizer.step()
        scheduler.step()
        running += loss.detach()
        if episode % SYNC_EVERY == 0 or episode == args.iters:
            n = (episode - 1) % SYNC_EVERY + 1
            losses.append(running.item() / n)
            running.zero_()
    sync(device)
    loop = time.perf_counter() - tic
    model.eval()
    return model, dict(
        updates=args.iters,
        loop_s=loop,
        upd_per_s=args.iters / loop,
        final_train_loss=losses[-1],
        peak_mib=peak_mib(device),
        workers=args.easyfsl_workers,
    )


def test_easyfsl(model, X_dev, episodes, device):
    s_idx, q_idx, s_y, q_y = (t.to(device) for t in episodes)
    n_episodes = s_idx.shape[0]
    accs = torch.empty(n_episodes, device=device)
    reset_peak(device)
    tic = time.perf_counter()
    model.eval()
    with torch.no_grad():
        for e in range(n_episodes):
            model.process_support_set(X_dev[s_idx[e]], s_y[e])
            scores = model(X_dev[q_idx[e]])
            accs[e] = (scores.argmax(-1) == q_y[e]).float().mean()
    scores = accs.cpu().numpy()
    wall = time.perf_counter() - tic
    mean, ci = mean_ci(scores)
    return mean, ci, dict(wall_s=wall, eps_per_s=n_episodes / wall, peak_mib=peak_mib(device),
                          scores=scores)


# ------------------------------------------------------------------ report
def _loadavg():
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:  # pragma: no cover - not on every platform
        return None


def fmt_acc(mean, ci):
    return "n/a" if mean is None else f"{100 * mean:.2f} ± {100 * ci:.2f}"


def fmt_rate(v):
    if v is None:
        return "n/a"
    return f"{v:.1f}" if v >= 10 else f"{v:.2f}"


def print_table(rows):
    head = [
        "setting",
        "ours acc ± CI",
        "easyfsl acc ± CI",
        "ours - easyfsl ± CI (paired)",
        "paper",
        "ours train upd/s",
        "easyfsl train upd/s",
        "train ratio",
        "test eps/s ours / easyfsl",
        "test ratio",
    ]
    body = []
    for r in rows:
        tr = r["train_ratio"]
        te = r["test_ratio"]
        body.append(
            [
                r["setting"],
                fmt_acc(r["ours_acc"], r["ours_ci"]),
                fmt_acc(r["easyfsl_acc"], r["easyfsl_ci"]),
                fmt_acc(r.get("ours_minus_easyfsl"), r.get("ours_minus_easyfsl_ci")),
                f"{r['paper']:.1f}",
                fmt_rate(r["ours_train_upd_s"]),
                fmt_rate(r["easyfsl_train_upd_s"]),
                "n/a" if tr is None else f"{tr:.2f}x",
                f"{fmt_rate(r['ours_test_eps_s'])} / {fmt_rate(r['easyfsl_test_eps_s'])}",
                "n/a" if te is None else f"{te:.2f}x",
            ]
        )
    widths = [max(len(h), *(len(b[i]) for b in body)) for i, h in enumerate(head)]
    line = lambda cells: "| " + " | ".join(c.ljust(w) for c, w in zip(cells, widths)) + " |"
    print(line(head))
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for b in body:
        print(line(b))


# ------------------------------------------------------------------ main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--iters", type=int, default=None,
                   help="meta-updates per model (default 20000 on CUDA, 200 on CPU; "
                        "--quick: %d)" % QUICK["iters"])
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--shots", type=int, nargs="+", default=[1, 5])
    p.add_argument("--ways", type=int, nargs="+", default=[5, 20])
    p.add_argument("--test-episodes", type=int, default=None,
                   help="test episodes per setting (default 1000; --quick: %d)"
                        % QUICK["test_episodes"])
    p.add_argument("--split", default="trainval", choices=["trainval", "train"],
                   help="training classes of the Vinyals split (default trainval)")
    p.add_argument("--resize", default="nearest", choices=["nearest", "lanczos"],
                   help="28x28 images: nearest (binary, what the reference code "
                        "effectively used; default) or lanczos (anti-aliased)")
    p.add_argument("--data-home", default=str(DEFAULT_DATA_HOME),
                   help="folder holding omniglot.npz (default ../shared/data)")
    p.add_argument("--train-chars", type=int, default=None,
                   help="train on this many random characters (x4 rotations) only")
    p.add_argument("--test-chars", type=int, default=None,
                   help="test on this many random test characters (x4 rotations) only")
    p.add_argument("--precision", default="float32", choices=["float32", "bf16", "fp16"],
                   help="ProtoNetClassifier's precision (easyfsl trains in float32)")
    p.add_argument("--early-stopping", default="off", choices=["off", "on", "auto"],
                   help="ProtoNetClassifier's early_stopping (default off: train on every "
                        "class, as easyfsl does; 'auto' holds out 10 %% of them here)")
    p.add_argument("--easyfsl-distance", default="euclidean", choices=["euclidean", "squared"],
                   help="easyfsl's logits: its own -distance (default) or the paper's "
                        "-squared distance, as sklearn_meta")
    p.add_argument("--no-easyfsl", action="store_true", help="skip easyfsl")
    p.add_argument("--easyfsl-workers", type=int, default=None,
                   help="DataLoader workers for easyfsl training (default 4 on CUDA, 0 on CPU)")
    p.add_argument("--quick", action="store_true",
                   help="CPU smoke budget: %(q)s" % {"q": ", ".join(f"{k}={v}" for k, v in QUICK.items())})
    p.add_argument("--out", default=str(DEFAULT_OUT), help="JSON output file")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    t_start = time.perf_counter()
    load_start = _loadavg()
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available()
                          else ("cpu" if args.device == "auto" else args.device))
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda was asked for but torch sees no CUDA device.")
    if args.quick:
        for key, value in QUICK.items():
            if getattr(args, key) is None:
                setattr(args, key, value)
    if args.iters is None:
        args.iters = 20000 if device.type == "cuda" else 200
    if args.test_episodes is None:
        args.test_episodes = 1000
    if args.easyfsl_workers is None:
        args.easyfsl_workers = 4 if device.type == "cuda" else 0
    if min(args.ways) < 2 or args.iters < 1 or args.test_episodes < 2:
        sys.exit("--ways must be >= 2, --iters >= 1 and --test-episodes >= 2.")

    have_easyfsl = False
    if not args.no_easyfsl:
        try:
            import easyfsl  # noqa: F401

            have_easyfsl = True
        except ImportError:
            print("easyfsl is not installed: its columns are n/a (pip install easyfsl).")

    dev_name = torch.cuda.get_device_name(device) if device.type == "cuda" else (
        f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"
    )
    print(f"device: {device} ({dev_name}); torch {torch.__version__}; "
          f"sklearn_meta {getattr(sklearn_meta, '__version__', '?')}"
          + (f"; easyfsl {easyfsl_version()}" if have_easyfsl else ""))
    print(f"resize: {args.resize}  (nearest = binary images as the reference code "
          "effectively used; lanczos = anti-aliased, usually a little easier)")

    # ---- data
    tic = time.perf_counter()
    train = load_omniglot("vinyals", split=args.split, rotations=True,
                          resize=args.resize, data_home=args.data_home)
    test = load_omniglot("vinyals", split="test", rotations=True,
                         resize=args.resize, data_home=args.data_home)
    X_train, y_train = subset_characters(train, args.train_chars, seed=0)
    X_test, y_test = subset_characters(test, args.test_chars, seed=1)
    del train, test
    n_train_cls, n_test_cls = len(np.unique(y_train)), len(np.unique(y_test))
    print(f"data: train {args.split} {n_train_cls} classes / {len(y_train)} images"
          f"{' (random subset of characters)' if args.train_chars else ''}; "
          f"test {n_test_cls} classes / {len(y_test)} images"
          f"{' (random subset of characters)' if args.test_chars else ''}; "
          f"loaded in {time.perf_counter() - tic:.1f} s")
    if n_train_cls < 60:
        sys.exit("60-way training needs at least 60 training classes.")
    print(f"sklearn_meta precision: {args.precision}; easyfsl: float32")
    print(f"budget: {args.iters} meta-updates per model (60-way, n_query=5), "
          f"{args.test_episodes} test episodes per setting (n_query=15), "
          f"test seed {TEST_SEED}")
    print("note: Snell et al.'s code trains far longer (epochs of 100 episodes until "
          "early stopping on the validation classes, then retrains on trainval), so "
          "short budgets fall below the paper's accuracy.")
    if have_easyfsl:
        print("note: easyfsl's PrototypicalNetworks scores with -cdist (Euclidean "
              "distance, not squared as in the paper and sklearn_meta)"
              + (" (here replaced by the squared one, --easyfsl-distance squared)"
                 if args.easyfsl_distance == "squared" else "")
              + ", and in training embeds support and query in two passes (separate "
              "batch-norm statistics); sklearn_meta embeds them in one batch.")

    X_test_dev = None
    ds_easyfsl = None
    if have_easyfsl:
        X_test_dev = torch.from_numpy(X_test).unsqueeze(1).to(device)
        ds_easyfsl = make_easyfsl_dataset(X_train, y_train)

    train_stats = {}
    rows = []
    checks_ok = True
    for n_shot in args.shots:
        print(f"\n== {n_shot}-shot model: training sklearn_meta ...", flush=True)
        clf, ours_tr = train_ours(X_train, y_train, n_shot, args, device)
        print(f"   sklearn_meta: {ours_tr['updates']} updates, {ours_tr['upd_per_s']:.2f} upd/s "
              f"(fit {ours_tr['fit_wall_s']:.1f} s incl. prototypes of the training set), "
              f"last loss {ours_tr['final_train_loss']:.3f}", flush=True)
        efs_model, efs_tr = None, None
        if have_easyfsl:
            print(f"== {n_shot}-shot model: training easyfsl ...", flush=True)
            efs_model, efs_tr = train_easyfsl(ds_easyfsl, n_shot, args, device)
            print(f"   easyfsl: {efs_tr['updates']} updates, {efs_tr['upd_per_s']:.2f} upd/s, "
                  f"last loss {efs_tr['final_train_loss']:.3f}", flush=True)
        train_stats[f"{n_shot}-shot"] = dict(sklearn_meta=ours_tr, easyfsl=efs_tr)

        for n_way in args.ways:
            setting = f"{n_way}-way {n_shot}-shot"
            res, y_true_ours, ours_te = test_ours(
                clf, X_test, y_test, n_way, n_shot, args.test_episodes, device
            )
            efs_acc = efs_ci = diff = diff_ci = None
            efs_te = None
            if have_easyfsl:
                episodes = draw_test_episodes(y_test, n_way, n_shot, 15,
                                              args.test_episodes, TEST_SEED)
                same = np.array_equal(np.stack(y_true_ours), y_test[episodes[1].numpy()])
                checks_ok &= same
                if not same:
                    print(f"   WARNING: {setting}: easyfsl episodes differ from "
                          "evaluate_episodes' episodes")
                efs_acc, efs_ci, efs_te = test_easyfsl(efs_model, X_test_dev, episodes, device)
                # the same episodes: the paired difference has a narrower CI
                diff, diff_ci = mean_ci(np.asarray(res.scores) - efs_te.pop("scores"))
            row = dict(
                setting=setting,
                n_way=n_way,
                n_shot=n_shot,
                ours_acc=res.mean,
                ours_ci=res.ci,
                easyfsl_acc=efs_acc,
                easyfsl_ci=efs_ci,
                ours_minus_easyfsl=diff,
                ours_minus_easyfsl_ci=diff_ci,
                paper=PAPER.get((n_way, n_shot), float("nan")),
                ours_train_upd_s=ours_tr["upd_per_s"],
                easyfsl_train_upd_s=efs_tr["upd_per_s"] if efs_tr else None,
                train_ratio=ours_tr["upd_per_s"] / efs_tr["upd_per_s"] if efs_tr else None,
                ours_test_eps_s=ours_te["eps_per_s"],
                easyfsl_test_eps_s=efs_te["eps_per_s"] if efs_te else None,
                test_ratio=ours_te["eps_per_s"] / efs_te["eps_per_s"] if efs_te else None,
                ours_test_peak_mib=ours_te["peak_mib"],
                easyfsl_test_peak_mib=efs_te["peak_mib"] if efs_te else None,
                same_episodes=bool(same) if have_easyfsl else None,
            )
            rows.append(row)
            print(f"   {setting}: ours {fmt_acc(res.mean, res.ci)} "
                  f"({ours_te['eps_per_s']:.1f} eps/s)"
                  + (f", easyfsl {fmt_acc(efs_acc, efs_ci)} ({efs_te['eps_per_s']:.1f} eps/s)"
                     if efs_te else ""), flush=True)
        del clf, efs_model

    elapsed = time.perf_counter() - t_start
    print()
    print_table(rows)
    print(f"\ndevice: {device} ({dev_name}) | iterations: {args.iters} per model | "
          f"resize: {args.resize} | train split: {args.split} ({n_train_cls} classes) | "
          f"test: {n_test_cls} classes, {args.test_episodes} episodes/setting | "
          f"total time: {elapsed:.0f} s")
    load_end = _loadavg()
    if device.type == "cpu" and load_start is not None:
        print(f"CPU load average (1 min) at start / end: {load_start} / {load_end} "
              f"on {os.cpu_count()} cores; a shared CPU makes the rates noisy.")
    print("ratio = sklearn_meta / easyfsl (> 1: sklearn_meta faster). Paper: Snell et al. "
          "2017, Table 1 (trained much longer).")
    print("test eps/s of sklearn_meta include embedding the whole test set once per "
          "setting (evaluate_episodes' batched path), so it grows with --test-episodes; "
          "easyfsl embeds each episode's images (test tensors already on the device).")
    if have_easyfsl:
        print(f"easyfsl: TaskSampler + DataLoader(num_workers={args.easyfsl_workers}) "
              "in training; same episodes as sklearn_meta in test: "
              + ("yes (query labels of every episode checked)" if checks_ok else "NO"))
    if device.type == "cuda":
        for shot, st in train_stats.items():
            o, e = st["sklearn_meta"], st["easyfsl"]
            print(f"peak GPU memory, {shot} training: sklearn_meta {o['peak_mib']:.0f} MiB "
                  "(whole training set on the device)"
                  + (f", easyfsl {e['peak_mib']:.0f} MiB" if e else ""))
        tp_o = max(r["ours_test_peak_mib"] for r in rows)
        tp_e = [r["easyfsl_test_peak_mib"] for r in rows if r["easyfsl_test_peak_mib"]]
        print(f"peak GPU memory, testing: sklearn_meta {tp_o:.0f} MiB"
              + (f", easyfsl {max(tp_e):.0f} MiB" if tp_e else ""))

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    report = dict(
        benchmark="fewshot_omniglot",
        date=datetime.datetime.now().isoformat(timespec="seconds"),
        command=" ".join([Path(sys.executable).name, *sys.argv]),
        device=str(device),
        device_name=dev_name,
        torch=torch.__version__,
        easyfsl=easyfsl_version() if have_easyfsl else None,
        iters=args.iters,
        precision=args.precision,
        test_episodes=args.test_episodes,
        test_seed=TEST_SEED,
        resize=args.resize,
        split=args.split,
        quick=args.quick,
        train_classes=n_train_cls,
        test_classes=n_test_cls,
        easyfsl_workers=args.easyfsl_workers if have_easyfsl else None,
        same_episodes=checks_ok if have_easyfsl else None,
        total_s=elapsed,
        loadavg_start_end=[load_start, load_end],
        train=train_stats,
        rows=rows,
        notes=[
            "easyfsl PrototypicalNetworks uses -cdist (not squared) distances",
            "paper: Snell et al. 2017 Table 1, trained far longer",
        ],
    )
    out.write_text(json.dumps(report, indent=2, allow_nan=True))
    print(f"wrote {out}")
    return 0 if checks_ok else 1


if __name__ == "__main__":
    sys.exit(main())
