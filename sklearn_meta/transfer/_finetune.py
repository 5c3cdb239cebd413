"""Fine-tuning a (pretrained) backbone with a new linear head."""

from __future__ import annotations

import os
from numbers import Integral, Real

import torch
import torch.nn.functional as F
from torch import nn

from .._base import fit_guard
from .._classifier import BaseTorchClassifier
from .._sklearn import HasMethods, Interval, StrOptions, fit_context
from .._training import data_key
from ..backbones import build_backbone, module_blocks
from ._minibatch import HeadNet, MinibatchEstimator, batch_bounds

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
        keep their batch-norm statistics.
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
    max_epochs : int, default=10
        Epochs run by ``fit``; ``partial_fit`` runs one.
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
        backbone with ``weights`` gets those weights' resize and
        normalisation (an explicit ``image_size`` replaces their resize), a
        fitted sklearn_meta backbone brings its own, anything else gets
        none. None: nothing. A ``torchvision.transforms.v2`` transform (or a
        callable on float batches of shape ``(N, C, H, W)``) replaces them.
        ``preprocess_`` records what was applied.
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
        ``dur``, and with early stopping ``valid_loss`` and ``valid_acc``.
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

    _parameter_constraints: dict = {
        **BaseTorchClassifier._parameter_constraints,
        "backbone": [str, HasMethods(["build"]), nn.Module, HasMethods(["get_feature_extractor"])],
        "weights": [str, os.PathLike, None],
        "freeze": [StrOptions({"none", "backbone"}), Interval(Integral, 0, None, closed="left")],
        "unfreeze_at": [Interval(Integral, 0, None, closed="left"), None],
        "backbone_lr": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left")],
        "l2sp": [Interval(Real, 0, None, closed="left")],
        "weight_decay": [Interval(Real, 0, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left")],
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
        max_epochs=10,
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
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    # ---------------------------------------------------------------- fitting
    @fit_guard(partial=False)
    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y):
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
        y : array-like of shape (n_samples,)
            Class labels of any type scikit-learn accepts.

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
            validate = self._validator(X[valid], codes[valid])
            X, codes = X[train], codes[train]
        self._fit_epochs(X, codes, lambda: self.max_epochs, validate=validate)
        return self

    @fit_guard(partial=True)
    @fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y, classes=None):
        """Run one more epoch on ``(X, y)``, building the model on the first call.

        Early stopping does not apply to ``partial_fit``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Training samples.
        y : array-like of shape (n_samples,)
            Class labels, all within ``classes``.
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
        """Set trainability and train/eval mode of each block for this epoch."""
        self.module_.train()
        blocks = module_blocks(self.module_.features)
        n_frozen = self._n_frozen(len(blocks), epoch)
        for i, block in enumerate(blocks):
            trainable = i >= n_frozen
            block.requires_grad_(trainable)
            block.train(trainable)
        return n_frozen

    def _penalty(self):
        params = list(self.module_.features.parameters())
        diffs = torch._foreach_sub(params, self._w0)
        return 0.5 * self.l2sp * sum(d.pow(2).sum() for d in diffs)

    def _fit_epochs(self, X, codes, target, validate=None):
        X_t, y_t = self._device_data(X, codes, stream=True)
        n = X_t.shape[0]
        bounds = batch_bounds(n, int(self.batch_size))
        module, opt, dev = self.module_, self.optimizer_, self.device_

        def prepare(epoch):
            return {"n_frozen": self._apply_freeze(epoch)}

        def draw(gen, epoch):
            return torch.randperm(n, generator=gen, device=X_t.device)

        def step(perm, b, epoch):
            start, stop = bounds[b]
            idx = perm[start:stop]
            xb = self._training_rows(X_t, idx)
            yb = y_t[idx].to(dev, non_blocking=True)
            logits = module(xb)
            loss = F.cross_entropy(logits, yb)
            objective = loss + self._penalty() if self._w0 is not None else loss
            opt.zero_grad(set_to_none=True)
            objective.backward()
            opt.step()
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

