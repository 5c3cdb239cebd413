"""What the gradient-based few-shot classifiers share (MAML family, Reptile).

:class:`BaseGradientClassifier` sits on the episodic layer and adds the
network these algorithms meta-learn (:class:`_MetaNet`), the batched
adaptation of evaluation episodes, and ``_set_support``: the fitted model is
the meta-learned initialisation adapted with ``n_adapt_steps`` gradient
steps to the data (``adapt``: the support set, at once; ``fit``: the
training set, on first use, see :mod:`sklearn_meta.fewshot._head`).
A subclass says only how one meta-update changes the initialisation
(``_meta_update``) and which optimiser takes it (``_make_optimizer``).
:class:`InnerLoopEstimator` holds what MAMLRegressor shares with them.
"""

from __future__ import annotations

import functools
import math
import os
import warnings
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .._devices import module_lock
from .._inputs import uses_batch_statistics
from .._precision import at_precision
from .._sklearn import HasMethods, Interval, StrOptions
from ..backbones import Conv4Backbone, MLPBackbone, build_backbone, has_batch_norm
from ._base import BaseEpisodicClassifier
from ._head import HeadInputs, TrainingHead
from ._inner import (
    HEAD,
    ClassifierTasks,
    backward_tasks,
    check_adaptation,
    check_finite,
    gradient_steps,
    head_logits,
    init_head,
    map_tasks,
    task_slices,
    use_vmap,
)

__all__ = ["BaseGradientClassifier", "INNER_LOOP_CONSTRAINTS", "InnerLoopEstimator"]


def _step_sizes(tensors, inner_lr):
    """Meta-SGD: a learned step size for every entry of each tensor, from ``inner_lr``."""
    return nn.ParameterList([nn.Parameter(torch.full_like(t, inner_lr)) for t in tensors])


#: tasks of the first meta-batch whose loss before adaptation starts the divergence check
_START_TASKS = 8


class _MetaNet(nn.Module):
    """The meta-learned network: the features, and with Meta-SGD the step sizes.

    The features always run in eval mode: normalisation layers use stored
    statistics or per-sample ones, and dropout is off, so that an output
    never depends on the rest of its batch (and ``vmap`` gives exact
    meta-gradients). The classifiers' heads are made per task, so their
    step sizes have the shapes of a head row and a bias, broadcast over the
    classes.
    """

    def __init__(self, features, n_features, *, inner_lr=None, learn_inner_lr=False):
        super().__init__()
        self.features = features
        self.n_features = int(n_features)
        self.inner_lrs = None
        if learn_inner_lr:
            head = [torch.empty(1, self.n_features), torch.empty(1)]
            self.inner_lrs = _step_sizes([*features.parameters(), *head], inner_lr)

    def train(self, mode=True):
        super().train(mode)
        self.features.eval()
        return self

    def forward(self, x):
        return self.features(x)


#: the parameters of every estimator built on the inner loop
INNER_LOOP_CONSTRAINTS = {
    "backbone": [str, HasMethods(["build"]), nn.Module, HasMethods(["get_feature_extractor"])],
    "weights": [str, os.PathLike, None],
    "n_inner_steps": [Interval(Integral, 1, None, closed="left")],
    "inner_lr": [Interval(Real, 0, None, closed="neither")],
    "n_adapt_steps": [Interval(Integral, 0, None, closed="left"), None],
    "vectorize": [StrOptions({"auto"}), "boolean"],
    "task_chunk_size": [Interval(Integral, 1, None, closed="left"), None],
}


class InnerLoopEstimator:
    """What every estimator built on the inner loop shares (mixin).

    MAMLClassifier, ReptileClassifier and MAMLRegressor: how the network is
    accepted and placed, vmap or a loop, the adapted parameters that
    ``predict`` uses (``_fast``) and what ``load_params`` means for them.
    """

    _lr_hint = "lr or inner_lr"
    # measured with torch 2.14 on the CPU: second-order meta-gradients through
    # channels-last convolutions and normalisation are 20 % off in float32
    # (0.9 % in the default layout, against float64) and 1.6x slower
    _channels_last_ok = False

    def _accept_module(self, module, pretrained):
        self.pretrained_ = bool(pretrained)
        name = type(self).__name__
        if uses_batch_statistics(module):
            raise ValueError(
                f"{name} cannot use normalisation layers without stored statistics "
                "(track_running_stats=False): their outputs depend on the rest of the "
                "batch, and under vmap their meta-gradients are wrong. Use a backbone "
                "with per-sample normalisation, such as Conv4Backbone(norm='instance') "
                "or MLPBackbone(norm='layer')."
            )
        if has_batch_norm(module) and not pretrained:
            raise ValueError(
                f"{name} runs batch-norm layers with their stored statistics (batch "
                "statistics would make predictions depend on the batch and give wrong "
                "meta-gradients under vmap), and this backbone's batch norm is untrained, "
                "so it would not normalise. Use backbone='auto' (a conv4 with instance "
                "norm), Conv4Backbone(norm='instance'), MLPBackbone(norm='layer'), or a "
                "pretrained backbone."
            )

    def _vectorized(self):
        """Whether the tasks of a meta-batch go through one vmap call."""
        return use_vmap(self.vectorize, self.device_, self.module_)

    def _meta_update(self, data, s_idx, s_y, q_idx, q_y, n_way):
        self.optimizer_.zero_grad(set_to_none=True)
        loss, out = self._meta_backward(data, s_idx, s_y, q_idx, q_y, n_way)
        self._step(self.optimizer_)
        return loss, out

    def _meta_backward(self, data, s_idx, s_y, q_idx, q_y, n_way, *, vectorize=None):
        """Accumulate the meta-gradient of a meta-batch; its query losses and outputs.

        In chunks of ``task_chunk_size`` tasks, each freed by its own
        backward pass (:func:`~sklearn_meta.fewshot._inner.backward_tasks`).
        A subclass says what one task's query loss is (``_task_loss``) and
        which rows a chunk of tasks reads (``_task_rows``).
        """
        meta = self._meta_params()
        one = self._task_loss(self._engine(), meta, self._lrs(meta), n_way)
        return backward_tasks(
            one,
            functools.partial(self._task_rows, data, s_idx, s_y, q_idx, q_y),
            s_idx.shape[0],
            vectorize=self._vectorized() if vectorize is None else vectorize,
            chunk_size=self.task_chunk_size,
            backward=self._backward,
        )

    def _start_loss(self, data, s_idx, s_y, q_idx, q_y, n_way):
        """Mean query loss of a meta-batch before adaptation (left on the device).

        Where the divergence check of the training loop starts from: the
        loss the training loss is compared with comes from the
        initialisation, before any inner step could have blown it up.
        """
        engine = self._engine()
        with torch.no_grad():
            meta = {k: p.detach() for k, p in self._meta_params().items()}
            one = self._task_loss(engine, meta, self._lrs(meta, detach=True), n_way, steps=0)
            # a few tasks estimate it well enough, at a small share of an update
            rows = self._task_rows(data, s_idx, s_y, q_idx, q_y, slice(0, _START_TASKS))
            loss, _ = map_tasks(one, *rows, vectorize=self._vectorized())
        return loss.mean()

    def _adapt_steps(self):
        return self.n_inner_steps if self.n_adapt_steps is None else self.n_adapt_steps

    @staticmethod
    def _detached_fast(fast, meta):
        """The adapted parameters as ``predict`` keeps them, off the autograd graph."""
        # with no steps a tensor may still be the network's own: copy it, so
        # that training the network on never changes this model
        return {k: v.clone() if v is meta.get(k) else v.detach() for k, v in fast.items()}

    def _store_fast(self, fast, meta, what):
        """Keep the adapted parameters ``predict`` uses, after checking they are finite."""
        check_finite(fast, what)
        fast = self._detached_fast(fast, meta)
        self._fast_keys = list(fast)
        self._fast = list(fast.values())

    def __sklearn_is_fitted__(self):
        return "_fast" in vars(self)

    def _fast_params(self):
        """The adapted parameters ``predict`` uses, by name."""
        return dict(zip(self._fast_keys, self._fast))

    # ------------------------------------------------------------ persistence
    def _derived_state(self):
        return {f"fast.{k}": v for k, v in zip(self._fast_keys, self._fast)}

    def _check_derived_state(self, derived):
        mine = {f"fast.{k}": tuple(v.shape) for k, v in zip(self._fast_keys, self._fast)}
        theirs = {k: tuple(v.shape) for k, v in derived.items() if k.startswith("fast.")}
        if theirs and theirs != mine:
            return "its adapted parameters do not fit this network"
        return None

    def _after_load_params(self, derived):
        if self._run is not None:
            return  # inside fit (LoadInitState): the model is adapted at its end
        fast = {k[5:]: v.to(self.device_) for k, v in derived.items() if k.startswith("fast.")}
        if fast:
            self._fast_keys, self._fast = list(fast), list(fast.values())
            return
        warnings.warn(
            "load_params changed the meta-learned initialisation; predict still uses "
            "the model adapted from the previous one. Call partial_fit, or adapt, to "
            "adapt the new one.",
            UserWarning,
            stacklevel=3,
        )

    @property
    def _n_features_out(self):
        return self.module_.n_features


class BaseGradientClassifier(InnerLoopEstimator, BaseEpisodicClassifier):
    """Common ground of MAMLClassifier and ReptileClassifier (not for direct use)."""

    _parameter_constraints: dict = {
        **BaseEpisodicClassifier._parameter_constraints,
        **INNER_LOOP_CONSTRAINTS,
        "head_init": [StrOptions({"proto", "zero"})],
    }


    _support_word = "head"

    # ---------------------------------------------------------------- network
    def _learns_lr(self):
        return False

    def _head_only(self):
        return False

    def _backtracks(self):
        """Whether no inner step may raise the support loss (MAML's ``backtrack``)."""
        return False

    def _build_module(self, input_shape, *, weights):
        backbone = self.backbone
        if isinstance(backbone, str) and backbone == "auto":
            # per-sample normalisation: see _MetaNet
            backbone = Conv4Backbone(norm="instance") if len(input_shape) == 3 else MLPBackbone()
        features, n_features, pretrained = build_backbone(backbone, input_shape, weights=weights)
        module = _MetaNet(
            features, n_features, inner_lr=self.inner_lr, learn_inner_lr=self._learns_lr()
        )
        return module, pretrained

    def _meta_params(self):
        # under the lock: a functional call in another thread swaps them
        with module_lock(self.module_):
            return dict(self.module_.features.named_parameters())

    def _task_loss(self, engine, meta, lrs, n_way, *, steps=None):
        steps = self.n_inner_steps if steps is None else steps

        def one(xs, ys, xq, yq):
            return engine.query_loss(
                meta, lrs, xs, ys, xq, yq, n_way, steps,
                first_order=getattr(self, "first_order", True),
            )

        return one

    def _task_rows(self, X_t, s_idx, s_y, q_idx, q_y, sl):
        rows = self._training_rows
        return rows(X_t, s_idx[sl]), s_y[sl], rows(X_t, q_idx[sl]), q_y[sl]

    def _lrs(self, names, *, detach=False, inner_lr=None):
        """Step size of each adapted parameter (tensors with Meta-SGD)."""
        lrs = self.module_.inner_lrs
        if lrs is None:
            inner_lr = self.inner_lr if inner_lr is None else inner_lr
            return {k: inner_lr for k in (*names, *HEAD)}
        keys = [k for k, _ in self.module_.features.named_parameters()] + list(HEAD)
        return {k: (v.detach() if detach else v) for k, v in zip(keys, lrs)}

    def _engine(self, head_init=None, head_only=None, backtrack=None):
        with module_lock(self.module_):
            buffers = dict(self.module_.features.named_buffers())
        return ClassifierTasks(
            self.module_.features,
            buffers,
            head=self.head_init if head_init is None else head_init,
            head_only=self._head_only() if head_only is None else head_only,
            lock=module_lock(self.module_),
            backtrack=self._backtracks() if backtrack is None else backtrack,
            n_features=self.module_.n_features,
        )

    # ------------------------------------------------------- episodes (eval)
    @at_precision
    def _episode_logits(self, X_t, s_idx, s_y, q_idx, n_way):
        """Adapt to each episode's support (``n_adapt_steps``), the query logits.

        Episodes go in chunks (``task_chunk_size``, else ``meta_batch_size``)
        through one vmap call each on CUDA, one after another on the CPU.
        """
        engine = self._engine()
        meta = {k: p.detach() for k, p in self._meta_params().items()}
        lrs = self._lrs(meta, detach=True)
        steps = self._adapt_steps()
        vec = self._vectorized()

        def one(xs, ys, xq):
            fast = engine.adapt(meta, lrs, xs, ys, n_way, steps, first_order=True)
            return engine.logits(fast, xq)

        out = []
        chunk = self.task_chunk_size or self.meta_batch_size
        with torch.no_grad():
            for sl in task_slices(s_idx.shape[0], vectorize=vec, chunk_size=chunk):
                out.append(map_tasks(one, X_t[s_idx[sl]], s_y[sl], X_t[q_idx[sl]], vectorize=vec))
        return torch.cat(out).double()

    # ------------------------------------------------------ fitted predictor
    def _set_support(self, X_t, y_t, present, first=True):
        """What adapts the initialisation to ``(X_t, y_t)``: the model ``predict`` uses.

        In ``fit`` and ``partial_fit`` the adaptation is deferred to the first
        prediction (:class:`~sklearn_meta.fewshot._head.TrainingHead`); in
        :meth:`adapt` it runs at once. The head starts from the class means
        of ``present`` (or zero) and, with every adapted parameter, takes
        ``n_adapt_steps`` full-batch gradient steps (in chunks of
        ``batch_size`` rows). In ``partial_fit`` the classes absent from the
        batch keep their head rows as they were: the steps leave them out.
        Like ProtoNet's prototypes, those rows were made with the network as
        it was then.
        """
        n_classes = len(self.classes_)
        absent = ~np.isin(np.arange(n_classes), present)
        keep = kept = None
        if not first and "_head" in vars(self):
            seen = self._head.seen.copy()
            keep = seen & absent
            if keep.any():
                # built by _keep_support before this call trained the network
                previous = self._head.get(self._build_head)
                rows = torch.from_numpy(keep).to(self.device_)
                kept = (previous[HEAD[0]][rows], previous[HEAD[1]][rows])
            else:
                keep = None
        else:
            seen = np.zeros(n_classes, dtype=bool)
        seen[present] = True
        settings = {
            "steps": int(self._adapt_steps()),
            "inner_lr": float(self.inner_lr),
            "head_init": self.head_init,
            "head_only": bool(self._head_only()),
            "backtrack": bool(self._backtracks()),
            "chunk": int(self.batch_size),
            "what": "the data" if first else "this batch",
        }
        inputs = HeadInputs(X_t, y_t, absent, keep, kept, settings)
        if self._run is None:
            # adapt(): the few-shot step adapts at once
            self._head = TrainingHead(seen, inputs=inputs)
            self._head.get(self._build_head)
        else:
            self._head = TrainingHead(seen, inputs=inputs.on_host())

    def _keep_support(self, present):
        """Adapt the previous head now when ``partial_fit`` keeps some of its rows.

        The rows of the classes absent from the batch come from the model as
        it was before this call trains the network.
        """
        head = vars(self).get("_head")
        if head is None or head.built:
            return
        absent = ~np.isin(np.arange(len(self.classes_)), present)
        if (head.seen & absent).any():
            head.get(self._build_head)

    def build_head(self):
        """Adapt the initialisation to the training classes now.

        ``fit`` and ``partial_fit`` leave this to the first ``predict``,
        ``predict_proba``, ``decision_function``, ``score`` or ``transform``:
        it adapts the meta-learned initialisation to every training sample
        (``n_adapt_steps`` full-batch steps), which few-shot uses
        (:meth:`adapt`, episodic scoring) never need. Call it to pay that
        cost at a time of your choosing, or before :meth:`save_params` so
        that the file holds the adapted model. It runs once; later calls
        return at once.

        Returns
        -------
        self : object
            The estimator, its training-class head adapted.
        """
        check_is_fitted(self)
        self._head.get(self._build_head)
        return self

    @at_precision
    def _build_head(self, inputs):
        """The adapted parameters for ``inputs`` (a :class:`HeadInputs`)."""
        settings = inputs.settings
        n_classes = len(self.classes_)
        engine = self._engine(
            settings["head_init"], settings["head_only"], settings.get("backtrack", False)
        )
        meta = {k: p.detach() for k, p in self._meta_params().items()}
        X_t = inputs.X.to(self.device_)
        y_t = inputs.y.to(self.device_)
        chunk = settings["chunk"]
        n = X_t.shape[0]
        absent = torch.from_numpy(inputs.absent).to(self.device_)
        with torch.no_grad():
            z = torch.cat([engine.embed(meta, X_t[i : i + chunk]) for i in range(0, n, chunk)])
            weight, bias = init_head(z, y_t, n_classes, settings["head_init"])
            if inputs.keep is not None:
                keep = torch.from_numpy(inputs.keep).to(self.device_)
                weight[keep] = inputs.kept[0].to(self.device_)
                bias[keep] = inputs.kept[1].to(self.device_)
            # the steps see only the classes of this data: the others' head rows
            # get no gradient, and are not pushed down as wrong answers
            mask = torch.zeros(n_classes, device=self.device_, dtype=z.dtype)
            mask[absent] = -torch.inf
            lrs = self._lrs(meta, detach=True, inner_lr=settings["inner_lr"])
            steps = settings["steps"]
            if settings["head_only"]:
                def loss(h):
                    return F.cross_entropy(head_logits(z, h[HEAD[0]], h[HEAD[1]]) + mask, y_t)

                fast = gradient_steps(
                    loss, {HEAD[0]: weight, HEAD[1]: bias}, lrs, steps, first_order=True,
                    backtrack=engine.backtrack,
                )
            else:
                def loss(p, sl):
                    return F.cross_entropy(engine.logits(p, X_t[sl]) + mask, y_t[sl])

                chunks = [(slice(i, i + chunk), min(chunk, n - i) / n) for i in range(0, n, chunk)]
                start = {**meta, HEAD[0]: weight, HEAD[1]: bias}
                fast = gradient_steps(loss, start, lrs, steps, first_order=True, chunks=chunks,
                                      backtrack=engine.backtrack)
            check_finite(fast, settings["what"])
            if steps:
                # has the loss grown far above where it started? On the first
                # chunk of rows, whose embeddings before the steps are at hand
                rows = slice(0, chunk)
                before = head_logits(z[rows], weight, bias)
                after = (head_logits(z[rows], fast[HEAD[0]], fast[HEAD[1]])
                         if settings["head_only"] else engine.logits(fast, X_t[rows]))
                check_adaptation(
                    F.cross_entropy(before + mask, y_t[rows]),
                    F.cross_entropy(after + mask, y_t[rows]),
                    math.log(max(2, int((~inputs.absent).sum()))),
                    settings["what"],
                )
        return self._detached_fast(fast, meta)

    def __sklearn_is_fitted__(self):
        return "_head" in vars(self)

    def _fast_params(self):
        """The adapted parameters ``predict`` uses, by name (adapted on first use)."""
        fast = self._head.get(self._build_head)
        if HEAD[0] in fast and len(fast) == 2:
            # the head alone was adapted (ANIL): the features are the meta-learned ones
            fast = {**self._meta_params(), **fast}
        return fast

    def _logits_fn(self):
        engine = self._engine()
        fast = self._fast_params()
        mask = torch.zeros(len(self.classes_), dtype=torch.float64, device=self.device_)
        mask[torch.from_numpy(~self._head.seen).to(self.device_)] = -torch.inf

        def logits(xb):
            return engine.logits(fast, xb).double() + mask

        return logits

    def _predict_logits(self, xb):
        return self._logits_fn()(xb)

    def _embed(self, xb):
        return self._engine().embed(self._fast_params(), xb)

    def _predictable_classes(self):
        return self.classes_[self._head.seen]

    # ------------------------------------------------------------ persistence
    def _derived_state(self):
        head = self._head
        state = {"head_seen": torch.from_numpy(head.seen.copy())}
        fingerprint = head.fingerprint()
        if fingerprint is not None:
            # not adapted yet, and save_params does not adapt it: the file
            # says what it would adapt to
            state["head_pending"] = torch.tensor([fingerprint], dtype=torch.int64)
        else:
            state.update({f"fast.{k}": v for k, v in head.fast.items()})
        return state

    def _check_derived_state(self, derived):
        seen = derived.get("head_seen")
        if seen is None:
            return None
        n_classes = len(self.classes_)
        if tuple(seen.shape) != (n_classes,):
            return f"the saved model predicts {seen.shape[0]} classes, this one {n_classes}"
        shapes = {k: tuple(p.shape) for k, p in self._meta_params().items()}
        shapes[HEAD[0]] = (n_classes, self.module_.n_features)
        shapes[HEAD[1]] = (n_classes,)
        for key, value in derived.items():
            if key.startswith("fast.") and shapes.get(key[5:]) != tuple(value.shape):
                return f"its adapted parameter {key[5:]!r} does not fit this network"
        return None

    def _before_load_params(self, derived):
        head = vars(self).get("_head")
        if self._run is not None or head is None or not head.built or derived:
            return
        if set(head.fast) != set(HEAD):
            return
        # the adapted model of ANIL reads the features from the network: keep a
        # copy of them, so that it predicts as before, as the warning says
        meta = {k: p.detach().clone() for k, p in self._meta_params().items()}
        head.replace({**meta, **head.fast})

    def _after_load_params(self, derived):
        if self._run is not None:
            return  # inside fit (LoadInitState): the model is adapted at its end
        fast = {k[5:]: v.to(self.device_) for k, v in derived.items() if k.startswith("fast.")}
        if fast:
            seen = derived["head_seen"].cpu().numpy().astype(bool)
            self._head = TrainingHead(seen, fast=fast)
            return
        head = self._head
        if head.built:
            super()._after_load_params(derived)
            return
        pending = derived.get("head_pending")
        if pending is not None and int(pending.reshape(-1)[0]) != head.fingerprint():
            warnings.warn(
                "The saved model had not adapted its head to its training classes yet "
                "(that happens at the first predict), and this one's training data or "
                "adaptation settings differ from its: this one adapts to its own, so its "
                "predictions may differ from the saved model's. Call build_head() before "
                "save_params to save the adapted model.",
                UserWarning,
                stacklevel=3,
            )

    def _after_unpickle(self):
        if "_head" not in vars(self) and "_fast" in vars(self):
            # a model saved by an earlier release: its adapted parameters as they were
            fast = dict(zip(vars(self).pop("_fast_keys"), vars(self).pop("_fast")))
            self._head = TrainingHead(np.asarray(vars(self).pop("_head_seen")), fast=fast)
        if "_head" in vars(self):
            self._head.to(self.device_)
