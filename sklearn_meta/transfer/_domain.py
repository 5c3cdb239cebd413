"""Unsupervised domain adaptation: DANN, CDAN / CDAN+E, MMD, Deep CORAL, MDD, MCC, BNM, SHOT."""

from __future__ import annotations

import os
import warnings
from numbers import Integral, Real

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.validation import column_or_1d
from torch import nn

from .._base import fit_guard
from .._classifier import BaseTorchClassifier
from .._sklearn import HasMethods, Interval, StrOptions, fit_context
from .._training import data_key
from ..backbones import build_backbone
from ..exceptions import DomainAdaptationWarning
from ._adaptation import ADVERSARIAL, grl_coeff, make_criterion
from ._minibatch import HeadNet, MinibatchEstimator, batch_bounds
from ._shot import SHOTLoss, SourceFreeMixin

__all__ = ["DomainAdaptedClassifier"]

#: sample_domain of the rows that ``y == -1`` marks as target, and of the others
#: (skada's convention: source domains positive, target domains negative)
_SOURCE, _TARGET = 1, -2

_METHODS = ("dann", "cdan", "cdan+e", "mmd", "coral", "mdd", "mcc", "bnm", "shot")

#: trade_off="auto": the weight each method gets (1.0 for the others); see trade_off
_AUTO_TRADE_OFF = {"mcc": 3.0}


class DomainAdaptedClassifier(MinibatchEstimator, SourceFreeMixin, BaseTorchClassifier):
    """A classifier whose features do not tell the source from the target domain.

    Fit on labelled source rows and unlabelled target rows together: the
    target rows get ``y == -1``, scikit-learn's semi-supervised convention,
    so ``Pipeline``, ``cross_val_score`` and ``GridSearchCV`` need nothing
    extra. Each minibatch step takes ``batch_size`` source rows and as many
    target rows, drawn on the device; the loss is the cross-entropy of the
    labelled rows plus ``trade_off`` times the adaptation loss of
    ``method``. ``predict`` needs no domain.

    With ``method="shot"`` it adapts a model whose training data you do not
    have: ``backbone`` is the fitted source model, ``fit(X_target)`` takes
    unlabelled target rows alone (see Notes).

    Parameters
    ----------
    backbone : str, backbone config, torch.nn.Module, fitted estimator or pair, default="auto"
        The feature extractor: ``"auto"`` (``"conv4"`` for images, ``"mlp"``
        for rows), ``"mlp"``, ``"conv4"``, a torchvision model name, a
        config such as :class:`~sklearn_meta.backbones.MLPBackbone`, a module
        (copied), or a fitted sklearn_meta estimator (its feature extractor
        is copied: start from a pretrained or fine-tuned model). For
        ``method="shot"``, the source model: a fitted
        :class:`~sklearn_meta.FineTuneClassifier` or
        ``DomainAdaptedClassifier`` (anything with ``get_classifier_head``),
        or a ``(features, head)`` pair of modules (copied).
    method : str or None, default="mcc"
        The adaptation loss, one of ``"dann"``, ``"cdan"``, ``"cdan+e"``,
        ``"mmd"``, ``"coral"``, ``"mdd"``, ``"mcc"``, ``"bnm"``, ``"shot"``:
        ``"dann"`` a domain classifier behind a gradient
        reversal layer (Ganin et al. 2016); ``"cdan"`` / ``"cdan+e"`` a
        domain classifier on the multilinear map of features and
        predictions, randomized above 4096 dimensions, with entropy weights
        for ``"cdan+e"`` (Long et al. 2018); ``"mmd"`` multi-kernel MMD (Long
        et al. 2015); ``"coral"`` Deep CORAL (Sun & Saenko 2016); ``"mdd"``
        margin disparity discrepancy (Zhang et al. 2019); ``"mcc"`` minimum
        class confusion of the target predictions (Jin et al. 2020);
        ``"bnm"`` batch nuclear-norm maximization of the target predictions
        (Cui et al. 2020); ``"shot"`` source-free adaptation of a fitted
        source model with target rows alone (Liang et al. 2020). None trains
        on the source rows alone, on the same network and schedule: the
        baseline. The default, ``"mcc"`` (with ``trade_off="auto"``), was
        chosen on the eight table tasks of ``benchmarks/domain_tables.py``,
        where it had the best mean (76.0 % against 73.2 % for BNM, 73.0 %
        for CDAN+E and 67.6 % for source only), and on MNIST <-> USPS
        images, where it beat CDAN+E by 4 points. Its losses to source only
        were in single directions: 1.1 points on DeCAF Webcam -> DSLR (where
        the source alone scores 100 %), 1.8 on MSRC -> VOC
        (benchmarks/README.md, "Choosing the default").
    trade_off : float or "auto", default="auto"
        Weight of the adaptation loss. ``"auto"`` is 3.0 for ``"mcc"`` and
        1.0 for every other method (``trade_off_`` says which applied). 3.0
        was picked from 1.0 and 3.0 on the same eight table tasks: 76.0 %
        against 72.8 % (source only: 67.6 %); on digit images, seeds 0 and 1,
        94.5 / 93.8 % at 3.0 against 94.3 / 93.8 % at 1.0.
        For the
        adversarial methods the reversed gradient is also ramped up as
        ``2 / (1 + exp(-10 p)) - 1`` over the share ``p`` of ``max_epochs``
        done (Ganin et al.). For ``"shot"``, the weight of information
        maximisation.
    domain_hidden : int, default=256
        Width of the two hidden layers of the domain classifier (DANN, CDAN).
    margin : float, default=2.0
        MDD's margin factor γ. Measured on MNIST <-> USPS (benchmarks/README.md):
        γ = 2 gave 93.0 % on M->U and 73.4 % on U->M where γ = 4 (the paper's
        Office-31 value) gave 91.6 % and collapsed to 11.3 % (seed 0).
    temperature : float, default=2.5
        MCC's temperature ``T``: the target logits are divided by it before
        the softmax (2.5, the paper's value for every benchmark).
    pseudo_label_weight : float, default=0.3
        SHOT's β: weight of the cross-entropy against the pseudo-labels (0.3
        in the paper; 0 leaves information maximisation alone).
    weights : str or None, default=None
        Weights to start the backbone from: a torchvision weights name or a
        local state-dict file (loaded with ``weights_only=True``).
    backbone_lr : float or "auto", default="auto"
        Learning rate of the backbone as a ratio of ``lr``; ``"auto"`` is 0.1
        for a pretrained backbone (``weights`` given, a module or a fitted
        estimator) and 1.0 otherwise.
    max_epochs : int or "auto", default="auto"
        Epochs run by ``fit``; an epoch is one pass over the source rows
        (for ``"shot"``, over the target rows). ``"auto"``: enough epochs for
        at least 1,000 minibatch updates, and at least 20 (``max_epochs_``
        says how many): a source of 157 rows gets 334 epochs, one of 60,000
        the 20 it always had. Measured on five small tables
        (``benchmarks/domain_training_length.py``): source-only accuracy
        settles within 20 epochs, but CDAN+E goes on gaining up to about
        1,000 updates (COIL 81.5 % after 240 updates, 95.4 % after 1,200;
        DeCAF DSLR to Webcam 95.8 % after 60, 98.5 % after 600).
        ``partial_fit`` runs one. The schedules count progress against it.
    batch_size : int, default=64
        Source rows per minibatch step; as many target rows go with them.
    lr : float, default=0.01
        Learning rate of the heads.
    optimizer : {"sgd", "adam", "adamw"}, default="sgd"
        Optimiser; SGD uses Nesterov momentum 0.9, as the papers do.
    lr_schedule : {"ganin", "constant"}, default="ganin"
        ``"ganin"`` anneals every learning rate as ``1 / (1 + 10 p) ** 0.75``
        over the share ``p`` of ``max_epochs`` done (Ganin et al. 2016,
        kept by CDAN and MDD); it sets the learning rates at every step, so
        use ``"constant"`` with a scheduler callback.
    early_stopping : "auto" or bool, default=False
        Hold out a stratified share ``validation_fraction`` of the labelled
        source rows and stop on their accuracy as ``MLPClassifier`` does.
        Source accuracy is a poor guide to target accuracy, hence off by
        default; ``"auto"`` turns it on above 10,000 training rows.
    validation_fraction : float, default=0.1
        Share of the source rows held out for early stopping.
    n_iter_no_change : int, default=10
        Epochs without improvement by ``tol`` before stopping.
    tol : float, default=1e-4
        Improvement of the validation accuracy that counts.
    callbacks : list of skorch callbacks or None, default=None
        skorch callback objects (or ``(name, callback)`` pairs).
    input_shape : tuple of int or None, default=None
        ``(C, H, W)`` of images given as flattened rows; None for tabular
        data or N-D image arrays.
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
        stay float32, and losses, softmax, reductions and the adaptation
        losses are computed in float32. It pays for convolutional networks on
        GPUs and on CPUs that run bfloat16 in hardware (AMX, AVX-512 BF16),
        and not for small networks on rows. A DANN epoch (Conv4, MNIST to
        USPS) took 0.72x its float32 time on a CPU with AMX, and the USPS test
        accuracy was 70.6 % against 68.5 %. ``"fp16"``: float16 autocast with
        a gradient scaler, for GPUs without bfloat16 (CUDA only: a
        ``ValueError`` on the CPU). See benchmarks/README.md, "Precision".
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
        Seeds initialisation, batches and CDAN's random map. With an int, a
        CPU fit is bit-for-bit repeatable; torch's global RNG is untouched.
    verbose : int, default=0
        Show a progress bar.

    Attributes
    ----------
    classes_ : ndarray of shape (n_classes,)
        Class labels (never the ``-1`` of unlabelled rows).
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
        The network: ``features``, ``head`` and ``criterion`` (the domain
        classifier, adversarial head or random map of the method; for
        ``"shot"`` the current pseudo-labels).
    optimizer_ : torch.optim.Optimizer
        The optimiser, kept so that ``partial_fit`` continues.
    pretrained_ : bool
        Whether the backbone started from learned weights.
    adapted_ : bool
        Whether target rows were seen and an adaptation loss trained
        (False for ``method=None`` or data without target rows).
    n_source_ : int
        Number of source rows in the last fit (or partial_fit chunk).
    n_target_ : int
        Number of target rows in the last fit (or partial_fit chunk).
    max_epochs_ : int
        The epochs ``fit`` aimed for (``max_epochs``, resolved).
    trade_off_ : float
        The weight of the adaptation loss in the last fit (``trade_off``,
        resolved; 0.0 for ``method=None``).
    n_iter_ : int
        Number of epochs run.
    history_ : skorch.history.History
        Per epoch: ``train_loss`` (cross-entropy of the labelled rows),
        ``train_acc``, ``adapt_loss``, ``coeff`` (the reversal coefficient
        at the epoch's end), and the validation scores with early stopping.
        For ``"shot"``: ``train_loss`` and ``train_acc`` against the
        pseudo-labels, ``adapt_loss`` the information-maximisation loss.
    validation_scores_ : list of float or None
        Validation accuracy per epoch, with early stopping.
    best_validation_score_ : float or None
        Best of ``validation_scores_``.

    See Also
    --------
    sklearn_meta.model_selection.DomainShuffleSplit : Splits that keep both domains.
    sklearn_meta.model_selection.make_da_scorer : Label-free model selection.
    sklearn.semi_supervised.SelfTrainingClassifier : The same ``y == -1``
        convention.

    Notes
    -----
    **Domains.** By default a row is target when its label is ``-1`` and
    source otherwise. ``fit(X, y, sample_domain=d)`` takes them explicitly,
    as skada does: positive ints mark source domains, negative ints target
    domains. Target rows may then carry labels (a few labelled target
    rows: they join the classification loss). Several source (or target)
    domains are pooled into one for the adaptation loss. Through a
    ``Pipeline`` or ``GridSearchCV``, ``sample_domain`` is routed with
    scikit-learn's metadata routing, which the user switches on
    (``sklearn.set_config(enable_metadata_routing=True)`` and
    ``clf.set_fit_request(sample_domain=True)``); importing sklearn_meta
    does not.

    **No target rows.** Input without target rows (no ``-1``) trains on the
    source alone, warning with
    :class:`~sklearn_meta.exceptions.DomainAdaptationWarning` that nothing
    was adapted, unless ``method=None``.

    **Network.** ``module_.features`` (the backbone) feeds a linear
    ``head``; the domain classifiers of DANN and CDAN have two hidden
    layers of ``domain_hidden`` units and end in one logit, trained with
    ``BCEWithLogits`` (source 0, target 1).

    **MCC and BNM** read the target predictions of each minibatch alone
    (no domain head, no gradient reversal). MCC: the predictions at
    temperature ``T``, weighted by ``1 + exp(-entropy)`` (not
    differentiated), give a class-confusion matrix whose columns are
    normalised; the loss is its off-diagonal mass over the number of
    classes. BNM: minus the nuclear norm of the softmax predictions over
    the batch size.

    **Source-free adaptation (SHOT).** To adapt a model whose training data
    you do not have, pass the fitted source model as ``backbone`` and
    ``method="shot"``, and fit on the target rows alone:
    ``fit(X_target)`` (``y`` omitted or all ``-1``; labelled rows, or
    positive ``sample_domain``, are refused rather than silently ignored:
    a source-free fit has no source rows). The source head is copied and
    frozen; the feature extractor, copied from the source, is trained on
    each step's ``batch_size`` target rows with ``trade_off`` times the
    information-maximisation loss (mean entropy of the predictions minus
    the entropy of their mean) plus ``pseudo_label_weight`` times the
    cross-entropy against pseudo-labels, made at the start of every epoch
    (nearest class centroid in feature space by cosine distance, the
    centroids weighted by the predictions, refined once). ``classes_`` are
    the source model's (``0 .. n - 1`` for a ``(features, head)`` pair of a
    head with ``n`` outputs); ``partial_fit`` needs no ``classes`` and
    refuses ones that differ. ``backbone_lr="auto"`` is 0.1 here too, as the
    features are pretrained; ``get_classifier_head`` of the adapted model
    returns the source head. A string backbone, a plain module or a fitted
    model without a classifier head (ProtoNet, MAML) is refused: SHOT needs
    the source's head.

    References
    ----------
    .. [1] Ganin, Y. et al. "Domain-adversarial training of neural networks",
       JMLR 2016.
    .. [2] Long, M., Cao, Z., Wang, J. and Jordan, M. I. "Conditional
       adversarial domain adaptation", NeurIPS 2018.
    .. [3] Long, M., Cao, Y., Wang, J. and Jordan, M. I. "Learning
       transferable features with deep adaptation networks", ICML 2015.
    .. [4] Sun, B. and Saenko, K. "Deep CORAL: correlation alignment for deep
       domain adaptation", ECCV 2016 workshops.
    .. [5] Zhang, Y., Liu, T., Long, M. and Jordan, M. I. "Bridging theory and
       algorithm for domain adaptation", ICML 2019.
    .. [6] Jin, Y., Wang, X., Long, M. and Wang, J. "Minimum class confusion
       for versatile domain adaptation", ECCV 2020.
    .. [7] Cui, S., Wang, S., Zhuo, J., Li, L., Huang, Q. and Tian, Q.
       "Towards discriminability and diversity: batch nuclear-norm
       maximization under label insufficient situations", CVPR 2020.
    .. [8] Liang, J., Hu, D. and Feng, J. "Do we really need to access the
       source data? Source hypothesis transfer for unsupervised domain
       adaptation", ICML 2020.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_meta import DomainAdaptedClassifier
    >>> from sklearn_meta.datasets import make_digits_shift
    >>> Xs, ys, Xt, yt = make_digits_shift(random_state=0)
    >>> X = np.concatenate([Xs, Xt])
    >>> y = np.concatenate([ys, np.full(len(Xt), -1)])   # -1: unlabelled target
    >>> clf = DomainAdaptedClassifier(backbone="mlp", method="dann", max_epochs=20,
    ...                               random_state=0).fit(X, y)
    >>> clf.classes_
    array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    >>> clf.score(Xt, yt) > 0.48      # 0.51; the same network trained on the source alone: 0.46
    True
    """

    _unlabeled_marker = -1

    @property
    def _lr_hint(self):
        """What to lower when training diverges: ``trade_off`` too, with an adaptation loss."""
        method = self._built_method
        if method is None or not self._adapt_weight():
            return "lr"
        return f"trade_off (the weight of the {method!r} adaptation loss) or lr"

    _build_param_names = (
        "backbone", "method", "domain_hidden", "margin", "temperature", "optimizer",
        "backbone_lr",
    )

    _parameter_constraints: dict = {
        **BaseTorchClassifier._parameter_constraints,
        "backbone": [
            str, HasMethods(["build"]), nn.Module, HasMethods(["get_feature_extractor"]), tuple,
        ],
        "method": [StrOptions(set(_METHODS)), None],
        "trade_off": [Interval(Real, 0, None, closed="left"), StrOptions({"auto"})],
        "domain_hidden": [Interval(Integral, 1, None, closed="left")],
        "margin": [Interval(Real, 0, None, closed="neither")],
        "temperature": [Interval(Real, 0, None, closed="neither")],
        "pseudo_label_weight": [Interval(Real, 0, None, closed="left")],
        "weights": [str, os.PathLike, None],
        "backbone_lr": [StrOptions({"auto"}), Interval(Real, 0, None, closed="left")],
        "max_epochs": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "optimizer": [StrOptions({"adam", "adamw", "sgd"})],
        "lr_schedule": [StrOptions({"ganin", "constant"})],
    }

    def __init__(
        self,
        backbone="auto",
        *,
        method="mcc",
        trade_off="auto",
        domain_hidden=256,
        margin=2.0,
        temperature=2.5,
        pseudo_label_weight=0.3,
        weights=None,
        backbone_lr="auto",
        max_epochs="auto",
        batch_size=64,
        lr=0.01,
        optimizer="sgd",
        lr_schedule="ganin",
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
        compile=False,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.backbone = backbone
        self.method = method
        self.trade_off = trade_off
        self.domain_hidden = domain_hidden
        self.margin = margin
        self.temperature = temperature
        self.pseudo_label_weight = pseudo_label_weight
        self.weights = weights
        self.backbone_lr = backbone_lr
        self.max_epochs = max_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.optimizer = optimizer
        self.lr_schedule = lr_schedule
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

    # ---------------------------------------------------------------- domains
    def _target_mask(self, y, codes, sample_domain):
        """Which rows are target; checks ``sample_domain`` against ``y``."""
        unlabelled = codes < 0
        if sample_domain is None:
            return unlabelled
        d = column_or_1d(sample_domain, warn=True)
        if len(d) != len(codes):
            raise ValueError(
                f"sample_domain has {len(d)} entries but X has {len(codes)} rows; pass "
                "one domain per row."
            )
        if not np.issubdtype(np.asarray(d).dtype, np.integer) and not (
            np.issubdtype(np.asarray(d).dtype, np.floating) and np.all(np.mod(d, 1) == 0)
        ):
            raise ValueError(
                "sample_domain must hold integers: positive for source domains, "
                f"negative for target domains; got dtype {np.asarray(d).dtype}."
            )
        d = np.asarray(d, dtype=np.int64)
        if np.any(d == 0):
            raise ValueError(
                "sample_domain holds 0, which is neither source nor target: use positive "
                "ints for source domains and negative ints for target domains."
            )
        bad = np.flatnonzero((d > 0) & unlabelled)
        if bad.size:
            raise ValueError(
                f"{bad.size} row(s) of a source domain (sample_domain > 0) have y == -1, "
                f"e.g. row {bad[0]}: source rows need labels. Give them a negative "
                "sample_domain if they are unlabelled target rows."
            )
        return d < 0

    def _check_labelled(self, y, codes):
        if not np.any(codes >= 0):
            raise ValueError(
                f"y holds no labelled row: all {len(codes)} rows are -1 (unlabelled "
                f"target). {type(self).__name__} learns the classes from labelled source "
                "rows; add them with their labels (target rows keep y == -1)."
            )

    # ---------------------------------------------------------------- fitting
    @fit_guard(partial=False)
    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None, sample_domain=None):
        """Fit on labelled source rows and unlabelled (``y == -1``) target rows.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features) or (n_samples, [C,] H, W)
            Source and target rows together (``method="shot"``: target rows
            alone).
        y : array-like of shape (n_samples,) or None, default=None
            Class labels of the source rows, ``-1`` for unlabelled target rows;
            None when ``X`` is a dataset of ``(image, label)`` pairs (label
            -1 for a target image). ``method="shot"``: None or all ``-1``.
        sample_domain : array-like of shape (n_samples,), default=None
            Domain of each row: positive ints for source domains, negative
            ints for target domains (target rows may then be labelled).
            None: the rows with ``y == -1`` are the target.

        Returns
        -------
        self : DomainAdaptedClassifier
            The fitted estimator.
        """
        if self._is_source_free(first=True):
            X = self._validate_source_free(X, y, sample_domain, None, first=True)
            self._initialize(X.shape[1:])
            self._resolve_max_epochs(len(X))
            self._fit_source_free(X, self._epoch_goal)
            return self
        X, y = self._validate_X_y(X, y)
        y = column_or_1d(y, warn=True)
        if np.all(y == self._unlabeled_marker):
            self._check_labelled(y, np.full(len(y), -1))
        codes = self._encode_y(y)
        is_target = self._target_mask(y, codes, sample_domain)
        self._initialize(X.shape[1:])
        validate = None
        if self._early_stopping_on(int((~is_target).sum())):
            self._start_early_stopping()
            source = np.flatnonzero(~is_target)
            train, valid = self._holdout(codes[source])
            validate = self._validator(X[source[valid]], codes[source[valid]])
            keep = np.ones(len(codes), dtype=bool)
            keep[source[valid]] = False
            X, codes, is_target = X[keep], codes[keep], is_target[keep]
        self._resolve_max_epochs(int((~is_target).sum()))
        self._fit_epochs(X, codes, is_target, self._epoch_goal, validate=validate)
        return self

    @fit_guard(partial=True)
    @fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, classes=None, sample_domain=None):
        """Run one more epoch on ``(X, y)``, building the model on the first call.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Source and target rows.
        y : array-like of shape (n_samples,) or None, default=None
            Labels within ``classes``, ``-1`` for unlabelled target rows; None
            when ``X`` is a dataset of ``(image, label)`` pairs.
            ``method="shot"``: None or all ``-1``.
        classes : array-like of shape (n_classes,), default=None
            Every label the model will predict (not -1). Required on the
            first call, except for ``method="shot"`` (the source model's).
        sample_domain : array-like of shape (n_samples,), default=None
            As in :meth:`fit`.

        Returns
        -------
        self : DomainAdaptedClassifier
            The updated estimator.
        """
        first = not self.__sklearn_is_fitted__()
        if self._is_source_free(first):
            X = self._validate_source_free(X, y, sample_domain, classes, first=first)
            self._begin_partial_fit(first, X.shape[1:])
            if first:
                self._resolve_max_epochs(len(X))
            self._fit_source_free(X, lambda: self.n_iter_ + 1)
            return self
        if classes is not None and np.any(np.asarray(classes, dtype=object) == -1):
            raise ValueError(
                "classes must list the labels the model predicts; -1 marks unlabelled "
                "target rows and cannot be one of them."
            )
        X, codes = self._validate_partial(X, y, classes, first=first)
        self._check_labelled(y, codes)
        is_target = self._target_mask(y, codes, sample_domain)
        self._begin_partial_fit(first, X.shape[1:])
        if first:
            self._resolve_max_epochs(int((~is_target).sum()))
        self._fit_epochs(X, codes, is_target, lambda: self.n_iter_ + 1)
        return self

    def _build_module(self, input_shape, *, weights):
        if self.method == "shot":
            return self._build_source_free(input_shape, weights=weights)
        if self.method != "shot" and isinstance(self.backbone, tuple):
            raise ValueError(
                f"backbone=(features, head) is a source model for method='shot'; "
                f"method={self.method!r} trains a new head on the features alone: pass "
                "backbone=features."
            )
        features, n_features, pretrained = build_backbone(
            self.backbone, input_shape, weights=weights
        )
        n_classes = len(self.classes_)
        criterion = make_criterion(
            self.method, n_features, n_classes, hidden=int(self.domain_hidden),
            margin=float(self.margin), temperature=float(self.temperature),
        )
        return HeadNet(features, n_features, n_classes, criterion), pretrained

    def _make_optimizer(self):
        m = self.module_
        groups = [
            {"params": list(m.features.parameters()), "lr": self.lr * self._backbone_lr_ratio()}
        ]
        # SHOT keeps the source head frozen: only the features train
        heads = [] if isinstance(m.criterion, SHOTLoss) else list(m.head.parameters())
        if m.criterion is not None:
            heads += list(m.criterion.parameters())
        if heads:
            groups.append({"params": heads, "lr": self.lr})
        for g in groups:
            g["base_lr"] = g["lr"]
        return self._optimizer_for(groups)

    def _sync_lr(self):
        built = getattr(self, "_lr_built", None)
        if self.optimizer_ is not None and built is not None and built != self.lr:
            for group in self.optimizer_.param_groups:
                group["base_lr"] *= self.lr / built
        super()._sync_lr()

    @property
    def _built_method(self):
        """The ``method`` the network was built for (``method`` itself before that)."""
        return getattr(self, "_build_params", {}).get("method", self.method)

    def _adapt_weight(self):
        """``trade_off``, or what "auto" gives the method the network was built for."""
        if self.trade_off != "auto":
            return float(self.trade_off)
        return _AUTO_TRADE_OFF.get(self._built_method, 1.0)

    def _after_unpickle(self):
        super()._after_unpickle()
        if "trade_off_" not in vars(self) and self.__sklearn_is_fitted__():
            # pickled before trade_off="auto": the weight it trained with
            self.trade_off_ = 0.0 if self.method is None else self._adapt_weight()

    def _fit_epochs(self, X, codes, is_target, target, validate=None):
        source = np.flatnonzero(~is_target)
        tgt = np.flatnonzero(is_target)
        self.n_source_, self.n_target_ = len(source), len(tgt)
        self.trade_off_ = 0.0 if self.method is None else self._adapt_weight()
        adapt = self.method is not None and len(tgt) > 0
        if self.method is not None and not len(tgt):
            warnings.warn(
                f"{type(self).__name__}(method={self.method!r}) got no target rows (no "
                "y == -1, no negative sample_domain): it trained on the source alone and "
                "nothing was adapted. Add the unlabelled target rows with y == -1.",
                DomainAdaptationWarning,
                stacklevel=4,
            )
        self.adapted_ = adapt or getattr(self, "adapted_", False)
        X_t, y_t = self._device_data(X, codes, stream=True)
        data_dev = X_t.device
        src_t = torch.from_numpy(source).to(data_dev)
        tgt_t = torch.from_numpy(tgt).to(data_dev)
        n_s, n_t = len(source), len(tgt)
        bounds = batch_bounds(n_s, int(self.batch_size))
        n_batches = len(bounds)
        module, opt, dev = self.module_, self.optimizer_, self.device_
        criterion = module.criterion if adapt else None
        adversarial = self.method in ADVERSARIAL
        # MDD's reversed gradient rises to 0.1 only, as in the authors' code:
        # the features could otherwise drive the disparity without bound
        coeff_scale = 0.1 if self.method == "mdd" else 1.0
        horizon = float(self._epoch_goal())
        sums = {
            "adapt_loss": torch.zeros((), device=dev),
        }
        ganin = self.lr_schedule == "ganin"

        def prepare(epoch):
            module.train()
            if not adversarial or not adapt:
                return {}
            return {"coeff": grl_coeff(min(1.0, (epoch + 1) / horizon)) * coeff_scale}

        def draw(gen, epoch):
            perm_s = src_t[torch.randperm(n_s, generator=gen, device=data_dev)]
            perm_t = tgt_t[torch.randperm(n_t, generator=gen, device=data_dev)] if adapt else None
            return perm_s, perm_t

        def step(drawn, b, epoch):
            perm_s, perm_t = drawn
            start, stop = bounds[b]
            m = stop - start
            progress = min(1.0, (epoch + b / n_batches) / horizon)
            if ganin:
                factor = (1.0 + 10.0 * progress) ** -0.75
                for group in opt.param_groups:
                    group["lr"] = group["base_lr"] * factor
            idx = perm_s[start:stop]
            if adapt:
                pos = torch.arange(start, stop, device=data_dev) % n_t
                idx = torch.cat([idx, perm_t[pos]])
            xb = self._training_rows(X_t, idx)
            yb = y_t[idx].to(dev, non_blocking=True)
            f = module.features(xb)
            logits = module.head(f)
            labelled = yb >= 0
            per_row = F.cross_entropy(logits, yb.clamp_min(0), reduction="none")
            n_lab = labelled.sum()
            ce_sum = (per_row * labelled).sum()
            loss = ce_sum / n_lab.clamp_min(1)
            if criterion is not None:
                coeff = grl_coeff(progress) * coeff_scale if adversarial else 1.0
                adapt_loss = criterion(f[:m], f[m:], logits[:m], logits[m:], coeff)
                objective = loss + self._adapt_weight() * adapt_loss
                sums["adapt_loss"] += adapt_loss.detach()
            else:
                objective = loss
            opt.zero_grad(set_to_none=True)
            self._backward(objective)
            self._step(opt)
            correct = ((logits.detach().argmax(1) == yb) & labelled).sum()
            return ce_sum.detach(), correct, n_lab

        self._run_epochs(
            target, step, draw, n_batches=n_batches,
            data_key=data_key(X, np.where(is_target, -2 - codes, codes), n_batches),
            data_device=data_dev, prepare=prepare, step_means=sums if adapt else None,
            X=X, y=codes, validate=validate,
        )

    # ------------------------------------------------------------- predicting
    def _predict_logits(self, xb):
        return self.module_(xb)

