"""The training loop: one object that owns what a training run needs.

:class:`TrainingLoop` trains an estimator until ``n_iter_`` reaches a goal,
epoch by epoch, with explicit state: the goal, the updates made, stop
requests (Ctrl-C, a callback, early stopping), the progress bar and the
callbacks. The epochs themselves come from an epoch runner
(:mod:`sklearn_meta._training._runners`), which asks the loop before every
update whether to go on (:meth:`TrainingLoop.halt`) and tells it after each
(:meth:`TrainingLoop.step`).

Progress lives in ``history_`` (a skorch ``History``; skorch's
``Checkpoint`` and ``LoadInitState`` read it): a row per epoch with
``train_loss``, the runner's metrics and, with early stopping,
``valid_loss`` and ``valid_acc``.

Divergence is caught where the metrics are read back, once per epoch, with
no host synchronisation added to the updates: a training loss that is not
finite, or that ends an epoch above :data:`DIVERGENCE_FACTOR` times where it
started, stops the fit with a ``ValueError`` naming the step sizes to lower.
Where it started is the loss the runner reports from before the run's first
update (``start_loss``: the first minibatch's or meta-batch's loss, computed
on the network before that update changed it; for the MAML family, the loss
before adaptation, since a too large inner step makes even the first
update's loss explode), and never less than the loss of a chance prediction
(``estimator._chance_loss()``: ``log(n_classes)`` for a classifier), so a
loss that starts near zero may still move. Normal training stays far below
it: every estimator at its defaults on digits, Omniglot (``small1``) and
sinusoids ended no epoch above 1.21 times where its fit started
(MAMLRegressor; the classifiers stayed below 1), while step sizes that used
to diverge silently end thousands of times above it (MAMLClassifier with
``inner_lr=1e4`` on digits: 3,150 times; MAMLRegressor with
``inner_lr=100`` on sinusoids: 10^13 times).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from ._callbacks import Callbacks, check_monitors

__all__ = [
    "DIVERGENCE_FACTOR",
    "EPOCHS",
    "META_UPDATES",
    "TrainingLoop",
    "Unit",
    "fold_cut_epoch",
    "where_stopped",
]

#: a training loss above this many times where it started means the fit diverged
DIVERGENCE_FACTOR = 1000.0


@dataclass(frozen=True)
class Unit:
    """What ``n_iter_`` counts, and what one row of ``history_`` is, in messages."""

    #: one unit of ``n_iter_`` ("epoch", "meta-update")
    singular: str
    #: several of them
    plural: str
    #: what a history row (one validation check) spans ("epoch", "block")
    row: str
    #: whether a row can stop part-way, counted in minibatches
    has_minibatches: bool


EPOCHS = Unit("epoch", "epochs", "epoch", True)
META_UPDATES = Unit("meta-update", "meta-updates", "block", False)


def where_stopped(estimator):
    """Where training stopped, for the Ctrl-C warning."""
    unit = estimator._unit
    where = f"{getattr(estimator, 'n_iter_', 0)} {unit.plural} in all"
    history = getattr(estimator, "history_", None)
    if unit.has_minibatches and history and history[-1].get("epoch_complete") is False:
        where += f" and {history[-1]['train_batch_count']} minibatches of the next"
    return where


def fold_cut_epoch(history, data_key):
    """Go on with an epoch that Ctrl-C (or a callback) cut short.

    When the row before the one just opened is an epoch cut short on the
    same data (``data_key`` equal to the row's ``epoch_data``), that row is
    folded into the new one (its ``batches`` go first) and returned: the
    coming epoch continues it, so ``history`` gets the rows an uninterrupted
    run gets. Otherwise None, and the epoch starts afresh.
    """
    if len(history) >= 2 and history[-2].get("epoch_complete") is False:
        cut = history[-2]
        if cut.get("epoch_data") == data_key:
            del history[-2]
            history[-1]["batches"][:0] = cut.get("batches", [])
            return cut
    return None


def _record_best(history, key, value, *, lower_is_better):
    previous = [row[key] for row in history[:-1] if key in row]
    if lower_is_better:
        best = not previous or value < min(previous)
    else:
        best = not previous or value > max(previous)
    history.record(f"{key}_best", bool(best))


class TrainingLoop:
    """Train ``estimator`` toward a goal, one epoch of a runner at a time.

    Parameters
    ----------
    estimator : BaseTorchEstimator
        Read for ``history_``, ``n_iter_``, ``module_``, ``verbose``,
        ``callbacks``, ``tol`` and ``n_iter_no_change``, the fit under way
        (``_run``) and the words of its messages (``_unit``, ``_lr_hint``);
        ``best_validation_score_`` is written after each check.
    validate : callable or None
        ``validate()`` returns ``(valid_loss, valid_score)`` on held-out
        data, after every complete epoch, when the fit has early stopping.
    steps_per_iter : int
        Updates in one unit of ``n_iter_`` (minibatches per epoch), for the
        progress bar.
    """

    def __init__(self, estimator, *, validate=None, steps_per_iter=1):
        self.estimator = estimator
        self.run_ = estimator._run
        self.validate = validate
        self.steps_per_iter = steps_per_iter
        self.stop = False
        self.updates = 0
        self.goal = None
        self.bar = None
        self.callbacks = None
        #: the loss the divergence check compares with (set by the first epoch)
        self.start_loss = None

    @property
    def early_stopping(self):
        return self.run_.early_stopping

    # ---------------------------------------------------- asked by the runners
    def halt(self):
        """True when training must stop before the next update."""
        return self.stop or self.run_.sigint.requested

    def step(self):
        """Count a completed update; True when training must stop now."""
        self.updates += 1
        self.bar.update(1)
        # an entry per update in skorch's "batches", for what callbacks record
        # there; losses stay on the device and are read back once per epoch
        self.estimator.history_.new_batch()
        if self.callbacks.notify("on_batch_end", training=True):
            self.stop = True
        return self.halt()

    # ---------------------------------------------------------------- the run
    def run(self, runner, target, *, X=None, y=None):
        """Train until ``n_iter_`` reaches ``target()``, epoch by epoch.

        ``target`` is read after ``on_train_begin``, so that a callback
        restoring a checkpoint (skorch's ``LoadInitState``) resumes the fit
        where it stopped. ``runner.run_epoch(loop)`` runs one epoch toward
        ``loop.goal`` and returns the dict of its metrics (with at least
        ``train_loss``), or None when it made no update.
        """
        est = self.estimator
        self.callbacks = Callbacks(est, self.run_.sigint)
        check_monitors(
            est.callbacks_, validates=self.validate is not None and self.early_stopping is not None
        )
        self.stop = self.callbacks.notify("on_train_begin", X=X, y=y)
        trained_before = est.n_iter_ > 0 or len(est.history_) > 0
        self.goal = target()
        self.bar = tqdm(
            total=max(0, self.goal - est.n_iter_) * self.steps_per_iter,
            disable=not est.verbose,
            desc=type(est).__name__,
            mininterval=0.5,
        )
        try:
            while est.n_iter_ < self.goal and not self.halt() and not self._no_improvement():
                if self.callbacks.notify("on_epoch_begin"):
                    break
                tic = time.perf_counter()
                before = est.n_iter_
                est.history_.new_epoch()
                metrics = runner.run_epoch(self)
                if metrics is None:
                    est.history_.pop()
                    break
                self._record_epoch(metrics, before, tic)
                if not metrics.get("epoch_complete", True):
                    # cut short by Ctrl-C or a callback: no validation and no
                    # on_epoch_end (schedulers, checkpoints) for half an epoch
                    break
                self.stop = self.callbacks.notify("on_epoch_end") or self.stop
                if est.verbose:
                    self.bar.set_postfix(self._postfix(), refresh=False)
        finally:
            self.bar.close()
        if self.run_.sigint.requested and self.updates == 0 and not trained_before:
            # Ctrl-C before the first update: there is no model to keep
            raise KeyboardInterrupt
        self._restore_best()
        self.callbacks.notify("on_train_end", X=X, y=y)

    def _record_epoch(self, metrics, before, tic):
        est = self.estimator
        h = est.history_
        metrics = dict(metrics)
        reported = metrics.pop("start_loss", None)
        loss = float(metrics["train_loss"])
        if not np.isfinite(loss):
            raise ValueError(
                f"The training loss became {loss} by {est._unit.singular} {est.n_iter_}. "
                f"Scale the inputs (e.g. StandardScaler) or lower {est._lr_hint}."
            )
        self._check_divergence(loss, reported)
        h.record("epoch", len(h))
        for key, value in metrics.items():
            h.record(key, value)
        if "train_batch_count" not in metrics:
            h.record("train_batch_count", est.n_iter_ - before)
        _record_best(h, "train_loss", loss, lower_is_better=True)
        stopping = self.early_stopping
        if self.validate is not None and stopping is not None and metrics.get(
            "epoch_complete", True
        ):
            with est._autocast():
                checked = self.validate()
            valid_loss, score = (float(v) for v in checked)
            h.record("valid_loss", valid_loss)
            h.record("valid_acc", score)
            _record_best(h, "valid_loss", valid_loss, lower_is_better=True)
            _record_best(h, "valid_acc", score, lower_is_better=False)
            stopping.update(score)
            est.best_validation_score_ = stopping.best_score
        h.record("dur", time.perf_counter() - tic)

    def _check_divergence(self, loss, reported):
        est = self.estimator
        if self.start_loss is None:
            start = reported if reported is not None and np.isfinite(reported) else loss
            self.start_loss = max(start, est._chance_loss())
        if loss > DIVERGENCE_FACTOR * self.start_loss:
            raise ValueError(
                f"The training loss became {loss:.6g} by {est._unit.singular} {est.n_iter_}, "
                f"more than {DIVERGENCE_FACTOR:g} times where it started "
                f"({self.start_loss:.4g}): training diverged. Lower {est._lr_hint}, or "
                "scale the inputs (e.g. StandardScaler)."
            )

    def _postfix(self):
        row = self.estimator.history_[-1]
        post = {"loss": f"{row['train_loss']:.4f}"}
        if "train_acc" in row:
            post["acc"] = f"{row['train_acc']:.3f}"
        if "valid_acc" in row:
            post["valid_acc"] = f"{row['valid_acc']:.3f}"
        return post

    def _no_improvement(self):
        stopping = self.early_stopping
        if stopping is None or not stopping.should_stop():
            return False
        est = self.estimator
        if est.verbose:
            print(
                f"Validation score did not improve more than tol={est.tol} for "
                f"{est.n_iter_no_change + 1} consecutive {est._unit.row}s. Stopping."
            )
        return True

    def _restore_best(self):
        stopping = self.early_stopping
        if stopping is not None and stopping.best is not None:
            self.estimator.module_.load_state_dict(stopping.best)
        # the rule has done its work: a checkpoint loaded from here on
        # (on_train_end) replays nothing
        self.run_.early_stopping = None
