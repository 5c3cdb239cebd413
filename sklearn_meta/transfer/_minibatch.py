"""Minibatch epochs on device-side data, shared by the transfer estimators.

:class:`FineTuneClassifier` and :class:`DomainAdaptedClassifier` train the
same way: the training set goes to the device once, each epoch draws its
shuffle there from a seeded generator, and every minibatch step is one
update of the training shell (Ctrl-C, callbacks, early stopping). What
differs is how a step draws its rows and what loss it takes; that is all a
subclass says, through :meth:`_MinibatchTrainer._train_epochs`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.model_selection import train_test_split

from .._base import reseed_global, torch_rng

__all__ = ["batch_bounds"]

#: above this many bytes the training set stays in host memory, batches travel
_DEVICE_DATA_LIMIT = 2 * 1024**3

#: spacing of the per-step dropout seeds of consecutive epochs
_STEP_SEED = 1_000_003


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


class _MinibatchTrainer:
    """Mixin of the epoch-based estimators: device data, validation, epochs."""

    def _device_data(self, X, codes):
        X_t = self._to_tensor(X)
        y_t = torch.from_numpy(codes)
        if self.device_.type == "cpu" or X_t.numel() * 4 <= _DEVICE_DATA_LIMIT:
            return X_t.to(self.device_), y_t.to(self.device_)
        return X_t.pin_memory(), y_t.pin_memory()

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
        """validate() for the training shell: loss and accuracy on held-out rows."""
        X_t, y_t = self._device_data(X_val, codes_val)
        chunk = max(256, 4 * int(self.batch_size))

        def validate():
            self.module_.eval()
            total = torch.zeros((), device=self.device_, dtype=torch.float64)
            correct = torch.zeros((), device=self.device_, dtype=torch.long)
            with torch.inference_mode():
                for start in range(0, X_t.shape[0], chunk):
                    xb = X_t[start : start + chunk].to(self.device_, non_blocking=True)
                    yb = y_t[start : start + chunk].to(self.device_, non_blocking=True)
                    logits = self.module_(xb)
                    total += F.cross_entropy(logits, yb, reduction="sum").double()
                    correct += (logits.argmax(1) == yb).sum()
            n = X_t.shape[0]
            return total.item() / n, correct.item() / n

        return validate

    def _n_iter_from_history(self):
        return sum(1 for row in self.history_ if row.get("epoch_complete", True))

    def _train_epochs(
        self, target, *, n_batches, data_key, data_device, draw, step, prepare=None,
        step_means=None, X=None, y=None, validate=None,
    ):
        """Run epochs of ``n_batches`` minibatch steps through the training shell.

        ``draw(gen, epoch)`` draws what the epoch needs (its shuffles) from the
        epoch's generator on ``data_device``; ``step(drawn, b, epoch)`` makes
        update ``b`` and returns ``(loss_sum, n_correct, n_rows)`` of its
        labelled rows, tensors left on the device. ``prepare(epoch)`` runs
        before the generator is seeded (freezing) and returns extra metrics
        for ``history_``. ``step_means`` is a dict of device tensors that
        ``step`` adds to; their means per step go to ``history_`` too (and
        are zeroed for the next epoch).

        The epoch's generator is seeded from the fit's seed and the epoch
        number, and dropout from the step, so an epoch that Ctrl-C cut short
        goes on, in the next call, exactly where it stopped.
        """
        dev = self.device_

        def run_epoch(loop, goal):
            epoch = self.n_iter_
            # an epoch that Ctrl-C cut short goes on from where it stopped,
            # with the same shuffle: its row is folded into this one
            cut = self._fold_cut_epoch(data_key)
            first = int(cut["train_batch_count"]) if cut else 0
            extra = prepare(epoch) if prepare is not None else {}
            total = torch.zeros((), device=dev)
            correct = torch.zeros((), device=dev, dtype=torch.long)
            seen = torch.zeros((), device=dev, dtype=torch.long)
            batches = 0
            sums = step_means or {}
            for value in sums.values():
                value.zero_()
            with torch_rng(self._seed + epoch, data_device, global_rng=self._global_rng) as gen:
                drawn = draw(gen, epoch)
                for b in range(first, n_batches):
                    if loop.halt():
                        break
                    if self._global_rng:
                        # dropout draws depend on the step alone, so a resumed
                        # epoch draws what an uninterrupted one would
                        reseed_global(self._seed + _STEP_SEED * epoch + b, dev)
                    loss_sum, n_correct, n_rows = step(drawn, b, epoch)
                    total += loss_sum
                    correct += n_correct
                    seen += n_rows
                    batches += 1
                    if loop.step():
                        break
            self.module_.eval()
            if batches == 0:
                return None
            complete = first + batches == n_batches
            if complete:
                self.n_iter_ += 1
            # one host sync per epoch; a continued epoch adds the part before the cut
            seen = int(seen.item())
            prev = int(cut["train_samples"]) if cut else 0
            loss_sum = total.item() + (cut["train_loss"] * prev if cut else 0.0)
            correct_sum = correct.item() + (cut["train_acc"] * prev if cut else 0.0)
            denom = max(1, prev + seen)
            means = {
                key: (value.item() + (cut[key] * first if cut and key in cut else 0.0))
                / (first + batches)
                for key, value in sums.items()
            }
            return {
                "train_loss": loss_sum / denom,
                "train_acc": correct_sum / denom,
                **means,
                **extra,
                "train_batch_count": first + batches,
                "train_samples": prev + seen,
                "epoch_data": data_key,
                "epoch_complete": complete,
            }

        self._run_training(
            target, run_epoch, X=X, y=y, validate=validate, steps_per_iter=n_batches
        )
        self.module_.eval()
