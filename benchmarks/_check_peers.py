"""Check the peer MAML implementations of ``_maml_peers.py`` against plain torch.

Not a test (CI does not install the peers): run it by hand after installing
learn2learn (``bash ../shared/tools/install_learn2learn.sh .venv``) and/or
higher (``.venv/bin/pip install higher``)::

    .venv/bin/python benchmarks/_check_peers.py            # gradient checks
    .venv/bin/python benchmarks/_check_peers.py --time     # + l2l tasks/s on Omniglot

The gradient check, in float64 on random images with a small Conv4
(GroupNorm) and the zero-initialised head: the meta-gradient w.r.t. the
features computed by each peer, second and first order, against a reference
written with ``torch.autograd.grad(..., create_graph=True)`` and
``torch.func.functional_call``; relative differences must be below 1e-10, and
the first-order gradient must differ from the second-order one. Then one
meta-update with each peer from the same start must give the same parameters.

``--time`` measures learn2learn's training tasks/s on the Omniglot background
set, 5-way 1-shot, Conv4 (64 channels, GroupNorm), meta-batch 4, one inner
step, second order, on the CPU with ``--threads`` threads (default 1: on a
shared, busy machine more threads than free cores make torch's CPU kernels
spin and run many times slower, e.g. 0.4 tasks/s with 2 threads against 12
with 1 on two cores at load 4).
"""

import argparse
import copy
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _maml_peers as peers

from sklearn_meta.backbones import Conv4Backbone

TOL = 1e-10


def reference_meta_gradient(
    features,
    n_features,
    X,
    s_idx,
    s_y,
    q_idx,
    q_y,
    n_way,
    inner_lr,
    n_inner_steps,
    first_order,
):
    """MAML meta-gradient w.r.t. the features' parameters in plain torch."""
    net = peers.make_zero_head_net(copy.deepcopy(features), n_features, n_way)
    names, params = zip(*net.named_parameters())
    n_feat = len(list(features.parameters()))
    losses = []
    for b in range(s_idx.shape[0]):
        fast = list(params)
        for _ in range(n_inner_steps):
            out = functional_call(net, dict(zip(names, fast)), (X[s_idx[b]],))
            grads = torch.autograd.grad(
                F.cross_entropy(out, s_y[b]), fast, create_graph=not first_order
            )
            fast = [p - inner_lr * g for p, g in zip(fast, grads)]
        out = functional_call(net, dict(zip(names, fast)), (X[q_idx[b]],))
        losses.append(F.cross_entropy(out, q_y[b]))
    grads = torch.autograd.grad(torch.stack(losses).mean(), params[:n_feat])
    return torch.cat([g.reshape(-1) for g in grads])


def sample_episodes(y, n_way, n_shot, n_query, meta_batch_size, seed):
    """Yield (s_idx, s_y, q_idx, q_y) meta-batches forever (int64 tensors)."""
    rng = np.random.default_rng(seed)
    y = np.asarray(y)
    classes = np.unique(y)
    by_class = {c: np.flatnonzero(y == c) for c in classes}
    local = np.arange(n_way)
    while True:
        batch = [[], [], [], []]
        for _ in range(meta_batch_size):
            chosen = rng.choice(classes, n_way, replace=False)
            rows = np.stack(
                [
                    rng.choice(by_class[c], n_shot + n_query, replace=False)
                    for c in chosen
                ]
            )  # (n_way, n_shot + n_query)
            batch[0].append(rows[:, :n_shot].reshape(-1))
            batch[1].append(np.repeat(local, n_shot))
            batch[2].append(rows[:, n_shot:].reshape(-1))
            batch[3].append(np.repeat(local, n_query))
        yield tuple(
            torch.as_tensor(np.stack(part), dtype=torch.int64) for part in batch
        )


def rel(a, b):
    return ((a - b).norm() / b.norm()).item()


def check_gradients():
    torch.manual_seed(0)
    n_way, n_shot, n_query, n_tasks, inner_lr = 5, 2, 3, 3, 0.4
    features = Conv4Backbone(8, norm="group").build((1, 28, 28)).double()
    n_features = 8  # 28 -> 14 -> 7 -> 3 -> 1
    X = torch.rand(40, 1, 28, 28, dtype=torch.float64)
    y = np.repeat(np.arange(8), 5)
    s_idx, s_y, q_idx, q_y = next(
        sample_episodes(y, n_way, n_shot, n_query, n_tasks, 0)
    )
    args = (features, n_features, X, s_idx, s_y, q_idx, q_y, n_way, inner_lr)

    available = {}
    for name, fn, mod in [
        ("learn2learn", peers.l2l_meta_gradient, "learn2learn"),
        ("higher", peers.higher_meta_gradient, "higher"),
    ]:
        try:
            __import__(mod)
        except ImportError:
            print(f"{name}: not installed, skipped")
            continue
        available[name] = fn

    ok = True
    for steps in (1, 2):
        ref = {fo: reference_meta_gradient(*args, steps, fo) for fo in (False, True)}
        print(
            f"\n{steps} inner step(s): |ref 2nd order| = {ref[False].norm():.3e}, "
            f"rel(ref 1st order, ref 2nd order) = {rel(ref[True], ref[False]):.3e}"
        )
        for name, fn in available.items():
            got = {fo: fn(*args, steps, fo) for fo in (False, True)}
            for fo in (False, True):
                r = rel(got[fo], ref[fo])
                good = got[fo].dtype == torch.float64 and r < TOL
                ok &= good
                print(
                    f"  {name:12s} {'1st' if fo else '2nd'} order vs reference: "
                    f"rel diff {r:.2e}  {'ok' if good else 'FAIL'}"
                )
            r = rel(got[True], got[False])
            good = r > 1e-3
            ok &= good
            print(
                f"  {name:12s} 1st vs 2nd order: rel diff {r:.2e}  "
                f"{'ok (they differ)' if good else 'FAIL (should differ)'}"
            )

    if len(available) == 2:
        # one meta-update with each library from the same start, SGD outer step
        import learn2learn as l2l

        print()
        for fo in (False, True):
            nets = [
                peers.make_zero_head_net(copy.deepcopy(features), n_features, n_way)
                for _ in range(2)
            ]
            maml = l2l.algorithms.MAML(nets[0], lr=inner_lr, first_order=fo)
            opt0 = torch.optim.SGD(maml.parameters(), lr=0.1)
            opt1 = torch.optim.SGD(nets[1].parameters(), lr=0.1)
            out0 = peers.l2l_maml_step(maml, opt0, X, s_idx, s_y, q_idx, q_y, 2)
            out1 = peers.higher_maml_step(
                nets[1], opt1, X, s_idx, s_y, q_idx, q_y, 2, inner_lr, fo
            )
            init = torch.cat([p.reshape(-1) for p in features.parameters()])
            d0, d1 = (
                torch.cat([p.reshape(-1) for p in net[0].parameters()]) - init
                for net in nets
            )
            head_zero = all(not p.any() for net in nets for p in net[-1].parameters())
            r = rel(d0, d1)
            good = (
                r < TOL
                and d0.norm() > 0
                and head_zero
                and abs(out0[0] - out1[0]) < 1e-12
                and out0[1] == out1[1]
            )
            ok &= good
            print(
                f"  one meta-update ({'1st' if fo else '2nd'} order), l2l vs higher: feature "
                f"update rel diff {r:.2e} (|update| {d0.norm():.2e}), heads still zero: "
                f"{head_zero}, loss {out0[0]:.6f} / {out1[0]:.6f}, "
                f"acc {out0[1]:.3f} / {out1[1]:.3f}  {'ok' if good else 'FAIL'}"
            )
    print("\nall checks passed" if ok else "\nSOME CHECKS FAILED")
    return ok


def time_l2l(args):
    from sklearn_meta.datasets import load_omniglot

    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    X, y = load_omniglot("background", data_home=args.data_home, return_X_y=True)
    X = torch.as_tensor(X.reshape(-1, 1, 28, 28))
    features = Conv4Backbone(64, norm="group").build((1, 28, 28))
    episodes = sample_episodes(y, 5, 1, args.n_query, 4, 0)
    t0 = time.perf_counter()
    _model, tps, peak = peers.l2l_train(
        features,
        64,
        X,
        episodes,
        n_way=5,
        inner_lr=0.4,
        n_inner_steps=1,
        first_order=False,
        lr=1e-3,
        n_updates=args.n_updates,
    )
    wall = time.perf_counter() - t0
    print(
        f"\nlearn2learn {__import__('learn2learn').__version__}, Omniglot background "
        f"({len(X)} images), 5-way 1-shot {args.n_query}-query, Conv4-64 GroupNorm, "
        f"meta-batch 4, 1 inner step, 2nd order, CPU, {args.threads} threads: "
        f"{tps:.1f} tasks/s ({args.n_updates} meta-updates, first untimed, {wall:.1f} s); "
        f"peak RSS growth {peak / 2**20:.0f} MiB"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--time", action="store_true", help="also time learn2learn on Omniglot"
    )
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--n-updates", type=int, default=60)
    parser.add_argument("--n-query", type=int, default=15)
    parser.add_argument("--data-home", default="../shared/data")
    args = parser.parse_args()
    torch.set_num_threads(1)
    ok = check_gradients()
    if args.time:
        time_l2l(args)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
