"""Prototypical networks (Snell, Swersky and Zemel, 2017)."""

from __future__ import annotations

import os
import warnings
from numbers import Integral

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .._episodes import class_means, episode_logits, prototype_logits
from .._precision import at_precision
from .._sklearn import HasMethods, Interval, StrOptions
from ..backbones import build_backbone
from ._base import BaseEpisodicClassifier

__all__ = ["ProtoNetClassifier"]


class _Embedding(nn.Module):
    """The learned embedding; ProtoNet has no head beyond its prototypes."""

    def __init__(self, features):
        super().__init__()
        self.features = features

    def forward(self, x):
        return self.features(x)


class ProtoNetClassifier(BaseEpisodicClassifier):
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
    weights : str, path-like or None, default=None
        Starting weights for the backbone: torchvision weights name or local
        state-dict file.
    n_way : int, default=60
        Classes per training episode. Snell et al. train with more classes
        per episode than they test with (60 on Omniglot); on data with fewer
        classes every episode uses them all. The default was chosen on
        Omniglot (benchmarks/README.md, "ProtoNet defaults").
    n_shot : int, default=1
        Support samples per class in a training episode.
    n_query : int, default=5
        Query samples per class in a training episode. Classes with fewer
        than ``n_shot + n_query`` samples are left out of the episodes (with
        a warning) but still predicted.
    metric : {"euclidean", "cosine"}, default="euclidean"
        Squared Euclidean distance (the paper's choice) or scaled cosine
        similarity to the prototypes.
    max_iter : int or "auto", default="auto"
        Meta-updates run by ``fit`` (fewer when early stopping ends it).
        ``"auto"`` counts passes over the data, as ``MLPClassifier``'s
        ``max_iter`` does: enough meta-updates to draw every training sample
        about 50 times, at most 2,000 (``max_iter_`` says how many). So a
        small data set trains quickly, and the Omniglot background set gets
        the 2,000 that the defaults were measured with.
    meta_batch_size : int, default=1
        Episodes averaged in each meta-update.
    lr : float, default=1e-3
        Adam learning rate.
    lr_decay_step : int or None, default=None
        Halve the learning rate every this many meta-updates (Snell et al.
        use 2000). None keeps it constant.
    batch_size : int, default=256
        Samples embedded at once when computing prototypes.
    early_stopping : "auto" or bool, default="auto"
        Hold out a share ``validation_fraction`` of the classes, measure the
        episodic accuracy on them every 100 meta-updates, stop as
        ``n_iter_no_change`` says and keep the best network. ``"auto"`` turns it on above 10,000 training samples.
        It needs at least 4 classes. ``partial_fit`` never stops early.
    validation_fraction : float, default=0.1
        Share of the classes held out for early stopping (at least 2).
    n_iter_no_change : int, default=10
        Training stops once more than this many validation checks (one per
        100 meta-updates) in a row have not improved the best score by
        ``tol``, as in ``MLPClassifier``.
    tol : float, default=1e-4
        Improvement of the validation accuracy that counts.
    callbacks : list of skorch callbacks or None, default=None
        skorch callback objects (or ``(name, callback)`` pairs):
        ``LRScheduler``, ``Checkpoint``, ``LoadInitState``,
        ``EarlyStopping``, ``TensorBoard``, ... An epoch is a block of 100
        meta-updates; ``on_batch_end`` follows every meta-update. See the
        user guide for which hook is called when.
    input_shape : tuple of int or None, default=None
        ``(C, H, W)`` of images given as flattened rows.
    image_size : int, (int, int) or None, default=None
        Size every image is resized to (a side, or ``(H, W)``), with
        antialiasing, the same way in training and inference. None keeps the
        images' own size: they must then share one, unless a pretrained
        backbone's preprocessing resizes them (``preprocess``).
    preprocess : "auto", None or callable, default="auto"
        What happens to images before the network. ``"auto"``: a torchvision
        backbone with ``weights`` gets those weights' resize, centre crop
        and normalisation, read from ``weights.transforms()`` (a local
        state-dict file for a torchvision architecture gets its ``DEFAULT``
        weights' ones); an explicit ``image_size`` replaces their resize and
        crop and keeps the normalisation. A fitted sklearn_meta backbone
        brings its own; anything else gets none. None: nothing (a fitted
        backbone's normalisation is taken out too). A
        ``torchvision.transforms.v2`` transform (or a picklable callable on
        float batches of shape ``(N, C, H, W)``, without trainable
        parameters) replaces them. Resizing runs on each image on the host;
        normalisation or the transform is the first layer of
        ``module_.features``, in training and inference. ``preprocess_``
        records what was applied.
    augment : None, "standard" or callable, default=None
        Random augmentation of training images, on the device, per
        minibatch or episode, never at inference. ``"standard"``: a random
        resized crop (50 % to 100 % of the area, aspect ratio 3/4 to 4/3,
        back to the image's size) and a horizontal flip (probability 0.5).
        A ``torchvision.transforms.v2`` transform (or any callable from a
        ``(C, H, W)`` float image to one of the same shape) is applied to
        each image with its own parameters. Every draw comes from a
        generator seeded by ``random_state`` and the update, so an augmented
        fit repeats, and resumes after Ctrl-C, exactly. Images only: a
        ``ValueError`` on tabular rows.
    rotation_classes : bool, default=False
        Meta-train on each class turned by 0, 90, 180 and 270 degrees as four
        classes, as Vinyals et al. and Snell et al. trained on Omniglot: the
        episodes of ``fit`` and ``partial_fit`` draw from four times as many
        classes. Only meta-training sees the turned classes: ``classes_``,
        the training classes' predictions, ``adapt`` and scoring keep the
        original ones. Images must be square; they are turned as episodes
        gather them, so the training set is not copied. ``max_iter="auto"``
        counts the original samples.
    storage : {"auto", "device", "stream"}, default="auto"
        Where decoded images (files, PIL images, a dataset) are kept.
        ``"device"``: one uint8 array on the training device (host memory on
        the CPU). ``"stream"``: a temporary file (in ``TMPDIR``) the operating
        system pages in, each batch copied to the device as it is used.
        ``"auto"``: ``"stream"`` when the decoded set would take more than half
        of the memory free where it would live, else ``"device"``. The results
        are the same either way; ``storage_`` records the choice. Arrays you
        pass stay where they are.
    precision : {"float32", "bf16", "fp16"}, default="float32"
        Numeric precision of the network's forward passes, in training and in
        ``predict``, ``transform``, ``adapt`` and scoring. ``"bf16"``:
        bfloat16 autocast on the CPU or CUDA; the weights, their gradients and
        the optimiser stay float32, and losses, softmax, reductions and the
        prototype distances are computed in float32. It pays for convolutional
        networks on GPUs and on CPUs that run bfloat16 in hardware (AMX,
        AVX-512 BF16), and not for small networks on rows. On Omniglot (a CPU
        with AMX, one thread) a Conv4 meta-update took 0.44x (60-way) and
        0.59x (5-way) of its float32 time, in the channels-last layout the CPU
        uses, and 500 meta-updates gave the same test accuracy within the 95 %
        CI (5-way 1-shot 94.1 % against 94.2 %, 20-way 84.5 % against 83.9 %).
        ``"fp16"``: float16 autocast with a gradient scaler, for GPUs without
        bfloat16 (CUDA only: a ``ValueError`` on the CPU). See
        benchmarks/README.md, "Precision".
    compile : bool, default=False
        Compile the network's feature extractor with :func:`torch.compile`
        (in place: saved weights keep their names). The first fit then
        waits for the compiler (6-8 s for a Conv4 on a CPU), and on the CPU
        it did not pay: a Conv4 ProtoNet meta-update took 1.06-1.44x its
        eager channels-last time (benchmarks/README.md, "Precision and
        memory layout"). On a GPU, where it can remove the per-step overhead
        of small networks, measure first.
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
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Column names, when ``X`` was a DataFrame with string column names.
    input_shape_ : tuple
        Shape of one sample as the network receives it.
    image_size_ : tuple of int or None
        ``(H, W)`` every image is resized to (``image_size``); None when
        images keep their own size (or a pretrained network's resizes them).
    storage_ : {"device", "stream"}
        Where the training images were kept (see ``storage``).
    preprocess_ : dict
        What images went through before the network (see ``preprocess``).
        ``{"source": None}``: nothing. Otherwise ``"source"`` is
        ``"weights"`` (torchvision weights: their name, ``"resize"``,
        ``"crop"``, ``"interpolation"``, ``"mean"`` and ``"std"``),
        ``"user"`` (``"transform"``: the transform's repr) or ``"backbone"``
        (what a fitted ``backbone`` estimator applied, carried over).
    device_ : torch.device
        The device the model lives on.
    module_ : torch.nn.Module
        The embedding network (``module_.features``).
    optimizer_ : torch.optim.Optimizer
        Kept so ``partial_fit`` continues where it stopped.
    episode_shape_ : tuple of int
        ``(n_way, n_shot, n_query)`` of the training episodes actually drawn
        (smaller than requested when the data cannot supply them).
    max_iter_ : int
        The meta-updates ``fit`` aimed for: ``max_iter``, or what ``"auto"``
        gave.
    validation_scores_ : list of float or None
        Episodic accuracy on the held-out classes after every block of 100
        meta-updates; None without early stopping.
    best_validation_score_ : float or None
        The best of ``validation_scores_``; its network is the one kept.
    validation_classes_ : ndarray
        The classes held out for early stopping (only with early stopping).
    callbacks_ : list of (str, callback)
        The callbacks of the last fit, initialised.
    history_ : skorch.history.History
        Per block of up to 100 meta-updates: ``epoch``, ``iter``,
        ``train_loss``, ``train_acc`` (episode query accuracy), ``dur``, and
        with early stopping ``valid_loss`` and ``valid_acc``.
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

    When no class can supply ``n_shot + n_query`` samples, ``fit`` warns and
    draws smaller episodes, reported in ``episode_shape_``. Episodic
    evaluation (:meth:`adapt`, the episodic scorer) raises instead.

    Ctrl-C during ``fit`` or ``partial_fit`` stops after the current
    meta-update, computes the prototypes with the network as it is, warns
    and raises :class:`~sklearn_meta.exceptions.TrainingInterrupted` (a
    ``KeyboardInterrupt``): the estimator is fitted and consistent.

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
    >>> clf = ProtoNetClassifier(backbone="mlp", n_shot=5, max_iter=50, random_state=0)
    >>> clf.fit(X[y < 5], y[y < 5]).classes_
    array([0, 1, 2, 3, 4])
    >>> novel = clf.adapt(X[y >= 5][:25], y[y >= 5][:25])   # 5 new classes
    >>> novel.classes_
    array([5, 6, 7, 8, 9])
    >>> novel.score(X[y >= 5][25:], y[y >= 5][25:]) > 0.75
    True
    """

    _parameter_constraints: dict = {
        **BaseEpisodicClassifier._parameter_constraints,
        "backbone": [str, HasMethods(["build"]), nn.Module, HasMethods(["get_feature_extractor"])],
        "weights": [str, os.PathLike, None],
        "metric": [StrOptions({"euclidean", "cosine"})],
        "lr_decay_step": [Interval(Integral, 1, None, closed="left"), None],
    }

    _support_word = "prototype"

    def __init__(
        self,
        backbone="auto",
        *,
        weights=None,
        n_way=60,
        n_shot=1,
        n_query=5,
        metric="euclidean",
        max_iter="auto",
        meta_batch_size=1,
        lr=1e-3,
        lr_decay_step=None,
        batch_size=256,
        early_stopping="auto",
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        callbacks=None,
        input_shape=None,
        image_size=None,
        preprocess="auto",
        augment=None,
        rotation_classes=False,
        storage="auto",
        precision="float32",
        compile=False,
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
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.n_iter_no_change = n_iter_no_change
        self.tol = tol
        self.callbacks = callbacks
        self.input_shape = input_shape
        self.image_size = image_size
        self.preprocess = preprocess
        self.augment = augment
        self.storage = storage
        self.rotation_classes = rotation_classes
        self.precision = precision
        self.compile = compile
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ---------------------------------------------------------------- network
    def _build_module(self, input_shape, *, weights):
        features, _, pretrained = build_backbone(self.backbone, input_shape, weights=weights)
        return _Embedding(features), pretrained

    def _set_lr(self):
        if self.lr_decay_step is None:
            return
        lr = self.lr * 0.5 ** (self.n_iter_ // self.lr_decay_step)
        for group in self.optimizer_.param_groups:
            group["lr"] = lr

    def _episode_loss(self, X_t, s_idx, s_y, q_idx, q_y, n_way):
        n_s = s_idx.shape[-1]
        rows = torch.cat([s_idx, q_idx], dim=1)  # (E, S + Q)
        z = self.module_(self._training_rows(X_t, rows.reshape(-1))).view(*rows.shape, -1)
        logits = episode_logits(z[:, :n_s], s_y, z[:, n_s:], n_way, self.metric)
        return F.cross_entropy(logits.reshape(-1, n_way), q_y.reshape(-1)), logits

    # ------------------------------------------------------------- prototypes
    @at_precision
    def _embed_tensor(self, X_t):
        """Embed a device tensor in eval mode, in fixed-size chunks."""
        self.module_.eval()
        chunk = int(self.batch_size)
        with torch.inference_mode():
            return torch.cat(
                [self.module_(X_t[i : i + chunk]) for i in range(0, X_t.shape[0], chunk)]
            )

    def _set_support(self, X_t, y_t, present, first=True):
        """Prototypes of the classes in ``present`` from the rows of ``(X_t, y_t)``."""
        z = self._embed_tensor(X_t).double()
        protos = class_means(z, y_t, len(self.classes_)).cpu().numpy()
        if first or getattr(self, "prototypes_", None) is None:
            # classes not seen yet have no prototype: NaN, never predicted
            self.prototypes_ = np.full_like(protos, np.nan)
        else:
            self.prototypes_ = self.prototypes_.copy()
        self.prototypes_[present] = protos[present]

    def _derived_state(self):
        return {"prototypes": torch.from_numpy(self.prototypes_.copy())}

    def _check_derived_state(self, derived):
        saved = derived.get("prototypes")
        if saved is not None and tuple(saved.shape) != self.prototypes_.shape:
            return (f"its prototypes have shape {tuple(saved.shape)}, this model's "
                    f"{self.prototypes_.shape}")
        return None

    def _after_load_params(self, derived):
        if self._run is not None:
            return  # inside fit (LoadInitState): the prototypes come at its end
        if "prototypes" in derived:
            self.prototypes_ = derived["prototypes"].cpu().numpy().copy()
            return
        warnings.warn(
            "load_params changed the embedding; prototypes_ still come from the "
            "previous one. Call partial_fit, or adapt on support data, to refresh them.",
            UserWarning,
            stacklevel=3,
        )

    def _logits_fn(self):
        protos = torch.as_tensor(self.prototypes_, device=self.device_)

        def logits(xb):
            scores = prototype_logits(self.module_(xb).double(), protos, self.metric)
            # a class without prototype (not yet seen by partial_fit) is never predicted
            return scores.nan_to_num(nan=-torch.inf)

        return logits

    def _predict_logits(self, xb):
        return self._logits_fn()(xb)

    def _embed(self, xb):
        return self.module_(xb)

    def _episode_logits(self, X_t, s_idx, s_y, q_idx, n_way):
        """Logits of a batch of episodes; every row of ``X_t`` is embedded once."""
        z = self._embed_tensor(X_t).double()
        return episode_logits(z[s_idx], s_y, z[q_idx], n_way, self.metric)

    def __sklearn_is_fitted__(self):
        return getattr(self, "prototypes_", None) is not None

    def _predictable_classes(self):
        # a class partial_fit has not seen yet has no prototype
        return self.classes_[np.isfinite(self.prototypes_).all(axis=1)]

    @property
    def _n_features_out(self):
        return self.prototypes_.shape[1]
