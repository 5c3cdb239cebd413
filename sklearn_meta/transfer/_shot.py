"""Source-free domain adaptation: SHOT (Liang et al. 2020).

A model trained on a source domain is adapted with unlabelled target rows
alone, its training data out of reach. Its classifier head is kept frozen
(the "hypothesis" of the source) and its feature extractor learns to give
target features that head classifies well:

* **information maximisation**: each prediction confident (low entropy),
  the predictions of a batch diverse (high entropy of their mean), so the
  features cannot collapse onto one class;
* **self-supervised pseudo-labels**: at the start of every epoch, the
  centroid of each class in feature space is the mean of the target
  features weighted by the predicted probabilities; each row takes the
  class of its nearest centroid (cosine distance), the centroids are
  recomputed from those labels and the rows labelled again, once. The
  cross-entropy against these labels joins the loss with weight β (0.3 in
  the paper).

:class:`SourceFreeMixin` holds what :class:`DomainAdaptedClassifier` does
for ``method="shot"``; the losses are plain functions, tested against
numpy.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.utils.validation import check_is_fitted, column_or_1d
from torch import nn

from .._base import is_fitted_estimator
from .._inputs import batch_to
from .._precision import float32_math
from .._training import data_key
from ..backbones import build_backbone
from ._adaptation import entropy
from ._minibatch import HeadNet, batch_bounds

__all__ = ["SHOTLoss", "SourceFreeMixin", "information_maximization", "shot_pseudo_labels"]


@float32_math
def information_maximization(logits, eps=1e-8):
    """SHOT's information-maximisation loss of a batch: ``mean_i H(p_i) - H(mean_i p_i)``.

    Parameters
    ----------
    logits : torch.Tensor of shape (n, n_classes)
        Class logits.
    eps : float, default=1e-8
        Guards the logarithms.

    Returns
    -------
    torch.Tensor
        A scalar: the mean entropy of the predictions (made small: confident
        rows) minus the entropy of their mean (made large: diverse classes).
    """
    p = F.softmax(logits, dim=1)
    mean = p.mean(dim=0, keepdim=True)
    return entropy(p, eps).mean() - entropy(mean, eps).squeeze(0)


def _nearest(f, centroids, present):
    """Index of the nearest centroid (cosine) of each row, among the ``present`` classes."""
    sim = f @ F.normalize(centroids, dim=1).T
    sim[:, ~present] = -torch.inf
    return sim.argmax(dim=1)


@float32_math
def shot_pseudo_labels(features, probs):
    """SHOT's pseudo-labels: nearest class centroid in feature space, refined once.

    Parameters
    ----------
    features : torch.Tensor of shape (n, n_features)
        Features of the target rows.
    probs : torch.Tensor of shape (n, n_classes)
        Their predicted class probabilities.

    Returns
    -------
    torch.Tensor of shape (n,)
        Class codes. The centroids are first the means of the (L2-normalised)
        features weighted by ``probs``, over the classes some row predicts
        (argmax); each row takes its nearest centroid by cosine distance.
        The centroids are then the means of the rows so labelled, and the
        rows are labelled again.
    """
    f = F.normalize(features, dim=1)
    k = probs.shape[1]
    present = torch.bincount(probs.argmax(dim=1), minlength=k) > 0
    centroids = probs.T @ f / probs.sum(dim=0).clamp_min(1e-8).unsqueeze(1)
    labels = _nearest(f, centroids, present)
    onehot = F.one_hot(labels, k).to(f.dtype)
    counts = onehot.sum(dim=0)
    centroids = onehot.T @ f / counts.clamp_min(1).unsqueeze(1)
    return _nearest(f, centroids, counts > 0)


class SHOTLoss(nn.Module):
    """The state of SHOT's pseudo-labels, kept in the network's state dict.

    ``pseudo_labels`` holds the current epoch's labels of the target rows
    and ``labelled_for`` the ``(epoch, data fingerprint)`` they were made
    for, so that an epoch Ctrl-C cut short goes on (after a checkpoint is
    loaded, too) with the labels it started with. Its size follows the
    target set: loading a state dict resizes it.
    """

    def __init__(self):
        super().__init__()
        self.register_buffer("pseudo_labels", torch.zeros(0, dtype=torch.long))
        self.register_buffer("labelled_for", torch.full((2,), -1, dtype=torch.long))

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        saved = state_dict.get(prefix + "pseudo_labels")
        if saved is not None and saved.shape != self.pseudo_labels.shape:
            self.pseudo_labels = torch.zeros(
                saved.shape, dtype=torch.long, device=self.pseudo_labels.device
            )
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)


def _head_width(features, head, input_shape):
    """Classes a (features, head) pair predicts: its head's outputs."""
    width = getattr(head, "out_features", None)
    if isinstance(width, int):
        return width
    features, head = copy.deepcopy(features).eval(), copy.deepcopy(head).eval()
    try:
        with torch.no_grad():
            out = head(features(torch.zeros(2, *input_shape)))
    except RuntimeError as exc:
        raise ValueError(
            f"The source (features, head) cannot take samples of shape {tuple(input_shape)} "
            f"({exc}): the head must map the features' embedding to one logit per class."
        ) from exc
    if out.ndim != 2:
        raise ValueError(
            f"The source head gives outputs of shape {tuple(out.shape[1:])} per batch of 2 "
            "samples: it must map the features' embedding to one logit per class."
        )
    return int(out.shape[1])


def source_model(backbone):
    """``(features, head, classes)`` of a SHOT source: a fitted estimator or a pair.

    ``features`` is what :func:`~sklearn_meta.backbones.build_backbone`
    takes (the estimator itself, or the pair's module); ``classes`` is None
    for a pair.
    """
    if isinstance(backbone, (tuple, list)):
        if len(backbone) == 2 and all(isinstance(m, nn.Module) for m in backbone):
            return backbone[0], backbone[1], None
        raise ValueError(
            "method='shot' takes backbone=(features, head), a pair of torch modules "
            f"(features: samples -> embedding, head: embedding -> class logits); got "
            f"a {type(backbone).__name__} of {len(backbone)} "
            f"{', '.join(type(m).__name__ for m in backbone)}."
        )
    name = type(backbone).__name__
    if hasattr(backbone, "get_classifier_head"):
        check_is_fitted(backbone)
        return backbone, backbone.get_classifier_head(), backbone.classes_
    if is_fitted_estimator(backbone):
        what = f"the fitted {name} has a feature extractor but no classifier head"
    elif isinstance(backbone, nn.Module):
        what = f"a {name} module is a feature extractor without a classifier head"
    else:
        what = f"backbone={backbone!r} names a network to build, not a trained model"
    raise ValueError(
        "method='shot' adapts a model trained on the source domain, keeping its "
        f"classifier head, but {what}. Pass a fitted FineTuneClassifier or "
        "DomainAdaptedClassifier (anything with get_classifier_head), or a "
        "(features, head) pair of torch modules."
    )


class SourceFreeMixin:
    """What :class:`DomainAdaptedClassifier` does for ``method="shot"``."""

    def _is_source_free(self, first):
        """Whether this fit (or partial_fit) adapts source-free."""
        if first or not hasattr(self, "module_"):
            return self.method == "shot"
        return isinstance(self.module_.criterion, SHOTLoss)

    def _validate_source_free(self, X, y, sample_domain, classes, *, first):
        """Validate target-only ``X`` (``y`` None or all -1); set ``classes_`` on a first fit."""
        if first:
            source, head, source_classes = source_model(self.backbone)
        X, y = self._unpack_dataset(X, y)
        if y is None:
            y = np.full(len(X), self._unlabeled_marker)
        X, y = self._validate_X_y(X, y, reset=first)
        labelled = self._labelled(column_or_1d(y, warn=True))
        domain = None if sample_domain is None else column_or_1d(sample_domain, warn=True)
        if labelled.any() or (domain is not None and np.any(domain > 0)):
            n = int(labelled.sum()) if labelled.any() else int(np.sum(domain > 0))
            raise ValueError(
                f"method='shot' is source-free: it adapts the source model with unlabelled "
                f"target rows alone, but {n} row(s) are labelled or marked as source. Pass "
                "the target rows with y omitted (or all -1); to train on labelled source "
                "rows too, use another method."
            )
        if self.early_stopping is True:
            raise ValueError(
                "early_stopping=True holds out labelled source rows, which method='shot' "
                "does not have (it sees target rows alone). Set early_stopping=False."
            )
        if first:
            if source_classes is None:
                source_classes = np.arange(_head_width(source, head, X.shape[1:]))
            self.classes_ = np.asarray(source_classes)
        if classes is not None and not np.array_equal(np.unique(classes), self.classes_):
            raise ValueError(
                f"classes {np.unique(classes).tolist()} do not match the classes of the source "
                f"model, {self.classes_.tolist()}: method='shot' predicts the source "
                "model's classes (a (features, head) pair: 0 .. n_outputs - 1)."
            )
        return X

    def _build_source_free(self, input_shape, *, weights):
        """The source model's features (trained) and head (frozen), with SHOT's state."""
        source, head, _ = source_model(self.backbone)
        features, n_features, pretrained = build_backbone(source, input_shape, weights=weights)
        head = copy.deepcopy(head)
        head.requires_grad_(False)
        try:
            with torch.no_grad():
                out = head.eval()(torch.zeros(2, n_features))
        except RuntimeError as exc:
            raise ValueError(
                f"The source head cannot take the {n_features} features its feature "
                f"extractor gives ({exc}): it must map them to one logit per class."
            ) from exc
        if out.shape[1:] != (len(self.classes_),):
            raise ValueError(
                f"The source head gives outputs of shape {tuple(out.shape[1:])} for "
                f"{len(self.classes_)} classes: it must map the {n_features} features to "
                "one logit per class."
            )
        return HeadNet(features, n_features, len(self.classes_), SHOTLoss(), head=head), pretrained

    def _label_targets(self, X_t, epoch, key):
        """This epoch's pseudo-labels of every target row (kept when already made)."""
        module, state = self.module_, self.module_.criterion
        stamp = torch.tensor([epoch, key], dtype=torch.long, device=state.labelled_for.device)
        if len(state.pseudo_labels) == X_t.shape[0] and torch.equal(state.labelled_for, stamp):
            return state.pseudo_labels
        module.eval()
        chunk = max(256, 4 * int(self.batch_size))
        feats, probs = [], []
        with torch.no_grad():
            for start in range(0, X_t.shape[0], chunk):
                f = module.features(batch_to(X_t, slice(start, start + chunk), self.device_))
                feats.append(f)
                probs.append(F.softmax(module.head(f), dim=1))
        state.pseudo_labels = shot_pseudo_labels(torch.cat(feats), torch.cat(probs))
        state.labelled_for.copy_(stamp)
        return state.pseudo_labels

    def _fit_source_free(self, X, target):
        """Epochs of SHOT over the target rows: ``batch_size`` of them per step."""
        n = X.shape[0]
        codes = np.full(n, -1, dtype=np.int64)
        self.n_source_, self.n_target_ = 0, n
        self.trade_off_ = self._adapt_weight()
        self.adapted_ = True
        X_t, _ = self._device_data(X, codes, stream=True)
        data_dev = X_t.device
        bounds = batch_bounds(n, int(self.batch_size))
        n_batches = len(bounds)
        key = data_key(X, codes, n_batches)
        module, opt, dev = self.module_, self.optimizer_, self.device_
        horizon = float(self._epoch_goal())
        sums = {"adapt_loss": torch.zeros((), device=dev)}
        labels = {}

        def prepare(epoch):
            labels["codes"] = self._label_targets(X_t, epoch, key)
            module.train()
            module.head.eval()  # frozen: batch norm or dropout in a head stay as trained
            return {}

        def draw(gen, epoch):
            return torch.randperm(n, generator=gen, device=data_dev)

        def step(perm, b, epoch):
            start, stop = bounds[b]
            if self.lr_schedule == "ganin":
                progress = min(1.0, (epoch + b / n_batches) / horizon)
                for group in opt.param_groups:
                    group["lr"] = group["base_lr"] * (1.0 + 10.0 * progress) ** -0.75
            idx = perm[start:stop]
            logits = module(self._training_rows(X_t, idx))
            pseudo = labels["codes"][idx.to(dev)]
            im = information_maximization(logits)
            ce_sum = F.cross_entropy(logits, pseudo, reduction="sum")
            ce = ce_sum / (stop - start)
            objective = self._adapt_weight() * im + self.pseudo_label_weight * ce
            opt.zero_grad(set_to_none=True)
            self._backward(objective)
            self._step(opt)
            sums["adapt_loss"] += im.detach()
            correct = (logits.detach().argmax(1) == pseudo).sum()
            return ce_sum.detach(), correct, stop - start

        self._run_epochs(
            target, step, draw, n_batches=n_batches, data_key=key, data_device=data_dev,
            prepare=prepare, step_means=sums, X=X, y=codes,
        )
