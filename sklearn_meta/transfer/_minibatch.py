"""What the transfer estimators share: a network with a linear head, minibatch epochs.

:class:`FineTuneClassifier` and :class:`DomainAdaptedClassifier` train the
same way: the training set goes to the device once, each epoch draws its
shuffle there from a seeded generator
(:class:`~sklearn_meta._training.MinibatchRunner`), and every minibatch step
is one update of the training loop (Ctrl-C, callbacks, early stopping). They
also share the network (features, then a linear head), the optimiser's two
parameter groups, the stratified hold-out for early stopping and the
validation pass. What differs is how a step draws its rows and what loss it
takes; that is all a subclass says, through
:meth:`MinibatchEstimator._run_epochs`.
"""

from __future__ import annotations

import copy
import functools

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import train_test_split
from sklearn.utils.validation import check_is_fitted
from torch import nn

from .._devices import make_optimizer, module_lock
from .._inputs import batch_to
from .._training import MinibatchRunner
from ..backbones import has_batch_norm

__all__ = ["HeadNet", "MinibatchEstimator", "batch_bounds", "validation_pass"]


def batch_bounds(n, batch_size):
    """(start, stop) of each minibatch; never leaves a last batch of one sample.

    A lone sample breaks batch normalisation in training mode, so it joins the
    batch before it.
    """
    starts = list(range(0, n, batch_size))
    stops = starts[1:] + [n]
    if len(starts) > 1 and stops[-1] - starts[-1] == 1:
        starts.pop()
        stops.pop(-2)
    return list(zip(starts, stops))


class HeadNet(nn.Module):
    """A feature extractor followed by a linear classifier (and, for domain
    adaptation, the adaptation criterion, whose parameters train with the head).

    ``head``, when given, replaces the new linear classifier: a source
    model's head, which source-free adaptation keeps.
    """

    def __init__(self, features, n_features, n_classes, criterion=None, head=None):
        super().__init__()
        self.features = features
        self.n_features = n_features
        self.head = nn.Linear(n_features, n_classes) if head is None else head
        self.criterion = criterion

    def forward(self, x):
        return self.head(self.features(x))


class MinibatchEstimator:
    """Mixin of the epoch-based estimators: network checks, optimiser, hold-out, epochs."""

    #: how else a user can train a batch-norm backbone with batch_size=1
    _batch_size_one_fix = ""
    #: max_epochs="auto": at least this many minibatch updates, and this many epochs
    _auto_min_updates = 1000
    _auto_min_epochs = 20

    def _accept_module(self, module, pretrained):
        # backbone_lr="auto" follows it when the optimiser is made
        self.pretrained_ = pretrained
        if self.batch_size == 1 and has_batch_norm(module):
            raise ValueError(
                "batch_size=1 cannot train this backbone: batch normalisation needs at "
                "least 2 samples per minibatch in training. Use batch_size >= 2 (e.g. "
                f"the default 64){self._batch_size_one_fix}."
            )

    @property
    def _n_features_out(self):
        return self.module_.n_features

    def get_classifier_head(self):
        """A trainable copy of the fitted classifier head, on the CPU.

        With :meth:`get_feature_extractor` it gives the whole fitted model:
        ``head(features(x))`` are the logits of ``decision_function``, in
        the order of ``classes_``. Source-free adaptation
        (``DomainAdaptedClassifier(backbone=<this estimator>,
        method="shot")``) reads it.

        Returns
        -------
        torch.nn.Module
            A copy of the head (a ``torch.nn.Linear`` from the embedding of
            ``transform`` to one logit per class), on the CPU, with every
            parameter trainable; changing it never changes this estimator.

        Examples
        --------
        >>> import numpy as np
        >>> import torch
        >>> from sklearn_meta import FineTuneClassifier
        >>> X = np.random.RandomState(0).rand(40, 8).astype(np.float32)
        >>> y = np.arange(40) % 2
        >>> clf = FineTuneClassifier("mlp", max_epochs=1, random_state=0).fit(X, y)
        >>> features, head = clf.get_feature_extractor(), clf.get_classifier_head()
        >>> with torch.no_grad():
        ...     logits = head(features(torch.from_numpy(X[:3]))).numpy()
        >>> np.allclose(logits[:, 1] - logits[:, 0], clf.decision_function(X[:3]), atol=1e-5)
        True
        """
        check_is_fitted(self)
        with module_lock(self.module_):
            head = copy.deepcopy(self.module_.head).cpu()
        for p in head.parameters():
            p.requires_grad_(True)
        return head

    def _backbone_lr_ratio(self):
        if self.backbone_lr == "auto":
            return 0.1 if self.pretrained_ else 1.0
        return self.backbone_lr

    def _optimizer_for(self, groups):
        """The optimiser named by ``optimizer`` over parameter ``groups``."""
        dev = self.device_
        if self.optimizer == "sgd":
            return make_optimizer(
                torch.optim.SGD, groups, dev, lr=self.lr, momentum=0.9, nesterov=True
            )
        opt = torch.optim.Adam if self.optimizer == "adam" else torch.optim.AdamW
        return make_optimizer(opt, groups, dev, lr=self.lr)

    def _holdout(self, codes):
        """Training and validation indices: a stratified ``validation_fraction``."""
        try:
            return train_test_split(
                np.arange(len(codes)),
                test_size=self.validation_fraction,
                stratify=codes,
                random_state=self._seed,
            )
        except ValueError as exc:
            raise ValueError(
                f"early_stopping holds out a stratified validation_fraction="
                f"{self.validation_fraction} of the rows, which this y cannot supply "
                f"({exc}). Set early_stopping=False or add samples."
            ) from exc

    def _validator(self, X_val, codes_val):
        """validate() for the training loop: loss and accuracy on held-out rows."""
        X_t, y_t = self._device_data(X_val, codes_val, stream=True)
        chunk = max(256, 4 * int(self.batch_size))
        return functools.partial(validation_pass, self.module_, X_t, y_t, self.device_, chunk)

    def _resolve_max_epochs(self, n_rows):
        """``max_epochs_``: ``max_epochs``, or for "auto" enough epochs for the minimum updates."""
        if self.max_epochs != "auto":
            self.max_epochs_ = int(self.max_epochs)
            return
        n_batches = len(batch_bounds(max(1, n_rows), int(self.batch_size)))
        self.max_epochs_ = max(self._auto_min_epochs, -(-self._auto_min_updates // n_batches))

    def _epoch_goal(self):
        """The epochs a fit aims for: ``max_epochs`` read live, or what "auto" resolved to."""
        return self.max_epochs_ if self.max_epochs == "auto" else int(self.max_epochs)

    def _after_unpickle(self):
        super()._after_unpickle()
        if "max_epochs_" not in vars(self) and self.__sklearn_is_fitted__():
            self.max_epochs_ = int(self.max_epochs)  # pickled before max_epochs="auto"

    def _n_iter_from_history(self):
        return sum(1 for row in self.history_ if row.get("epoch_complete", True))

    def _run_epochs(
        self, target, step, draw, *, n_batches, data_key, data_device, prepare=None,
        step_means=None, X=None, y=None, validate=None,
    ):
        """Train epochs of ``n_batches`` minibatch steps (see MinibatchRunner)."""
        runner = MinibatchRunner(
            self, self.module_, step, draw, seed=self._seed, device=self.device_,
            data_device=data_device, global_rng=self._global_rng, n_batches=n_batches,
            data_key=data_key, prepare=prepare, step_means=step_means,
        )
        self._train(runner, target, X=X, y=y, validate=validate, steps_per_iter=n_batches)
        self.module_.eval()


def validation_pass(module, X_t, y_t, device, chunk):
    """Mean cross-entropy and accuracy of ``module`` on ``(X_t, y_t)``, one host sync."""
    module.eval()
    total = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.long)
    with torch.inference_mode():
        for start in range(0, X_t.shape[0], chunk):
            xb = batch_to(X_t, slice(start, start + chunk), device)
            yb = y_t[start : start + chunk].to(device, non_blocking=True)
            logits = module(xb)
            total += F.cross_entropy(logits, yb, reduction="sum").double()
            correct += (logits.argmax(1) == yb).sum()
    n = X_t.shape[0]
    return total.item() / n, correct.item() / n
