"""Epoch runners: how one epoch of updates is made, for the training loop.

Two kinds of training share the loop. :class:`EpisodeRunner` runs blocks of
meta-updates on N-way K-shot episodes drawn on the device (ProtoNet, the
MAML family); :class:`MinibatchRunner` runs epochs of minibatch steps over
a shuffle drawn on the data's device (fine-tuning, domain adaptation). An
estimator configures one with its step function and hands it to
:class:`~sklearn_meta._training.TrainingLoop`.

Both draw each epoch's randomness from a generator seeded by the fit's seed
and where the epoch begins, and reseed dropout and the estimator's
augmentation generator (``estimator._seed_augment(key)``) per update, so an
epoch that Ctrl-C cut short goes on, in the next call, exactly where it
stopped: a resumed fit gives the model an uninterrupted one gives (on the
CPU).
"""

from __future__ import annotations

import zlib

import numpy as np
import torch

from .._devices import reseed_global, torch_rng
from ._loop import fold_cut_epoch

__all__ = ["EPOCH_UPDATES", "EpisodeRunner", "MinibatchRunner", "data_key"]

#: meta-updates per epoch of the training loop (history row, validation, callbacks)
EPOCH_UPDATES = 100

#: spacing of the per-step dropout seeds of consecutive minibatch epochs
_STEP_SEED = 1_000_003


def data_key(X, y, *extra):
    """A cheap fingerprint of a training set: a CRC of its shape, labels and some rows.

    An int, so that history rows stay numbers (loggers plot every key).
    """
    X = np.asarray(X)
    step = max(1, X.shape[0] // 64)
    crc = zlib.crc32(np.asarray((*X.shape, *extra), dtype=np.int64).tobytes())
    crc = zlib.crc32(np.ascontiguousarray(X[::step]).tobytes(), crc)
    return zlib.crc32(np.ascontiguousarray(y).tobytes(), crc)


class EpisodeRunner:
    """Blocks of up to 100 meta-updates on episodes drawn on the device.

    Parameters
    ----------
    estimator : object
        Read and advanced: ``n_iter_``, ``history_``; told where each
        update begins (``_seed_augment``).
    module : torch.nn.Module
        The network, in training mode during the epoch and eval mode after.
    sampler : EpisodeSampler
        Draws the episodes' support and query rows.
    update : callable
        ``update(s_idx, s_y, q_idx, q_y)`` makes one meta-update on a
        meta-batch of episodes and returns its detached loss and outputs.
    score : callable or None
        ``score(outputs, q_y)``: the training score of one meta-update
        (recorded as ``score_key``), or None for the loss alone.
    before_update : callable or None
        Called before each meta-update (a learning-rate schedule).
    start_loss : callable or None
        ``start_loss(s_idx, s_y, q_idx, q_y)``: the loss the divergence check
        of the training loop starts from, computed on the first meta-batch
        of a run before its update; when it is None or returns None, the
        first update's loss, which its network had before the update. Read
        back with the first epoch's metrics (``start_loss``).
    seed, device, global_rng, meta_batch_size, data_key
        The fit's seed, the device, whether training draws from torch's
        global generators, tasks per meta-update, and the fingerprint of
        the training data (``epoch_data`` in ``history_``).
    """

    def __init__(
        self, estimator, module, sampler, update, *, seed, device, global_rng, meta_batch_size,
        data_key, score=None, score_key=None, before_update=None, start_loss=None,
    ):
        self.estimator = estimator
        self.module = module
        self.sampler = sampler
        self.update = update
        self.score = score
        self.score_key = score_key
        self.before_update = before_update
        self.start_loss = start_loss
        self.seed = seed
        self.device = device
        self.global_rng = global_rng
        self.batch = meta_batch_size
        self.data_key = data_key

    def run_epoch(self, loop):
        est = self.estimator
        start = est.n_iter_
        # epochs end on multiples of EPOCH_UPDATES; each draws its episodes
        # from a generator seeded by where the epoch begins, and a fit that
        # stopped inside an epoch skips the episodes it already used, so a
        # resumed fit draws what an uninterrupted one would
        first = start - start % EPOCH_UPDATES
        offset = start - first
        block = min(EPOCH_UPDATES - offset, loop.goal - start)
        cut = fold_cut_epoch(est.history_, self.data_key)
        losses = torch.zeros(block, device=self.device)
        scores = torch.zeros(block, device=self.device)
        done = 0
        start_loss = None
        self.module.train()
        with torch_rng(self.seed + first, self.device, global_rng=self.global_rng) as gen:
            s_idx, q_idx, s_y, q_y = self.sampler.sample(gen, (offset + block) * self.batch)
            shape = (offset + block, self.batch)
            s_idx, q_idx = s_idx.view(*shape, -1)[offset:], q_idx.view(*shape, -1)[offset:]
            s_y, q_y = s_y.view(*shape, -1)[offset:], q_y.view(*shape, -1)[offset:]
            for i in range(block):
                if loop.halt():
                    break
                if self.global_rng:
                    reseed_global(self.seed + est.n_iter_, self.device)
                if self.before_update is not None:
                    self.before_update()
                if loop.updates == 0 and self.start_loss is not None:
                    est._seed_augment(self.seed + est.n_iter_)
                    with est._autocast():
                        start_loss = self.start_loss(s_idx[i], s_y[i], q_idx[i], q_y[i])
                # augmentation draws depend on the update alone (see module doc)
                est._seed_augment(self.seed + est.n_iter_)
                # forward passes at the estimator's precision; it runs its
                # backward pass outside autocast (est._backward)
                with est._autocast():
                    loss, out = self.update(s_idx[i], s_y[i], q_idx[i], q_y[i])
                if loop.updates == 0 and start_loss is None:
                    start_loss = loss
                est.n_iter_ += 1
                losses[i] = loss
                if self.score is not None:
                    scores[i] = self.score(out, q_y[i])
                done += 1
                if loop.step():
                    break
        self.module.eval()
        if done == 0:
            return None
        # one host sync per epoch; a continued epoch adds the part before the cut
        prev = int(cut["train_batch_count"]) if cut else 0
        metrics = {
            "iter": est.n_iter_,
            "train_loss": _mean_with_cut(losses[:done].sum().item(), cut, "train_loss", prev, done),
            "train_batch_count": prev + done,
            "epoch_data": self.data_key,
            "epoch_complete": done == block,
        }
        if self.score_key is not None:
            total = scores[:done].sum().item()
            metrics[self.score_key] = _mean_with_cut(total, cut, self.score_key, prev, done)
        if start_loss is not None:
            metrics["start_loss"] = float(start_loss)
        return metrics


def _mean_with_cut(total, cut, key, prev, count):
    """Mean of ``count`` values summing to ``total`` and ``prev`` before a cut."""
    if cut and key in cut:
        total += cut[key] * prev
    return total / max(1, prev + count)


class MinibatchRunner:
    """Epochs of ``n_batches`` minibatch steps over a shuffle drawn on the data's device.

    Parameters
    ----------
    estimator : object
        Read and advanced: ``n_iter_``, ``history_``; told where each
        update begins (``_seed_augment``).
    module : torch.nn.Module
        The network, left in eval mode after the epoch (``prepare`` sets
        training mode).
    step : callable
        ``step(drawn, b, epoch)`` makes update ``b`` and returns ``(loss_sum,
        n_correct, n_rows)`` of its labelled rows, tensors left on the device.
    draw : callable
        ``draw(gen, epoch)`` draws what the epoch needs (its shuffles) from
        the epoch's generator on ``data_device``.
    prepare : callable or None
        ``prepare(epoch)`` runs before the generator is seeded (freezing) and
        returns extra metrics for ``history_``.
    step_means : dict or None
        Device tensors that ``step`` adds to; their means per step go to
        ``history_`` too (and are zeroed for the next epoch).
    seed, device, data_device, global_rng, n_batches, data_key
        The fit's seed, the training device, where the data lives, whether
        training draws from torch's global generators, updates per epoch,
        and the fingerprint of the training data.
    """

    def __init__(
        self, estimator, module, step, draw, *, seed, device, data_device, global_rng, n_batches,
        data_key, prepare=None, step_means=None,
    ):
        self.estimator = estimator
        self.module = module
        self.step = step
        self.draw = draw
        self.prepare = prepare
        self.step_means = step_means or {}
        self.seed = seed
        self.device = device
        self.data_device = data_device
        self.global_rng = global_rng
        self.n_batches = n_batches
        self.data_key = data_key

    def run_epoch(self, loop):
        est = self.estimator
        epoch = est.n_iter_
        # an epoch that Ctrl-C cut short goes on from where it stopped,
        # with the same shuffle: its row is folded into this one
        cut = fold_cut_epoch(est.history_, self.data_key)
        first = int(cut["train_batch_count"]) if cut else 0
        extra = {}
        if self.prepare is not None:
            with est._autocast():  # features stored or pseudo-labels made at the precision
                extra = self.prepare(epoch)
        dev = self.device
        total = torch.zeros((), device=dev)
        correct = torch.zeros((), device=dev, dtype=torch.long)
        seen = torch.zeros((), device=dev, dtype=torch.long)
        batches = 0
        start_loss = None
        for value in self.step_means.values():
            value.zero_()
        with torch_rng(self.seed + epoch, self.data_device, global_rng=self.global_rng) as gen:
            drawn = self.draw(gen, epoch)
            for b in range(first, self.n_batches):
                if loop.halt():
                    break
                if self.global_rng:
                    # dropout draws depend on the step alone, so a resumed
                    # epoch draws what an uninterrupted one would
                    reseed_global(self.seed + _STEP_SEED * epoch + b, dev)
                est._seed_augment(self.seed + _STEP_SEED * epoch + b)
                with est._autocast():
                    loss_sum, n_correct, n_rows = self.step(drawn, b, epoch)
                if loop.updates == 0:
                    # the loss of the network before the run's first update,
                    # where the divergence check starts from
                    start_loss = loss_sum / torch.as_tensor(n_rows).clamp_min(1)
                total += loss_sum
                correct += n_correct
                seen += n_rows
                batches += 1
                if loop.step():
                    break
        self.module.eval()
        if batches == 0:
            return None
        complete = first + batches == self.n_batches
        if complete:
            est.n_iter_ += 1
        # one host sync per epoch; a continued epoch adds the part before the cut
        seen = int(seen.item())
        prev = int(cut["train_samples"]) if cut else 0
        means = {
            key: _mean_with_cut(value.item(), cut, key, first, batches)
            for key, value in self.step_means.items()
        }
        extra = dict(extra)
        if start_loss is not None:
            extra["start_loss"] = float(start_loss)
        return {
            "train_loss": _mean_with_cut(total.item(), cut, "train_loss", prev, seen),
            "train_acc": _mean_with_cut(correct.item(), cut, "train_acc", prev, seen),
            **means,
            **extra,
            "train_batch_count": first + batches,
            "train_samples": prev + seen,
            "epoch_data": self.data_key,
            "epoch_complete": complete,
        }
