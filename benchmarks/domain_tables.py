"""Domain adaptation on the shipped feature tables: every method, source-free SHOT, skada 0.6, label-free selection.

Eight tasks, both directions of four shifts, fixed features with a
``StandardScaler`` fitted on all rows (source and target) in front:

- MNIST <-> USPS at ADDA's size (2,000 / 1,800 digits, 16x16 pixels as 256
  features, JDA's files; MNIST's stored values divided by 256);
- Office-Caltech10 DeCAF6 features, DSLR <-> Webcam (157 / 295 rows, 4,096);
- COIL-20 pose halves, COIL1 <-> COIL2 (720 / 720 rows, 1,024);
- MSRC <-> VOC2007 (1,269 / 1,530 rows, 240).

For each task and seed (default 0 1 2):

- ``ours``: ``DomainAdaptedClassifier(method=m)`` at its defaults otherwise
  (MLP, ``max_epochs="auto"``, ``trade_off="auto"``: 3 for MCC, 1 for the
  others), ``m`` in none, dann, cdan, cdan+e, mmd, coral, mdd, mcc (and MCC
  at ``trade_off=1``), bnm (and at 3), and ``shot``: the source-only model of
  the same seed adapted on the target rows alone (source-free). A method may
  carry parameters: ``--ours "mcc:trade_off=3,lr_schedule=constant"``;
- ``skada``: skada 0.6's deep DANN, CDAN, MDD, DeepCoral, DAN and MCC on the
  same network (an MLP of 128 ReLU units and a linear head), minibatches,
  optimiser (SGD, Nesterov 0.9, lr 0.01) and epochs as ours; DANN and CDAN get
  a domain head with one logit and ``BCEWithLogitsLoss`` (skada's default
  head ends in a softmax over one unit, a constant); MDD's gamma and MCC's
  temperature as ours (2 and 2.5); and skada's shallow CORAL, subspace
  alignment, JDOT and KMM around a logistic regression, with a logistic
  regression on the source alone beside them (first seed only: they are
  deterministic, but for subspace alignment's randomized solver);
- ``select``: ``GridSearchCV`` over our ``method`` (None included) with one
  ``DomainShuffleSplit`` (a quarter of each domain held out), scored by every
  ``make_da_scorer`` kind at once (``refit=False``); no target label is read.
  Each kind's pick is then looked up in the ``ours`` rows of the same seed.

Accuracy is on all target rows (their labels are never given to a fit), as
the papers report it. Every result is one JSON line in ``--out``; a rerun
skips what is there, so the run can be stopped and resumed, and
``--report`` prints the tables from the file alone.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/domain_tables.py --data-home ../shared/data
    python benchmarks/domain_tables.py --quick          # one task, one seed, a few methods
    python benchmarks/domain_tables.py --report         # the tables from the JSON lines
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_meta import DomainAdaptedClassifier
from sklearn_meta.model_selection import DomainShuffleSplit, make_da_scorer

OURS = ["none", "dann", "cdan", "cdan+e", "mmd", "coral", "mdd", "mcc:trade_off=1", "mcc",
        "bnm", "bnm:trade_off=3", "shot"]
SKADA_DEEP = ["DANN", "CDAN", "MDD", "DeepCoral", "DAN", "MCC"]
SKADA_SHALLOW = ["source LR", "CORAL", "SA", "JDOT", "KMM"]
KINDS = ["entropy", "iwv", "dev", "reverse"]
TASKS = ["M->U", "U->M", "D->W", "W->D", "C1->C2", "C2->C1", "MSRC->VOC", "VOC->MSRC"]

#: Published accuracies on the same files (%), with where they are printed.
PUBLISHED = {
    "M->U": "JDA 67.3, 1-NN 65.9 (Long et al. ICCV 2013, Table 2)",
    "U->M": "JDA 59.7, 1-NN 44.7 (idem)",
    "C1->C2": "JDA 89.3, 1-NN 83.6 (idem)",
    "C2->C1": "JDA 88.5, 1-NN 82.8 (idem)",
}


def load_tasks(home):
    """``{name: (X_source, y_source, X_target, y_target)}`` as float32 / int."""
    home = Path(home)
    mu = np.load(home / "mnist_usps_jda.npz")
    dw = np.load(home / "office_caltech10_decaf6_DW.npz")
    coil = np.load(home / "coil20_da.npz")
    mv = np.load(home / "msrc_voc2007.npz")
    pairs = {
        "M->U": (mu["X_mnist"] / 256.0, mu["y_mnist"], mu["X_usps"], mu["y_usps"]),
        "D->W": (dw["X_dslr"], dw["y_dslr"], dw["X_webcam"], dw["y_webcam"]),
        "C1->C2": (coil["X_coil1"], coil["y_coil1"], coil["X_coil2"], coil["y_coil2"]),
        "MSRC->VOC": (mv["X_msrc"], mv["y_msrc"], mv["X_voc"], mv["y_voc"]),
    }
    reverse = {"M->U": "U->M", "D->W": "W->D", "C1->C2": "C2->C1", "MSRC->VOC": "VOC->MSRC"}
    tasks = {}
    for name, (Xs, ys, Xt, yt) in pairs.items():
        tasks[name] = (Xs, ys, Xt, yt)
        tasks[reverse[name]] = (Xt, yt, Xs, ys)
    return {
        k: (v[0].astype(np.float32), v[1].astype(int), v[2].astype(np.float32), v[3].astype(int))
        for k, v in tasks.items()
    }


def joined(Xs, ys, Xt):
    """Source and target rows in one ``X``, target labels hidden as -1."""
    return np.concatenate([Xs, Xt]), np.concatenate([ys, np.full(len(Xt), -1)])


def parse_spec(spec):
    """``"mcc:trade_off=3,lr_schedule=constant"`` -> ``("mcc", {"trade_off": 3.0, ...})``."""
    method, _, rest = spec.partition(":")
    params = {}
    for item in filter(None, rest.split(",")):
        key, _, value = item.partition("=")
        try:
            params[key] = float(value)
        except ValueError:
            params[key] = value
    return method, params


def run_ours(spec, data, seed, sources):
    """Target accuracy of one of our fits; source-only pipelines kept for SHOT.

    ``spec`` is a method, optionally with parameters (see :func:`parse_spec`).
    """
    Xs, ys, Xt, yt = data
    X, y = joined(Xs, ys, Xt)
    method, params = parse_spec(spec)
    if method == "shot":
        source = sources[seed]
        scaler, clf = source[0], source[-1]
        model = DomainAdaptedClassifier(backbone=clf, method="shot", random_state=seed,
                                        device="cpu", **params)
        model.fit(scaler.transform(Xt))
        pipe = make_pipeline(scaler, model)
    else:
        model = DomainAdaptedClassifier(method=None if method == "none" else method,
                                        random_state=seed, device="cpu", **params)
        pipe = make_pipeline(StandardScaler(), model).fit(X, y)
        if spec == "none":
            sources[seed] = pipe
    return {"acc": float(np.mean(pipe.predict(Xt) == yt)), "epochs": int(model.max_epochs_)}


class _MLP(torch.nn.Module):
    """Our default network for rows: 128 ReLU units, then a linear head."""

    def __init__(self, n_in, n_classes):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Linear(n_in, 128), torch.nn.ReLU())
        self.head = torch.nn.Linear(128, n_classes)

    def forward(self, x, sample_weight=None):
        return self.head(self.features(x))


class _LogitDomainHead(torch.nn.Module):
    """Gradient reversal, then two hidden layers of 256 and one logit (no softmax)."""

    def __init__(self, n_in, hidden=256):
        super().__init__()
        self.net = torch.nn.Sequential(
            torch.nn.Linear(n_in, hidden), torch.nn.ReLU(),
            torch.nn.Linear(hidden, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, 1),
        )

    def forward(self, x, sample_weight=None):
        from skada.deep.modules import GradientReversalLayer

        return self.net(GradientReversalLayer.apply(x, 1.0)).squeeze(1)


def run_skada_deep(name, data, seed, epochs):
    from skada import deep

    Xs, ys, Xt, yt = data
    X, y = joined(Xs, ys, Xt)
    X = StandardScaler().fit_transform(X).astype(np.float32)
    n_classes = int(ys.max()) + 1
    torch.manual_seed(seed)
    net = _MLP(X.shape[1], n_classes)
    extra = {}
    if name == "DANN":
        extra = {"domain_classifier": _LogitDomainHead(128),
                 "domain_criterion": torch.nn.BCEWithLogitsLoss()}
    elif name == "CDAN":
        extra = {"domain_classifier": _LogitDomainHead(128 * n_classes),
                 "domain_criterion": torch.nn.BCEWithLogitsLoss(), "n_classes": n_classes,
                 "num_features": 128}
    elif name == "MDD":
        extra = {"gamma": 2.0, "n_classes": n_classes, "num_features": 128}
    elif name == "MCC":
        extra = {"T": 2.5}
    model = getattr(deep, name)(
        net, layer_name="features", reg=1.0, batch_size=64, max_epochs=epochs, lr=0.01,
        optimizer=torch.optim.SGD, optimizer__momentum=0.9, optimizer__nesterov=True,
        train_split=None, device="cpu", verbose=0, **extra,
    )
    sample_domain = np.where(y == -1, -2, 1)
    model.fit(X, y, sample_domain=sample_domain)
    Xt_s = X[len(Xs):]
    pred = model.predict(Xt_s, sample_domain=np.full(len(Xt_s), -2))
    return {"acc": float(np.mean(pred == yt))}


def run_skada_shallow(name, data, seed):
    import skada

    Xs, ys, Xt, yt = data
    X, y = joined(Xs, ys, Xt)
    X = StandardScaler().fit_transform(X)
    sample_domain = np.where(y == -1, -2, 1)
    lr = LogisticRegression(max_iter=1000)
    if name == "source LR":
        model = lr.fit(X[: len(Xs)], ys)
        return {"acc": float(np.mean(model.predict(X[len(Xs):]) == yt))}
    model = {
        "CORAL": lambda: skada.CORAL(lr),
        "SA": lambda: skada.SubspaceAlignment(lr, n_components=64, random_state=seed),
        "JDOT": lambda: skada.JDOTClassifier(lr),
        "KMM": lambda: skada.KMMReweight(lr.set_fit_request(sample_weight=True)),
    }[name]()
    model.fit(X, y, sample_domain=sample_domain)
    pred = model.predict(X[len(Xs):], sample_domain=np.full(len(Xt), -2))
    return {"acc": float(np.mean(pred == yt))}


def run_select(data, seed, methods):
    """Each scorer kind's score of each method on one held-out split."""
    Xs, ys, Xt, _ = data
    X, y = joined(Xs, ys, Xt)
    pipe = make_pipeline(StandardScaler(), DomainAdaptedClassifier(random_state=seed,
                                                                   device="cpu"))
    grid = []
    for spec in methods:
        method, params = parse_spec(spec)
        grid.append({"domainadaptedclassifier__method": [None if method == "none" else method],
                     **{f"domainadaptedclassifier__{k}": [v] for k, v in params.items()}})
    search = GridSearchCV(
        pipe, grid,
        cv=DomainShuffleSplit(n_splits=1, test_size=0.25, random_state=seed),
        scoring={k: make_da_scorer(k, random_state=seed) for k in KINDS}, refit=False,
        error_score="raise",
    ).fit(X, y)
    res = search.cv_results_
    return {"scores": {k: [float(v) for v in res[f"mean_test_{k}"]] for k in KINDS},
            "methods": methods}


def done_keys(path):
    keys = set()
    if path.exists():
        for line in path.read_text().splitlines():
            r = json.loads(line)
            keys.add((r["task"], r["lib"], r["method"], r["seed"]))
    return keys


def fmt(values):
    a = 100 * np.asarray(values)
    return f"{a.mean():.1f} ± {a.std():.1f}" if len(a) > 1 else f"{a.mean():.1f}"


def report(path):
    rows = [json.loads(line) for line in Path(path).read_text().splitlines()]
    tasks = [t for t in TASKS if any(r["task"] == t for r in rows)]
    acc = {}
    for r in rows:
        if "acc" in r:
            acc.setdefault((r["lib"], r["method"]), {}).setdefault(r["task"], {})[r["seed"]] = (
                r["acc"])
    print(f"target accuracy (%), mean ± std over seeds; file {path}\n")
    print("| lib | method | " + " | ".join(tasks) + " | mean |")
    print("|---|---|" + "---|" * (len(tasks) + 1))
    for (lib, method), by_task in acc.items():
        cells, means = [], []
        for t in tasks:
            v = list(by_task.get(t, {}).values())
            cells.append(fmt(v) if v else "-")
            if v:
                means.append(np.mean(v))
        mean = f"{100 * np.mean(means):.1f}" if len(means) == len(tasks) else "-"
        print(f"| {lib} | {method} | " + " | ".join(cells) + f" | {mean} |")
    print("\npublished:", "; ".join(f"{t}: {p}" for t, p in PUBLISHED.items() if t in tasks))
    merged = {}  # one split per task and seed: the scores of several runs on it add up
    for r in (r for r in rows if r["lib"] == "select"):
        into = merged.setdefault((r["task"], r["seed"]), {"task": r["task"], "seed": r["seed"],
                                                          "methods": [], "scores": {}})
        for i, m in enumerate(r["methods"]):
            if m not in into["methods"]:
                into["methods"].append(m)
                for k in KINDS:
                    into["scores"].setdefault(k, []).append(r["scores"][k][i])
    sel = list(merged.values())
    if not sel:
        return
    ours = acc
    print("\nlabel-free selection over method (None included): the pick's target accuracy,"
          " and how far below the best of the grid it is (regret), mean over seeds")
    print("| scorer | " + " | ".join(tasks) + " | picks source-only | mean regret |")
    print("|---|" + "---|" * (len(tasks) + 2))
    for kind in KINDS:
        cells, regrets, n_none, n_all = [], [], 0, 0
        for t in tasks:
            picks, regs = [], []
            for r in (r for r in sel if r["task"] == t):
                scores = r["scores"][kind]
                method = r["methods"][int(np.nanargmax(scores))]
                grid = {m: ours.get(("ours", m), {}).get(t, {}).get(r["seed"]) for m in
                        r["methods"]}
                if grid[method] is None or any(v is None for v in grid.values()):
                    continue
                picks.append(grid[method])
                regs.append(max(grid.values()) - grid[method])
                n_none += method == "none"
                n_all += 1
            cells.append(f"{fmt(picks)} ({100 * np.mean(regs):.1f})" if picks else "-")
            regrets += regs
        print(f"| {kind} | " + " | ".join(cells) + f" | {n_none}/{n_all} | "
              f"{100 * np.mean(regrets):.1f} |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-home", default="../shared/data")
    p.add_argument("--tasks", nargs="+", default=TASKS)
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--ours", nargs="*", default=OURS)
    p.add_argument("--skada-deep", nargs="*", default=SKADA_DEEP)
    p.add_argument("--skada-shallow", nargs="*", default=SKADA_SHALLOW)
    p.add_argument("--select", nargs="*", default=OURS[:-1],
                   help="methods the label-free search chooses among ('none' = None)")
    p.add_argument("--quick", action="store_true")
    p.add_argument("--report", action="store_true")
    p.add_argument("--out", default="bench_results/domain_tables.jsonl")
    args = p.parse_args(argv)
    out = Path(args.out)
    if args.report:
        report(out)
        return
    if args.quick:
        args.tasks, args.seeds = args.tasks[:1], args.seeds[:1]
        args.ours, args.skada_deep = ["none", "cdan+e", "mcc", "shot"], ["DANN"]
        args.skada_shallow, args.select = ["source LR", "CORAL"], ["none", "cdan+e", "mcc"]
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    try:
        import skada  # noqa: F401
    except ImportError:
        print("skada is not installed: its rows are skipped")
        args.skada_deep, args.skada_shallow = [], []
    tasks = load_tasks(args.data_home)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = done_keys(out)
    started = time.perf_counter()
    for t in args.tasks:
        data = tasks[t]
        sources = {}
        jobs = [("ours", m) for m in args.ours] + [("skada", m) for m in args.skada_deep]
        jobs += [("skada", m) for m in args.skada_shallow]
        jobs += [("select", "+".join(args.select))] if args.select else []
        for seed in args.seeds:
            for lib, method in jobs:
                needs_source = (lib == "ours" and parse_spec(method)[0] == "shot"
                                and seed not in sources)
                if (t, lib, method, seed) in done and not needs_source:
                    continue
                if lib == "skada" and method in SKADA_SHALLOW and seed != args.seeds[0]:
                    continue  # deterministic but for SA's seed: one run
                if needs_source:
                    run_ours("none", data, seed, sources)
                    if (t, lib, method, seed) in done:
                        continue
                tic = time.perf_counter()
                if lib == "ours":
                    r = run_ours(method, data, seed, sources)
                elif method in SKADA_DEEP:  # for the epochs "auto" gives this source
                    epochs = max(20, -(-1000 // -(-len(data[0]) // 64)))
                    r = run_skada_deep(method, data, seed, epochs)
                elif lib == "skada":
                    try:
                        r = run_skada_shallow(method, data, seed)
                    except Exception as exc:  # noqa: BLE001 - a peer's failure is a result
                        r = {"error": f"{type(exc).__name__}: {exc}"[:300]}
                else:
                    r = run_select(data, seed, args.select)
                r.update(task=t, lib=lib, method=method, seed=seed,
                         fit_s=round(time.perf_counter() - tic, 2))
                with out.open("a") as f:
                    f.write(json.dumps(r) + "\n")
                shown = f"{100 * r['acc']:.1f}" if "acc" in r else r.get("error", "scored")
                print(f"{t} {lib} {method} seed {seed}: {shown} ({r['fit_s']} s)", flush=True)
    print(f"total {time.perf_counter() - started:.0f} s")
    report(out)


if __name__ == "__main__":
    main()
