"""Prototypical networks (Snell, Swersky and Zemel, 2017)."""

from __future__ import annotations

import copy
import math
import time
import warnings
from numbers import Integral

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.validation import check_is_fitted
from skorch.history import History
from torch import nn
from tqdm.auto import tqdm

from .._base import (
    BaseTorchClassifier,
    HasMethods,
    Interval,
    StrOptions,
    _fit_context,
    derive_seed,
    resolve_device,
    torch_rng,
)
from .._episodes import EpisodeSampler, class_means, episode_logits, prototype_logits
from ..backbones import build_backbone

__all__ = ["ProtoNetClassifier"]

#: meta-updates between two host syncs (history entries, progress bar)
_LOG_EVERY = 100


class _Embedding(nn.Module):
    """The learned embedding; ProtoNet has no head beyond its prototypes."""

    def __init__(self, features):
        super().__init__()
        self.features = features

    def forward(self, x):
        return self.features(x)


class ProtoNetClassifier(BaseTorchClassifier):
    """Prototypical network: a metric embedding learned from few-shot episodes.

    ``fit`` meta-trains the embedding on N-way K-shot episodes drawn from the
    classes of ``y``: each episode's query samples are classified by their
    distance to the mean embedding (prototype) of each class's support
    samples. The fitted estimator then predicts among the classes of ``y``
    with prototypes computed from all of ``X``. :meth:`adapt` gives a new
    estimator for *novel* classes from a handful of labelled examples,
    leaving this one untouched.

    Parameters
    ----------
    backbone : str, backbone config, torch.nn.Module or fitted estimator, default="auto"
        The embedding network: ``"auto"`` (``"conv4"`` for images,
        ``"mlp"`` for rows), ``"mlp"``, ``"conv4"``, ``"identity"``, a
        torchvision model name, a config such as
        :class:`~sklearn_meta.backbones.Conv4Backbone`, a module (copied), or a
        fitted sklearn_meta estimator.
    weights : str or None, default=None
        Starting weights for the backbone: torchvision weights name or local
        state-dict file.
    n_way : int, default=5
        Classes per training episode (Snell et al. train Omniglot with 60).
        Capped at the number of classes in ``y``, with a warning.
    n_shot : int, default=5
        Support samples per class in a training episode.
    n_query : int, default=5
        Query samples per class in a training episode.
    metric : {"euclidean", "cosine"}, default="euclidean"
        Squared Euclidean distance (the paper's choice) or scaled cosine
        similarity to the prototypes.
    max_iter : int, default=1000
        Meta-updates run by ``fit``.
    meta_batch_size : int, default=1
        Episodes averaged in each meta-update.
    lr : float, default=1e-3
        Adam learning rate.
    lr_decay_step : int or None, default=None
        Halve the learning rate every this many meta-updates (Snell et al.
        use 2000). None keeps it constant.
    batch_size : int, default=256
        Samples embedded at once when computing prototypes.
    input_shape : tuple of int or None, default=None
        ``(C, H, W)`` of images given as flattened rows.
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where to train; ``"auto"`` picks CUDA when present.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation and episode sampling. With an int, a CPU fit is
        bit-for-bit repeatable; torch's global RNG is left untouched.
    verbose : int, default=0
        Show a progress bar with the episode loss and accuracy.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    prototypes_ : ndarray of shape (n_classes, n_embedding)
        Mean embedding of each class of ``classes_``.
    n_features_in_ : int
        Number of features seen in ``fit``.
    feature_names_in_ : ndarray of shape (n_features_in_,)
        Column names, when ``X`` was a DataFrame with string column names.
    input_shape_ : tuple
        Shape of one sample as the network receives it.
    device_ : torch.device
        The device the model lives on.
    module_ : torch.nn.Module
        The embedding network (``module_.features``).
    optimizer_ : torch.optim.Optimizer
        Kept so ``partial_fit`` continues where it stopped.
    episode_shape_ : tuple of int
        ``(n_way, n_shot, n_query)`` of the training episodes actually drawn
        (smaller than requested when the data cannot supply them).
    history_ : skorch.history.History
        Per block of up to 100 meta-updates: ``iter``, ``train_loss``,
        ``train_acc`` (episode query accuracy) and ``dur``.
    n_iter_ : int
        Meta-updates run so far.

    See Also
    --------
    sklearn.neighbors.NearestCentroid : The same rule on raw features; with
        ``backbone="identity"`` this estimator predicts exactly as it does.
    sklearn_meta.model_selection.evaluate_episodes : Few-shot accuracy with a
        95 % confidence interval over episodes.

    Notes
    -----
    For a query embedding ``f(x)`` and prototypes
    ``c_k = mean_{i: y_i = k} f(x_i)``, the logits are ``-||f(x) - c_k||^2``
    and the loss is their cross-entropy over the episode's query samples.
    The training data are moved to the device once; episodes are drawn there
    by index (:mod:`sklearn_meta._episodes`), and losses are read back every
    100 meta-updates, never per step.

    When the data cannot supply the requested episodes (fewer classes than
    ``n_way``, or a class with fewer than ``n_shot + n_query`` samples),
    ``fit`` warns and draws smaller episodes, reported in ``episode_shape_``.
    Episodic evaluation (:meth:`adapt`, the episodic scorer) raises instead.

    References
    ----------
    .. [1] Snell, J., Swersky, K. and Zemel, R. "Prototypical networks for
       few-shot learning", NeurIPS 2017.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_meta import ProtoNetClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16.0
    >>> clf = ProtoNetClassifier(backbone="mlp", max_iter=50, random_state=0)
    >>> clf.fit(X[y < 5], y[y < 5]).classes_
    array([0, 1, 2, 3, 4])
    >>> novel = clf.adapt(X[y >= 5][:25], y[y >= 5][:25])   # 5 new classes
    >>> novel.classes_
    array([5, 6, 7, 8, 9])
    >>> novel.score(X[y >= 5][25:], y[y >= 5][25:]) > 0.8
    True
    """

    _parameter_constraints: dict = {
        **BaseTorchClassifier._parameter_constraints,
        "backbone": [str, HasMethods(["build"]), nn.Module, HasMethods(["_feature_extractor"])],
        "weights": [str, None],
        "n_way": [Interval(Integral, 2, None, closed="left")],
        "n_shot": [Interval(Integral, 1, None, closed="left")],
        "n_query": [Interval(Integral, 1, None, closed="left")],
        "metric": [StrOptions({"euclidean", "cosine"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "meta_batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr_decay_step": [Interval(Integral, 1, None, closed="left"), None],
    }

    _torch_attributes = ("module_", "optimizer_")

    def __init__(
        self,
        backbone="auto",
        *,
        weights=None,
        n_way=5,
        n_shot=5,
        n_query=5,
        metric="euclidean",
        max_iter=1000,
        meta_batch_size=1,
        lr=1e-3,
        lr_decay_step=None,
        batch_size=256,
        input_shape=None,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.backbone = backbone
        self.weights = weights
        self.n_way = n_way
        self.n_shot = n_shot
        self.n_query = n_query
        self.metric = metric
        self.max_iter = max_iter
        self.meta_batch_size = meta_batch_size
        self.lr = lr
        self.lr_decay_step = lr_decay_step
        self.batch_size = batch_size
        self.input_shape = input_shape
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ---------------------------------------------------------------- fitting
    @_fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
        """Meta-train on episodes from ``(X, y)``, then set the prototypes.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, [C,] H, W)
            Training samples: rows (images flattened with ``input_shape``) or
            image arrays.
        y : array-like of shape (n_samples,)
            Class labels of any type scikit-learn accepts.

        Returns
        -------
        self : ProtoNetClassifier
            The fitted estimator.
        """
        X, y = self._validate_X_y(X, y)
        codes = self._encode_y(y)
        self._initialize(X.shape[1:])
        X_t, y_t = self._device_data(X, codes)
        self._meta_train(X_t, y_t, self.max_iter)
        self.prototypes_ = self._class_prototypes(X_t, y_t).cpu().numpy()
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None):
        """Meta-train further on ``(X, y)``, building the model on the first call.

        One call runs as many episodes as it takes to draw about every sample
        once: ``ceil(n_samples / (n_way * (n_shot + n_query)))`` meta-updates.
        Prototypes of the classes present in ``y`` are then recomputed with the
        updated embedding; the others keep their previous value.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Training samples.
        y : array-like of shape (n_samples,)
            Class labels, all within ``classes``.
        classes : array-like of shape (n_classes,), default=None
            Every label the model will predict. Required on the first call.

        Returns
        -------
        self : ProtoNetClassifier
            The updated estimator.
        """
        first = not hasattr(self, "module_")
        X, codes = self._validate_partial(X, y, classes, first=first)
        if first:
            self._initialize(X.shape[1:])
            self.prototypes_ = None
        elif getattr(self, "_shares_module", False):
            # an adapted estimator shares its parent's network: copy before training
            self.module_, self.optimizer_ = copy.deepcopy((self.module_, self.optimizer_))
            self._shares_module = False
        X_t, y_t = self._device_data(X, codes)
        episode = self.n_way * (self.n_shot + self.n_query)
        self._meta_train(X_t, y_t, max(1, math.ceil(len(codes) / episode)))
        protos = self._class_prototypes(X_t, y_t, n_classes=len(self.classes_)).cpu().numpy()
        present = np.unique(codes)
        if self.prototypes_ is None:
            # classes not seen yet have no prototype: NaN, never predicted
            self.prototypes_ = np.full_like(protos, np.nan)
        self.prototypes_ = self.prototypes_.copy()
        self.prototypes_[present] = protos[present]
        return self

    def _initialize(self, input_shape):
        self.device_ = resolve_device(self.device)
        self._seed = derive_seed(self.random_state)
        with torch_rng(self._seed, torch.device("cpu")):
            features, _, _ = build_backbone(self.backbone, input_shape, weights=self.weights)
        self.module_ = self._place_module(_Embedding(features))
        params = list(self.module_.parameters())
        # a parameter-free embedding (backbone="identity") has nothing to train
        self.optimizer_ = torch.optim.Adam(params, lr=self.lr) if params else None
        self.history_ = History()
        self.n_iter_ = 0
        self._shares_module = False

    def _device_data(self, X, codes):
        return self._to_tensor(X).to(self.device_), torch.from_numpy(codes).to(self.device_)

    def _sampler(self, y_t):
        sampler = EpisodeSampler(
            y_t,
            n_way=min(self.n_way, len(self.classes_)),
            n_shot=self.n_shot,
            n_query=self.n_query,
            device=self.device_,
            adapt_small=True,
            class_names=self.classes_,
        )
        wanted = (self.n_way, self.n_shot, self.n_query)
        got = (sampler.n_way_, sampler.n_shot_, sampler.n_query_)
        if got != wanted:
            warnings.warn(
                f"The training data cannot supply {wanted[0]}-way episodes with "
                f"n_shot={wanted[1]} and n_query={wanted[2]} (it has "
                f"{sampler.n_classes_} classes, the smallest with {sampler.min_count_} "
                f"samples); training on {got[0]}-way {got[1]}-shot episodes, "
                f"n_query={got[2]}. Lower n_way/n_shot/n_query or add samples.",
                UserWarning,
                stacklevel=3,
            )
        self.episode_shape_ = got
        return sampler

    def _meta_train(self, X_t, y_t, n_updates):
        if self.optimizer_ is None:
            self.episode_shape_ = (min(self.n_way, len(self.classes_)), self.n_shot, self.n_query)
            self.n_iter_ += n_updates
            return
        sampler = self._sampler(y_t)
        n_way = sampler.n_way_
        module, opt = self.module_, self.optimizer_
        module.train()
        bar = tqdm(total=n_updates, disable=not self.verbose, desc=type(self).__name__)
        done = 0
        with torch_rng(self._seed + self.n_iter_, self.device_) as gen:
            while done < n_updates:
                block = min(_LOG_EVERY, n_updates - done)
                tic = time.perf_counter()
                s_idx, q_idx, s_y, q_y = sampler.sample(gen, block * self.meta_batch_size)
                shape = (block, self.meta_batch_size)
                s_idx, q_idx = s_idx.view(*shape, -1), q_idx.view(*shape, -1)
                s_y, q_y = s_y.view(*shape, -1), q_y.view(*shape, -1)
                losses = torch.empty(block, device=self.device_)
                accs = torch.empty(block, device=self.device_)
                for i in range(block):
                    self._set_lr()
                    n_s = s_idx.shape[-1]
                    rows = torch.cat([s_idx[i], q_idx[i]], dim=1)  # (E, S + Q)
                    z = module(X_t[rows.reshape(-1)]).view(*rows.shape, -1)
                    logits = episode_logits(z[:, :n_s], s_y[i], z[:, n_s:], n_way, self.metric)
                    loss = F.cross_entropy(logits.reshape(-1, n_way), q_y[i].reshape(-1))
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    self.n_iter_ += 1
                    losses[i] = loss.detach()
                    accs[i] = (logits.detach().argmax(-1) == q_y[i]).float().mean()
                done += block
                self._record(losses.mean().item(), accs.mean().item(), time.perf_counter() - tic)
                bar.update(block)
                if self.verbose:
                    last = self.history_[-1]
                    bar.set_postfix(loss=f"{last['train_loss']:.4f}", acc=f"{last['train_acc']:.3f}")
        bar.close()
        module.eval()

    def _set_lr(self):
        if self.lr_decay_step is None:
            return
        lr = self.lr * 0.5 ** (self.n_iter_ // self.lr_decay_step)
        for group in self.optimizer_.param_groups:
            group["lr"] = lr

    def _record(self, loss, acc, dur):
        if not np.isfinite(loss):
            raise ValueError(
                f"The episode loss became {loss} by meta-update {self.n_iter_}. Scale the "
                "inputs (e.g. StandardScaler) or lower lr."
            )
        self.history_.new_epoch()
        self.history_.record("iter", self.n_iter_)
        self.history_.record("train_loss", loss)
        self.history_.record("train_acc", acc)
        self.history_.record("dur", dur)

    # ------------------------------------------------------------- prototypes
    def _embed_tensor(self, X_t):
        """Embed a device tensor in eval mode, in fixed-size chunks."""
        self.module_.eval()
        chunk = int(self.batch_size)
        with torch.inference_mode():
            return torch.cat(
                [self.module_(X_t[i : i + chunk]) for i in range(0, X_t.shape[0], chunk)]
            )

    def _class_prototypes(self, X_t, y_t, n_classes=None):
        z = self._embed_tensor(X_t).double()
        return class_means(z, y_t, n_classes or len(self.classes_))

    def adapt(self, X_support, y_support):
        """A new estimator that predicts among the classes of a support set.

        This is the few-shot step: the embedding learned by ``fit`` stays as
        it is, and the prototypes of the new classes are the mean embeddings
        of their support samples. This estimator is left unchanged (the new
        one shares its network read-only), so scoring can call it thousands
        of times. Calling ``partial_fit`` on the new estimator first gives it a
        network of its own; calling ``partial_fit`` on this one changes the
        shared network, so adapt again afterwards.

        Parameters
        ----------
        X_support : array-like of shape (n_support, ...)
            A few labelled samples of each new class.
        y_support : array-like of shape (n_support,)
            Their labels, of any type.

        Returns
        -------
        ProtoNetClassifier
            A fitted estimator whose ``classes_`` are the labels of
            ``y_support``.
        """
        check_is_fitted(self)
        X_support = self._validate_X(X_support, reset=False)
        # a shallow copy that shares the network (copy.copy would go through
        # __getstate__ and serialise the whole module)
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        codes = new._encode_y(np.asarray(y_support))
        if len(codes) != X_support.shape[0]:
            raise ValueError(
                f"X_support has {X_support.shape[0]} samples but y_support has {len(codes)}."
            )
        X_t, y_t = self._device_data(X_support, codes)
        new.prototypes_ = self._class_prototypes(X_t, y_t, len(new.classes_)).cpu().numpy()
        new._shares_module = True
        new.history_ = copy.deepcopy(self.history_)  # partial_fit appends to it
        return new

    def _predict_logits(self, xb):
        protos = torch.as_tensor(self.prototypes_, device=xb.device)
        logits = prototype_logits(self.module_(xb).double(), protos, self.metric)
        # a class without prototype (not yet seen by partial_fit) is never predicted
        return logits.nan_to_num(nan=-torch.inf)

    def _embed(self, xb):
        return self.module_(xb)

    def _predict_episodes(self, X, s_idx, s_y, q_idx, n_way):
        """Episode-local predictions for a batch of episodes (episodic scoring).

        Embeds ``X`` once, then classifies every episode's queries against its
        support prototypes with batched tensor ops.
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        # embed each row the episodes use once, and only those rows
        used, inverse = torch.unique(torch.cat([s_idx.flatten(), q_idx.flatten()]),
                                     return_inverse=True)
        z = self._embed_tensor(self._to_tensor(X[used.cpu().numpy()]).to(self.device_)).double()
        dev = z.device
        s_pos = inverse[: s_idx.numel()].view_as(s_idx).to(dev)
        q_pos = inverse[s_idx.numel() :].view_as(q_idx).to(dev)
        logits = episode_logits(z[s_pos], s_y.to(dev), z[q_pos], n_way, self.metric)
        return logits.argmax(-1)

    def __sklearn_is_fitted__(self):
        return getattr(self, "prototypes_", None) is not None

    @property
    def _n_features_out(self):
        return self.prototypes_.shape[1]
