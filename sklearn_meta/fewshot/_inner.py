"""The inner loop of the MAML family, written once with :mod:`torch.func`.

Every gradient-based meta-learner of the package adapts a dict of
parameters by a few steps of gradient descent on a task's support set
(:func:`gradient_steps`) and runs the tasks of a meta-batch either one after
another or vectorised with :func:`torch.func.vmap` (:func:`task_slices`,
:func:`map_tasks`):

* second-order MAML (Finn et al. 2017): the steps stay on the autograd
  graph, so the outer gradient flows through them;
* first-order MAML: the same steps with the inner gradients detached;
* ANIL (Raghu et al. 2020): the steps adapt the head only, on features
  computed once per task;
* Meta-SGD (Li et al. 2017): the step sizes are tensors learned in the
  outer loop;
* Reptile (Nichol et al. 2018): first-order steps, then its own outer
  update from the adapted parameters;
* :class:`~sklearn_meta.MAMLRegressor`: the same steps on a regression loss.

The classifiers predict any number of classes with a head made per task
(:func:`init_head`): from the support class means (Proto-MAML, Triantafillou
et al. 2020) or zero (Kao et al. 2022). Networks run their normalisation
layers per sample or with stored statistics, never with the statistics of
the batch: PyTorch's batch norm in training mode gives wrong second-order
gradients under ``vmap``, and it would make a prediction depend on which
other samples share the batch.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, grad_and_value, vmap

from .._devices import module_lock
from .._precision import float32_math

__all__ = [
    "DIVERGENCE_FACTOR",
    "check_adaptation",
    "check_finite",
    "gradient_steps",
    "init_head",
    "head_logits",
    "task_slices",
    "map_tasks",
    "ClassifierTasks",
    "backward_tasks",
    "RegressionTasks",
    "use_vmap",
]

HEAD = ("head.weight", "head.bias")

#: an adaptation whose loss ends above this many times where it started has
#: diverged (see check_adaptation); the same factor as the training loop's
DIVERGENCE_FACTOR = 1000.0


def gradient_steps(loss_fn, params, lrs, n_steps, *, first_order, chunks=None, backtrack=False):
    """``n_steps`` of gradient descent on ``loss_fn`` from ``params``.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(params)`` (or ``loss_fn(params, chunk)`` with ``chunks``)
        returning a scalar.
    params : dict of str to torch.Tensor
        The starting point. With ``first_order=False`` the result is a
        differentiable function of it (and of ``lrs``), so an outer loss can
        be differentiated through the steps.
    lrs : dict of str to float or torch.Tensor
        Step size of each parameter: a number, or a tensor that broadcasts
        against it (Meta-SGD).
    n_steps : int
        Number of steps; 0 returns ``params``.
    first_order : bool
        Detach the inner gradients (first-order MAML, Reptile, prediction).
    chunks : list of (object, float) or None
        Full-batch gradient over data too large for one pass: the gradient
        is the weighted sum over ``loss_fn(params, chunk)``; each chunk's
        graph is freed before the next is computed.
    backtrack : bool, default=False
        Never take a step that raises the loss: a step whose loss is above
        the loss before it (or not finite) is not taken, and the step sizes
        are halved for the next step (a backtracking line search with one
        trial per step, written with :func:`torch.where` so that it runs
        under ``vmap`` and stays differentiable). It costs one more
        evaluation of the loss, after the last step.

    Returns
    -------
    dict of str to torch.Tensor
    """
    if backtrack and n_steps:
        return _backtracking_steps(loss_fn, params, lrs, n_steps, first_order, chunks)
    grad_fn = grad(loss_fn)
    for _ in range(n_steps):
        if chunks is None:
            grads = grad_fn(params)
        else:
            grads = None
            for chunk, weight in chunks:
                g = grad_fn(params, chunk)
                grads = (
                    {k: v * weight for k, v in g.items()}
                    if grads is None
                    else {k: grads[k] + v * weight for k, v in g.items()}
                )
        if first_order:
            grads = {k: v.detach() for k, v in grads.items()}
        params = {k: p - lrs[k] * grads[k] for k, p in params.items()}
    return params


def _backtracking_steps(loss_fn, params, lrs, n_steps, first_order, chunks):
    """:func:`gradient_steps` with ``backtrack=True``: no step raises the loss."""
    parts = [(None, 1.0)] if chunks is None else chunks

    def evaluate(p, with_grad=True):
        fn = grad_and_value(loss_fn) if with_grad else loss_fn
        grads = loss = None
        for chunk, weight in parts:
            out = fn(p) if chunk is None else fn(p, chunk)
            g, v = out if with_grad else (None, out)
            v = v.detach()  # compared, never differentiated
            if first_order and g is not None:
                g = {k: t.detach() for k, t in g.items()}
            loss = v * weight if loss is None else loss + v * weight
            if g is not None:
                g = {k: t * weight for k, t in g.items()}
                grads = g if grads is None else {k: grads[k] + g[k] for k in g}
        return grads, loss

    grads, loss = evaluate(params)
    scale = torch.ones_like(loss)
    for step in range(n_steps):
        trial = {k: p - scale * lrs[k] * grads[k] for k, p in params.items()}
        last = step == n_steps - 1
        trial_grads, trial_loss = evaluate(trial, with_grad=not last)
        # not above the loss before the step, and finite (a NaN compares false)
        ok = trial_loss <= loss
        params = {k: torch.where(ok, trial[k], params[k]) for k in params}
        if not last:
            grads = {k: torch.where(ok, trial_grads[k], grads[k]) for k in grads}
            loss = torch.where(ok, trial_loss, loss)
            scale = torch.where(ok, scale, scale / 2)
    return params


def check_finite(params, what):
    """Raise a clear error when adaptation diverged (non-finite weights)."""
    if not all(bool(torch.isfinite(v).all()) for v in params.values()):
        raise ValueError(
            f"Adapting to {what} diverged: the adapted weights are not finite. Lower "
            "inner_lr or n_adapt_steps, or scale the inputs (e.g. StandardScaler)."
        )


def check_adaptation(before, after, floor, what):
    """Raise a clear error when adapting made the loss grow far above where it started.

    ``before`` and ``after`` are the loss on (part of) the adaptation data
    before the first step and after the last, left on the device: this is
    the one point where they are read back. The adaptation diverged when
    ``after > DIVERGENCE_FACTOR * max(before, floor)``; ``floor`` is the loss
    of a chance prediction (``log(n_classes)`` for a classifier, the
    variance of the targets for a regressor), so that a loss that starts
    near zero may still move. Normal adaptation lowers the loss; a step size
    too large for the data makes it grow by orders of magnitude.
    """
    before, after = float(before), float(after)
    start = max(before, floor)
    if not np.isfinite(after) or after > DIVERGENCE_FACTOR * start:
        raise ValueError(
            f"Adapting to {what} diverged: its loss grew from {before:.4g} to {after:.4g} "
            f"(more than {DIVERGENCE_FACTOR:g} times where it started). Lower inner_lr or "
            "n_adapt_steps, or scale the inputs (e.g. StandardScaler)."
        )


@float32_math
def class_means(z, y, n_way):
    """Mean of the rows of ``z`` of each label 0..n_way-1 (vmap-friendly)."""
    onehot = (y.unsqueeze(-1) == torch.arange(n_way, device=y.device)).to(z.dtype)
    counts = onehot.sum(0).clamp_min(1)
    return (onehot.T @ z) / counts.unsqueeze(-1)


@float32_math
def init_head(z, y, n_way, kind):
    """The head a task starts from: ``(weight, bias)`` of shape (n_way, d), (n_way,).

    ``"proto"`` makes the logits ``-||z - c_k||^2 + ||z||^2`` for the class
    means ``c_k``: a prototypical classifier (Proto-MAML); ``"zero"`` starts
    every class at zero.
    """
    if kind == "zero":
        return z.new_zeros(n_way, z.shape[-1]), z.new_zeros(n_way)
    means = class_means(z, y, n_way)
    return 2.0 * means, -(means * means).sum(-1)


@float32_math
def head_logits(z, weight, bias):
    """Logits of embeddings ``z`` under a linear head."""
    return z @ weight.T + bias


def task_slices(n_tasks, *, vectorize, chunk_size):
    """Slices of a meta-batch processed together (one vmap call, or one task)."""
    step = (chunk_size or n_tasks) if vectorize else 1
    return [slice(i, min(i + step, n_tasks)) for i in range(0, n_tasks, step)]


def map_tasks(task_fn, *batched, vectorize):
    """``task_fn`` applied to every task (dim 0) of ``batched``, outputs stacked.

    With ``vectorize``, one :func:`torch.func.vmap` call; otherwise a loop.
    ``task_fn`` returns a tensor or a tuple/dict of tensors.
    """
    if vectorize:
        return vmap(task_fn)(*batched)
    outs = [task_fn(*(b[t] for b in batched)) for t in range(batched[0].shape[0])]
    first = outs[0]
    if isinstance(first, dict):
        return {k: torch.stack([o[k] for o in outs]) for k in first}
    if isinstance(first, tuple):
        return tuple(torch.stack(parts) for parts in zip(*outs))
    return torch.stack(outs)


def backward_tasks(task_fn, gather, n_tasks, *, vectorize, chunk_size, backward=None):
    """Accumulate into ``.grad`` the gradient of the mean loss over a meta-batch.

    ``gather(sl)`` gives the inputs of the tasks in slice ``sl`` and
    ``task_fn`` returns one task's loss and outputs. The tasks go through
    :func:`map_tasks` in chunks (:func:`task_slices`); each chunk's graph is
    freed by its own backward pass, so memory is bounded by one chunk.
    Returns the mean loss and the outputs of every task, detached.
    ``backward(loss)`` runs each backward pass (the estimator's: outside
    autocast, scaled under fp16); None calls ``loss.backward()``.
    """
    losses, outs = [], []
    for sl in task_slices(n_tasks, vectorize=vectorize, chunk_size=chunk_size):
        loss, out = map_tasks(task_fn, *gather(sl), vectorize=vectorize)
        chunk_loss = loss.sum() / n_tasks
        if backward is None:
            chunk_loss.backward()
        else:
            backward(chunk_loss)
        losses.append(loss.detach())
        outs.append(out.detach())
    return torch.cat(losses).mean(), torch.cat(outs)


class ClassifierTasks:
    """Episodes adapted by gradient steps: what MAML, ANIL, Meta-SGD and Reptile share.

    Parameters
    ----------
    features : torch.nn.Module
        The feature extractor, called functionally with the parameters given.
    buffers : dict of str to torch.Tensor
        Its buffers (stored normalisation statistics).
    head : {"proto", "zero"}
        How a task's head starts (:func:`init_head`).
    head_only : bool
        Adapt the head only (ANIL); the features are then computed once per
        task.
    lock : threading.RLock, default=None
        Held during every functional call: that of the network that holds
        ``features`` (:func:`~sklearn_meta._devices.module_lock`).
    backtrack : bool, default=False
        Steps never raise the support loss (:func:`gradient_steps`).
    n_features : int, default=None
        Width of the embedding. Given, a zero head is made without embedding
        the support first.
    """

    def __init__(self, features, buffers, *, head, head_only, lock=None, backtrack=False,
                 n_features=None):
        self.features = features
        self.buffers = buffers
        self.head = head
        self.head_only = head_only
        self.backtrack = backtrack
        self.n_features = n_features
        self._lock = module_lock(features) if lock is None else lock

    def embed(self, params, x):
        """Embeddings of ``x`` under the feature parameters in ``params``."""
        feats = {k: v for k, v in params.items() if k not in HEAD}
        # the call swaps the shared module's parameters: see module_lock
        with self._lock:
            return functional_call(self.features, (feats, self.buffers), (x,))

    def logits(self, params, x):
        """Logits of ``x`` under adapted parameters (features and head)."""
        return head_logits(self.embed(params, x), params[HEAD[0]], params[HEAD[1]])

    def adapt(self, meta, lrs, xs, ys, n_way, n_steps, *, first_order, detach_head=False):
        """Parameters adapted to one support set ``(xs, ys)``.

        ``meta`` holds the feature parameters the task starts from; the
        result holds the adapted features (the same tensors with
        ``head_only``) and ``head.weight`` / ``head.bias``.
        """
        if self._head_moves_first(meta, lrs, n_steps):
            # The support loss reaches the features through the head's weight,
            # which is zero: the first step's gradient is exactly zero for every
            # feature parameter, and so are its second-order terms. That step
            # moves the head only: take it on the support embedding, as ANIL
            # does, without a backward pass through the network, then the other
            # steps on everything. The adapted parameters are the same
            # functions of ``meta`` as the plain loop's.
            zs = self.embed(meta, xs)
            like = next(iter(meta.values()))  # float32 under autocast too
            zero = {HEAD[0]: like.new_zeros(n_way, zs.shape[-1]), HEAD[1]: like.new_zeros(n_way)}
            # (``detach_head`` detaches the starting head, constant zeros here)
            head = gradient_steps(self._head_loss(zs, ys), zero, lrs, 1,
                                  first_order=first_order, backtrack=self.backtrack)
            start, n_steps = {**meta, **head}, n_steps - 1
        else:
            if self.head == "zero" and not self.head_only and self.n_features and meta:
                # a zero head needs no embedding of the support: the first inner
                # step computes it (one forward pass of the support less per task)
                like = next(iter(meta.values()))
                weight, bias = like.new_zeros(n_way, self.n_features), like.new_zeros(n_way)
            else:
                zs = self.embed(meta, xs)
                weight, bias = init_head(zs, ys, n_way, self.head)
            if detach_head:
                weight, bias = weight.detach(), bias.detach()
            if self.head_only:
                head = gradient_steps(
                    self._head_loss(zs, ys),
                    {HEAD[0]: weight, HEAD[1]: bias},
                    lrs,
                    n_steps,
                    first_order=first_order,
                    backtrack=self.backtrack,
                )
                return {**meta, **head}
            start = {**meta, HEAD[0]: weight, HEAD[1]: bias}

        def loss(p):
            return F.cross_entropy(self.logits(p, xs), ys)

        return gradient_steps(
            loss, start, lrs, n_steps, first_order=first_order, backtrack=self.backtrack
        )

    def _head_moves_first(self, meta, lrs, n_steps):
        """Whether the first inner step can be taken on the head alone.

        True for a zero head whose features are adapted too, unless the
        feature step sizes are learned (Meta-SGD: the plain loop gives them a
        zero gradient, this path none) or backtracking would carry a halved
        step size from the first step into the next.
        """
        return (
            self.head == "zero"
            and not self.head_only
            and bool(meta)
            and n_steps >= 1
            and (n_steps == 1 or not self.backtrack)
            and not any(torch.is_tensor(lrs[k]) and lrs[k].requires_grad for k in meta)
        )

    @staticmethod
    def _head_loss(zs, ys):
        """The support loss as a function of the head alone, on embeddings ``zs``."""

        def loss(h):
            return F.cross_entropy(head_logits(zs, h[HEAD[0]], h[HEAD[1]]), ys)

        return loss

    def query_loss(self, meta, lrs, xs, ys, xq, yq, n_way, n_steps, *, first_order):
        """Query loss and logits of one episode after adapting to its support."""
        fast = self.adapt(meta, lrs, xs, ys, n_way, n_steps, first_order=first_order)
        logits = self.logits(fast, xq)
        return F.cross_entropy(logits, yq), logits


class RegressionTasks:
    """Regression tasks adapted by gradient steps on the squared error (MAMLRegressor).

    Parameters
    ----------
    module : torch.nn.Module
        The whole network, from inputs to one output, called functionally.
    buffers : dict of str to torch.Tensor
        Its buffers.
    """

    def __init__(self, module, buffers):
        self.module = module
        self.buffers = buffers
        self._lock = module_lock(module)

    def predict(self, params, x):
        """Predictions for ``x`` under the parameters in ``params``."""
        with self._lock:
            return functional_call(self.module, (params, self.buffers), (x,)).squeeze(-1)

    def adapt(self, meta, lrs, xs, ys, n_steps, *, first_order, chunks=None):
        """Parameters adapted to one task's support set ``(xs, ys)``."""
        if chunks is not None:
            def loss(p, sl):
                return F.mse_loss(self.predict(p, xs[sl]), ys[sl])
        else:
            def loss(p):
                return F.mse_loss(self.predict(p, xs), ys)

        return gradient_steps(loss, meta, lrs, n_steps, first_order=first_order, chunks=chunks)

    def query_loss(self, meta, lrs, xs, ys, xq, yq, n_steps, *, first_order):
        """Query loss and predictions of one task after adapting to its support."""
        fast = self.adapt(meta, lrs, xs, ys, n_steps, first_order=first_order)
        pred = self.predict(fast, xq)
        return F.mse_loss(pred, yq), pred


def use_vmap(setting, device, module):
    """Whether ``vectorize=setting`` runs the tasks of a meta-batch through vmap.

    ``"auto"`` vectorises on CUDA, and on the CPU for networks without
    convolutions. Measured on 2 CPU cores with torch 2.14 (one thread):
    vmap runs an MLP meta-batch 6-12x faster than a loop (MAMLRegressor on
    sinusoids 15.3 s -> 1.3 s for 100 meta-updates; MAMLClassifier on digits
    3.4 s -> 0.6 s), but a conv4 meta-batch no faster (18-20 tasks/s either
    way), and vmap's grouped convolutions have been measured 2-3x slower
    than a loop on 2 busy cores.
    """
    if setting != "auto":
        return bool(setting)
    if device.type == "cuda":
        return True
    convs = (torch.nn.modules.conv._ConvNd,)
    return not any(isinstance(m, convs) for m in module.modules())
