"""How far ``augment="standard"`` may crop small few-shot images: its ``scale`` range.

Fits ``ProtoNetClassifier`` on the Omniglot subset ``small1`` (136
characters, 2,720 images, 28x28) without augmentation and with the standard
crop-and-flip at several lower bounds of the crop's area share (torchvision's
``(0.08, 1)`` and gentler ones), the same episodes and seed otherwise, and
scores 5-way 1-shot and 5-way 5-shot episodes on the alphabets ``small1``
lacks (``load_omniglot("small2", disjoint_from="small1")``), 600 episodes
each, mean and 95 % interval.

Usage (from the repository root)::

    OMP_NUM_THREADS=1 python benchmarks/augment_scale.py --max-iter 500
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-iter", type=int, default=500)
    parser.add_argument("--scales", type=float, nargs="+", default=[0.08, 0.25, 0.5])
    parser.add_argument("--episodes", type=int, default=600)
    parser.add_argument("--out", default="bench_results/augment_scale.json")
    args = parser.parse_args(argv)

    import torch

    from sklearn_meta import ProtoNetClassifier
    from sklearn_meta._augment import StandardAugment
    from sklearn_meta.datasets import load_omniglot
    from sklearn_meta.model_selection import evaluate_episodes

    torch.set_num_threads(1)
    X, y = load_omniglot("small1", return_X_y=True)
    X_te, y_te = load_omniglot("small2", disjoint_from="small1", return_X_y=True)
    results = []
    for lo in [None, *args.scales]:
        if lo is not None:
            # the policy's range, for this measurement only
            StandardAugment.__init__.__defaults__ = ((lo, 1.0), (3 / 4, 4 / 3), 0.5)
        clf = ProtoNetClassifier(
            input_shape=(1, 28, 28), n_way=20, max_iter=args.max_iter, early_stopping=False,
            augment=None if lo is None else "standard", random_state=0, device="cpu",
        )
        tic = time.perf_counter()
        clf.fit(X, y)
        row = {"scale_min": lo, "fit_s": time.perf_counter() - tic}
        for shot in (1, 5):
            res = evaluate_episodes(clf, X_te, y_te, n_way=5, n_shot=shot, n_query=5,
                                    n_episodes=args.episodes, random_state=0)
            row[f"5w{shot}s"] = (float(res.mean), float(res.ci))
        results.append(row)
        print(f"augment={'none' if lo is None else f'standard, scale=({lo}, 1)'}: "
              + ", ".join(f"{k} {100 * m:.1f} ± {100 * c:.1f} %" for k, (m, c) in
                          ((k, row[k]) for k in ("5w1s", "5w5s")))
              + f"; fit {row['fit_s']:.0f} s", flush=True)
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps({"argv": vars(args), "results": results}, indent=2))


if __name__ == "__main__":
    main()
