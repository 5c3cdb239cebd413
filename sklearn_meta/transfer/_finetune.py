"""Fine-tuning a (pretrained) backbone with a new linear head."""

from __future__ import annotations

import os
from numbers import Integral, Real

import torch
import torch.nn.functional as F
from torch import nn

from .._base import fit_guard
from .._classifier import BaseTorchClassifier
from .._inputs import batch_to, uses_batch_statistics
from .._sklearn import HasMethods, Interval, StrOptions, fit_context
from .._training import data_key
from ..backbones import build_backbone, module_blocks
from ._minibatch import HeadNet, MinibatchEstimator, batch_bounds, validation_pass

__all__ = ["FineTuneClassifier"]


class FineTuneClassifier(MinibatchEstimator, BaseTorchClassifier):
    """Fine-tune a pretrained backbone with a new linear head.

    A backbone (a torchvision model with its weights, a small built-in network,
    a ``torch.nn.Module``, or a fitted estimator of this package) gets a fresh
    linear head for the classes in ``y``. The backbone can be frozen whole or
    in part, unfrozen gradually, trained with a smaller learning rate than the
    head, and pulled toward its pretrained weights with the L2-SP penalty.

    Parameters
    ----------
    backbone : str, backbone config, torch.nn.Module or fitted estimator, default="auto"
        ``"auto"`` (``"conv4"`` for images, ``"mlp"`` for rows), ``"mlp"``,
        ``"conv4"``, any torchvision classification model name (``"resnet18"``),
        a config such as :class:`~sklearn_meta.backbones.MLPBackbone` (tunable
        as ``backbone__hidden``), a module (copied, never trained in place),
        or a fitted sklearn_meta estimator whose feature extractor is reused.
    weights : str or None, default=None
        Weights to start the backbone from: a torchvision weights name
        (``"DEFAULT"``, ``"IMAGENET1K_V1"``; needs a network the first time), or
        the path of a local state-dict file (loaded with ``weights_only=True``).
    freeze : {"none", "backbone"} or int, default="none"
        What is not trained at first: nothing, the whole backbone, or its first
        ``freeze`` blocks (convolutional stages, hidden layers). Frozen blocks
        keep their batch-norm statistics; a backbone frozen whole runs in
        eval mode and is embedded once (see Notes).
    unfreeze_at : int or None, default=None
        Number of epochs after which gradual unfreezing starts: from then
        on, one frozen block is released per epoch, the one nearest the head
        first (``history_`` epoch ``unfreeze_at + 1`` is the first with one
        block fewer frozen). None keeps frozen blocks frozen.
    backbone_lr : float or "auto", default="auto"
        Learning rate of the backbone as a ratio of ``lr``; ``"auto"`` is 0.1
        for a pretrained backbone and 1.0 for one trained from scratch.
        Pretrained means: ``weights`` given, or a backbone that is an
        ``nn.Module`` or a fitted estimator (they are taken to carry learned
        weights). For a freshly initialised ``nn.Module``, pass
        ``backbone_lr=1.0``. ``pretrained_`` tells which case applied.
    l2sp : float, default=0.0
        Strength alpha of the L2-SP penalty ``alpha / 2 * ||w - w0||^2``
        pulling the backbone toward its starting weights ``w0`` (Li et al. 2018).
    weight_decay : float, default=0.0
        L2 penalty on the head (beta in L2-SP).
    max_epochs : int or "auto", default="auto"
        Epochs run by ``fit``; an epoch is one pass over the training rows.
        ``"auto"``: enough epochs for at least 400 minibatch updates, and at
        least 10 (``max_epochs_`` says how many): 100 rows get 200 epochs,
        10,000 rows the 10 they always had. Measured on held-out rows
        (``benchmarks/finetune_training_length.py``): 100 rows of the digits
        score 67.4 % after 10 epochs (20 updates) and 89.9 % after 200; 1,258
        rows 96.4 % after 200 updates and 97.3 % after 400; sets that settle
        sooner (DeCAF, COIL-20, MNIST images) lose nothing. ``partial_fit``
        runs one.
    batch_size : int, default=64
        Minibatch size.
    lr : float, default=1e-3
        Learning rate of the head (Adam).
    optimizer : {"adam", "adamw", "sgd"}, default="adam"
        Optimiser; SGD uses Nesterov momentum 0.9.
    early_stopping : "auto" or bool, default="auto"
        Hold out a stratified share ``validation_fraction`` of the rows,
        score their accuracy after every epoch, stop as
        ``n_iter_no_change`` says, and keep the best weights. ``"auto"``
        turns it on above 10,000 training samples. ``partial_fit`` never
        stops early.
    validation_fraction : float, default=0.1
        Share of the rows held out for early stopping.
    n_iter_no_change : int, default=10
        Training stops once more than this many epochs in a row have not
        improved the best validation score by ``tol``, as in
        ``MLPClassifier``.
    tol : float, default=1e-4
        Improvement of the validation accuracy that counts.
    callbacks : list of skorch callbacks or None, default=None
        skorch callback objects (or ``(name, callback)`` pairs):
        ``LRScheduler``, ``Checkpoint``, ``LoadInitState``,
        ``EarlyStopping``, ``TensorBoard``, ... ``on_batch_end`` follows
        every minibatch step. See the user guide for which hook is called
        when.
    input_shape : tuple of int or None, default=None
        ``(C, H, W)`` of images given as flattened rows. None for tabular data
        or N-D image arrays.
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
        ``predict``, ``transform`` and scoring. ``"bf16"``: bfloat16 autocast
        on the CPU or CUDA; the weights, their gradients and the optimiser
        stay float32, and losses, softmax, reductions are computed in float32.
        It pays for convolutional networks on GPUs and on CPUs that run
        bfloat16 in hardware (AMX, AVX-512 BF16), and not for small networks
        on rows. A Conv4 epoch over 3,000 MNIST images took 0.63x its float32
        time on a CPU with AMX, and the test accuracy was 95.9 % against 95.6
        %. ``"fp16"``: float16 autocast with a gradient scaler, for GPUs
        without bfloat16 (CUDA only: a ``ValueError`` on the CPU). See
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
        Seeds initialisation, shuffling and dropout. With an int, a CPU fit is
        bit-for-bit repeatable; torch's global RNG is left untouched.
    verbose : int, default=0
        Show a progress bar with loss and training accuracy per epoch.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels.
    n_features_in_ : int
        Number of features seen in ``fit`` (for N-D images, ``C * H * W``).
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
        The network, with ``features`` (the backbone) and ``head``.
    optimizer_ : torch.optim.Optimizer
        The optimiser, kept so ``partial_fit`` continues where it stopped.
    pretrained_ : bool
        Whether the backbone started from learned weights (a weights file or
        name, an ``nn.Module`` or a fitted estimator); ``backbone_lr="auto"``
        follows it.
    validation_scores_ : list of float or None
        Accuracy on the held-out rows after every epoch; None without early
        stopping.
    best_validation_score_ : float or None
        The best of ``validation_scores_``; its weights are the ones kept.
    callbacks_ : list of (str, callback)
        The callbacks of the last fit, initialised.
    history_ : skorch.history.History
        Per-epoch ``epoch``, ``train_loss``, ``train_acc``, ``n_frozen``,
        ``stored_features`` (whether the epoch trained the head on features
        computed once), ``dur``, and with early stopping ``valid_loss`` and
        ``valid_acc``.
    max_epochs_ : int
        The epochs ``fit`` aimed for (``max_epochs``, resolved).
    n_iter_ : int
        Epochs run so far.

    See Also
    --------
    sklearn_meta.ProtoNetClassifier : Few-shot learning of an embedding.
    sklearn.neural_network.MLPClassifier : Networks trained from scratch.

    Notes
    -----
    The loss is the cross-entropy of the head's logits plus, with ``l2sp``,
    ``alpha / 2 * sum_i ||w_i - w0_i||^2`` over the backbone's weights and
    ``weight_decay`` on the head. The training set is moved to the device once
    and minibatches are drawn there by index; the loss is read back once per
    epoch.

    In epochs where the whole backbone is frozen (``freeze="backbone"``, an
    int ``freeze`` of at least its number of blocks, before ``unfreeze_at``
    releases one), the backbone runs in eval mode, all of it: batch norm uses
    its running statistics and dropout is off, also in parameter-free layers
    outside its blocks (a top-level ``nn.Dropout`` of a user's module, which
    earlier versions left in training mode). Its output then does not
    change, so the training (and validation) rows go through it once, in
    inference chunks, the features stay on the device and every minibatch
    step trains the head on them; ``history_`` records ``stored_features``.
    The features are computed again when a block is released (from then on
    every step runs the whole network) and once per ``partial_fit`` call.
    The model is the one a forward pass per minibatch gives, up to float
    rounding. Backbones whose eval-mode output depends on the batch (batch
    norm with ``track_running_stats=False``) run the whole network every step.

    Ctrl-C during ``fit`` or ``partial_fit`` stops after the current
    minibatch step, warns and raises
    :class:`~sklearn_meta.exceptions.TrainingInterrupted` (a
    ``KeyboardInterrupt``): the estimator is fitted with the weights of that
    step, and ``history_`` ends with the interrupted epoch.

    References
    ----------
    .. [1] Yosinski, J., Clune, J., Bengio, Y. and Lipson, H. "How transferable
       are features in deep neural networks?", NeurIPS 2014.
    .. [2] Li, X., Grandvalet, Y. and Davoine, F. "Explicit inductive bias for
       transfer learning with convolutional networks", ICML 2018.
    .. [3] Howard, J. and Ruder, S. "Universal language model fine-tuning for
       text classification", ACL 2018 (gradual unfreezing).

    Examples
    --------
    >>> from sklearn.datasets import load_digits
    >>> from sklearn_meta import FineTuneClassifier
    >>> X, y = load_digits(return_X_y=True)
    >>> X = X / 16.0
    >>> clf = FineTuneClassifier(backbone="mlp", max_epochs=5, random_state=0)
    >>> clf.fit(X[:1000], y[:1000]).score(X[1000:], y[1000:]) > 0.8
    True
    >>> clf.transform(X[:2]).shape
    (2, 128)
    """

    _build_param_names = ("backbone", "optimizer", "backbone_lr", "weight_decay")

    #: max_epochs="auto" (see max_epochs): at least 400 updates and 10 epochs
    _auto_min_updates = 400
    _auto_min_epochs = 10

    _parameter_constraints: dict = {
        **BaseTorchClassifier._parameter_constraints,
        "backbone": [str, HasMethods(["build"]), nn.Module, HasMethods(["get_feature_extractor"])],
        "weights": [str, os.PathLike, None],
        "freeze": [StrOptions({"none", "backbone"}), Interval(Integral, 0, None, closed="left")],
        "unfreeze_at": [Interval(Integral, 0, None, closed="left"), None],
        "backbone_lr": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left")],
        "l2sp": [Interval(Real, 0, None, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "optimizer": [StrOptions({"adam", "adamw", "sgd"})],
    }


    def __init__(
        self,
        backbone="auto",
        *,
        weights=None,
        freeze="none",
        unfreeze_at=None,
        backbone_lr="auto",
        l2sp=0.0,
        weight_decay=0.0,
        max_epochs="auto",
        batch_size=64,
        lr=1e-3,
        optimizer="adam",
        early_stopping="auto",
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
        compile=False,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.backbone = backbone
        self.weights = weights
        self.freeze = freeze
        self.unfreeze_at = unfreeze_at
        self.backbone_lr = backbone_lr
        self.l2sp = l2sp
        self.weight_decay = weight_decay
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
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
        self.compile = compile
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ---------------------------------------------------------------- fitting
    @fit_guard(partial=False)
    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Fit the head (and the unfrozen backbone) for ``max_epochs`` epochs.

        With early stopping (``early_stopping=True``, or ``"auto"`` on more
        than 10,000 samples), a stratified share ``validation_fraction`` of the
        rows is held out; training stops once more than ``n_iter_no_change``
        epochs in a row have not improved its best accuracy by ``tol``, and
        the best weights are kept.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, [C,] H, W)
            Training samples: rows (images flattened with ``input_shape``) or
            image arrays.
        y : array-like of shape (n_samples,) or None, default=None
            Class labels of any type scikit-learn accepts; None when ``X`` is
            a dataset of ``(image, label)`` pairs.

        Returns
        -------
        self : FineTuneClassifier
            The fitted estimator.
        """
        X, y = self._validate_X_y(X, y)
        codes = self._encode_y(y)
        self._initialize(X.shape[1:])
        validate = None
        if self._early_stopping_on(len(codes)):
            self._start_early_stopping()
            train, valid = self._holdout(codes)
            validate = (X[valid], codes[valid])
            X, codes = X[train], codes[train]
        self._resolve_max_epochs(len(codes))
        self._fit_epochs(X, codes, self._epoch_goal, valid=validate)
        return self

    @fit_guard(partial=True)
    @fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, classes=None):
        """Run one more epoch on ``(X, y)``, building the model on the first call.

        Early stopping does not apply to ``partial_fit``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Training samples.
        y : array-like of shape (n_samples,) or None, default=None
            Class labels, all within ``classes``; None when ``X`` is a dataset
            of ``(image, label)`` pairs.
        classes : array-like of shape (n_classes,), default=None
            Every label ``y`` may hold in any call. Required on the first call,
            ignored (but checked) afterwards.

        Returns
        -------
        self : FineTuneClassifier
            The updated estimator.
        """
        first = not self.__sklearn_is_fitted__()
        X, codes = self._validate_partial(X, y, classes, first=first)
        self._begin_partial_fit(first, X.shape[1:])
        if first:
            self._resolve_max_epochs(len(codes))
        self._fit_epochs(X, codes, lambda: self.n_iter_ + 1)
        return self

    def _build_module(self, input_shape, *, weights):
        features, n_features, pretrained = build_backbone(
            self.backbone, input_shape, weights=weights
        )
        return HeadNet(features, n_features, len(self.classes_)), pretrained

    def _initialize(self, input_shape):
        super()._initialize(input_shape)
        self._w0 = (
            [p.detach().clone() for p in self.module_.features.parameters()]
            if self.l2sp > 0
            else None
        )

    def _make_optimizer(self):
        groups = [
            {
                "params": list(self.module_.features.parameters()),
                "lr": self.lr * self._backbone_lr_ratio(),
                "weight_decay": 0.0,
            },
            {"params": list(self.module_.head.parameters()), "weight_decay": self.weight_decay},
        ]
        return self._optimizer_for(groups)

    def _n_frozen(self, n_blocks, epoch):
        if self.freeze == "none":
            frozen = 0
        elif self.freeze == "backbone":
            frozen = n_blocks
        else:
            frozen = min(int(self.freeze), n_blocks)
        if self.unfreeze_at is not None and epoch >= self.unfreeze_at:
            frozen = max(0, frozen - (epoch - self.unfreeze_at + 1))
        return frozen

    def _apply_freeze(self, epoch):
        """Set trainability and train/eval mode of each block for this epoch.

        Returns the number of frozen blocks and whether the backbone is
        frozen whole: every block frozen and no weight of it trainable. Such
        a backbone runs in eval mode whole, its parameter-free layers outside
        the blocks (a top-level dropout) included.
        """
        self.module_.train()
        features = self.module_.features
        blocks = module_blocks(features)
        n_frozen = self._n_frozen(len(blocks), epoch)
        for i, block in enumerate(blocks):
            trainable = i >= n_frozen
            block.requires_grad_(trainable)
            block.train(trainable)
        whole = n_frozen == len(blocks) and not any(
            p.requires_grad for p in features.parameters()
        )
        if whole:
            features.eval()
        return n_frozen, whole

    def _embeds_once(self):
        """Whether epochs with the whole backbone frozen train the head on stored features.

        Then the training (and validation) rows go through the backbone once,
        in eval mode, and every minibatch step runs the head alone. Not for
        backbones whose eval-mode output depends on the batch (batch norm
        without running statistics).
        """
        # random augmentation per minibatch changes the backbone's input at
        # every step: nothing to store then
        return self.augment is None and not uses_batch_statistics(self.module_.features)

    def _penalty(self):
        params = list(self.module_.features.parameters())
        diffs = torch._foreach_sub(params, self._w0)
        return 0.5 * self.l2sp * sum(d.pow(2).sum() for d in diffs)

    def _fit_epochs(self, X, codes, target, valid=None):
        X_t, y_t = self._device_data(X, codes, stream=True)
        n = X_t.shape[0]
        bounds = batch_bounds(n, int(self.batch_size))
        module, opt, dev = self.module_, self.optimizer_, self.device_
        stored = [_StoredFeatures(self, X_t)]
        validate = None
        if valid is not None:
            Xv_t, yv_t = self._device_data(*valid, stream=True)
            stored.append(_StoredFeatures(self, Xv_t))
            chunk = max(256, 4 * int(self.batch_size))

            def validate():
                if stored[1].features is not None:
                    return validation_pass(module.head, stored[1].features, yv_t, dev, chunk)
                return validation_pass(module, Xv_t, yv_t, dev, chunk)

        def prepare(epoch):
            n_frozen, whole = self._apply_freeze(epoch)
            on = whole and self._embeds_once()
            for part in stored:
                part.refresh(on=on)
            return {"n_frozen": n_frozen, "stored_features": on}

        def draw(gen, epoch):
            return torch.randperm(n, generator=gen, device=X_t.device)

        def step(perm, b, epoch):
            start, stop = bounds[b]
            idx = perm[start:stop]
            yb = y_t[idx].to(dev, non_blocking=True)
            features = stored[0].features
            if features is not None:
                # the frozen backbone's output is a constant: no penalty gradient
                logits = module.head(features[idx.to(dev)])
                objective = loss = F.cross_entropy(logits, yb)
            else:
                logits = module(self._training_rows(X_t, idx))
                loss = F.cross_entropy(logits, yb)
                objective = loss + self._penalty() if self._w0 is not None else loss
            opt.zero_grad(set_to_none=True)
            self._backward(objective)
            self._step(opt)
            correct = (logits.detach().argmax(1) == yb).sum()
            return loss.detach() * (stop - start), correct, stop - start

        self._run_epochs(
            target, step, draw, n_batches=len(bounds), data_key=data_key(X, codes, len(bounds)),
            data_device=X_t.device, prepare=prepare, X=X, y=codes, validate=validate,
        )

    _batch_size_one_fix = ", or freeze='backbone' with a backbone without batch norm"

    # ------------------------------------------------------------- predicting
    def _predict_logits(self, xb):
        return self.module_(xb)


class _StoredFeatures:
    """The backbone's eval-mode output on a device tensor of rows, kept while it holds.

    ``refresh(on=True)`` embeds the rows in inference chunks unless the
    stored features came from the same backbone weights (their tensors'
    version counters, which every in-place change such as
    ``load_state_dict`` advances); ``refresh(on=False)`` drops them.
    """

    def __init__(self, estimator, X_t):
        self.estimator = estimator
        self.X_t = X_t
        self.features = None
        self._key = None

    def _weights_key(self):
        features = self.estimator.module_.features
        tensors = [*features.parameters(), *features.buffers()]
        return tuple((id(t), t._version) for t in tensors)

    def refresh(self, *, on):
        if not on:
            self.features = self._key = None
            return None
        key = self._weights_key()
        if self.features is None or key != self._key:
            est = self.estimator
            features, dev = est.module_.features, est.device_
            chunk = est._chunk_size(self.X_t.shape[0])
            was_training = features.training
            features.eval()
            with torch.no_grad():
                self.features = torch.cat([
                    features(batch_to(self.X_t, slice(i, i + chunk), dev))
                    for i in range(0, self.X_t.shape[0], chunk)
                ])
            features.train(was_training)
            self._key = key
        return self.features
