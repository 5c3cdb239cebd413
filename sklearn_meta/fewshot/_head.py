"""The training-class head of a gradient-based classifier, adapted on first use.

``fit`` of MAMLClassifier and ReptileClassifier meta-learns an
initialisation; predicting among the training classes needs that
initialisation adapted to all of them (``n_adapt_steps`` full-batch steps
over every training sample), which on a large training set costs more than a
short meta-training. Few uses need it: a search with class-disjoint folds
and the episodic scorer, ``evaluate_episodes`` and ``adapt`` never do. So
``fit`` leaves a :class:`TrainingHead` holding what the adaptation reads
(:class:`HeadInputs`), and the first ``predict``, ``predict_proba``,
``decision_function``, ``score`` or ``transform`` fills it in place:

* in place, under the holder's lock: predicting does not change the
  estimator's ``__dict__`` (scikit-learn's checks forbid it), and two threads
  predicting at once adapt once;
* with gradients enabled and outside inference mode, whatever the caller's
  mode (the adaptation takes gradient steps);
* what the adaptation reads is fixed at the end of ``fit`` (the data and
  ``n_adapt_steps``, ``inner_lr``, ``head_init``, ``inner_params``,
  ``batch_size``), so it gives the model the eager adaptation gave, bit for
  bit on the CPU, whatever ``set_params`` changed since.

Until it is adapted, the holder keeps a host copy of the training samples
(float32) and drops it once adapted. A pickle of a model whose head is not
adapted yet carries that copy, so that the loaded model adapts on first use
without the training data: pickling stays as cheap as writing the bytes, where
adapting at pickling time would make every pickle (a search returning its
fitted models from workers, a checkpoint) pay for an adaptation that may
never be used. Once adapted, pickles hold the adapted parameters and no data.
Tensors are pickled as one :func:`torch.save` blob read back with
``weights_only=True``.
"""

from __future__ import annotations

import copy
import threading
import zlib

import numpy as np
import torch

from .._inputs import PixelTensor, host_copy, stored
from .._training import data_key, from_torch_bytes, to_torch_bytes

__all__ = ["HeadInputs", "TrainingHead"]


class HeadInputs:
    """What the adaptation to the training classes reads (never changed once made).

    Parameters
    ----------
    X, y : torch.Tensor
        The samples and their class codes (on the host when the adaptation is
        deferred, on the device when it runs at once).
    absent : ndarray of bool
        Classes not in ``y``: the steps leave their head rows out.
    keep : ndarray of bool or None
        Classes whose head rows come from the previous model (``partial_fit``).
    kept : tuple of torch.Tensor or None
        Those rows: ``(weight[keep], bias[keep])``.
    settings : dict
        ``steps``, ``inner_lr``, ``head_init``, ``head_only``, ``chunk`` and
        ``what`` (the data, in messages), as they were at the end of the fit.
    """

    def __init__(self, X, y, absent, keep, kept, settings):
        self.X = X
        self.y = y
        self.absent = absent
        self.keep = keep
        self.kept = kept
        self.settings = dict(settings)

    def on_host(self):
        """A copy whose tensors live on the host (the deferred inputs)."""
        kept = None if self.kept is None else tuple(t.detach().cpu() for t in self.kept)
        # a copy even on the CPU: the samples may be the caller's array
        X = host_copy(self.X)
        return HeadInputs(X, self.y.detach().cpu(), self.absent, self.keep, kept, self.settings)

    def fingerprint(self):
        """A CRC of the inputs: two models adapt alike when theirs are equal."""
        crc = data_key(stored(self.X).numpy(), self.y.numpy())
        crc = zlib.crc32(np.packbits(self.absent).tobytes(), crc)
        crc = zlib.crc32(repr(sorted(self.settings.items())).encode(), crc)
        if self.keep is not None:
            crc = zlib.crc32(np.packbits(self.keep).tobytes(), crc)
            for t in self.kept:
                crc = zlib.crc32(t.numpy().tobytes(), crc)
        return crc

    # --------------------------------------------------------------- pickling
    def state(self):
        """``(plain values, tensors)``: what a pickle holds."""
        tensors = {"X": stored(self.X), "y": self.y}
        if self.kept is not None:
            tensors["kept_weight"], tensors["kept_bias"] = self.kept
        plain = {"absent": self.absent, "keep": self.keep, "settings": self.settings,
                 "pixels": isinstance(self.X, PixelTensor)}
        return plain, tensors

    @classmethod
    def from_state(cls, plain, tensors):
        kept = None
        if "kept_weight" in tensors:
            kept = (tensors["kept_weight"], tensors["kept_bias"])
        X = PixelTensor(tensors["X"]) if plain.get("pixels") else tensors["X"]
        return cls(X, tensors["y"], plain["absent"], plain["keep"], kept, plain["settings"])


class TrainingHead:
    """The adapted parameters that predict the training classes, made on first use.

    Parameters
    ----------
    seen : ndarray of bool
        The classes the model predicts (``partial_fit`` may not have seen
        them all yet); known at once, without adapting.
    inputs : HeadInputs or None
        What the adaptation reads, while it has not run.
    fast : dict of str to torch.Tensor or None
        The adapted parameters, once made.
    """

    def __init__(self, seen, *, inputs=None, fast=None):
        self.seen = seen
        self.inputs = inputs
        self.fast = fast
        self._lock = threading.Lock()

    @property
    def built(self):
        """Whether the adaptation has run."""
        return self.fast is not None

    def get(self, build):
        """The adapted parameters; ``build(inputs)`` makes them on the first call.

        ``build`` runs at most once, under the lock, with gradients enabled
        and outside inference mode; if it raises, the holder stays as it was.
        """
        fast = self.fast
        if fast is not None:
            return fast
        with self._lock:
            if self.fast is None:
                with torch.inference_mode(False), torch.enable_grad():
                    fast = build(self.inputs)
                self.fast, self.inputs = fast, None
            return self.fast

    def replace(self, fast):
        """Hold other adapted parameters (loaded ones, or a copy of the features)."""
        with self._lock:
            self.fast, self.inputs = fast, None

    def to(self, device):
        """Move the adapted parameters to ``device`` (the inputs stay on the host)."""
        with self._lock:
            if self.fast is not None:
                self.fast = {k: v.to(device) for k, v in self.fast.items()}
        return self

    def fingerprint(self):
        """The inputs' fingerprint, or None once adapted."""
        inputs = self.inputs
        return None if inputs is None else inputs.fingerprint()

    # --------------------------------------------------------------- pickling
    def __getstate__(self):
        with self._lock:
            fast, inputs = self.fast, self.inputs
        tensors, state = {}, {"seen": self.seen, "fast_keys": None, "inputs": None}
        if fast is not None:
            state["fast_keys"] = list(fast)
            tensors.update({f"fast.{k}": v for k, v in fast.items()})
        if inputs is not None:
            plain, held = inputs.state()
            state["inputs"] = plain
            tensors.update({f"inputs.{k}": v for k, v in held.items()})
        state["tensors"] = to_torch_bytes({k: v.detach().cpu() for k, v in tensors.items()})
        return state

    def __setstate__(self, state):
        tensors = from_torch_bytes(state["tensors"], map_location="cpu")
        self.seen = state["seen"]
        self.fast = self.inputs = None
        if state["fast_keys"] is not None:
            self.fast = {k: tensors[f"fast.{k}"] for k in state["fast_keys"]}
        if state["inputs"] is not None:
            held = {k[len("inputs.") :]: v for k, v in tensors.items() if k.startswith("inputs.")}
            self.inputs = HeadInputs.from_state(state["inputs"], held)
        self._lock = threading.Lock()

    def __deepcopy__(self, memo):
        with self._lock:
            fast, inputs = self.fast, self.inputs
        # the inputs are never changed once made: shared, not copied
        return TrainingHead(self.seen.copy(), inputs=inputs, fast=copy.deepcopy(fast, memo))
