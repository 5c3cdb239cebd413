"""The episodic layer: meta-training over N-way K-shot episodes.

:class:`BaseEpisodicClassifier` holds what every few-shot estimator shares,
so that one of them says only how it turns an episode into a loss and how it
specialises to a support set:

* ``fit`` meta-trains for ``max_iter`` meta-updates on episodes drawn on the
  device by :class:`~sklearn_meta._episodes.EpisodeSampler`; with early
  stopping, whole classes are held out and the validation score is the
  episodic accuracy on them (what Snell et al. stopped on);
* ``partial_fit`` continues where training stopped;
* ``adapt`` returns a new estimator for new classes; it shares the network
  copy-on-write, so neither it nor its parent ever changes the other;
* ``_predict_episodes`` classifies a batch of episodes with tensor ops (the
  fast path of :func:`~sklearn_meta.model_selection.evaluate_episodes`).

A subclass implements ``_build_module(input_shape, *, weights)`` (the
network; the base's default optimiser is Adam over its parameters),
``_episode_loss(X_t, s_idx, s_y, q_idx, q_y, n_way)``
returning the loss and logits of a batch of training episodes,
``_episode_logits(X_t, s_idx, s_y, q_idx, n_way)`` for evaluation, and
``_set_support(X_t, y_t, present, first=True)`` that fits what predicts among
``classes_`` (ProtoNet: prototypes).
"""

from __future__ import annotations

import copy
import math
import warnings
from numbers import Integral
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, column_or_1d

from .._base import fit_guard
from .._classifier import BaseTorchClassifier
from .._devices import torch_rng
from .._episodes import EpisodeSampler
from .._inputs import rows_of
from .._sklearn import Interval, StrOptions, fit_context
from .._training import META_UPDATES, EpisodeRunner, data_key

__all__ = ["BaseEpisodicClassifier", "EpisodicTraining", "TaskData", "rotate_quarters"]


class TaskData(NamedTuple):
    """A regression training set on the device: inputs and real targets."""

    X: torch.Tensor
    y: torch.Tensor

#: validation episodes, drawn once per fit from the held-out classes
_N_VALID_EPISODES = 100

#: max_iter="auto": this many passes over the training samples ...
_AUTO_PASSES = 50
#: ... but no more meta-updates than this
_AUTO_MAX_ITER = 2000


def rotate_quarters(images, turns):
    """Rotate each image by its own number of quarter turns (counter-clockwise).

    Parameters
    ----------
    images : torch.Tensor of shape (*batch, C, H, H)
        Square images.
    turns : torch.Tensor of shape batch
        Quarter turns of each image, 0 to 3.

    Returns
    -------
    torch.Tensor
        The rotated images, same shape and dtype; no host synchronisation.

    Examples
    --------
    >>> import torch
    >>> from sklearn_meta.fewshot._base import rotate_quarters
    >>> img = torch.arange(4.0).view(1, 1, 2, 2)
    >>> rotate_quarters(img, torch.tensor([1]))[0, 0]
    tensor([[1., 3.],
            [0., 2.]])
    """
    out = images
    where = turns.reshape(*turns.shape, 1, 1, 1)
    for q in (1, 2, 3):
        out = torch.where(where == q, torch.rot90(images, q, dims=(-2, -1)), out)
    return out


def _names(classes, codes, limit=5):
    shown = ", ".join(repr(classes[c]) if isinstance(classes[c], str) else str(classes[c])
                      for c in codes[:limit])
    more = f" and {len(codes) - limit} more" if len(codes) > limit else ""
    return shown + more


class EpisodicTraining:
    """Meta-training over episodes, for classifiers and regressors alike (mixin).

    It runs ``_meta_update`` on meta-batches of episodes drawn on the device,
    in blocks of 100 meta-updates (the epochs of the training loop), and
    makes the copy-on-write copies that ``adapt`` returns. In a regressor an
    episode's "class" is a task (a group of rows).
    """

    _parameter_constraints: dict = {
        "n_shot": [Interval(Integral, 1, None, closed="left")],
        "n_query": [Interval(Integral, 1, None, closed="left")],
        "max_iter": [Interval(Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "meta_batch_size": [Interval(Integral, 1, None, closed="left")],
    }

    _unit = META_UPDATES

    #: what _set_support fits, in messages
    _support_word = "classifier"

    #: what the sampler draws an episode's rows from, in messages
    _class_word = "class"

    #: history key of the per-block training score (None: loss only)
    _train_score_key = "train_acc"

    def _resolve_max_iter(self, n_samples):
        """``max_iter_``: ``max_iter``, or what ``"auto"`` gives for this data.

        ``"auto"`` counts in passes over the data, as ``MLPClassifier``'s
        ``max_iter`` does: enough meta-updates to draw every training sample
        about 50 times, at most 2,000.
        """
        if self.max_iter == "auto":
            way, shot, query = self.episode_shape_
            per_update = way * (shot + query) * self.meta_batch_size
            self.max_iter_ = int(
                min(_AUTO_MAX_ITER, max(1, math.ceil(_AUTO_PASSES * n_samples / per_update)))
            )
        else:
            self.max_iter_ = int(self.max_iter)
        return self.max_iter_

    def _n_iter_from_history(self):
        return int(self.history_[-1]["iter"]) if len(self.history_) else 0

    def _initialize(self, input_shape):
        super()._initialize(input_shape)
        self._shares_module = False

    def _train_score(self, out, q_y):
        """Training score of one meta-update from its query outputs (accuracy)."""
        return (out.argmax(-1) == q_y).float().mean()

    def _adapted_copy(self):
        """A shallow copy sharing the network copy-on-write, without callbacks."""
        # copy.copy would go through __getstate__ and serialise the whole module
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        vars(new).pop("_run", None)
        # scikit-learn's configuration is the new estimator's own to change
        for name in ("_sklearn_output_config", "_metadata_request"):
            if name in vars(self):
                setattr(new, name, copy.deepcopy(getattr(self, name)))
        new.history_ = copy.deepcopy(self.history_)
        # callbacks belong to this estimator's training runs (a Checkpoint
        # writes its files): the new one starts without them
        new.callbacks = None
        new.callbacks_ = []
        new._callbacks_from = None
        self._shares_module = True
        new._shares_module = True
        return new

    # ----------------------------------------------------------- meta-training
    def _sampler(self, y_t, class_names):
        n_classes = int(torch.unique(y_t).numel())
        sampler = EpisodeSampler(
            y_t,
            n_way=min(self._episode_way(), n_classes),
            n_shot=self.n_shot,
            n_query=self.n_query,
            device=self.device_,
            adapt_small=True,
        )
        dropped = list(getattr(sampler, "dropped_classes_", []))
        if dropped:
            warnings.warn(
                f"{len(dropped)} {self._class_word}(s) have fewer than n_shot + n_query = "
                f"{self.n_shot + self.n_query} samples and are left out of the training "
                f"episodes: {_names(class_names, dropped)}."
                + (" They are still predicted." if self._class_word == "class" else "")
                + " Lower n_shot/n_query to train on them too.",
                UserWarning,
                stacklevel=4,
            )
        wanted = (self.n_shot, self.n_query)
        got = (sampler.n_shot_, sampler.n_query_)
        if got != wanted:
            warnings.warn(
                f"No {self._class_word} of the training data can supply n_shot={wanted[0]} + "
                f"n_query={wanted[1]} samples (the smallest has {sampler.min_count_}); "
                f"training on {sampler.n_way_}-way {got[0]}-shot episodes with "
                f"n_query={got[1]}. Lower n_shot/n_query or add samples.",
                UserWarning,
                stacklevel=4,
            )
        if sampler.shared_query_:
            warnings.warn(
                "Some classes have a single sample, which serves as both the support "
                "and the query of its class in the training episodes; such episodes "
                "teach little. Add samples or drop those classes.",
                UserWarning,
                stacklevel=4,
            )
        self.episode_shape_ = (sampler.n_way_, sampler.n_shot_, sampler.n_query_)
        return sampler

    def _meta_train(self, data, labels, target, *, validate=None, X=None, y=None,
                    data_key=None, class_names=None):
        """Meta-train until ``n_iter_`` reaches ``target()``.

        ``data`` is what a meta-update reads (the device tensor of the
        samples; a regressor's :class:`TaskData`), ``labels`` the class (or
        task) of each row, from which the episodes are drawn.
        """
        if self.optimizer_ is None:
            # nothing to train (backbone="identity"): the updates are empty
            n_classes = int(torch.unique(labels).numel())
            self.episode_shape_ = (min(self._episode_way(), n_classes), self.n_shot, self.n_query)
            self.n_iter_ = target()
            return
        sampler = self._sampler(labels, self.classes_ if class_names is None else class_names)
        n_way = sampler.n_way_

        def update(s_idx, s_y, q_idx, q_y):
            return self._meta_update(data, s_idx, s_y, q_idx, q_y, n_way)

        def start_loss(s_idx, s_y, q_idx, q_y):
            return self._start_loss(data, s_idx, s_y, q_idx, q_y, n_way)

        key = self._train_score_key
        runner = EpisodeRunner(
            self, self.module_, sampler, update, seed=self._seed, device=self.device_,
            global_rng=self._global_rng, meta_batch_size=self.meta_batch_size,
            data_key=data_key, score=self._train_score if key else None, score_key=key,
            before_update=self._set_lr, start_loss=start_loss,
        )
        self._train(runner, target, validate=validate, X=X, y=y)
        self.module_.eval()

    def _episode_way(self):
        """Classes (tasks) per training episode: n_way, or 1 for a regressor."""
        return self.n_way

    def _set_lr(self):
        """Learning-rate schedule applied before every meta-update (hook)."""

    def _start_loss(self, data, s_idx, s_y, q_idx, q_y, n_way):
        """The loss the divergence check starts from, on the first meta-batch (hook).

        None (the default): the first update's loss. An algorithm whose first
        update can already have diverged (a gradient-based inner loop with
        too large a step) returns the loss before adaptation, as a device
        scalar.
        """
        return None

    def _keep_support(self, present):
        """Before ``partial_fit`` trains: keep what the absent classes need (hook)."""

    def _meta_update(self, data, s_idx, s_y, q_idx, q_y, n_way):
        """One meta-update on a meta-batch of episodes; the detached loss and logits.

        The default descends the gradient of ``_episode_loss``; an algorithm
        with its own outer update (Reptile) or its own way of accumulating
        the gradient (MAML, in chunks of tasks) overrides it.
        """
        opt = self.optimizer_
        loss, logits = self._episode_loss(data, s_idx, s_y, q_idx, q_y, n_way)
        opt.zero_grad(set_to_none=True)
        self._backward(loss)
        self._step(opt)
        return loss.detach(), logits.detach()



class BaseEpisodicClassifier(EpisodicTraining, BaseTorchClassifier):
    """Common ground of the few-shot classifiers (not for direct use)."""

    _parameter_constraints: dict = {
        **BaseTorchClassifier._parameter_constraints,
        **EpisodicTraining._parameter_constraints,
        "n_way": [Interval(Integral, 2, None, closed="left")],
        "rotation_classes": ["boolean"],
    }

    #: what a few-shot classifier built on this base without the parameter gets
    rotation_classes = False

    # ---------------------------------------------------------------- fitting
    @fit_guard(partial=False)
    @fit_context(prefer_skip_nested_validation=True)
    def fit(self, X, y=None):
        """Meta-train on episodes from ``(X, y)``, then fit the classes of ``y``.

        With early stopping (``early_stopping=True``, or ``"auto"`` on more
        than 10,000 samples), a share ``validation_fraction`` of the classes
        is held out from meta-training; every 100 meta-updates the episodic
        accuracy on them is measured, training stops once more than
        ``n_iter_no_change`` checks in a row have not improved the best one
        by ``tol``, and the best network is kept. The held-out classes are still predicted afterwards.

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
        self : object
            The fitted estimator.
        """
        X, y = self._validate_X_y(X, y)
        codes = self._encode_y(y)
        self._initialize(X.shape[1:])
        X_t, y_t = self._device_data(X, codes)
        n_classes = len(self.classes_)
        early = self._early_stopping_on(len(codes))
        if early and (n_classes < 4 or self.optimizer_ is None):
            if self.early_stopping != "auto" and self.optimizer_ is not None:
                raise ValueError(
                    "early_stopping=True holds out whole classes for validation and "
                    f"needs at least 4 classes; y has {n_classes}. Set "
                    "early_stopping=False."
                )
            early = False
        if early:
            self._start_early_stopping()
        validate = None
        X_tr, y_tr, names = X_t, y_t, self.classes_
        if early:
            X_tr, y_tr, validate = self._hold_out_classes(X_t, y_t)
            # the training part is encoded anew: name its classes accordingly
            names = self.classes_[~np.isin(self.classes_, self.validation_classes_)]
        n_train = len(y_tr)
        self._meta_train(
            X_tr,
            y_tr,
            lambda: self._resolve_max_iter(n_train),
            validate=validate,
            X=X,
            y=y,
            data_key=data_key(X, codes),
            class_names=names,
        )
        del X_tr, y_tr, validate
        self._set_support(X_t, y_t, np.arange(n_classes))
        return self

    @fit_guard(partial=True)
    @fit_context(prefer_skip_nested_validation=True)
    def partial_fit(self, X, y=None, classes=None):
        """Meta-train further on ``(X, y)``, building the model on the first call.

        One call runs as many meta-updates as it takes to draw about every
        sample once: ``ceil(n_samples / (n_way * (n_shot + n_query)))``. What
        predicts the classes present in ``y`` (ProtoNet: their prototypes) is
        then refitted with the updated network; other classes keep theirs.
        Early stopping does not apply to ``partial_fit``.

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            Training samples.
        y : array-like of shape (n_samples,) or None, default=None
            Class labels, all within ``classes``; None when ``X`` is a dataset
            of ``(image, label)`` pairs.
        classes : array-like of shape (n_classes,), default=None
            Every label the model will predict. Required on the first call.

        Returns
        -------
        self : object
            The updated estimator.
        """
        first = not self.__sklearn_is_fitted__()
        X, codes = self._validate_partial(X, y, classes, first=first)
        self._begin_partial_fit(first, X.shape[1:])
        X_t, y_t = self._device_data(X, codes)
        present = np.unique(codes)
        self._keep_support(present)
        if len(present) < 2:
            # a stream sorted by class: no episode can be drawn from one class
            warnings.warn(
                f"partial_fit got samples of one class ({self.classes_[present[0]]!r}): "
                "episodes need two, so there was no meta-training; only that class's "
                f"{self._support_word} was updated.",
                UserWarning,
                stacklevel=3,
            )
            self._set_support(X_t, y_t, present, first=first)
            return self
        episode = self.n_way * (self.n_shot + self.n_query)
        n_updates = max(1, math.ceil(len(codes) / episode))
        self._meta_train(
            X_t, y_t, lambda: self.n_iter_ + n_updates, X=X, y=y, data_key=data_key(X, codes)
        )
        self._set_support(X_t, y_t, present, first=first)
        return self

    def _meta_train(self, data, labels, target, *, class_names=None, **kwargs):
        """Meta-train; with ``rotation_classes``, on four rotated copies of every class.

        Row ``v`` of the rotated set is real row ``v % n`` turned by
        ``v // n`` quarter turns, in class ``label + (v // n) * n_classes``:
        the labels grow fourfold, the images do not (they are turned as
        training gathers them, :meth:`_gather_training`).
        """
        names = self.classes_ if class_names is None else np.asarray(class_names)
        if not self.rotation_classes:
            super()._meta_train(data, labels, target, class_names=names, **kwargs)
            return
        shape = self.input_shape_
        if len(shape) != 3 or shape[1] != shape[2]:
            raise ValueError(
                "rotation_classes=True turns images by quarter turns, which needs square "
                f"images; X has samples of shape {tuple(shape)}. Set "
                "rotation_classes=False, or resize the images to a square."
            )
        n_cls = len(names)
        labels = torch.cat([labels + k * n_cls for k in range(4)])
        names = np.concatenate(
            [names.astype(object)]
            + [np.array([f"{c} turned {90 * k} degrees" for c in names], dtype=object)
               for k in (1, 2, 3)]
        )
        self._run.rotated_rows = int(data.shape[0])
        try:
            super()._meta_train(data, labels, target, class_names=names, **kwargs)
        finally:
            self._run.rotated_rows = None

    def _gather_training(self, X_t, idx):
        n = self._run.rotated_rows if self._run is not None else None
        if n is None:
            return super()._gather_training(X_t, idx)
        return rotate_quarters(super()._gather_training(X_t, idx % n), idx // n)

    def _chance_loss(self):
        # the training loss is that of an episode's n_way classes
        return math.log(max(2, self.episode_shape_[0]))

    def _hold_out_classes(self, X_t, y_t):
        """Split off whole classes for validation; return train data and validate()."""
        n_classes = len(self.classes_)
        n_val = min(n_classes - 2, max(2, round(self.validation_fraction * n_classes)))
        rng = check_random_state(self._seed)
        val_classes = np.sort(rng.permutation(n_classes)[:n_val])
        is_val = np.isin(np.arange(n_classes), val_classes)
        y_host = y_t.cpu().numpy()
        val_rows = torch.from_numpy(np.flatnonzero(is_val[y_host])).to(self.device_)
        tr_rows = torch.from_numpy(np.flatnonzero(~is_val[y_host])).to(self.device_)
        # re-encode each part to 0..k-1, as the sampler wants
        tr_map = np.cumsum(~is_val) - 1
        val_map = np.cumsum(is_val) - 1
        X_tr = rows_of(X_t, tr_rows)
        y_tr = torch.from_numpy(tr_map[y_host[tr_rows.cpu().numpy()]]).to(self.device_)
        X_val = rows_of(X_t, val_rows)
        y_val = torch.from_numpy(val_map[y_host[val_rows.cpu().numpy()]]).to(self.device_)
        sampler = EpisodeSampler(
            y_val,
            n_way=min(self.n_way, n_val),
            n_shot=self.n_shot,
            n_query=self.n_query,
            device=self.device_,
            adapt_small=True,
        )
        with torch_rng(self._seed + 1, self.device_) as gen:
            s_idx, q_idx, s_y, q_y = sampler.sample(gen, _N_VALID_EPISODES)
        n_way = sampler.n_way_
        self.validation_classes_ = self.classes_[val_classes]

        def validate():
            logits = self._episode_logits(X_val, s_idx, s_y, q_idx, n_way)
            loss = F.cross_entropy(logits.reshape(-1, n_way).float(), q_y.reshape(-1))
            acc = (logits.argmax(-1) == q_y).double().mean()
            return loss.item(), acc.item()

        return X_tr, y_tr, validate

    # --------------------------------------------------------------- adapting
    def adapt(self, X_support, y_support=None):
        """A new estimator that predicts among the classes of a support set.

        This is the few-shot step. The new estimator shares this one's network
        copy-on-write: whichever of the two trains again (``partial_fit``,
        ``fit``, ``load_params``) first takes a network of its own, so they
        never change each other, and adapting stays cheap enough for scoring
        to call it thousands of times. The new estimator has no callbacks
        (``callbacks=None``): this one's checkpoints and loggers stay its own.

        Parameters
        ----------
        X_support : array-like of shape (n_support, ...), sequence of images or dataset
            A few labelled samples of each new class, in any form ``fit``
            takes.
        y_support : array-like of shape (n_support,) or None, default=None
            Their labels, of any type; None when ``X_support`` is a dataset of
            ``(image, label)`` pairs.

        Returns
        -------
        object
            A fitted estimator of the same type whose ``classes_`` are the
            labels of ``y_support``.
        """
        check_is_fitted(self)
        # what adapting reads (n_adapt_steps, inner_lr, ...) may have been set since fit
        self._validate_params()
        X_support, y_support = self._unpack_dataset(X_support, y_support)
        if y_support is None:
            raise ValueError("adapt needs the labels y_support of the support samples.")
        X_support = self._validate_X(X_support, reset=False)
        y_support = column_or_1d(y_support, warn=True)
        if len(y_support) != X_support.shape[0]:
            raise ValueError(
                f"X_support has {X_support.shape[0]} samples but y_support has "
                f"{len(y_support)}."
            )
        new = self._adapted_copy()
        codes = new._encode_y(y_support)
        X_t, y_t = self._device_data(X_support, codes)
        new._set_support(X_t, y_t, np.arange(len(new.classes_)), first=True)
        return new

    def _predict_episodes(self, X, s_idx, s_y, q_idx, n_way):
        """Episode-local predictions for a batch of episodes (episodic scoring).

        Parameters
        ----------
        X : array-like of shape (n_samples, ...)
            The rows the episodes index.
        s_idx, s_y, q_idx : torch.Tensor
            Support rows, their episode-local labels, and query rows, as
            :meth:`~sklearn_meta._episodes.EpisodeSampler.sample` returns them.
        n_way : int
            Classes per episode.

        Returns
        -------
        torch.Tensor of shape (n_episodes, n_query_rows)
            The predicted episode-local label of every query row.
        """
        return self._predict_episodes_logits(X, s_idx, s_y, q_idx, n_way).argmax(-1)

    def _predict_episodes_proba(self, X, s_idx, s_y, q_idx, n_way):
        """Episode-local class probabilities, shape (n_episodes, n_query_rows, n_way)."""
        return torch.softmax(self._predict_episodes_logits(X, s_idx, s_y, q_idx, n_way), -1)

    def _predict_episodes_logits(self, X, s_idx, s_y, q_idx, n_way):
        check_is_fitted(self)
        self._validate_params()
        # validate (decode, for files) and move only the rows the episodes use
        used, inverse = torch.unique(
            torch.cat([s_idx.flatten(), q_idx.flatten()]).cpu(), return_inverse=True
        )
        X_t = self._to_tensor(self._validate_rows(X, used.numpy())).to(self.device_)
        s_pos = inverse[: s_idx.numel()].view_as(s_idx).to(self.device_)
        q_pos = inverse[s_idx.numel() :].view_as(q_idx).to(self.device_)
        return self._episode_logits(X_t, s_pos, s_y.to(self.device_), q_pos, n_way)
