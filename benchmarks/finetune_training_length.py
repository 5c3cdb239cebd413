"""How long a FineTuneClassifier fit must be on small sets: held-out accuracy by epochs.

Each data set is split in a stratified 70 / 30 train / test split (seeded);
``FineTuneClassifier`` at its defaults otherwise (Adam at 1e-3, minibatches
of 64, early stopping off below 10,000 rows), a ``StandardScaler`` in front of
the tables; the test accuracy after ``max_epochs`` epochs, and the minibatch
updates those epochs are (an epoch is one pass over the training rows, so a
small set gets few updates). Images (MNIST digits, 28x28) use the ``conv4``
backbone trained from scratch; tables the ``mlp`` backbone.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/finetune_training_length.py --data-home ../shared/data
    python benchmarks/finetune_training_length.py --quick
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_meta import FineTuneClassifier


def load_sets(home):
    """``{name: (X, y, backbone)}``: tables of 157 to 1,797 rows, MNIST at two sizes."""
    home = Path(home)
    dw = np.load(home / "office_caltech10_decaf6_DW.npz")
    coil = np.load(home / "coil20_da.npz")
    mv = np.load(home / "msrc_voc2007.npz")
    digits = load_digits()
    mnist = np.load(home / "mnist.npz")
    X_mnist, y_mnist = mnist["x_train"], mnist["y_train"]
    rng = np.random.default_rng(0)
    pick = rng.permutation(len(X_mnist))
    small = rng.permutation(len(digits.target))[:143]  # 100 to train after the 70 / 30 split
    return {
        "sklearn digits (143 rows)": (digits.data[small], digits.target[small], "mlp"),
        "DeCAF DSLR (157 rows)": (dw["X_dslr"], dw["y_dslr"], "mlp"),
        "DeCAF Webcam (295)": (dw["X_webcam"], dw["y_webcam"], "mlp"),
        "COIL-20 pose 1 (720)": (coil["X_coil1"], coil["y_coil1"], "mlp"),
        "MSRC (1,269)": (mv["X_msrc"], mv["y_msrc"], "mlp"),
        "sklearn digits (1,797)": (digits.data, digits.target, "mlp"),
        "MNIST images (1,000)": (X_mnist[pick[:1000]], y_mnist[pick[:1000]], "conv4"),
        "MNIST images (10,000)": (X_mnist[pick[:10000]], y_mnist[pick[:10000]], "conv4"),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-home", default="../shared/data")
    parser.add_argument("--epochs", type=int, nargs="+", default=[10, 20, 50, 100, 200])
    parser.add_argument("--max-updates", type=int, default=6000,
                        help="skip settings that would run more minibatch updates than this")
    parser.add_argument("--sets", nargs="+", default=None)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="bench_results/finetune_training_length.jsonl")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    sets = load_sets(args.data_home)
    if args.sets:
        sets = {k: v for k, v in sets.items() if any(s in k for s in args.sets)}
    if args.quick:
        sets = dict(list(sets.items())[:1])
        args.epochs, args.seeds = args.epochs[:2], 1
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    print("| data | epochs | updates | test acc | fit s |")
    print("|---|---|---|---|---|")
    for name, (X, y, backbone) in sets.items():
        for epochs in args.epochs:
            accs, secs, updates = [], [], None
            for seed in range(args.seeds):
                X_tr, X_te, y_tr, y_te = train_test_split(
                    X, y, test_size=0.3, stratify=y, random_state=seed)
                updates = epochs * -(-len(X_tr) // 64)
                if updates > args.max_updates:
                    break
                clf = FineTuneClassifier(backbone=backbone, max_epochs=epochs,
                                         random_state=seed, device="cpu")
                model = clf if backbone == "conv4" else make_pipeline(StandardScaler(), clf)
                tic = time.perf_counter()
                model.fit(X_tr, y_tr)
                secs.append(time.perf_counter() - tic)
                accs.append(float(np.mean(model.predict(X_te) == y_te)))
            if not accs:
                continue
            print(f"| {name} | {epochs} | {updates} | {100 * np.mean(accs):.1f} | "
                  f"{np.mean(secs):.1f} |", flush=True)
            with out.open("a") as f:
                f.write(json.dumps({"data": name, "epochs": epochs, "updates": updates,
                                    "acc": accs, "fit_s": secs}) + "\n")


if __name__ == "__main__":
    main()
