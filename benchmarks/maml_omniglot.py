"""MAMLClassifier against learn2learn's MAML on Omniglot, on the same episodes.

Protocol
--------
* Data: Omniglot, Vinyals split, 28x28, rotations by multiples of 90 degrees
  (Finn et al. 2017 follow Santoro et al.): training on the 1200 ``trainval``
  characters x 4 = 4800 classes, testing on the 423 x 4 = 1692 ``test``
  classes (``load_omniglot("vinyals", ...)``, pixels in [0, 1]).
* Network: ``Conv4Backbone(norm="instance")``, 64 channels (the default network
  of the MAML family), initialised identically for both libraries.
* Algorithm, the same on both sides: second-order MAML with a zero head per
  task (``head_init="zero"``; learn2learn: the head zeroed before every
  meta-update), Finn et al.'s settings: 5-way: 1 inner step of 0.4,
  meta-batch 32; 20-way: 5 inner steps of 0.1, meta-batch 16; Adam 1e-3;
  ``--n-query`` queries per class in training.
* Episodes: learn2learn trains on exactly the episodes ``MAMLClassifier.fit``
  draws (the same sampler, seeds and order), for the same number of
  meta-updates (``--iters``), on the same device.
* Reported per setting: training tasks/s of each (ours from ``history_``'s
  ``dur``, the first block included; learn2learn's first update excluded),
  peak memory (CUDA: ``max_memory_allocated``; CPU: growth of the resident
  set, a lower bound), the relative difference of the two float32
  meta-gradients on one batch and of each to a float64 reference, and the
  5-way / 20-way 1-shot accuracy with a 95 % interval over ``--episodes``
  test episodes (15 queries per class, identical episodes for both, 3
  adaptation steps for 5-way and 5 for 20-way), beside Finn et al.'s 98.7
  and 95.8 %.

learn2learn 0.2.0 does not build from PyPI on Python 3.11: install it with
``bash ../shared/tools/install_learn2learn.sh .venv``. Without it the peer is
higher (``pip install higher``, pure Python) when installed, else only our
side runs. The peer-trained model is scored by a plain torch adaptation
(:func:`_evaluate_peer`), the same for either peer.

Usage::

    python benchmarks/maml_omniglot.py --ways 5 --iters 200 --threads 1   # CPU
    python benchmarks/maml_omniglot.py --device cuda --iters 2000          # GPU
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sklearn_meta import MAMLClassifier  # noqa: E402
from sklearn_meta._devices import derive_seed, resolve_device, torch_rng  # noqa: E402
from sklearn_meta._episodes import EpisodeSampler  # noqa: E402
from sklearn_meta.backbones import Conv4Backbone, build_backbone  # noqa: E402
from sklearn_meta.datasets import load_omniglot  # noqa: E402
from sklearn_meta.model_selection import evaluate_episodes  # noqa: E402

PAPER = {5: 98.7, 20: 95.8}
#: Finn et al.'s settings per n_way: inner steps, inner lr, meta-batch, test steps
SETTINGS = {5: (1, 0.4, 32, 3), 20: (5, 0.1, 16, 5)}
EPOCH = 100  # meta-updates per block of MAMLClassifier's training loop


def _load(split, data_home):
    X, y = load_omniglot("vinyals", split=split, rotations=True, data_home=data_home,
                         return_X_y=True)
    return (X.reshape(-1, 1, 28, 28).astype(np.float32) / 255.0), y


def _rss():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _rel(a, b):
    return float((a.double() - b.double()).norm() / b.double().norm())


def _fit_episodes(y_codes, n_way, n_shot, n_query, batch, iters, seed, device):
    """The meta-batches MAMLClassifier.fit draws, in order (same sampler and seeds)."""
    sampler = EpisodeSampler(torch.as_tensor(y_codes, device=device), n_way=n_way,
                             n_shot=n_shot, n_query=n_query, device=device, adapt_small=True)
    for first in range(0, iters, EPOCH):
        block = min(EPOCH, iters - first)
        with torch_rng(seed + first, device, global_rng=False) as gen:
            s_idx, q_idx, s_y, q_y = sampler.sample(gen, block * batch)
        shape = (block, batch, -1)
        s_idx, q_idx, s_y, q_y = (t.view(*shape) for t in (s_idx, q_idx, s_y, q_y))
        for i in range(block):
            yield s_idx[i], s_y[i], q_idx[i], q_y[i]


def _evaluate_peer(model, X, s_idx, s_y, q_idx, q_y, steps, inner_lr):
    """Query accuracy per test episode of a peer-trained zero-head model.

    Plain torch: the head starts at zero, ``steps`` first-order gradient
    steps on the support, then the queries; the same for any peer's model.
    """
    params = {k: v.detach() for k, v in model.named_parameters()}
    head = [k for k in params if k.startswith("1.")]
    accs = []
    for e in range(s_idx.shape[0]):
        fast = {k: (torch.zeros_like(v) if k in head else v).requires_grad_(True)
                for k, v in params.items()}
        for _ in range(steps):
            loss = torch.nn.functional.cross_entropy(
                torch.func.functional_call(model, fast, (X[s_idx[e]],)), s_y[e])
            grads = torch.autograd.grad(loss, list(fast.values()))
            fast = {k: (v - inner_lr * g).detach().requires_grad_(True)
                    for (k, v), g in zip(fast.items(), grads)}
        with torch.no_grad():
            pred = torch.func.functional_call(model, fast, (X[q_idx[e]],)).argmax(1)
        accs.append(float((pred == q_y[e]).float().mean()))
    return np.array(accs)


def run_setting(n_way, args, data, peers):
    steps, inner_lr, batch, test_steps = SETTINGS[n_way]
    X_tr, y_tr, X_te, y_te = data
    device = resolve_device(args.device)
    seed = derive_seed(args.seed)
    clf = MAMLClassifier(
        backbone=Conv4Backbone(norm="instance"), n_way=n_way, n_shot=1, n_query=args.n_query,
        # no adaptation to all 96,000 training images at the end of fit:
        # the test adapts to each episode with test_steps (set below)
        n_inner_steps=steps, inner_lr=inner_lr, n_adapt_steps=0,
        meta_batch_size=batch, head_init="zero", max_iter=args.iters, early_stopping=False,
        device=device, random_state=args.seed, task_chunk_size=args.chunk,
        backtrack=False,  # plain gradient steps, as the peers take them
    )
    row = {"n_way": n_way, "device": str(device), "iters": args.iters, "meta_batch": batch}

    # --- meta-gradients on one batch, at the initialisation
    with torch_rng(seed, torch.device("cpu")):
        features, n_features, _ = build_backbone(Conv4Backbone(norm="instance"), (1, 28, 28))
    X_dev = torch.from_numpy(X_tr).to(device)
    s_idx, s_y, q_idx, q_y = next(_fit_episodes(y_tr, n_way, 1, args.n_query, batch, 1, seed,
                                                device))
    probe = MAMLClassifier(**clf.get_params(deep=False))
    probe._validate_X_y(X_tr[:10], y_tr[:10])
    probe._initialize((1, 28, 28))
    probe.module_.features.load_state_dict(features.state_dict())

    def ours_grad(dtype):
        probe.module_.to(dtype)
        for p in probe.module_.parameters():
            p.grad = None
        probe._meta_backward(X_dev.to(dtype), s_idx, s_y, q_idx, q_y, n_way)
        return torch.cat([p.grad.flatten() for p in probe.module_.features.parameters()])

    g32 = ours_grad(torch.float32)
    g64 = ours_grad(torch.float64)
    row["grad_ours_vs_f64"] = _rel(g32, g64)
    if peers:
        row["peer"] = peers["name"]
        lg32 = peers["meta_gradient"](
            features.to(device), n_features, X_dev, s_idx, s_y, q_idx, q_y, n_way, inner_lr,
            steps, False)
        row["grad_ours_vs_l2l"] = _rel(g32, lg32)
        row["grad_l2l_vs_f64"] = _rel(lg32, g64)

    # --- ours: the public fit
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    rss0 = _rss()
    tic = time.perf_counter()
    clf.fit(X_tr, y_tr)
    row["fit_s_ours"] = time.perf_counter() - tic
    train_s = float(sum(r["dur"] for r in clf.history_))
    row["tasks_per_s_ours"] = clf.n_iter_ * batch / train_s
    row["peak_mem_ours"] = (torch.cuda.max_memory_allocated(device) if device.type == "cuda"
                            else _rss() - rss0)
    clf.set_params(n_adapt_steps=test_steps)
    res = evaluate_episodes(clf, X_te, y_te, n_way=n_way, n_shot=1, n_query=15,
                            n_episodes=args.episodes, random_state=0)
    row["acc_ours"], row["ci_ours"] = 100 * res.mean, 100 * res.ci

    # --- the peer on the same episodes
    if peers:
        episodes = _fit_episodes(y_tr, n_way, 1, args.n_query, batch, args.iters, seed, device)
        model, tps, peak = peers["train"](
            features.to(device), n_features, X_dev, episodes, n_way=n_way, inner_lr=inner_lr,
            n_inner_steps=steps, first_order=False, lr=1e-3, n_updates=args.iters)
        row["tasks_per_s_l2l"], row["peak_mem_l2l"] = tps, peak
        classes, codes = np.unique(y_te, return_inverse=True)
        sampler = EpisodeSampler(codes, n_way=n_way, n_shot=1, n_query=15)
        gen = torch.Generator().manual_seed(derive_seed(0))
        s_i, q_i, s_l, q_l = sampler.sample(gen, args.episodes)  # evaluate_episodes' draw
        accs = _evaluate_peer(model, torch.from_numpy(X_te).to(device), s_i.to(device),
                              s_l.to(device), q_i.to(device), q_l.to(device), test_steps,
                              inner_lr)
        row["acc_l2l"] = 100 * float(np.mean(accs))
        row["ci_l2l"] = 100 * 1.96 * float(np.std(accs, ddof=1)) / np.sqrt(len(accs))
    return row


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--ways", type=int, nargs="+", default=[5, 20], choices=[5, 20])
    parser.add_argument("--iters", type=int, default=2000)
    parser.add_argument("--episodes", type=int, default=600)
    parser.add_argument("--n-query", type=int, default=5)
    parser.add_argument("--chunk", type=int, default=None, help="task_chunk_size")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-home", default=None)
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--out", default="bench_results/maml_omniglot.json")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if torch.cuda.is_available():
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False

    peers = {}
    if not args.no_peers:
        import _maml_peers

        try:
            _maml_peers._import_l2l()
            peers = {"name": "learn2learn", "train": _maml_peers.l2l_train,
                     "meta_gradient": _maml_peers.l2l_meta_gradient}
        except ImportError as exc:
            try:  # higher is pure Python: a wheel in .whl/ is enough on a GPU machine
                _maml_peers._import_higher()
                peers = {"name": "higher", "train": _maml_peers.higher_train,
                         "meta_gradient": _maml_peers.higher_meta_gradient}
                print(f"learn2learn not run ({exc}); the peer is higher")
            except ImportError:
                print(f"no peer run: {exc}")
    X_tr, y_tr = _load("trainval", args.data_home)
    # the codes MAMLClassifier.fit gives the labels: the episodes then match
    assert np.array_equal(np.unique(y_tr), np.arange(y_tr.max() + 1))
    X_te, y_te = _load("test", args.data_home)
    rows = []
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    for n_way in args.ways:
        rows.append(run_setting(n_way, args, (X_tr, y_tr, X_te, y_te), peers))
        out.write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))

    def mem(v):
        return "-" if v is None else f"{v / 2**20:.0f} MiB"

    print(f"device: {rows[0]['device']}, {args.iters} meta-updates, torch {torch.__version__}")
    print(f"peer: {rows[0].get('peer', 'none')} (columns 'peer')")
    print("| setting | tasks/s ours | tasks/s peer | ratio | peak mem ours | peak mem peer | "
          "grad ours vs f64 | grad peer vs f64 | grad ours vs peer | acc ours | acc peer | paper |")
    print("|---" * 12 + "|")
    for r in rows:
        t_l2l = r.get("tasks_per_s_l2l")
        ratio = f"{r['tasks_per_s_ours'] / t_l2l:.1f}x" if t_l2l else "-"
        acc_l2l = f"{r['acc_l2l']:.1f} ± {r['ci_l2l']:.1f}" if "acc_l2l" in r else "-"
        print(
            f"| {r['n_way']}-way 1-shot | {r['tasks_per_s_ours']:.1f} | "
            f"{t_l2l if t_l2l is None else f'{t_l2l:.1f}'} | {ratio} | "
            f"{mem(r['peak_mem_ours'])} | {mem(r.get('peak_mem_l2l'))} | "
            f"{r['grad_ours_vs_f64']:.1e} | {r.get('grad_l2l_vs_f64', float('nan')):.1e} | "
            f"{r.get('grad_ours_vs_l2l', float('nan')):.1e} | "
            f"{r['acc_ours']:.1f} ± {r['ci_ours']:.1f} | {acc_l2l} | {PAPER[r['n_way']]} |"
        )


if __name__ == "__main__":
    main()
