"""Peer MAML implementations (learn2learn, higher) for the MAML benchmarks.

The functions here run MAML with learn2learn 0.2.0 (``l2l.algorithms.MAML``)
and with higher (``higher.innerloop_ctx``), in the way each library documents,
on episodes given as index tensors into one image tensor ``X`` kept on the
device:

* ``X``: float tensor of shape ``(N, 1, 28, 28)`` (any dtype, any device);
* ``s_idx``, ``s_y``: int64 tensors of shape ``(B, n_way * n_shot)``, the
  support rows of ``X`` and their episode-local labels ``0 .. n_way - 1``;
* ``q_idx``, ``q_y``: int64 tensors of shape ``(B, n_way * n_query)``, the
  same for the queries.

``B`` is the meta-batch size (tasks per meta-update). The network is
``nn.Sequential(features, nn.Linear(n_features, n_way))`` and every task's
head starts at zero (the "zero trick" of Kao, Chao and Lee, ICLR 2022): the
meta-model's head is set to zero in place before every meta-update and its
gradient is dropped, so only the features are meta-learned and any ``n_way``
works at test time. The inner loop adapts all parameters (features and head)
by plain gradient descent on the support cross-entropy.

Neither peer is imported at module level: they are optional and CI does not
install them. learn2learn 0.2.0 does not build from PyPI as is on Python 3.11;
install it with ``bash ../shared/tools/install_learn2learn.sh .venv`` (from
the repository root); higher with ``pip install higher``.
"""

import copy
import resource
import time

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "higher_maml_step",
    "higher_meta_gradient",
    "higher_train",
    "l2l_evaluate",
    "l2l_maml_step",
    "l2l_meta_gradient",
    "l2l_train",
    "make_zero_head_net",
]

_L2L_INSTALL = (
    "learn2learn is not installed. learn2learn 0.2.0 does not build from PyPI "
    "as is on Python >= 3.11; install it from the repository root with:\n"
    "    bash ../shared/tools/install_learn2learn.sh .venv"
)
_HIGHER_INSTALL = (
    "higher is not installed. Install it with `.venv/bin/pip install higher` "
    "(learn2learn, the other peer: bash ../shared/tools/install_learn2learn.sh .venv)."
)


def _import_l2l():
    try:
        import learn2learn as l2l
    except ImportError as exc:
        raise ImportError(_L2L_INSTALL) from exc
    return l2l


def _import_higher():
    try:
        import higher
    except ImportError as exc:
        raise ImportError(_HIGHER_INSTALL) from exc
    return higher


# --------------------------------------------------------------------------
# shared helpers
# --------------------------------------------------------------------------
def make_zero_head_net(features, n_features, n_way):
    """Put a zero-initialised linear head on top of a feature extractor.

    Parameters
    ----------
    features : torch.nn.Module
        Maps a batch of images to ``(batch, n_features)`` embeddings. It is
        used as is (not copied).
    n_features : int
        Size of the embedding.
    n_way : int
        Number of classes per episode.

    Returns
    -------
    net : torch.nn.Sequential
        ``nn.Sequential(features, nn.Linear(n_features, n_way))`` with the
        head's weight and bias equal to zero, on the device and in the dtype
        of ``features``' first parameter (if it has one).
    """
    head = nn.Linear(n_features, n_way)
    param = next(features.parameters(), None)
    if param is not None:
        head = head.to(device=param.device, dtype=param.dtype)
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
    return nn.Sequential(features, head)


def _zero_head(net):
    head = net[-1]
    with torch.no_grad():
        head.weight.zero_()
        head.bias.zero_()
    return head


def _drop_head_grad(head):
    head.weight.grad = None
    head.bias.grad = None


def _to_device(device, *tensors):
    return [t.to(device, non_blocking=True) for t in tensors]


def _as_batch(t):
    return t.unsqueeze(0) if t.dim() == 1 else t


def _check_l2l_model(maml):
    module = getattr(maml, "module", None)
    if not isinstance(module, nn.Sequential) or not isinstance(module[-1], nn.Linear):
        raise TypeError(
            "maml must be l2l.algorithms.MAML(make_zero_head_net(...), lr=..., "
            "first_order=...): its module's last layer must be the linear head."
        )


def _flat_features_grad(loss, features):
    params = list(features.parameters())
    grads = torch.autograd.grad(loss, params, allow_unused=True)
    return torch.cat(
        [
            (torch.zeros_like(p) if g is None else g).reshape(-1)
            for p, g in zip(params, grads)
        ]
    )


def _sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _train_loop(model, step, X, episodes_iter, n_updates):
    """Run ``step(s_idx, s_y, q_idx, q_y)`` n_updates times, time it and measure memory."""
    device = X.device
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
        base = None
    else:
        base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    n_tasks = 0
    start = None
    for i in range(n_updates):
        if i == 1:  # the first meta-update is warm-up, not timed
            _sync(device)
            start = time.perf_counter()
        s_idx, s_y, q_idx, q_y = (_as_batch(t) for t in next(episodes_iter))
        step(s_idx, s_y, q_idx, q_y)
        if i >= 1:
            n_tasks += s_idx.shape[0]
    _sync(device)
    tasks_per_second = (
        n_tasks / (time.perf_counter() - start) if start is not None else float("nan")
    )
    if device.type == "cuda":
        peak = int(torch.cuda.max_memory_allocated(device))
    else:
        # ru_maxrss is in KiB on Linux; its growth is a lower bound on what
        # training added to the process's peak resident memory.
        peak = 1024 * (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - base)
    return model, tasks_per_second, peak


# --------------------------------------------------------------------------
# learn2learn
# --------------------------------------------------------------------------
def l2l_maml_step(maml, opt, X, s_idx, s_y, q_idx, q_y, n_inner_steps):
    """One meta-update with learn2learn's MAML over a meta-batch of tasks.

    The meta-model's head is zeroed in place before the update and its
    gradient dropped after the backward pass (zero trick), so every task's
    learner starts with a zero head and ``opt`` only updates the features.
    Each task's query loss divided by ``B`` is back-propagated as soon as it
    is computed (learn2learn's own examples accumulate per task), so the
    gradient is that of the mean query loss over the ``B`` tasks.

    Parameters
    ----------
    maml : learn2learn.algorithms.MAML
        ``l2l.algorithms.MAML(make_zero_head_net(...), lr=inner_lr,
        first_order=first_order)``.
    opt : torch.optim.Optimizer
        Outer optimizer over ``maml.parameters()``.
    X : torch.Tensor of shape (N, 1, 28, 28)
        All images, on the model's device and in its dtype.
    s_idx, s_y : torch.Tensor of shape (B, n_way * n_shot), int64
        Support rows of ``X`` and their episode-local labels.
    q_idx, q_y : torch.Tensor of shape (B, n_way * n_query), int64
        Query rows of ``X`` and their episode-local labels.
    n_inner_steps : int
        Inner gradient steps on the support.

    Returns
    -------
    loss : float
        Mean query loss over the tasks (after adaptation).
    accuracy : float
        Mean query accuracy over the tasks.
    """
    _check_l2l_model(maml)
    s_idx, s_y, q_idx, q_y = _to_device(X.device, s_idx, s_y, q_idx, q_y)
    n_tasks = s_idx.shape[0]
    head = _zero_head(maml.module)
    opt.zero_grad(set_to_none=True)
    total_loss = torch.zeros((), device=X.device)
    total_acc = torch.zeros((), device=X.device)
    for b in range(n_tasks):
        learner = maml.clone()
        Xs = X[s_idx[b]]
        for _ in range(n_inner_steps):
            learner.adapt(F.cross_entropy(learner(Xs), s_y[b]))
        logits = learner(X[q_idx[b]])
        loss = F.cross_entropy(logits, q_y[b])
        (loss / n_tasks).backward()
        total_loss += loss.detach()
        total_acc += (logits.detach().argmax(1) == q_y[b]).float().mean()
    _drop_head_grad(head)
    opt.step()
    return (total_loss / n_tasks).item(), (total_acc / n_tasks).item()


def l2l_meta_gradient(
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
    """Meta-gradient w.r.t. the features' parameters, computed with learn2learn.

    Works on a deep copy of ``features``; nothing of the caller's is changed.
    Works in any dtype (pass a double network and double ``X`` for float64).

    Parameters
    ----------
    features : torch.nn.Module
        Feature extractor, ``(batch, *image) -> (batch, n_features)``.
    n_features : int
        Size of the embedding.
    X : torch.Tensor of shape (N, 1, 28, 28)
        All images, on ``features``' device and in its dtype.
    s_idx, s_y, q_idx, q_y : torch.Tensor, int64
        A meta-batch of tasks, shapes ``(B, n_way * n_shot)`` and
        ``(B, n_way * n_query)`` (see the module docstring).
    n_way : int
        Classes per task.
    inner_lr : float
        Inner-loop learning rate.
    n_inner_steps : int
        Inner gradient steps on the support.
    first_order : bool
        First-order MAML if True, else full second-order MAML.

    Returns
    -------
    grad : torch.Tensor of shape (n_params,)
        Gradient of the mean query loss over the ``B`` tasks w.r.t. the
        parameters of ``features``, flattened and concatenated in
        ``features.parameters()`` order, in the features' dtype.
    """
    l2l = _import_l2l()
    feats = copy.deepcopy(features)
    net = make_zero_head_net(feats, n_features, n_way)
    maml = l2l.algorithms.MAML(net, lr=inner_lr, first_order=first_order)
    s_idx, s_y, q_idx, q_y = _to_device(X.device, s_idx, s_y, q_idx, q_y)
    s_idx, s_y, q_idx, q_y = map(_as_batch, (s_idx, s_y, q_idx, q_y))
    n_tasks = s_idx.shape[0]
    losses = []
    for b in range(n_tasks):
        learner = maml.clone()
        for _ in range(n_inner_steps):
            learner.adapt(F.cross_entropy(learner(X[s_idx[b]]), s_y[b]))
        losses.append(F.cross_entropy(learner(X[q_idx[b]]), q_y[b]))
    return _flat_features_grad(torch.stack(losses).mean(), feats)


def l2l_train(
    features,
    n_features,
    X,
    episodes_iter,
    *,
    n_way,
    inner_lr,
    n_inner_steps,
    first_order,
    lr,
    n_updates,
):
    """Meta-train with learn2learn's MAML and Adam.

    Parameters
    ----------
    features : torch.nn.Module
        Feature extractor, on ``X``'s device and in its dtype. A deep copy is
        trained; ``features`` itself is left unchanged.
    n_features : int
        Size of the embedding.
    X : torch.Tensor of shape (N, 1, 28, 28)
        All images, on the training device.
    episodes_iter : iterator
        Yields ``(s_idx, s_y, q_idx, q_y)`` meta-batches (see the module
        docstring); ``n_updates`` of them are drawn. 1-D tensors are taken as
        a meta-batch of one task.
    n_way : int
        Classes per task.
    inner_lr : float
        Inner-loop learning rate.
    n_inner_steps : int
        Inner gradient steps on the support.
    first_order : bool
        First-order MAML if True.
    lr : float
        Adam's learning rate (outer loop).
    n_updates : int
        Number of meta-updates.

    Returns
    -------
    model : torch.nn.Sequential
        The trained ``nn.Sequential(features, head)``; its head is zero.
    tasks_per_second : float
        Tasks (episodes) per second over meta-updates 2 .. ``n_updates`` (the
        first is warm-up), drawing the episodes included; NaN if
        ``n_updates < 2``. CUDA is synchronised before reading the clock.
    peak_memory_bytes : int or None
        On CUDA ``torch.cuda.max_memory_allocated`` over the training (peak
        stats reset first); on CPU the growth of the process's peak resident
        set size (``resource.getrusage``), a lower bound that is 0 when the
        process had already peaked higher.
    """
    l2l = _import_l2l()
    model = make_zero_head_net(copy.deepcopy(features), n_features, n_way)
    maml = l2l.algorithms.MAML(model, lr=inner_lr, first_order=first_order)
    opt = torch.optim.Adam(maml.parameters(), lr=lr)

    def step(s_idx, s_y, q_idx, q_y):
        l2l_maml_step(maml, opt, X, s_idx, s_y, q_idx, q_y, n_inner_steps)

    return _train_loop(model, step, X, iter(episodes_iter), n_updates)


def _episodes(episodes):
    """Yield single episodes from (s_idx, s_y, q_idx, q_y), 1-D or batched."""
    for s_idx, s_y, q_idx, q_y in episodes:
        s_idx, s_y, q_idx, q_y = map(_as_batch, (s_idx, s_y, q_idx, q_y))
        for b in range(s_idx.shape[0]):
            yield s_idx[b], s_y[b], q_idx[b], q_y[b]


def l2l_evaluate(model, X, episodes, n_inner_steps, inner_lr):
    """Query accuracy of each test episode after adapting with learn2learn.

    For every episode a clone of ``model`` (learn2learn ``MAML.clone``, head
    set to zero) takes ``n_inner_steps`` first-order gradient steps on the
    support, then predicts the queries. ``model`` is not changed (a deep copy
    is wrapped) and is used in its current train/eval mode.

    Parameters
    ----------
    model : torch.nn.Sequential
        ``nn.Sequential(features, head)`` as returned by :func:`l2l_train` or
        :func:`make_zero_head_net`.
    X : torch.Tensor of shape (N, 1, 28, 28)
        All images, on the model's device and in its dtype.
    episodes : iterable
        Of ``(s_idx, s_y, q_idx, q_y)``, each tensor 1-D (one episode) or 2-D
        (a batch of episodes, one per row).
    n_inner_steps : int
        Inner gradient steps on each support set.
    inner_lr : float
        Inner-loop learning rate.

    Returns
    -------
    accuracies : ndarray of shape (n_episodes,)
        Query accuracy of every episode, in order; the caller reports e.g.
        ``acc.mean() +- 1.96 * acc.std() / sqrt(len(acc))``.
    """
    l2l = _import_l2l()
    net = copy.deepcopy(model)
    _zero_head(net)
    maml = l2l.algorithms.MAML(net, lr=inner_lr, first_order=True)
    accs = []
    for s_idx, s_y, q_idx, q_y in _episodes(episodes):
        s_idx, s_y, q_idx, q_y = _to_device(X.device, s_idx, s_y, q_idx, q_y)
        learner = maml.clone()
        Xs = X[s_idx]
        with torch.enable_grad():
            for _ in range(n_inner_steps):
                learner.adapt(F.cross_entropy(learner(Xs), s_y))
        with torch.no_grad():
            accs.append((learner(X[q_idx]).argmax(1) == q_y).float().mean())
    return torch.stack(accs).cpu().numpy() if accs else np.empty(0)


# --------------------------------------------------------------------------
# higher
# --------------------------------------------------------------------------
def _higher_task(
    higher, model, inner_opt, Xs, ys, Xq, yq, n_inner_steps, first_order, targets
):
    """Adapt on one task with higher; return (query loss, logits, grads or None).

    In second-order mode the query loss is returned with its graph to the
    model's parameters (``grads`` is None). In first-order mode higher detaches
    the fast weights (``track_higher_grads=False``), so the first-order
    meta-gradient is the gradient of the query loss w.r.t. the adapted fast
    weights, returned as ``grads`` for the ``targets`` indices of them.
    """
    with higher.innerloop_ctx(
        model, inner_opt, copy_initial_weights=False, track_higher_grads=not first_order
    ) as (fmodel, diffopt):
        for _ in range(n_inner_steps):
            diffopt.step(F.cross_entropy(fmodel(Xs), ys))
        logits = fmodel(Xq)
        loss = F.cross_entropy(logits, yq)
        grads = None
        if first_order:
            fast = fmodel.fast_params
            grads = torch.autograd.grad(
                loss, [fast[i] for i in targets], allow_unused=True
            )
    return loss, logits, grads


def higher_maml_step(
    model, opt, X, s_idx, s_y, q_idx, q_y, n_inner_steps, inner_lr, first_order
):
    """One meta-update of MAML written with higher, over a meta-batch of tasks.

    The functional inner loop is ``higher.innerloop_ctx(model, SGD(lr=inner_lr),
    copy_initial_weights=False, track_higher_grads=not first_order)``. As in
    :func:`l2l_maml_step` the head is zeroed in place before the update and its
    gradient dropped, and the gradient is that of the mean query loss over the
    tasks (back-propagated task by task). First order: higher detaches the fast
    weights, so each task's query-loss gradient w.r.t. the adapted weights is
    added to the parameters' ``.grad`` (first-order MAML).

    Parameters
    ----------
    model : torch.nn.Sequential
        ``make_zero_head_net(...)``.
    opt : torch.optim.Optimizer
        Outer optimizer over ``model.parameters()``.
    X : torch.Tensor of shape (N, 1, 28, 28)
        All images, on the model's device and in its dtype.
    s_idx, s_y, q_idx, q_y : torch.Tensor, int64
        A meta-batch of tasks (see :func:`l2l_maml_step`).
    n_inner_steps : int
        Inner gradient steps on the support.
    inner_lr : float
        Inner-loop learning rate.
    first_order : bool
        First-order MAML if True.

    Returns
    -------
    loss : float
        Mean query loss over the tasks.
    accuracy : float
        Mean query accuracy over the tasks.
    """
    higher = _import_higher()
    s_idx, s_y, q_idx, q_y = _to_device(X.device, s_idx, s_y, q_idx, q_y)
    n_tasks = s_idx.shape[0]
    head = _zero_head(model)
    opt.zero_grad(set_to_none=True)
    inner_opt = torch.optim.SGD(model.parameters(), lr=inner_lr)
    params = list(model.parameters())
    targets = range(len(params))
    total_loss = torch.zeros((), device=X.device)
    total_acc = torch.zeros((), device=X.device)
    for b in range(n_tasks):
        loss, logits, grads = _higher_task(
            higher,
            model,
            inner_opt,
            X[s_idx[b]],
            s_y[b],
            X[q_idx[b]],
            q_y[b],
            n_inner_steps,
            first_order,
            targets,
        )
        if first_order:
            for p, g in zip(params, grads):
                if g is not None:
                    g = g / n_tasks
                    p.grad = g if p.grad is None else p.grad + g
        else:
            (loss / n_tasks).backward()
        total_loss += loss.detach()
        total_acc += (logits.detach().argmax(1) == q_y[b]).float().mean()
    _drop_head_grad(head)
    opt.step()
    return (total_loss / n_tasks).item(), (total_acc / n_tasks).item()


def higher_meta_gradient(
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
    """Meta-gradient w.r.t. the features' parameters, computed with higher.

    Same parameters and result as :func:`l2l_meta_gradient` (a deep copy of
    ``features`` is used; any dtype).

    Returns
    -------
    grad : torch.Tensor of shape (n_params,)
        Gradient of the mean query loss over the tasks w.r.t. the parameters
        of ``features``, flattened in ``features.parameters()`` order.
    """
    higher = _import_higher()
    feats = copy.deepcopy(features)
    net = make_zero_head_net(feats, n_features, n_way)
    inner_opt = torch.optim.SGD(net.parameters(), lr=inner_lr)
    s_idx, s_y, q_idx, q_y = _to_device(X.device, s_idx, s_y, q_idx, q_y)
    s_idx, s_y, q_idx, q_y = map(_as_batch, (s_idx, s_y, q_idx, q_y))
    n_tasks = s_idx.shape[0]
    feat_params = list(feats.parameters())
    targets = range(len(feat_params))  # features come first in net.parameters()
    total = None
    for b in range(n_tasks):
        loss, _, grads = _higher_task(
            higher,
            net,
            inner_opt,
            X[s_idx[b]],
            s_y[b],
            X[q_idx[b]],
            q_y[b],
            n_inner_steps,
            first_order,
            targets,
        )
        if first_order:
            flat = torch.cat(
                [
                    (torch.zeros_like(p) if g is None else g).reshape(-1)
                    for p, g in zip(feat_params, grads)
                ]
            )
        else:
            flat = _flat_features_grad(loss, feats)
        total = flat if total is None else total + flat
    return total / n_tasks


def higher_train(
    features,
    n_features,
    X,
    episodes_iter,
    *,
    n_way,
    inner_lr,
    n_inner_steps,
    first_order,
    lr,
    n_updates,
):
    """Meta-train with MAML written with higher and Adam.

    Same parameters and returns as :func:`l2l_train`, with
    :func:`higher_maml_step` as the meta-update. The trained model can be
    evaluated with :func:`l2l_evaluate` (it is a plain ``nn.Sequential``).
    """
    _import_higher()
    model = make_zero_head_net(copy.deepcopy(features), n_features, n_way)
    opt = torch.optim.Adam(model.parameters(), lr=lr)

    def step(s_idx, s_y, q_idx, q_y):
        higher_maml_step(
            model, opt, X, s_idx, s_y, q_idx, q_y, n_inner_steps, inner_lr, first_order
        )

    return _train_loop(model, step, X, iter(episodes_iter), n_updates)
