"""Reptile (Nichol, Achiam and Schulman, 2018)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .._devices import make_optimizer
from ._gradient import BaseGradientClassifier
from ._inner import map_tasks, task_slices

__all__ = ["ReptileClassifier"]


class ReptileClassifier(BaseGradientClassifier):
    """Reptile: move the initialisation toward the weights each task trains to.

    For every episode of a meta-batch, the network is trained by
    ``n_inner_steps`` steps of gradient descent on the episode's samples
    (support and query together: Reptile needs no split); the
    initialisation then moves a step ``lr`` toward the mean of the trained
    weights. No second derivatives are needed, and the inner loop is the one
    :class:`MAMLClassifier` uses, so everything else (any number of classes,
    :meth:`adapt`, episodic scoring, ``n_adapt_steps``) works the same.

    Parameters
    ----------
    backbone : str, backbone config, torch.nn.Module or fitted estimator, default="auto"
        The network trained in the inner loop: ``"auto"`` (a conv4 with
        instance normalisation for images, ``"mlp"`` for rows), a name, a config,
        a module (copied) or a fitted sklearn_meta estimator. Batch-norm
        layers run with their stored statistics, so an untrained batch-norm
        backbone is refused.
    weights : str, path-like or None, default=None
        Starting weights for the backbone: torchvision weights name or local
        state-dict file.
    n_way : int, default=5
        Classes per training episode.
    n_shot : int, default=1
        Support samples per class in a training episode.
    n_query : int, default=5
        Query samples per class in a training episode; Reptile trains on
        them too, so an episode holds ``n_shot + n_query`` samples a class.
    n_inner_steps : int, default=5
        Gradient steps on each episode in meta-training.
    inner_lr : float, default=0.1
        Step size of the inner loop. Measured (benchmarks/README.md,
        "Reptile defaults"): on Omniglot 5-way 1-shot after 100 meta-updates,
        62.6 ± 1.7 % against 62.0 ± 1.7 % with 0.4; on digits 0.4 collapses
        with longer training (novel-class accuracy 0.48 against 0.80).
    n_adapt_steps : int or None, default=None
        Gradient steps when adapting to new data (:meth:`adapt`, episodic
        scoring, the training classes after ``fit``, at the first
        prediction or :meth:`build_head`). None uses ``n_inner_steps``.
    head_init : {"proto", "zero"}, default="proto"
        How each task's head starts: from the class means (a prototypical
        classifier) or at zero.
    max_iter : int or "auto", default="auto"
        Meta-updates run by ``fit``. ``"auto"`` runs enough to draw every
        training sample about 50 times, at most 2,000.
    meta_batch_size : int, default=5
        Episodes averaged in each meta-update.
    lr : float, default=1.0
        Outer step size: the initialisation moves this fraction of the way
        to the mean of the trained weights (1.0: all the way).
    batch_size : int, default=256
        Rows processed at once when adapting to large data and predicting.
    vectorize : "auto" or bool, default="auto"
        Run the tasks of a meta-batch through one :func:`torch.func.vmap`
        call (True) or one after another (False). ``"auto"`` vectorises on
        CUDA, and on the CPU for networks without convolutions: there vmap
        is 6-12x faster for an MLP, and no faster than a loop for a conv4.
    task_chunk_size : int or None, default=None
        With vectorisation, episodes per vmap call (bounds memory).
    early_stopping : "auto" or bool, default="auto"
        Hold out a share ``validation_fraction`` of the classes and stop when
        the episodic accuracy on them stops improving (see
        :class:`MAMLClassifier`). ``"auto"``: above 10,000 samples.
    validation_fraction : float, default=0.1
        Share of the classes held out for early stopping.
    n_iter_no_change : int, default=10
        Validation checks without improvement before training stops.
    tol : float, default=1e-4
        Improvement of the validation accuracy that counts.
    callbacks : list of skorch callbacks or None, default=None
        skorch callback objects; an epoch is a block of 100 meta-updates.
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
        the optimiser stay float32, and losses, softmax, reductions, the task
        heads and the inner-loop losses are computed in float32. It is for
        GPUs, where it has not been measured yet. On the CPU (with AMX) it did
        not pay: a conv4 meta-trained on Omniglot for 100 meta-updates (with
        scoring) took 2.3x its float32 time, 5-way 1-shot 72.1 % against 73.7
        %. ``"fp16"``: float16 autocast with a gradient scaler, for GPUs
        without bfloat16 (CUDA only: a ``ValueError`` on the CPU). See
        benchmarks/README.md, "Precision".
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where to train; ``"auto"`` picks CUDA when present.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation and episode sampling.
    verbose : int, default=0
        Show a progress bar.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
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
        The meta-learned initialisation (``module_.features``).
    optimizer_ : torch.optim.Optimizer
        The outer SGD optimiser.
    pretrained_ : bool
        Whether the backbone started from learned weights.
    episode_shape_ : tuple of int
        ``(n_way, n_shot, n_query)`` of the training episodes drawn.
    max_iter_ : int
        The meta-updates ``fit`` aimed for.
    validation_scores_ : list of float or None
        Episodic accuracy on the held-out classes per block of 100
        meta-updates; None without early stopping.
    best_validation_score_ : float or None
        The best of ``validation_scores_``.
    validation_classes_ : ndarray
        The classes held out for early stopping (only with early stopping).
    callbacks_ : list of (str, callback)
        The callbacks of the last fit, initialised.
    history_ : skorch.history.History
        Per block of up to 100 meta-updates: ``train_loss`` and
        ``train_acc`` are those of the query samples after the inner steps
        (which trained on them).
    n_iter_ : int
        Meta-updates run so far.

    See Also
    --------
    MAMLClassifier : Second-order, first-order, ANIL and Meta-SGD.

    References
    ----------
    .. [1] Nichol, A., Achiam, J. and Schulman, J. "On first-order
       meta-learning algorithms", arXiv:1803.02999, 2018.

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_meta import ReptileClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16.0
    >>> clf = ReptileClassifier(n_shot=5, max_iter=30, random_state=0)
    >>> clf.fit(X[y < 5], y[y < 5]).classes_
    array([0, 1, 2, 3, 4])
    >>> novel = clf.adapt(X[y >= 5][:25], y[y >= 5][:25])
    >>> novel.score(X[y >= 5][25:], y[y >= 5][25:]) > 0.75
    True
    """

    def __init__(
        self,
        backbone="auto",
        *,
        weights=None,
        n_way=5,
        n_shot=1,
        n_query=5,
        n_inner_steps=5,
        inner_lr=0.1,
        n_adapt_steps=None,
        head_init="proto",
        max_iter="auto",
        meta_batch_size=5,
        lr=1.0,
        batch_size=256,
        vectorize="auto",
        task_chunk_size=None,
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
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.backbone = backbone
        self.weights = weights
        self.n_way = n_way
        self.n_shot = n_shot
        self.n_query = n_query
        self.n_inner_steps = n_inner_steps
        self.inner_lr = inner_lr
        self.n_adapt_steps = n_adapt_steps
        self.head_init = head_init
        self.max_iter = max_iter
        self.meta_batch_size = meta_batch_size
        self.lr = lr
        self.batch_size = batch_size
        self.vectorize = vectorize
        self.task_chunk_size = task_chunk_size
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
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _make_optimizer(self):
        return make_optimizer(torch.optim.SGD, self.module_.parameters(), self.device_, lr=self.lr)

    def _meta_update(self, X_t, s_idx, s_y, q_idx, q_y, n_way):
        """Reptile's outer step: the gradient is ``theta - mean(trained weights)``."""
        engine = self._engine()
        vec = self._vectorized()
        n_tasks, n_s = s_idx.shape
        rows = torch.cat([s_idx, q_idx], dim=1)
        labels = torch.cat([s_y, q_y], dim=1)
        params = self._meta_params()
        meta = {k: p.detach() for k, p in params.items()}
        lrs = self._lrs(meta)
        names = list(meta)
        shift = {k: torch.zeros_like(p) for k, p in meta.items()}
        losses, logits = [], []

        def one(x, y, xq, yq):
            fast = engine.adapt(
                meta, lrs, x, y, n_way, self.n_inner_steps, first_order=True, detach_head=True
            )
            lg = engine.logits(fast, xq)
            return (*(fast[k] for k in names), F.cross_entropy(lg, yq), lg)

        with torch.no_grad():
            for sl in task_slices(n_tasks, vectorize=vec, chunk_size=self.task_chunk_size):
                # the query rows are the last of each task's rows: augmented once
                x = self._training_rows(X_t, rows[sl])
                out = map_tasks(one, x, labels[sl], x[:, n_s:], q_y[sl], vectorize=vec)
                for k, trained in zip(names, out[: len(names)]):
                    shift[k] += (meta[k] - trained).sum(0) / n_tasks
                losses.append(out[-2])
                logits.append(out[-1])
        for k, p in params.items():
            p.grad = shift[k]
        self.optimizer_.step()
        return torch.cat(losses).mean(), torch.cat(logits)
