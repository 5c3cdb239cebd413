"""Fine-tuning from JPEG files: FineTuneClassifier against ImageFolder + DataLoader.

Both train the same network on the same JPEG files (``_jpeg_folders.py``:
MNIST digits painted in random colours, upsampled to random sizes, by
default 3,000 training files of 64 to 96 px a side in ten class folders and
1,000 test files), with the same batch size, epochs, optimiser (Adam) and
learning rate, resized to ``--image-size`` with antialiasing:

- **sklearn_meta**: ``FineTuneClassifier(backbone=..., image_size=S,
  max_epochs=E, batch_size=B, random_state=0).fit(paths, labels)``, where
  ``paths, labels = dataset_to_paths(ImageFolder(train_dir))``. The timing
  covers listing the folder and the whole ``fit``: reading the headers,
  decoding every file once into one uint8 array, resizing, training.
- **torchvision**: ``ImageFolder(train_dir, transform)`` with ``transform =
  v2.Compose([v2.ToImage(), v2.Resize((S, S), antialias=True),
  v2.ToDtype(torch.float32, scale=True)])``, a ``DataLoader(shuffle=True,
  num_workers=--workers, pin_memory=False)`` and a hand-written loop
  (cross-entropy, ``Adam(lr)``, ``zero_grad`` / ``backward`` / ``step``).
  The timing covers building the dataset, the loader, the model and the
  optimiser, and every epoch (the workers decode and resize every file in
  every epoch, as this pipeline does).

Cases (``--cases``):

- ``conv4``: a Conv4 (``Conv4Backbone(channels=--channels)``) trained from
  scratch, every layer trainable (``backbone_lr="auto"`` is 1.0 from
  scratch, so one learning rate for all, as in the hand loop).
- ``frozen``: the Conv4 fitted by the first sklearn_meta run of ``conv4``,
  frozen, with a new linear head. sklearn_meta
  (``FineTuneClassifier(backbone=fitted, freeze="backbone")``) runs the
  frozen backbone once over the training images and trains the head on the
  stored features; the hand loop runs the frozen backbone (eval mode,
  ``torch.no_grad()``) on every minibatch, as a loop written this way does.
  **This is a different amount of work**: it shows what a user gets, not
  the speed of the same computation.

Rounds alternate the two methods (the order flips every round); after one
warm-up fit per method on 256 files, ``--repeats`` rounds, median reported.
Images per second = training images x epochs (``--frozen-epochs`` for
``frozen``) / fit seconds. Round ``r`` uses the seed ``r`` for both
(``random_state``; ``torch.manual_seed``). Accuracy on the held-out test
folder is measured after every fit, outside the timings, and reported as the
mean (min-max) over the rounds (sklearn_meta: ``score(test_paths,
test_labels)``; torchvision: the test ``ImageFolder`` with the same
transform, model in eval mode). Torch runs on one thread in
the main process (``--threads``); the DataLoader workers are separate
processes.

Usage (from the repository root)::

    python benchmarks/images_finetune_files.py            # 3,000 files, 2 epochs, 3 rounds
    python benchmarks/images_finetune_files.py --quick    # a smoke run, a minute or two

The JSON report goes to ``--out`` (default ``$OUT/images_finetune_files.json``
when ``$OUT`` is set, else ``bench_results/images_finetune_files.json``).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _jpeg_folders import folder_bytes, make_jpeg_folders

import sklearn_meta
from sklearn_meta import FineTuneClassifier
from sklearn_meta.backbones import Conv4Backbone
from sklearn_meta.datasets import dataset_to_paths

REPO_ROOT = Path(__file__).resolve().parents[1]
METHODS = ("sklearn_meta", "torchvision")


# ------------------------------------------------------------- sklearn_meta
def _epochs(args, case, limit=None):
    if limit is not None:  # warm-up
        return 1
    return args.frozen_epochs if case == "frozen" else args.epochs


def fit_ours(train_dir, args, case, pretrained=None, limit=None, seed=0):
    from torchvision.datasets import ImageFolder

    tic = time.perf_counter()
    paths, labels = dataset_to_paths(ImageFolder(train_dir))
    if limit is not None:
        keep = np.random.default_rng(0).permutation(len(paths))[:limit]
        paths, labels = paths[keep], labels[keep]
    if case == "frozen":
        clf = FineTuneClassifier(backbone=pretrained, freeze="backbone")
    else:
        clf = FineTuneClassifier(backbone=Conv4Backbone(channels=args.channels))
    clf.set_params(image_size=args.image_size, max_epochs=_epochs(args, case, limit),
                   batch_size=args.batch_size, lr=args.lr, device=args.device, random_state=seed)
    clf.fit(paths, labels)
    return clf, time.perf_counter() - tic, len(paths)


# -------------------------------------------------------------- torchvision
def _transform(size):
    from torchvision.transforms import v2

    return v2.Compose([v2.ToImage(), v2.Resize((size, size), antialias=True),
                       v2.ToDtype(torch.float32, scale=True)])


class Net(nn.Module):
    def __init__(self, features, n_features, n_classes, frozen):
        super().__init__()
        self.features, self.head, self.frozen = features, nn.Linear(n_features, n_classes), frozen
        if frozen:
            self.features.requires_grad_(False)

    def train(self, mode=True):
        super().train(mode)
        if self.frozen:
            self.features.eval()
        return self

    def forward(self, x):
        if self.frozen:
            with torch.no_grad():
                x = self.features(x)
            return self.head(x)
        return self.head(self.features(x))


def fit_hand(train_dir, args, case, pretrained=None, limit=None, seed=0):
    from torch.utils.data import DataLoader, Subset
    from torchvision.datasets import ImageFolder

    tic = time.perf_counter()
    torch.manual_seed(seed)
    data = ImageFolder(train_dir, transform=_transform(args.image_size))
    n_classes = len(data.classes)
    if limit is not None:
        data = Subset(data, np.random.default_rng(0).permutation(len(data))[:limit].tolist())
    dev = torch.device(args.device)
    loader = DataLoader(data, batch_size=args.batch_size, shuffle=True,
                        num_workers=args.workers, pin_memory=dev.type == "cuda")
    shape = (3, args.image_size, args.image_size)
    if case == "frozen":
        features = copy.deepcopy(pretrained.module_.features)
    else:
        features = Conv4Backbone(channels=args.channels).build(shape)
    features = features.to(dev)
    with torch.no_grad():
        n_features = features.eval()(torch.zeros(1, *shape, device=dev)).shape[1]
    model = Net(features, n_features, n_classes, frozen=case == "frozen").to(dev).train()
    opt = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=args.lr)
    for _ in range(_epochs(args, case, limit)):
        for xb, yb in loader:
            xb, yb = xb.to(dev, non_blocking=True), yb.to(dev, non_blocking=True)
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
    if dev.type == "cuda":
        torch.cuda.synchronize()
    return model, time.perf_counter() - tic, len(data)


def accuracy_hand(model, test_dir, args):
    from torch.utils.data import DataLoader
    from torchvision.datasets import ImageFolder

    data = ImageFolder(test_dir, transform=_transform(args.image_size))
    model.eval()
    correct = 0
    with torch.no_grad():
        for xb, yb in DataLoader(data, batch_size=256, num_workers=args.workers):
            xb = xb.to(next(model.parameters()).device)
            correct += int((model(xb).argmax(1).cpu() == yb).sum())
    return correct / len(data)


# --------------------------------------------------------------------- run
def run_case(case, dirs, args, pretrained=None):
    train_dir, test_dir = dirs
    fits = {"sklearn_meta": fit_ours, "torchvision": fit_hand}
    for m in METHODS:  # warm-up
        fits[m](train_dir, args, case, pretrained, limit=256)
    from torchvision.datasets import ImageFolder

    test_paths, test_labels = dataset_to_paths(ImageFolder(test_dir))
    times = {m: [] for m in METHODS}
    accs = {m: [] for m in METHODS}
    first = None
    for r in range(args.repeats):  # round r: seed r for both
        for m in (METHODS if r % 2 == 0 else METHODS[::-1]):
            model, seconds, n = fits[m](train_dir, args, case, pretrained, seed=r)
            times[m].append(seconds)
            accs[m].append(float(model.score(test_paths, test_labels))
                           if m == "sklearn_meta" else accuracy_hand(model, test_dir, args))
            if m == "sklearn_meta" and first is None:
                first = model
            print(f"  {case} round {r + 1}: {m} {seconds:.1f} s, test accuracy "
                  f"{accs[m][-1]:.3f}", flush=True)
    acc = {m: statistics.mean(accs[m]) for m in METHODS}
    models = {"sklearn_meta": first}
    fit_s = {m: statistics.median(times[m]) for m in METHODS}
    ips = {m: n * _epochs(args, case) / fit_s[m] for m in METHODS}
    row = {"case": case, "n_images": n, "epochs": _epochs(args, case),
           "fit_s": fit_s, "fit_s_all": times,
           "images_per_s": ips, "ratio": ips["sklearn_meta"] / ips["torchvision"],
           "test_acc": acc, "test_acc_all": accs}
    if case == "frozen":
        row["stored_features"] = list(models["sklearn_meta"].history_[:, "stored_features"])
    return row, models["sklearn_meta"]


def _acc(row, method):
    accs = row["test_acc_all"][method]
    return f"{row['test_acc'][method]:.3f} ({min(accs):.3f}-{max(accs):.3f})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", nargs="+", default=["conv4", "frozen"],
                        choices=["conv4", "frozen"])
    parser.add_argument("--root", default="/tmp/sklearn_meta_bench_jpeg",
                        help="where the JPEG folders are made (reused when present)")
    parser.add_argument("--n-train", type=int, default=3000)
    parser.add_argument("--n-test", type=int, default=1000)
    parser.add_argument("--sizes", type=int, nargs=2, default=[64, 96],
                        help="smallest and largest side of the files, in pixels")
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--channels", type=int, default=32, help="Conv4 width")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--frozen-epochs", type=int, default=5,
                        help="epochs of the frozen case (the head alone trains)")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--device", default="cpu", help="cpu or cuda (gpu_check.sh)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--quick", action="store_true",
                        help="600 files, 1 epoch, 1 round: checks the script runs")
    parser.add_argument("--out", default=None)
    args = parser.parse_args(argv)
    if args.quick:
        args.n_train, args.n_test, args.epochs, args.repeats = 600, 200, 1, 1
        args.frozen_epochs = 2
        args.root = args.root.rstrip("/") + "_quick"
    if "frozen" in args.cases and "conv4" not in args.cases:
        parser.error("--cases frozen needs conv4 (its backbone is conv4's fitted model)")
    torch.set_num_threads(args.threads)

    train_dir, test_dir, recipe = make_jpeg_folders(
        args.root, n_train=args.n_train, n_test=args.n_test, sizes=args.sizes,
        data_home=args.data_home)
    print(f"{args.n_train} training / {args.n_test} test JPEG files of {args.sizes[0]}-"
          f"{args.sizes[1]} px under {args.root} ({folder_bytes(train_dir) / 1e6:.1f} MB "
          f"training files); torch {torch.__version__}, {args.threads} thread(s), "
          f"{args.workers} DataLoader workers; sklearn_meta {sklearn_meta.__version__}")
    print(f"image_size {args.image_size}, Conv4 width {args.channels}, {args.epochs} epochs "
          f"({args.frozen_epochs} frozen), batch {args.batch_size}, Adam lr {args.lr}, "
          f"median of {args.repeats} rounds")
    rows, fitted = [], None
    for case in ("conv4", "frozen"):
        if case in args.cases:
            row, model = run_case(case, (train_dir, test_dir), args, pretrained=fitted)
            fitted = fitted or model
            rows.append(row)

    print("\n| case | epochs | sklearn_meta img/s | torchvision img/s | ratio | sklearn_meta s | "
          "torchvision s | test acc sklearn_meta | test acc torchvision |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        ips, s = r["images_per_s"], r["fit_s"]
        print(f"| {r['case']} | {r['epochs']} | {ips['sklearn_meta']:.0f} | "
              f"{ips['torchvision']:.0f} | "
              f"{r['ratio']:.2f} | {s['sklearn_meta']:.1f} | {s['torchvision']:.1f} | "
              f"{_acc(r, 'sklearn_meta')} | {_acc(r, 'torchvision')} |")

    out = Path(args.out) if args.out else (
        Path(os.environ["OUT"]) / "images_finetune_files.json" if os.environ.get("OUT")
        else REPO_ROOT / "bench_results" / "images_finetune_files.json"
    )
    out.parent.mkdir(parents=True, exist_ok=True)
    report = {"args": vars(args), "data": recipe, "torch": torch.__version__,
              "platform": platform.platform(), "processor": platform.processor(),
              "results": rows}
    out.write_text(json.dumps(report, indent=2))
    print(f"\nJSON report: {out}")


if __name__ == "__main__":
    main()
