"""The thin estimator base of the torch-backed estimators.

:class:`BaseTorchEstimator` wires the parts together and keeps what a
scikit-learn user expects of every estimator: ``device="auto"`` resolved in
``fit`` into ``device_``, ``random_state`` seeding a fork of torch's
generators, the network built and placed, ``transform``, ``clone`` and tags.
The parts, each in its own module with explicit arguments:

* input handling (:mod:`sklearn_meta._inputs`): validation, shapes, device
  tensors, chunked inference;
* the training loop, epoch runners, early stopping, callbacks and the
  failure contract (:mod:`sklearn_meta._training`);
* persistence (:mod:`sklearn_meta._persistence`): ``save_params`` /
  ``load_params`` and pickling;
* devices, seeds and locks (:mod:`sklearn_meta._devices`).

The classifier layer (:mod:`sklearn_meta._classifier`), the regressor layer
(:mod:`sklearn_meta._regressor`) and the episodic layer
(:mod:`sklearn_meta.fewshot._base`) stand on it; ``docs/developing.md`` says
what a new estimator implements. scikit-learn's private helpers come from
:mod:`sklearn_meta._sklearn`, the one shim for them.
"""

from __future__ import annotations

import copy
from numbers import Integral, Real

import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    clone,
)
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted
from skorch.history import History

from ._augment import make_augmenter
from ._devices import (
    derive_seed,
    draws_global_rng,
    make_optimizer,
    module_lock,
    resolve_device,
    torch_rng,
)
from ._inputs import InputMixin
from ._persistence import PersistenceMixin
from ._precision import PRECISIONS, PrecisionMixin
from ._preprocess import resolve_preprocess
from ._sklearn import Interval, StrOptions
from ._training import (
    EPOCHS,
    EarlyStopping,
    TrainingLoop,
    fit_guard,
)

__all__ = ["BaseTorchEstimator", "fit_guard", "is_fitted_estimator"]

#: mixes the key of an update into the seed of its augmentation generator, so
#: that its draws are not those of the dropout seeded with the same key
_AUGMENT_MIX = 0x9E3779B97F4A7C15


def is_fitted_estimator(obj):
    """Whether ``obj`` is a fitted estimator that can serve as ``backbone=``."""
    if not hasattr(obj, "get_feature_extractor"):
        return False
    try:
        check_is_fitted(obj)
    except NotFittedError:
        return False
    return True


def _keep_param(value):
    """A parameter value as fit saw it: configs copied, networks by reference."""
    if isinstance(value, torch.nn.Module) or is_fitted_estimator(value):
        return value
    return clone(value, safe=False)


class BaseTorchEstimator(
    InputMixin,
    PersistenceMixin,
    PrecisionMixin,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    BaseEstimator,
):
    """Common ground of the torch-backed estimators (not for direct use).

    A subclass implements:

    * ``_build_module(input_shape, *, weights)``: a fresh network (not yet
      on a device) and whether it starts from learned weights, used by
      ``fit`` and to rebuild the network when a pickle is loaded;
    * the ``_n_features_out`` property (the width of ``transform``);
    * its own ``fit`` / ``partial_fit``, decorated with :func:`fit_guard`,
      built from ``_validate_X_y``, ``_initialize`` (or
      ``_begin_partial_fit``), ``_device_data`` and ``_train`` with an epoch
      runner of :mod:`sklearn_meta._training`.

    The training loop calls skorch callbacks with these hooks:
    ``initialize()`` at the start of every ``fit`` (a ``partial_fit`` goes on
    with the callbacks of the fit before it, unless ``callbacks`` changed),
    ``on_train_begin(net, X, y)`` before the first update,
    ``on_epoch_begin(net)`` before each epoch, ``on_batch_end(net,
    training=True)`` after every update (a minibatch step, or one
    meta-update), ``on_epoch_end(net)`` after each epoch has been recorded in
    ``history_`` (with its validation score, when there is one) and
    ``on_train_end(net, X, y)`` when training stops, for whatever reason but
    an error. ``net`` is the estimator seen under skorch's names
    (``net.history`` is ``history_``). A callback that raises
    ``KeyboardInterrupt`` (skorch's ``EarlyStopping`` does) stops training
    quietly, as in skorch.
    """

    _parameter_constraints: dict = {
        "input_shape": [tuple, list, None],
        "image_size": [Interval(Integral, 1, None, closed="left"), tuple, list, None],
        "preprocess": [StrOptions({"auto"}), callable, None],
        "augment": [StrOptions({"standard"}), callable, None],
        "storage": [StrOptions({"auto", "device", "stream"})],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "lr": [Interval(Real, 0, None, closed="neither")],
        "early_stopping": [StrOptions({"auto"}), "boolean"],
        "validation_fraction": [Interval(Real, 0, 1, closed="neither")],
        "n_iter_no_change": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "callbacks": [list, None],
        "device": [StrOptions({"auto", "cpu", "cuda"}), str, torch.device],
        "precision": [StrOptions(set(PRECISIONS))],
        "compile": ["boolean"],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    #: what an estimator built on this base without these parameters gets
    #: (docs/developing.md): images at their own size, no augmentation
    image_size = None
    preprocess = "auto"
    augment = None
    storage = "auto"
    compile = False

    #: attributes holding torch modules or optimisers: pickled as state dicts
    _torch_attributes = ("module_", "optimizer_")

    #: parameters that decide the network and optimiser that ``fit`` builds;
    #: kept at fit so that a pickle rebuilds what was fitted even after
    #: set_params changed them
    _build_param_names = ("backbone",)

    #: what ``n_iter_`` counts and a ``history_`` row spans, in messages
    _unit = EPOCHS

    #: the fit under way (a :class:`~sklearn_meta._training.FitRun`), or None;
    #: set on the instance by :func:`fit_guard` for the length of a fit
    _run = None

    #: the step sizes to lower when training diverges, in messages
    _lr_hint = "lr"

    #: whether CPU convolutions may run channels-last (see _place_module)
    _channels_last_ok = True

    # ------------------------------------------------------------------ state
    def __sklearn_is_fitted__(self):
        return "module_" in vars(self)

    def _initialize(self, input_shape):
        """Build what every fit starts from: device, seed, network, optimiser, history."""
        self.device_ = resolve_device(self.device)
        self._start_precision()
        self._start_augment(input_shape)
        self._seed = derive_seed(self.random_state)
        self._preprocessing = self._input_preprocessing(reset=True)
        self.preprocess_ = self._preprocessing.describe()
        with torch_rng(self._seed, torch.device("cpu")):
            module, pretrained = self._build_network(input_shape, weights=self.weights)
        self._accept_module(module, pretrained)
        self.module_ = self._place_module(module)
        self._global_rng = draws_global_rng(self.module_)
        self.optimizer_ = self._make_optimizer()
        self._remember_build()
        self.history_ = History()
        self.n_iter_ = 0
        self.validation_scores_ = None
        self.best_validation_score_ = None

    def _input_preprocessing(self, *, reset):
        """What this estimator's images go through before the network.

        With ``reset`` (a ``fit``, a first ``partial_fit``): resolved from the
        parameters ``preprocess``, ``backbone``, ``weights`` and
        ``image_size``; else what the fitted model applies (kept as
        ``_preprocessing``). The decoder applies its ``geometry`` to each
        image on the host; ``_build_network`` puts its ``layer`` in front
        of ``module_.features``.
        """
        if not reset:
            return self._preprocessing
        return resolve_preprocess(self.preprocess, self.backbone, self.weights, self.image_size)

    def _build_network(self, input_shape, *, weights):
        """``_build_module`` with the fit's preprocessing layer in front of its features.

        The backbone is built for what the layer outputs; ``module.features``
        (what ``transform`` and ``get_feature_extractor`` use) includes the
        layer.
        """
        preprocessing = self._input_preprocessing(reset=False)
        module, pretrained = self._build_module(
            preprocessing.body_shape(input_shape), weights=weights
        )
        features = getattr(module, "features", None)
        if features is not None:
            module.features = preprocessing.attach(features)
        elif preprocessing.layer is not None:
            raise ValueError(
                f"{type(self).__name__}'s network has no `features` to put preprocess in "
                "front of; build it with its backbone as `module.features`."
            )
        return module, pretrained

    def _accept_module(self, module, pretrained):
        """Check a freshly built network, before its optimiser is made (hook).

        Refuse what this estimator cannot train; note what the optimiser
        depends on (``pretrained``: whether it starts from learned weights).
        """

    def _begin_partial_fit(self, first, input_shape):
        """Build the model on a first ``partial_fit``; else own the network and sync ``lr``."""
        if first:
            self._initialize(input_shape)
        else:
            self._start_precision()
            self._start_augment(self.input_shape_)
            self._own_module()
            self._sync_lr()

    def _make_optimizer(self):
        """The optimiser of ``module_``: Adam at ``lr``, or None when nothing trains.

        Fused kernels on CUDA, multi-tensor ones on the CPU (``make_optimizer``).
        """
        params = list(self.module_.parameters())
        # a parameter-free network (backbone="identity") has nothing to train
        if not params:
            return None
        return make_optimizer(torch.optim.Adam, params, self.device_, lr=self.lr)

    def _remember_build(self):
        """Keep what decides the network and optimiser (see _build_param_names)."""
        self._build_params = {k: _keep_param(getattr(self, k)) for k in self._build_param_names}
        self._lr_built = self.lr

    def _place_module(self, module):
        """Move a freshly built network to ``device_``.

        On the CPU, convolution weights go channels-last: oneDNN's
        channels-last kernels train a Conv4 ProtoNet on 28x28 images 1.33x
        (60-way episodes) and 1.49x (5-way) faster than the default layout in
        float32, and 1.76x and 1.76x under ``precision="bf16"`` (torch 2.14,
        one thread; benchmarks/README.md, "Precision and memory layout").
        With ``compile=True`` its ``features`` are compiled in place.
        """
        module = module.to(self.device_)
        if self.device_.type == "cpu" and len(self.input_shape_) == 3 and self._channels_last_ok:
            module = module.to(memory_format=torch.channels_last)
        features = getattr(module, "features", None)
        if self.compile and features is not None:
            # in place (nn.Module.compile): the state dict keeps its keys, with
            # no "_orig_mod." prefix, and deep copies (adapt, feature
            # extractors) run eagerly
            features.compile()
        return module

    # ------------------------------------------------------------ augmentation
    def _start_augment(self, input_shape):
        """Resolve ``augment`` for the fit under way; refuse it on tabular rows.

        The augmentation and its generator live on the fit's record
        (``_run``), never on the fitted estimator.
        """
        aug = make_augmenter(self.augment)
        if aug is not None and len(input_shape) != 3:
            raise ValueError(
                f"augment={self.augment!r} transforms images, but X holds tabular rows "
                f"(samples of shape {tuple(input_shape)}). Set augment=None, or pass "
                "images: N-D arrays, or rows with input_shape=(C, H, W)."
            )
        run = self._run
        if run is not None:
            run.augmenter = aug
            run.augment_gen = None if aug is None else torch.Generator(device=self.device_)

    def _seed_augment(self, key):
        """Where an update begins: seed the augmentation generator from ``key``.

        The training runners call it before every update with the key that
        seeds its dropout (the fit's seed and the update's place), so an
        augmented fit that Ctrl-C cut short goes on with the draws an
        uninterrupted one makes.
        """
        run = self._run
        if run is not None and run.augment_gen is not None:
            run.augment_gen.manual_seed((int(key) * _AUGMENT_MIX) % 2**63)

    def _training_rows(self, X_t, idx):
        """Training rows ``idx`` (any index shape) of ``X_t``, on the device, augmented.

        The one way a training step gathers its inputs: the rows as the
        network trains on them (:meth:`_gather_training`), then, in a fit with
        ``augment``, each image augmented with its own parameters drawn from
        the fit's augmentation generator. Never used at inference, in
        ``adapt`` or in episodic scoring.
        """
        rows = self._gather_training(X_t, idx)
        run = self._run
        aug = None if run is None else run.augmenter
        if aug is None:
            return rows
        flat = rows.reshape(-1, *rows.shape[-3:])
        return aug(flat, run.augment_gen).reshape(rows.shape)

    def _gather_training(self, X_t, idx):
        """Rows ``idx`` of the training data, on ``device_`` (hook of _training_rows)."""
        return X_t[idx].to(self.device_, non_blocking=True)

    def transform(self, X):
        """Embed samples with the fitted feature extractor.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Samples shaped as in ``fit``.

        Returns
        -------
        ndarray of shape (n_samples, n_embedding)
        """
        check_is_fitted(self)
        X = self._validate_X(X, reset=False)
        return self._batched(self._embed, X)

    def _embed(self, xb):
        """The embedding of a device batch, for ``transform`` (``module_.features``)."""
        return self.module_.features(xb)

    def get_feature_extractor(self):
        """A trainable copy of the fitted feature extractor, on the CPU.

        The protocol that lets a fitted estimator serve as ``backbone=`` of
        another one: any fitted object with this method can.

        Returns
        -------
        torch.nn.Module
            A copy of the network that ``transform`` embeds with, on the
            CPU, with every parameter trainable; changing it never changes
            this estimator.

        Examples
        --------
        >>> import numpy as np
        >>> from sklearn_meta import FineTuneClassifier
        >>> X = np.random.RandomState(0).rand(40, 8).astype(np.float32)
        >>> y = np.arange(40) % 2
        >>> clf = FineTuneClassifier("mlp", max_epochs=1, random_state=0).fit(X, y)
        >>> features = clf.get_feature_extractor()
        >>> features(torch.from_numpy(X[:2])).shape == clf.transform(X[:2]).shape
        True
        """
        check_is_fitted(self)
        with module_lock(self.module_):
            features = copy.deepcopy(self.module_.features).cpu()
        for p in features.parameters():
            p.requires_grad_(True)
        return features

    # ------------------------------------------------------ sklearn protocol
    def __sklearn_clone__(self):
        # A fitted estimator given as backbone= is a pretrained network: keep it
        # by reference (it is only read; fit copies its feature extractor).
        # The default clone would replace it with an unfitted copy. What the
        # default clone carries besides parameters is carried too.
        params = self.get_params(deep=False)
        new = type(self)(
            **{
                name: value if is_fitted_estimator(value) else clone(value, safe=False)
                for name, value in params.items()
            }
        )
        if hasattr(self, "_metadata_request"):
            new._metadata_request = copy.deepcopy(self._metadata_request)
        if hasattr(self, "_sklearn_output_config"):
            new._sklearn_output_config = copy.deepcopy(self._sklearn_output_config)
        if hasattr(self, "_skl_callbacks"):
            new._skl_callbacks = self._skl_callbacks
        return new

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64"]
        device = getattr(self, "device", "auto")
        cuda = (device == "auto" and torch.cuda.is_available()) or str(device).startswith("cuda")
        # index_add_ and cuDNN kernels are not bit-for-bit repeatable on CUDA
        tags.non_deterministic = bool(cuda)
        return tags

    def fit_transform(self, X, y, **fit_params):
        """Fit, then return the embedding of ``X``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Training samples.
        y : array-like of shape (n_samples,)
            Targets.
        **fit_params : dict
            Passed to ``fit``.

        Returns
        -------
        ndarray of shape (n_samples, n_embedding)
            The embedding of ``X`` by the fitted network.
        """
        return self.fit(X, y, **fit_params).transform(X)

    # ---------------------------------------------------------------- training
    def _early_stopping_on(self, n_samples):
        if self.early_stopping == "auto":
            return n_samples > 10_000
        return bool(self.early_stopping)

    def _start_early_stopping(self):
        """Give this fit scikit-learn's early-stopping rule (``validation_scores_``)."""
        stopping = EarlyStopping(self, self._state_for_best)
        self._run.early_stopping = stopping
        self.validation_scores_ = stopping.scores
        self.best_validation_score_ = stopping.best_score

    def _state_for_best(self):
        return {k: v.detach().clone() for k, v in self.module_.state_dict().items()}

    def _train(self, runner, target, *, validate=None, X=None, y=None, steps_per_iter=1):
        """Train with ``runner`` until ``n_iter_`` reaches ``target()`` (see TrainingLoop)."""
        loop = TrainingLoop(self, validate=validate, steps_per_iter=steps_per_iter)
        loop.run(runner, target, X=X, y=y)

    def _n_iter_from_history(self):
        return len(self.history_)

    def _chance_loss(self):
        """The training loss of a chance prediction: the divergence check's least start."""
        return 0.0

    def _sync_lr(self):
        """Let ``set_params(lr=...)`` reach the optimiser of a fitted model.

        The groups' learning rates are scaled by the change of ``lr``, so what
        a scheduler or a per-group ratio did to them is kept.
        """
        built = getattr(self, "_lr_built", None)
        if self.optimizer_ is None or built is None or built == self.lr:
            return
        for group in self.optimizer_.param_groups:
            group["lr"] *= self.lr / built
        self._lr_built = self.lr

    def _own_module(self):
        """Copy-on-write: take a network of our own before changing it.

        Estimators returned by ``adapt`` share their parent's network; the
        first one of them (or the parent) to train again copies it first.
        """
        if getattr(self, "_shares_module", False):
            # together, so that the optimiser keeps pointing at the copied weights
            with module_lock(self.module_):
                self.module_, self.optimizer_ = copy.deepcopy((self.module_, self.optimizer_))
            self._shares_module = False

