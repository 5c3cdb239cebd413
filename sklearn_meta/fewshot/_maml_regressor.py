"""MAML for regression tasks named by ``groups`` (Finn et al. 2017, section 5.1)."""

from __future__ import annotations

import math
import warnings
from collections import defaultdict

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .._base import fit_guard
from .._devices import module_lock
from .._inputs import encode_groups, rows_of
from .._precision import at_precision
from .._regressor import BaseTorchRegressor
from .._sklearn import fit_context
from .._training import data_key
from ..backbones import Conv4Backbone, MLPBackbone, build_backbone
from ._base import EpisodicTraining, TaskData
from ._gradient import INNER_LOOP_CONSTRAINTS, InnerLoopEstimator, _MetaNet, _step_sizes
from ._inner import RegressionTasks, check_adaptation, map_tasks, task_slices

__all__ = ["MAMLRegressor"]

#: predictions beyond the targets' range by more than this many times its width warn
_RANGE_FACTOR = 10.0


class _RegressionNet(_MetaNet):
    """Features and a one-output head, all meta-learned (see _MetaNet)."""

    def __init__(self, features, n_features, *, inner_lr=None, learn_inner_lr=False):
        super().__init__(features, n_features)
        self.head = nn.Linear(self.n_features, 1)
        if learn_inner_lr:
            self.inner_lrs = _step_sizes(self.body_parameters(), inner_lr)

    def body_parameters(self):
        return [p for name, p in self.named_parameters() if not name.startswith("inner_lrs")]

    def forward(self, x):
        return self.head(self.features(x))


def _squared_errors(pred, target):
    """Squared error, squared deviation from the mean, and mean squared error of one task."""
    pred, target = pred.double(), target.double()
    sse = ((pred - target) ** 2).sum()
    return sse, ((target - target.mean()) ** 2).sum(), sse / len(target)


class MAMLRegressor(InnerLoopEstimator, EpisodicTraining, BaseTorchRegressor):
    """MAML for regression: an initialisation that fits a new task in a few steps.

    The rows of ``X`` belong to tasks named by ``groups`` (scikit-learn's
    group convention). ``fit`` meta-trains on K-shot tasks: each draws a
    group and ``n_shot`` support and ``n_query`` query rows of it, adapts
    the network to the support rows by ``n_inner_steps`` gradient steps on
    the squared error, and the initialisation is updated (Adam) to lower the
    error of the adapted networks on the query rows. :meth:`adapt` fits one
    new task from a few of its rows and returns a new estimator, leaving
    this one untouched.

    Parameters
    ----------
    backbone : str, backbone config, torch.nn.Module or fitted estimator, default="auto"
        The features under the one-output head. ``"auto"`` is the network of
        Finn et al. for rows (two hidden layers of 40 ReLU units) and a conv4
        with instance normalisation for images. Batch-norm layers run with
        their stored statistics, so an untrained batch-norm backbone is
        refused.
    weights : str, path-like or None, default=None
        Starting weights for the backbone: torchvision weights name or local
        state-dict file.
    n_shot : int, default=10
        Support rows per training task (the K of K-shot).
    n_query : int, default=10
        Query rows per training task. Groups with fewer than ``n_shot +
        n_query`` rows are left out of the training tasks, with a warning.
    n_inner_steps : int, default=1
        Gradient steps on the support rows in meta-training.
    inner_lr : float, default=0.01
        Step size of the inner loop (Finn et al.: 0.01).
    n_adapt_steps : int or None, default=None
        Gradient steps when fitting a new task (:meth:`adapt`, and the end of
        ``fit``). None uses ``n_inner_steps``; it is read when the
        adaptation runs.
    first_order : bool, default=False
        Ignore the second derivatives through the inner steps.
    learn_inner_lr : bool, default=False
        Meta-SGD: learn a step size for every parameter entry.
    max_iter : int or "auto", default="auto"
        Meta-updates run by ``fit``. ``"auto"`` runs enough to draw every
        training row about 50 times, at most 2,000 (``max_iter_``).
    meta_batch_size : int, default=25
        Tasks averaged in each meta-update (Finn et al.: 25).
    lr : float, default=1e-3
        Adam learning rate of the outer loop.
    batch_size : int, default=256
        Rows processed at once when adapting to many rows and predicting.
    vectorize : "auto" or bool, default="auto"
        Run the tasks of a meta-batch through one :func:`torch.func.vmap`
        call (True) or one after another (False). ``"auto"`` vectorises on
        CUDA, and on the CPU for networks without convolutions: there vmap
        is 6-12x faster for an MLP, and no faster than a loop for a conv4.
    task_chunk_size : int or None, default=None
        With vectorisation, tasks per vmap call (bounds memory).
    early_stopping : "auto" or bool, default=False
        Hold out a share ``validation_fraction`` of the tasks (whole
        groups), score them every 100 meta-updates, stop as
        ``n_iter_no_change`` says and keep the best initialisation. The
        score is the R² after adaptation on the held-out tasks: each task's
        rows are split once per fit (from the fit's seed) into ``n_shot``
        support rows, to which the initialisation is adapted as
        :meth:`adapt` does, and the other rows, which the adapted model
        predicts; the R² is that of all these predictions together, each
        task's rows measured against their own mean (``1 - total squared
        error / total squared deviation``), so that a task of small
        variance does not swamp it. It needs at least 2 groups, one of them
        with ``n_shot + 2`` rows or more. ``"auto"`` turns it on above
        10,000 training rows. ``partial_fit`` never stops early.
    validation_fraction : float, default=0.1
        Share of the tasks held out for early stopping (at least 1).
    n_iter_no_change : int, default=10
        Training stops once more than this many validation checks in a row
        have not improved the best score by ``tol``.
    tol : float, default=1e-4
        Improvement of the validation R² that counts.
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
        inner-loop losses are computed in float32. It is for GPUs, where it
        has not been measured yet. On sinusoid tasks (an MLP) it gains nothing
        on the CPU (1.7 s against 1.2 s for 300 meta-updates), and the 5-shot
        mean squared error was 2.770 against 2.769. ``"fp16"``: float16
        autocast with a gradient scaler, for GPUs without bfloat16 (CUDA only:
        a ``ValueError`` on the CPU). See benchmarks/README.md, "Precision".
    device : {"auto", "cpu", "cuda"}, default="auto"
        Where to train; ``"auto"`` picks CUDA when present.
    random_state : int, RandomState instance or None, default=None
        Seeds initialisation and task sampling.
    verbose : int, default=0
        Show a progress bar with the query loss.

    Attributes
    ----------
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
        The meta-learned initialisation (``module_.features``,
        ``module_.head``; with Meta-SGD ``module_.inner_lrs``).
    optimizer_ : torch.optim.Optimizer
        Kept so ``partial_fit`` continues where it stopped.
    pretrained_ : bool
        Whether the backbone started from learned weights.
    n_groups_ : int
        Number of tasks (groups) in the last training data.
    episode_shape_ : tuple of int
        ``(1, n_shot, n_query)`` of the training tasks drawn.
    max_iter_ : int
        The meta-updates ``fit`` aimed for.
    callbacks_ : list of (str, callback)
        The callbacks of the last fit, initialised.
    history_ : skorch.history.History
        Per block of up to 100 meta-updates: ``iter``, ``train_loss`` (query
        mean squared error after adaptation) and ``dur``; with early stopping
        ``valid_loss`` (the mean over the held-out tasks of the squared
        error after adaptation), ``valid_acc`` (their R², the score early
        stopping follows, under the name every estimator of the package
        gives its validation score) and their ``*_best``.
    n_iter_ : int
        Meta-updates run so far.
    validation_scores_ : list of float or None
        The R² on the held-out tasks at every check (see
        ``early_stopping``); None without early stopping.
    best_validation_score_ : float or None
        The best of them, whose initialisation was kept.
    validation_groups_ : ndarray
        The groups held out for early stopping (set only with it).

    See Also
    --------
    MAMLClassifier : The same algorithm for classification episodes.
    sklearn_meta.datasets.make_sinusoids : The sinusoid tasks of Finn et al.

    Notes
    -----
    ``fit`` ends, as every estimator of the package does, ready to predict
    on data like ``X``: its model is the initialisation adapted with
    ``n_adapt_steps`` full-batch steps to all of ``(X, y)``. With several
    tasks that is an average of them; what MAML is for is :meth:`adapt`.

    Without ``groups`` every row is taken to come from one task, with a
    warning. In a :class:`~sklearn.pipeline.Pipeline` or a search, groups
    reach ``fit`` through metadata routing:
    ``sklearn.set_config(enable_metadata_routing=True)`` and
    ``MAMLRegressor().set_fit_request(groups=True)``.

    References
    ----------
    .. [1] Finn, C., Abbeel, P. and Levine, S. "Model-agnostic meta-learning
       for fast adaptation of deep networks", ICML 2017.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_meta import MAMLRegressor
    >>> from sklearn_meta.datasets import make_sinusoids
    >>> X, y, groups = make_sinusoids(n_tasks=200, n_samples=20, random_state=0)
    >>> reg = MAMLRegressor(max_iter=200, random_state=0).fit(X, y, groups=groups)
    >>> X_new, y_new, _ = make_sinusoids(n_tasks=1, n_samples=60, random_state=1)
    >>> task = reg.adapt(X_new[:10], y_new[:10])          # 10 rows of a new task
    >>> task.predict(X_new[10:]).shape
    (50,)
    """

    _parameter_constraints: dict = {
        **BaseTorchRegressor._parameter_constraints,
        **EpisodicTraining._parameter_constraints,
        **INNER_LOOP_CONSTRAINTS,
        "first_order": ["boolean"],
        "learn_inner_lr": ["boolean"],
    }

    _build_param_names = ("backbone", "learn_inner_lr")
    _class_word = "group"
    _train_score_key = None

    def __init__(
        self,
        backbone="auto",
        *,
        weights=None,
        n_shot=10,
        n_query=10,
        n_inner_steps=1,
        inner_lr=0.01,
        n_adapt_steps=None,
        first_order=False,
        learn_inner_lr=False,
        max_iter="auto",
        meta_batch_size=25,
        lr=1e-3,
        batch_size=256,
        vectorize="auto",
        task_chunk_size=None,
        early_stopping=False,
        validation_fraction=0.1,
        n_iter_no_change=10,
        tol=1e-4,
        callbacks=None,
        input_shape=None,
        image_size=None,
        preprocess="auto",
        augment=None,
        storage="auto",
        precision="float32",
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.backbone = backbone
        self.weights = weights
        self.n_shot = n_shot
        self.n_query = n_query
        self.n_inner_steps = n_inner_steps
        self.inner_lr = inner_lr
        self.n_adapt_steps = n_adapt_steps
        self.first_order = first_order
        self.learn_inner_lr = learn_inner_lr
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
        self.precision = precision
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ---------------------------------------------------------------- network
    def _build_module(self, input_shape, *, weights):
        backbone = self.backbone
        if isinstance(backbone, str) and backbone == "auto":
            backbone = (
                Conv4Backbone(norm="instance") if len(input_shape) == 3 else MLPBackbone((40, 40))
            )
        features, n_features, pretrained = build_backbone(backbone, input_shape, weights=weights)
        module = _RegressionNet(
            features, n_features, inner_lr=self.inner_lr, learn_inner_lr=self.learn_inner_lr
        )
        return module, pretrained

    def _episode_way(self):
        return 1

    def _engine(self):
        body = self.module_
        with module_lock(body):
            return RegressionTasks(body, dict(body.named_buffers()))

    def _meta_params(self):
        # under the lock: a functional call in another thread swaps them
        with module_lock(self.module_):
            named = self.module_.named_parameters()
            return {k: p for k, p in named if not k.startswith("inner_lrs")}

    def _lrs(self, names, *, detach=False):
        lrs = self.module_.inner_lrs
        if lrs is None:
            return {k: self.inner_lr for k in names}
        return {k: (v.detach() if detach else v) for k, v in zip(names, lrs)}

    # ---------------------------------------------------------------- fitting
    def _groups(self, groups, n):
        if groups is None:
            warnings.warn(
                "MAMLRegressor.fit got no groups: every row is taken to come from one "
                "task, so nothing is meta-learned across tasks. Pass groups= (the task of "
                "each row); in a Pipeline or a search, enable metadata routing and call "
                "set_fit_request(groups=True).",
                UserWarning,
                stacklevel=4,
            )
            return np.zeros(n, dtype=np.int64), np.array([0])
        return encode_groups(groups, n)

    @fit_guard(partial=False)
    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, groups=None):
        """Meta-train on the tasks of ``(X, y)`` named by ``groups``, then adapt to all of it.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, [C,] H, W)
            Training inputs.
        y : array-like of shape (n_samples,) or None, default=None
            Real-valued targets; None when ``X`` is a dataset of ``(image,
            target, group)`` items.
        groups : array-like of shape (n_samples,), default=None
            The task of each row (a dataset ``X`` gives them). None takes all
            rows as one task (with a warning).

        Returns
        -------
        self : object
            The fitted estimator.
        """
        X, y, task = self._unpack_dataset(X, y, n_extra=1)
        groups = task if groups is None else groups
        X, y = self._validate_X_y(X, y)
        y = self._encode_y(y)
        codes, names = self._groups(groups, len(y))
        self._initialize(X.shape[1:])
        self.n_groups_ = len(names)
        X_t, y_t, g_t = self._device_data(X, y.astype(np.float32), codes)
        data, tasks, validate, train_names = TaskData(X_t, y_t), g_t, None, names
        if self._early_stopping_on(len(y)) and self.optimizer_ is not None:
            held_out = self._hold_out_tasks(X_t, y_t, codes, names)
            if held_out is not None:
                self._start_early_stopping()
                train, validate = held_out
                rows = torch.from_numpy(np.flatnonzero(train[codes])).to(self.device_)
                # re-encode the training groups to 0..k-1, as the sampler wants
                recode = torch.from_numpy(np.cumsum(train) - 1).to(self.device_)
                data = TaskData(rows_of(X_t, rows), y_t[rows])
                tasks, train_names = recode[g_t[rows]], names[train]
        n_train = len(tasks)
        self._meta_train(
            data,
            tasks,
            lambda: self._resolve_max_iter(n_train),
            validate=validate,
            X=X,
            y=y,
            data_key=data_key(X, np.stack([y, codes])),
            class_names=train_names,
        )
        del data, tasks, validate
        self._set_support(X_t, y_t)
        return self

    def _hold_out_tasks(self, X_t, y_t, codes, names):
        """Hold out whole tasks for early stopping: ``(train_mask, validate)``, or None.

        Each held-out task's rows are split once (from the fit's seed) into
        ``n_shot`` support rows and the rest; ``validate()`` adapts to the
        support rows as :meth:`adapt` does and returns the mean squared error
        and the mean R² on the rest. Only tasks with ``n_shot + 2`` rows or
        more are held out. None: early stopping is ``"auto"`` and no task can
        be held out.
        """
        n_groups = len(names)
        sizes = np.bincount(codes, minlength=n_groups)
        eligible = np.flatnonzero(sizes >= self.n_shot + 2)
        n_val = min(
            len(eligible), n_groups - 1, max(1, round(self.validation_fraction * n_groups))
        )
        if n_val < 1:
            if self.early_stopping == "auto":
                return None
            raise ValueError(
                "early_stopping=True holds out whole tasks (groups) for validation: it "
                f"needs at least 2 groups, one of them with n_shot + 2 = {self.n_shot + 2} "
                f"rows or more (n_shot to adapt to, the others to score); got {n_groups} "
                f"group(s), the largest with {sizes.max()} rows. Pass groups=, lower "
                "n_shot, or set early_stopping=False."
            )
        rng = check_random_state(self._seed)
        held = np.sort(rng.permutation(eligible)[:n_val])
        self.validation_groups_ = names[held]
        rows, tasks, start = [], [], 0
        for g in held:
            members = rng.permutation(np.flatnonzero(codes == g))
            local = torch.arange(start, start + len(members), device=self.device_)
            rows.append(members)
            tasks.append((local[: self.n_shot], local[self.n_shot :]))
            start += len(members)
        rows = torch.from_numpy(np.concatenate(rows)).to(self.device_)
        X_val, y_val = rows_of(X_t, rows), y_t[rows]

        def validate():
            preds = self._adapted_predictions(X_val, y_val, tasks)
            sse, sst, mse = (
                torch.stack(v)
                for v in zip(*(_squared_errors(p, y_val[q]) for p, (_, q) in zip(preds, tasks)))
            )
            # R² of all query rows together, each task's measured against its
            # own mean: a task of tiny variance cannot swamp it, as it would a
            # mean of per-task R²s (which fell while this rose, on sinusoids)
            loss, r2 = mse.mean(), 1 - sse.sum() / sst.sum().clamp_min(1e-300)
            if not (torch.isfinite(loss) and torch.isfinite(r2)):
                return np.inf, -np.inf  # diverged: never a best score
            return loss.item(), r2.item()

        keep = np.ones(n_groups, dtype=bool)
        keep[held] = False
        return keep, validate

    @fit_guard(partial=True)
    @fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, groups=None):
        """Meta-train further on ``(X, y)``, building the model on the first call.

        One call runs ``ceil(n_samples / (n_shot + n_query))`` meta-updates,
        then adapts the initialisation to ``(X, y)`` as ``fit`` does.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Training inputs.
        y : array-like of shape (n_samples,) or None, default=None
            Real-valued targets; None when ``X`` is a dataset of ``(image,
            target, group)`` items.
        groups : array-like of shape (n_samples,), default=None
            The task of each row (a dataset ``X`` gives them). None takes all
            rows as one task.

        Returns
        -------
        self : object
            The updated estimator.
        """
        first = not self.__sklearn_is_fitted__()
        X, y, task = self._unpack_dataset(X, y, n_extra=1)
        groups = task if groups is None else groups
        X, y = self._validate_X_y(X, y, reset=first)
        y = self._encode_y(y)
        codes, names = self._groups(groups, len(y))
        self._begin_partial_fit(first, X.shape[1:])
        self.n_groups_ = len(names)
        X_t, y_t, g_t = self._device_data(X, y.astype(np.float32), codes)
        n_updates = max(1, math.ceil(len(y) / (self.n_shot + self.n_query)))
        self._meta_train(
            TaskData(X_t, y_t),
            g_t,
            lambda: self.n_iter_ + n_updates,
            X=X,
            y=y,
            data_key=data_key(X, np.stack([y, codes])),
            class_names=names,
        )
        self._set_support(X_t, y_t)
        return self

    def _train_score(self, out, q_y):
        return out.new_zeros(())

    def _task_loss(self, engine, meta, lrs, n_way, *, steps=None):
        steps = self.n_inner_steps if steps is None else steps

        def one(xs, ys, xq, yq):
            return engine.query_loss(
                meta, lrs, xs, ys, xq, yq, steps, first_order=self.first_order
            )

        return one

    def _task_rows(self, data, s_idx, s_y, q_idx, q_y, sl):
        X_t, y_t = data
        rows = self._training_rows
        return rows(X_t, s_idx[sl]), y_t[s_idx[sl]], rows(X_t, q_idx[sl]), y_t[q_idx[sl]]

    # --------------------------------------------------------------- adapting
    @at_precision
    def _set_support(self, X_t, y_t, what="the data"):
        """The initialisation adapted to ``(X_t, y_t)`` by ``n_adapt_steps`` full-batch steps.

        The targets' range is kept: predictions far outside it warn (see
        :meth:`predict`).
        """
        meta = {k: p.detach() for k, p in self._meta_params().items()}
        n, chunk = X_t.shape[0], int(self.batch_size)
        chunks = [(slice(i, i + chunk), min(chunk, n - i) / n) for i in range(0, n, chunk)]
        engine = self._engine()
        steps = self._adapt_steps()
        with torch.no_grad():
            fast = engine.adapt(
                meta, self._lrs(meta, detach=True), X_t, y_t, steps, first_order=True,
                chunks=chunks,
            )
        self._store_fast(fast, meta, what)
        if steps:
            # has the loss grown far above where it started? On the first chunk of rows
            rows = slice(0, chunk)
            with torch.no_grad():
                before = F.mse_loss(engine.predict(meta, X_t[rows]), y_t[rows])
                after = F.mse_loss(engine.predict(fast, X_t[rows]), y_t[rows])
            check_adaptation(before, after, float(y_t[rows].var(correction=0)), what)
        low, high = float(y_t.min()), float(y_t.max())
        if "_target_range" in vars(self):
            low, high = min(low, self._target_range[0]), max(high, self._target_range[1])
        self._target_range = (low, high)

    def adapt(self, X, y=None):
        """A new estimator fitted to one new task from a few of its rows.

        The initialisation takes ``n_adapt_steps`` gradient steps on ``(X,
        y)``. The new estimator shares this one's network copy-on-write, so
        neither ever changes the other.

        Parameters
        ----------
        X : array-like of shape (n_support, ...), sequence of images or dataset
            A few inputs of the new task.
        y : array-like of shape (n_support,) or None, default=None
            Their targets; None when ``X`` is a dataset of ``(image, target)``
            pairs.

        Returns
        -------
        MAMLRegressor
            A fitted estimator that predicts the new task.
        """
        check_is_fitted(self)
        self._validate_params()  # n_adapt_steps, inner_lr may have been set since fit
        X, y = self._unpack_dataset(X, y)
        if y is None:
            raise ValueError("adapt needs the targets y of the new task's rows.")
        X = self._validate_X(X, reset=False)
        y = self._encode_y(y)
        if len(y) != X.shape[0]:
            raise ValueError(f"X has {X.shape[0]} rows but y has {len(y)}.")
        new = self._adapted_copy()
        X_t, y_t = self._device_data(X, y.astype(np.float32))
        new._set_support(X_t, y_t, "this task")
        return new

    @at_precision
    def _adapted_predictions(self, X_t, y_t, tasks):
        """The query predictions of each task after adapting to its support rows.

        ``tasks`` is a list of ``(support, query)`` index tensors into the
        device tensors ``X_t`` and ``y_t``. Each task takes the steps
        :meth:`adapt` takes; tasks of the same shape go through one vmap
        call (in chunks of ``task_chunk_size``, else ``meta_batch_size``)
        where the meta-batches do.
        """
        engine = self._engine()
        meta = {k: p.detach() for k, p in self._meta_params().items()}
        lrs = self._lrs(meta, detach=True)
        steps = self._adapt_steps()
        vec = self._vectorized()

        def one(xs, ys, xq):
            return engine.predict(engine.adapt(meta, lrs, xs, ys, steps, first_order=True), xq)

        by_shape = defaultdict(list)
        for i, (s_rows, q_rows) in enumerate(tasks):
            by_shape[(len(s_rows), len(q_rows))].append(i)
        out = [None] * len(tasks)
        chunk = self.task_chunk_size or self.meta_batch_size
        with torch.no_grad():
            for members in by_shape.values():
                s_idx = torch.stack([tasks[i][0] for i in members])
                q_idx = torch.stack([tasks[i][1] for i in members])
                for sl in task_slices(len(members), vectorize=vec, chunk_size=chunk):
                    xs, ys, xq = X_t[s_idx[sl]], y_t[s_idx[sl]], X_t[q_idx[sl]]
                    pred = map_tasks(one, xs, ys, xq, vectorize=vec)
                    for i, p in zip(members[sl], pred):
                        out[i] = p
        return out

    def _predict_tasks(self, X, y, tasks):
        """Adapt to the support rows of each task and predict its query rows (scoring).

        The fast path of :func:`~sklearn_meta.model_selection.evaluate_episodes`
        for regressors: the same predictions as ``adapt(X[s], y[s]).predict(X[q])``
        for each task, without an estimator per task.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            The rows the tasks index.
        y : array-like of shape (n_samples,)
            Their targets (only the support rows' are read).
        tasks : list of (ndarray, ndarray)
            The support and the query rows of each task.

        Returns
        -------
        list of ndarray
            The predictions for the query rows of each task.
        """
        check_is_fitted(self)
        self._validate_params()
        y = self._encode_y(y)
        used = np.unique(np.concatenate([np.concatenate([s, q]) for s, q in tasks]))
        X_t, y_t = self._device_data(self._validate_rows(X, used), y[used].astype(np.float32))
        def where(rows):
            return torch.from_numpy(np.searchsorted(used, rows)).to(self.device_)

        local = [(where(s), where(q)) for s, q in tasks]
        preds = [p.double().cpu().numpy() for p in self._adapted_predictions(X_t, y_t, local)]
        if not all(np.isfinite(p).all() for p in preds):
            raise ValueError(
                "Adapting to the support rows of a task diverged: its predictions are not "
                "finite. Lower inner_lr or n_adapt_steps, or scale the inputs (e.g. "
                "StandardScaler)."
            )
        return preds

    def predict(self, X):
        """Predict the target of each sample.

        A model whose predictions fall far outside the range of the targets
        it was fitted and adapted to (beyond it by more than ten times its
        width) warns: its adaptation most likely diverged (``inner_lr`` or
        ``n_adapt_steps`` too large for the data), or ``X`` lies far from
        the inputs it learned from.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Samples shaped as in ``fit``.

        Returns
        -------
        ndarray of shape (n_samples,)
            Predicted values.
        """
        pred = super().predict(X)
        if "_target_range" not in vars(self):
            return pred  # a model saved by an earlier release
        low, high = self._target_range
        margin = _RANGE_FACTOR * ((high - low) or max(abs(high), 1.0))
        outside = (pred < low - margin) | (pred > high + margin)
        if outside.any():
            worst = pred[outside][np.argmax(np.abs(pred[outside]))]
            warnings.warn(
                f"{outside.mean():.0%} of the predictions lie far outside the range of the "
                f"targets this model was fitted and adapted to, [{low:.4g}, {high:.4g}] "
                f"(e.g. {worst:.4g}): its adaptation most likely diverged. Lower inner_lr "
                "or n_adapt_steps, or scale the inputs and targets; or X lies far from "
                "the inputs it learned from.",
                UserWarning,
                stacklevel=2,
            )
        return pred

    # ------------------------------------------------------------- inference
    def _values_fn(self):
        engine = self._engine()
        fast = self._fast_params()

        def values(xb):
            return engine.predict(fast, xb)

        return values

    def _embed(self, xb):
        fast = self._fast_params()
        feats = {k[len("features.") :]: v for k, v in fast.items() if k.startswith("features.")}
        with module_lock(self.module_):
            buffers = {
                k[len("features.") :]: v
                for k, v in self.module_.named_buffers()
                if k.startswith("features.")
            }
            return torch.func.functional_call(self.module_.features, (feats, buffers), (xb,))

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # a few gradient steps from a meta-learned start: not a strong learner
        # of an arbitrary single regression problem
        tags.regressor_tags.poor_score = True
        return tags
