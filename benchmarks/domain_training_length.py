"""How long a DomainAdaptedClassifier fit must be on small tables: target accuracy by epochs.

Each task: labelled source rows, unlabelled target rows (y == -1), a
``StandardScaler`` in front, the estimator's defaults otherwise (MLP,
minibatches of 64, SGD); the target accuracy after ``max_epochs`` epochs for
source-only (``method=None``) and the default method, one seed per row
(``--seeds`` for more). An epoch is one pass over the source rows, so a
small source gets few updates: the updates column says how many.

Usage::

    python benchmarks/domain_training_length.py --data-home ../shared/data
    python benchmarks/domain_training_length.py --quick
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_meta import DomainAdaptedClassifier


def _tasks(home):
    home = Path(home)
    dw = np.load(home / "office_caltech10_decaf6_DW.npz")
    coil = np.load(home / "coil20_da.npz")
    mv = np.load(home / "msrc_voc2007.npz")
    surf = np.load(home / "office_caltech10_surf.npz")
    return {
        "DeCAF D->W": (dw["X_dslr"], dw["y_dslr"], dw["X_webcam"], dw["y_webcam"]),
        "DeCAF W->D": (dw["X_webcam"], dw["y_webcam"], dw["X_dslr"], dw["y_dslr"]),
        "COIL 1->2": (coil["X_coil1"], coil["y_coil1"], coil["X_coil2"], coil["y_coil2"]),
        "MSRC->VOC": (mv["X_msrc"], mv["y_msrc"], mv["X_voc"], mv["y_voc"]),
        "SURF A->C": (surf["X_amazon"], surf["y_amazon"], surf["X_caltech"], surf["y_caltech"]),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data-home", default="../shared/data")
    parser.add_argument("--epochs", type=int, nargs="+", default=[20, 50, 100, 200, 400])
    parser.add_argument("--methods", nargs="+", default=["none", "cdan+e"])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default="bench_results/domain_training_length.jsonl")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    tasks = _tasks(args.data_home)
    if args.quick:
        tasks = dict(list(tasks.items())[:1])
        args.epochs = args.epochs[:2]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    print("| task | method | epochs | updates | target acc | fit s |")
    print("|---|---|---|---|---|---|")
    for name, (Xs, ys, Xt, yt) in tasks.items():
        X = np.concatenate([Xs, Xt]).astype(np.float32)
        y = np.concatenate([ys, np.full(len(Xt), -1)])
        for method in args.methods:
            for epochs in args.epochs:
                accs, secs = [], []
                for seed in range(args.seeds):
                    clf = DomainAdaptedClassifier(
                        method=None if method == "none" else method, max_epochs=epochs,
                        random_state=seed, device="cpu",
                    )
                    tic = time.perf_counter()
                    model = make_pipeline(StandardScaler(), clf).fit(X, y)
                    secs.append(time.perf_counter() - tic)
                    accs.append(float((model.predict(Xt.astype(np.float32)) == yt).mean()))
                updates = clf.n_iter_ * -(-len(Xs) // 64)
                print(f"| {name} | {method} | {epochs} | {updates} | "
                      f"{100 * np.mean(accs):.1f} | {np.mean(secs):.1f} |", flush=True)
                with out.open("a") as f:
                    f.write(json.dumps({"task": name, "method": method, "epochs": epochs,
                                        "updates": updates, "acc": accs, "fit_s": secs}) + "\n")


if __name__ == "__main__":
    main()
