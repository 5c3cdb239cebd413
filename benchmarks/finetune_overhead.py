"""Overhead of FineTuneClassifier over a hand-written torch loop, and over skorch.

The same data, the same network (an MLP ``n_features -> width -> width -> 10``,
default ``784 -> 256 -> 256 -> 10``), the same number of epochs, batch size and
optimiser (Adam, same lr, no weight decay) are trained three ways in one process:

1. ``FineTuneClassifier(backbone=MLPBackbone(hidden=(width, width)), weights=None,
   freeze="none", early_stopping=False)``: from scratch, so ``backbone_lr="auto"``
   is 1.0 and the whole network shares one learning rate;
2. skorch's ``NeuralNetClassifier`` with a module of identical architecture
   (``train_split=None``, ``iterator_train__shuffle=True``, cross-entropy);
3. a hand-written torch loop: the data moved to the device once, minibatches
   drawn by index from a ``torch.randperm`` there, Adam, and one ``loss.item()``
   per epoch.

Each fit is timed end to end as a user would call it (for the hand loop:
moving the data, building the model and the optimiser, training). A warm-up
fit of one epoch per method comes first; the repeats are interleaved (the
order of the methods rotates) and the median is reported, with
``torch.cuda.synchronize()`` around every timing on CUDA. The number of torch
threads is set once, for all three. Train and test accuracy are measured
afterwards, outside the timings, in eval mode.

Data: ``mnist.npz`` (``x_train``, ``y_train``, ``x_test``, ``y_test``) from
``--data-home``, ``$SKLEARN_META_DATA``, ``./.bench_data`` or
``../shared/data``, first ``--n-samples`` training images; when it is absent,
scikit-learn's digits upsampled to 28x28 (each pixel repeated 3x3, padded by
2) and tiled to ``--n-samples`` rows. The script prints which one it used.

Usage (from the repository root)::

    python benchmarks/finetune_overhead.py --device cpu --epochs 3 --n-samples 20000
    python benchmarks/finetune_overhead.py --device cuda --epochs 5 --n-samples 60000
    python benchmarks/finetune_overhead.py --device cpu --profile   # where FTC spends time

The JSON report goes to ``--out`` (default ``$OUT/finetune_overhead.json``
when ``$OUT`` is set, else ``bench_results/finetune_overhead.json``).
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

import sklearn_meta
from sklearn_meta import FineTuneClassifier
from sklearn_meta.backbones import MLPBackbone

REPO_ROOT = Path(__file__).resolve().parents[1]
METHODS = ("FineTuneClassifier", "skorch", "hand loop")


# ------------------------------------------------------------------- data
def _data_folders(data_home):
    folders = []
    if data_home:
        folders.append(Path(data_home))
    if os.environ.get("SKLEARN_META_DATA"):
        folders.append(Path(os.environ["SKLEARN_META_DATA"]))
    folders += [REPO_ROOT / ".bench_data", REPO_ROOT.parent / "shared" / "data"]
    return folders


def load_data(n_samples, data_home=None):
    """(X_train, y_train, X_test, y_test, description); X float32, standardised."""
    path = next((f / "mnist.npz" for f in _data_folders(data_home) if (f / "mnist.npz").is_file()),
                None)
    if path is not None:
        with np.load(path) as d:
            x_train, y_train = d["x_train"], d["y_train"]
            x_test, y_test = d["x_test"], d["y_test"]
        if n_samples > len(x_train):
            sys.exit(f"--n-samples {n_samples}: MNIST has only {len(x_train)} training images.")
        x_train, y_train = x_train[:n_samples], y_train[:n_samples]
        desc = f"MNIST from {path} ({n_samples} train / {len(x_test)} test images, 28x28)"
    else:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        X, y = load_digits(return_X_y=True)
        X = np.pad(np.kron(X.reshape(-1, 8, 8), np.ones((3, 3))), ((0, 0), (2, 2), (2, 2)))
        x_train, x_test, y_train, y_test = train_test_split(
            X, y, test_size=0.25, stratify=y, random_state=0
        )
        reps = -(-n_samples // len(x_train))
        x_train = np.tile(x_train, (reps, 1, 1))[:n_samples]
        y_train = np.tile(y_train, reps)[:n_samples]
        desc = (f"sklearn digits upsampled to 28x28 and tiled to {n_samples} train rows "
                f"({len(x_test)} test); mnist.npz not found in "
                f"{[str(f) for f in _data_folders(data_home)]}")
    x_train = x_train.reshape(len(x_train), -1).astype(np.float32)
    x_test = x_test.reshape(len(x_test), -1).astype(np.float32)
    mean, std = x_train.mean(), x_train.std()
    return ((x_train - mean) / std, y_train.astype(np.int64),
            (x_test - mean) / std, y_test.astype(np.int64), desc)


# ---------------------------------------------------------------- methods
class MLP(nn.Module):
    """The network every method trains: the same layers as FineTuneClassifier's."""

    def __init__(self, n_features=784, width=256, n_classes=10):
        super().__init__()
        self.features = nn.Sequential(
            nn.Flatten(),
            nn.Sequential(nn.Linear(n_features, width), nn.ReLU()),
            nn.Sequential(nn.Linear(width, width), nn.ReLU()),
        )
        self.head = nn.Linear(width, n_classes)

    def forward(self, x):
        return self.head(self.features(x))


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def fit_finetune(X, y, args, device, epochs):
    clf = FineTuneClassifier(
        backbone=MLPBackbone(hidden=(args.width, args.width)),
        weights=None,
        freeze="none",
        max_epochs=epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        optimizer="adam",
        early_stopping=False,  # the other two train on every row, no validation
        device=str(device),
        random_state=args.seed,
    )
    clf.fit(X, y)
    return clf


def predict_finetune(model, X):
    return model.predict(X)


def fit_skorch(X, y, args, device, epochs):
    from skorch import NeuralNetClassifier

    torch.manual_seed(args.seed)
    net = NeuralNetClassifier(
        MLP,
        module__n_features=X.shape[1],
        module__width=args.width,
        module__n_classes=int(y.max()) + 1,
        criterion=nn.CrossEntropyLoss,
        optimizer=torch.optim.Adam,
        lr=args.lr,
        max_epochs=epochs,
        batch_size=args.batch_size,
        train_split=None,
        iterator_train__shuffle=True,
        device=str(device),
        verbose=0,
    )
    net.fit(X, y)
    return net


def predict_skorch(model, X):
    return model.predict(X)


def fit_hand(X, y, args, device, epochs):
    torch.manual_seed(args.seed)
    X_t = torch.from_numpy(X).to(device)
    y_t = torch.from_numpy(y).to(device)
    model = MLP(X.shape[1], args.width, int(y.max()) + 1).to(device)
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    gen = torch.Generator(device=device).manual_seed(args.seed)
    n = X_t.shape[0]
    model.train()
    losses = []
    for _ in range(epochs):
        perm = torch.randperm(n, generator=gen, device=device)
        total = torch.zeros((), device=device)
        for start in range(0, n, args.batch_size):
            idx = perm[start:start + args.batch_size]
            xb, yb = X_t[idx], y_t[idx]
            loss = F.cross_entropy(model(xb), yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.detach() * idx.numel()
        losses.append(total.item() / n)  # one host sync per epoch
    model.eval()
    model.losses_ = losses
    model.device_ = device
    return model


def predict_hand(model, X):
    out = []
    with torch.inference_mode():
        for start in range(0, len(X), 4096):
            xb = torch.from_numpy(X[start:start + 4096]).to(model.device_)
            out.append(model(xb).argmax(1).cpu())
    return torch.cat(out).numpy()


FIT = {"FineTuneClassifier": fit_finetune, "skorch": fit_skorch, "hand loop": fit_hand}
PREDICT = {"FineTuneClassifier": predict_finetune, "skorch": predict_skorch,
           "hand loop": predict_hand}


def timed_fit(method, X, y, args, device, epochs):
    """(wall seconds, CPU seconds of this process, fitted model)."""
    _sync(device)
    start, cpu_start = time.perf_counter(), time.process_time()
    model = FIT[method](X, y, args, device, epochs)
    _sync(device)
    return time.perf_counter() - start, time.process_time() - cpu_start, model


# ------------------------------------------------------------------ main
def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--epochs", type=int, default=3, help="epochs per fit (default 3)")
    p.add_argument("--repeats", type=int, default=3,
                   help="timed fits per method; the median is reported (default 3)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--n-samples", type=int, default=20000,
                   help="training rows (default 20000; MNIST has 60000)")
    p.add_argument("--width", type=int, default=256, help="hidden width (default 256)")
    p.add_argument("--batch-size", type=int, default=128, help="minibatch size (default 128)")
    p.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default 1e-3)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads for all methods (default: torch's own choice)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--data-home", default=None, help="folder holding mnist.npz")
    p.add_argument("--profile", action="store_true",
                   help="after the timings, cProfile one FineTuneClassifier fit and one hand "
                        "loop fit and print where the time goes")
    out = Path(os.environ["OUT"]) if os.environ.get("OUT") else REPO_ROOT / "bench_results"
    p.add_argument("--out", default=str(out / "finetune_overhead.json"),
                   help="JSON report (default $OUT/finetune_overhead.json or "
                        "bench_results/finetune_overhead.json)")
    return p.parse_args(argv)


def _profile(method, X, y, args, device, top=18):
    prof = cProfile.Profile()
    prof.enable()
    FIT[method](X, y, args, device, args.epochs)
    _sync(device)
    prof.disable()
    buf = io.StringIO()
    stats = pstats.Stats(prof, stream=buf).strip_dirs().sort_stats("tottime")
    stats.print_stats(top)
    return buf.getvalue()


def main(argv=None):
    args = parse_args(argv)
    if args.device == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda was asked for but torch sees no CUDA device.")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg() if hasattr(os, "getloadavg") else None
    t_start = time.perf_counter()

    X, y, X_test, y_test, desc = load_data(args.n_samples, args.data_home)
    dev_name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor()
    print(f"data:    {desc}")
    print(f"network: {X.shape[1]} -> {args.width} -> {args.width} -> {int(y.max()) + 1} (ReLU), "
          f"Adam lr={args.lr}, batch {args.batch_size}, {args.epochs} epochs, "
          f"median of {args.repeats}")
    print(f"device:  {device} ({dev_name or platform.machine()}), torch {torch.__version__}, "
          f"{torch.get_num_threads()} torch threads, sklearn_meta {sklearn_meta.__version__}")
    if load_before is not None:
        print(f"load average before: {load_before[0]:.2f}")

    methods = list(args.methods)
    for method in methods:  # warm-up: kernels, allocator, lazy imports
        timed_fit(method, X[: 4 * args.batch_size], y[: 4 * args.batch_size], args, device, 1)

    times = {m: [] for m in methods}
    cpu_times = {m: [] for m in methods}
    models = {}
    for rep in range(args.repeats):
        order = methods[rep % len(methods):] + methods[:rep % len(methods)]
        for method in order:
            seconds, cpu, models[method] = timed_fit(method, X, y, args, device, args.epochs)
            times[method].append(seconds)
            cpu_times[method].append(cpu)

    rows = []
    hand = statistics.median(times["hand loop"]) if "hand loop" in times else None
    hand_cpu = statistics.median(cpu_times["hand loop"]) if "hand loop" in times else None
    for method in methods:
        median = statistics.median(times[method])
        cpu = statistics.median(cpu_times[method])
        model = models[method]
        rows.append({
            "method": method,
            "seconds": median,
            "all_seconds": times[method],
            "ratio_to_hand_loop": median / hand if hand else None,
            "cpu_seconds": cpu,
            "all_cpu_seconds": cpu_times[method],
            "cpu_ratio_to_hand_loop": cpu / hand_cpu if hand_cpu else None,
            "train_accuracy": float(np.mean(PREDICT[method](model, X) == y)),
            "test_accuracy": float(np.mean(PREDICT[method](model, X_test) == y_test)),
        })

    print()
    print(f"| {'method':<18} | {'seconds':>8} | {'x hand loop':>11} | {'CPU s':>8} "
          f"| {'CPU x hand':>10} | {'train acc':>9} | {'test acc':>8} |")
    print(f"|{'-' * 20}|{'-' * 10}|{'-' * 13}|{'-' * 10}|{'-' * 12}|{'-' * 11}|{'-' * 10}|")
    for r in rows:
        ratio = f"{r['ratio_to_hand_loop']:.3f}" if r["ratio_to_hand_loop"] else "-"
        cpu_ratio = f"{r['cpu_ratio_to_hand_loop']:.3f}" if r["cpu_ratio_to_hand_loop"] else "-"
        print(f"| {r['method']:<18} | {r['seconds']:8.3f} | {ratio:>11} | {r['cpu_seconds']:8.3f} "
              f"| {cpu_ratio:>10} | {r['train_accuracy']:9.4f} | {r['test_accuracy']:8.4f} |")
    load_after = os.getloadavg() if hasattr(os, "getloadavg") else None
    if load_after is not None:
        print(f"load average after: {load_after[0]:.2f} (other processes skew wall times on a "
              "busy machine; CPU seconds, with --threads 1, are steadier)")
    ft = next((r for r in rows if r["method"] == "FineTuneClassifier"), None)
    if ft and ft["ratio_to_hand_loop"]:
        verdict = "within" if ft["ratio_to_hand_loop"] <= 1.05 else "ABOVE"
        print(f"FineTuneClassifier / hand loop = {ft['ratio_to_hand_loop']:.3f}: "
              f"{verdict} the 1.05x target")

    profiles = {}
    if args.profile:
        for method in ("FineTuneClassifier", "hand loop"):
            profiles[method] = _profile(method, X, y, args, device)
            print(f"\n== cProfile, one {method} fit (sorted by own time)")
            print(profiles[method])

    report = {
        "benchmark": "finetune_overhead",
        "data": desc,
        "device": str(device),
        "device_name": dev_name,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "args": {k: v for k, v in vars(args).items() if k != "out"},
        "load_average": [load_before and load_before[0], load_after and load_after[0]],
        "results": rows,
        "wall_seconds": time.perf_counter() - t_start,
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {out} ({report['wall_seconds']:.0f} s in all)")
    return report


if __name__ == "__main__":
    main()
