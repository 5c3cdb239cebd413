"""Persistence: ``save_params`` / ``load_params``, pickling, devices on load.

* Weights and optimiser state are state dicts written by :func:`torch.save`
  and read back with ``torch.load(..., weights_only=True)``: loading one never
  runs code. skorch's names (``f_params``, ``f_optimizer``, ``f_history``),
  so skorch's ``Checkpoint`` and ``LoadInitState`` callbacks work.
* ``f_params`` holds what predicts: the network's state dict and, saved
  outside a fit, the tensors a fitted model derived from it (ProtoNet's
  prototypes, the MAML family's adapted parameters) as extra entries whose
  names start with :data:`DERIVED_PREFIX`. Loaded into a twin fitted on data
  of the same shape and classes, they make it predict as the saved model
  did. A plain state dict (a ``Checkpoint`` written during a fit, or any
  ``module_.state_dict()``) still loads: it replaces the network alone.
  Saving never computes what the model has not: a derived state not made
  yet (the MAML family's lazily adapted head) is not made by saving.
* A pickle holds the fitted attributes and, for the networks and optimisers,
  their state dicts (one ``torch.save`` blob); loading it rebuilds the network
  that was fitted, whatever ``set_params`` changed since, and a model fitted
  on a GPU loads on a machine without one (with a ``DeviceWarning``).
"""

from __future__ import annotations

import copy
import inspect
import os
import warnings

import torch
from sklearn.exceptions import NotFittedError
from skorch.history import History

from ._devices import fast_kernels, torch_rng
from ._preprocess import Preprocessing
from ._training import (
    FITTED_NAMES,
    CallbackNet,
    from_torch_bytes,
    host_copy,
    locked_state_dict,
    to_torch_bytes,
)
from .exceptions import DeviceWarning

__all__ = ["DERIVED_PREFIX", "PersistenceMixin", "history_rows"]

#: names of the derived tensors in ``f_params`` start with this; no module's
#: parameter or buffer name can (a colon is not part of an attribute name)
DERIVED_PREFIX = "sklearn_meta:"

#: what scikit-learn keeps on an instance (metadata requests, set_output, its
#: callbacks, documentation links): never a fit's
_SKLEARN_CONFIG = frozenset(
    {"_metadata_request", "_sklearn_output_config", "_skl_callbacks", "_doc_link_module",
     "_doc_link_template", "_doc_link_url_param_generator"}
)


def history_rows(history):
    """A skorch History as plain python rows (what pickles and JSON hold)."""
    return [dict(row) for row in history]


def _path(f):
    return os.path.expanduser(f) if isinstance(f, (str, os.PathLike)) else f


class PersistenceMixin:
    """Checkpoints and pickles of a torch-backed estimator (mixin of the base).

    The estimator provides ``_torch_attributes`` (attributes holding modules
    or optimisers), ``_build_network`` / ``_place_module`` / ``_make_optimizer``
    (to rebuild the network of a pickle), ``_own_module`` (copy-on-write) and
    ``_n_iter_from_history``; hooks ``_before_load_params``,
    ``_after_load_params`` and ``_after_unpickle`` bring state derived from
    the network up to date. ``_derived_state`` / ``_check_derived_state``
    name the tensors derived from the network that ``f_params`` also holds.
    """

    def save_params(
        self,
        f_params=None,
        f_optimizer=None,
        f_criterion=None,
        f_history=None,
        use_safetensors=False,
        **kwargs,
    ):
        """Save the network's weights, the optimiser state and the history.

        skorch's names, so skorch's ``Checkpoint`` callback works. Weights and
        optimiser state are state dicts written by :func:`torch.save`; the
        history is JSON.

        Parameters
        ----------
        f_params : str, path-like, file-like or None, default=None
            Where to write ``module_.state_dict()`` and, outside a fit, the
            tensors derived from the network that predict (entries named
            ``"sklearn_meta:..."``: prototypes, adapted parameters), so that
            :meth:`load_params` brings the predictions back.
        f_optimizer : str, path-like, file-like or None, default=None
            Where to write ``optimizer_.state_dict()``.
        f_criterion : str, path-like, file-like or None, default=None
            Accepted for skorch's ``Checkpoint``; the losses have no state,
            so nothing is written.
        f_history : str, path-like, file-like or None, default=None
            Where to write ``history_`` as JSON.
        use_safetensors : bool, default=False
            Write the weights in the safetensors format (needs the
            ``safetensors`` package; not for the optimiser).
        **kwargs : dict
            Not supported; raises if given.

        Returns
        -------
        None
        """
        if "module_" not in vars(self):
            raise NotFittedError(f"This {type(self).__name__} has no network to save yet.")
        # skorch's Checkpoint names the weights f_module
        f_params = kwargs.pop("f_module", f_params)
        if kwargs:
            raise ValueError(f"save_params got unknown arguments {sorted(kwargs)}.")
        if f_params is not None:
            # under the network's lock: an adapt() child may be swapping its
            # parameters in another thread (see module_lock)
            state = locked_state_dict(self.module_)
            if self._run is None and self.__sklearn_is_fitted__():
                # during a fit what the network derived is stale: the network alone
                derived = self._derived_state()
                state = {**state, **{DERIVED_PREFIX + k: v for k, v in derived.items()}}
            if use_safetensors:
                from safetensors.torch import save_file

                save_file({k: v.contiguous() for k, v in state.items()}, _path(f_params))
            else:
                torch.save(state, _path(f_params))
        if f_optimizer is not None and self.optimizer_ is not None:
            if use_safetensors:
                raise ValueError("The optimiser state cannot be saved with safetensors.")
            torch.save(self.optimizer_.state_dict(), _path(f_optimizer))
        if f_history is not None:
            self.history_.to_file(_path(f_history))

    def load_params(
        self,
        f_params=None,
        f_optimizer=None,
        f_criterion=None,
        f_history=None,
        checkpoint=None,
        use_safetensors=False,
        **kwargs,
    ):
        """Load what :meth:`save_params` (or skorch's ``Checkpoint``) wrote.

        Files are read with ``torch.load(..., weights_only=True)``: they hold
        tensors, never code. The estimator must have been fitted (or be in a
        fit, as with skorch's ``LoadInitState`` callback) on data of the same
        shape and classes, so that its network has the saved architecture.
        Parameters saved outside a fit hold what predicts, so the estimator
        then predicts as the saved one did (bit for bit on the CPU); a plain
        state dict replaces the network alone.
        Loading ``f_history`` sets ``n_iter_`` to the progress it records, so
        that a ``fit`` resumed from a checkpoint trains only what was left and
        gives the same model as one that was never interrupted (on the CPU).

        Parameters
        ----------
        f_params : str, path-like, file-like or None, default=None
            Parameters written by :meth:`save_params`, or a ``module_`` state
            dict.
        f_optimizer : str, path-like, file-like or None, default=None
            A saved optimiser state dict.
        f_criterion : str, path-like, file-like or None, default=None
            Ignored (the losses have no state).
        f_history : str, path-like, file-like or None, default=None
            A saved history (JSON).
        checkpoint : skorch.callbacks.Checkpoint or None, default=None
            Load the files named by this checkpoint instead.
        use_safetensors : bool, default=False
            Read the weights from the safetensors format.
        **kwargs : dict
            Not supported; raises if given.

        Returns
        -------
        None
        """
        f_params = kwargs.pop("f_module", f_params)
        if kwargs:
            raise ValueError(f"load_params got unknown arguments {sorted(kwargs)}.")
        if "module_" not in vars(self):
            raise NotFittedError(
                f"This {type(self).__name__} is not fitted: load_params loads saved "
                "parameters into the network of an estimator fitted on data of the same "
                "shape and classes. Call fit first (to resume an interrupted fit, pass "
                "skorch's LoadInitState callback in callbacks=, which loads the "
                "checkpoint at the start of fit)."
            )
        if checkpoint is not None:
            if f_history is None and checkpoint.f_history is not None:
                f_history = checkpoint.f_history_
            # the checkpoint's file names are read from the history it saved
            saved = self.history_
            try:
                if f_history is not None:
                    self.history_ = History.from_file(_path(f_history))
                files = checkpoint.get_formatted_files(CallbackNet(self))
            finally:
                self.history_ = saved
            f_params = files.get("f_params", f_params)
            f_optimizer = files.get("f_optimizer", f_optimizer)
            use_safetensors = getattr(checkpoint, "use_safetensors", use_safetensors)
        # read everything first; change nothing until all of it fits
        state = opt_state = history = None
        if f_params is not None:
            if use_safetensors:
                from safetensors.torch import load_file

                state = load_file(_path(f_params), device=str(self.device_))
            else:
                state = torch.load(_path(f_params), map_location=self.device_, weights_only=True)
        if f_optimizer is not None and self.optimizer_ is not None:
            opt_state = torch.load(_path(f_optimizer), map_location=self.device_, weights_only=True)
        if f_history is not None:
            history = History.from_file(_path(f_history))
        derived = {}
        if state is not None:
            derived = {k[len(DERIVED_PREFIX):]: state.pop(k) for k in list(state)
                       if k.startswith(DERIVED_PREFIX)}
            # inside a fit (LoadInitState) the fit derives them anew at its end
            if self._run is not None or not self.__sklearn_is_fitted__():
                derived = {}
            problem = self._check_derived_state(derived) if derived else None
            if problem is not None:
                raise ValueError(
                    f"The saved parameters do not fit this {type(self).__name__}: {problem}. "
                    "Load them into an estimator fitted with the parameters and on data "
                    "of the shape and classes they were saved with."
                )
        self._own_module()
        if state is not None:
            self._before_load_params(derived)
        before = {
            name: host_copy(locked_state_dict(getattr(self, name)))
            for name in self._torch_attributes
            if getattr(self, name, None) is not None
        }
        try:
            if state is not None:
                self.module_.load_state_dict(state)
            if opt_state is not None:
                self.optimizer_.load_state_dict(opt_state)
                fast_kernels(self.optimizer_, self.device_)
        except (RuntimeError, ValueError, KeyError) as exc:
            for name, saved_state in before.items():
                getattr(self, name).load_state_dict(saved_state)
            raise ValueError(
                f"The saved weights do not fit this {type(self).__name__}'s network: they "
                "come from another architecture, input shape or set of classes. Load them "
                "into an estimator with the parameters and data they were saved with, or "
                f"start afresh (for a Checkpoint, a new dirname). Torch said: {exc}"
            ) from exc
        if history is not None:
            self._set_history(history)
        if state is not None:
            self._after_load_params(derived)

    def _set_history(self, history):
        self.history_ = history
        self.n_iter_ = self._n_iter_from_history()
        run = self._run
        if run is not None and self.random_state is None:
            warnings.warn(
                "Resuming a fit with random_state=None: the episodes, shuffles and "
                "validation split from here on are drawn afresh, so it will not repeat "
                "the interrupted fit. Pass an int random_state to resume exactly.",
                UserWarning,
                stacklevel=4,
            )
        if run is not None and run.early_stopping is not None:
            # inside a fit with early stopping: replay the stopping rule over the
            # restored epochs, so a resumed fit stops where the uninterrupted one
            # would; the best weights of epochs before the checkpoint are not in
            # it, so the weights loaded stand in for them
            stopping = run.early_stopping
            stopping.replay(float(row["valid_acc"]) for row in self.history_ if "valid_acc" in row)
            self.best_validation_score_ = stopping.best_score

    def _derived_state(self):
        """The tensors derived from the network that predict, by name (subclass hook).

        ``save_params`` writes them beside the state dict (outside a fit);
        computing them must not be needed: only what exists is saved.
        """
        return {}

    def _check_derived_state(self, derived):
        """Why saved derived tensors do not fit this estimator, or None (subclass hook)."""
        return None

    def _before_load_params(self, derived):
        """Keep what predictions read from the network before it changes (subclass hook).

        ``derived`` holds the saved derived tensors (empty for a plain state
        dict, and inside a fit).
        """

    def _after_load_params(self, derived):
        """Bring state derived from the network up to date after loading it (subclass hook).

        ``derived`` holds the saved derived tensors: restore them, or (empty)
        say what the new network leaves stale.
        """

    def __getstate__(self):
        # object.__getstate__ may hand back the live __dict__: work on a copy
        state = dict(super().__getstate__())
        state.pop("_run", None)
        torch_objs = {}
        for name in self._torch_attributes:
            obj = state.pop(name, None)
            if obj is not None:
                torch_objs[name] = locked_state_dict(obj)
            elif name in vars(self):
                torch_objs[name] = None
        for name, value in list(state.items()):
            if isinstance(value, torch.Tensor) or (
                isinstance(value, list) and value and isinstance(value[0], torch.Tensor)
            ):
                torch_objs[name] = state.pop(name)
        if "history_" in state:
            state["history_"] = history_rows(state["history_"])
        if "device_" in state:
            state["device_"] = str(state["device_"])
        if torch_objs:
            state["_torch_blob"] = to_torch_bytes(torch_objs)
        return state

    #: fitted attributes added since earlier releases, with the value that
    #: describes models pickled before them (images were never resized then)
    _fitted_defaults = {
        "image_size_": None,
        "storage_": "device",
        "preprocess_": {"source": None},
        "_preprocessing": Preprocessing(keeps_backbone_layer=True),
    }

    def __setstate__(self, state):
        state = dict(state)
        blob = state.pop("_torch_blob", None)
        device = state.get("device_")
        if device is not None:
            device = torch.device(device)
            if device.type == "cuda" and not torch.cuda.is_available():
                warnings.warn(
                    f"{type(self).__name__} was fitted on {device}, which this machine "
                    "lacks; it was loaded on the CPU (device_ is now 'cpu').",
                    DeviceWarning,
                    stacklevel=2,
                )
                device = torch.device("cpu")
            elif (
                device.type == "cuda"
                and device.index is not None
                and device.index >= torch.cuda.device_count()
            ):
                # fitted on a worker's cuda:k, loaded where there are fewer GPUs
                current = torch.device("cuda", torch.cuda.current_device())
                warnings.warn(
                    f"{type(self).__name__} was fitted on {device}, which this machine "
                    f"lacks; it was loaded on {current} (device_ is now {str(current)!r}).",
                    DeviceWarning,
                    stacklevel=2,
                )
                device = current
            state["device_"] = device
        if "history_" in state and not isinstance(state["history_"], History):
            state["history_"] = History(state["history_"])
        # a parameter added since the pickle was written takes its default,
        # which is what the saved model was fitted with
        for name, param in inspect.signature(type(self).__init__).parameters.items():
            if name != "self" and name not in state and param.default is not param.empty:
                state[name] = param.default
        # so does a fitted attribute added since: its value for what was fitted then
        if "n_features_in_" in state:
            for name, value in self._fitted_defaults.items():
                state.setdefault(name, copy.deepcopy(value))
        super().__setstate__(state)
        if blob is None:
            return
        objs = from_torch_bytes(blob, map_location=device)
        module_state = objs.pop("module_", None)
        optimizer_state = objs.pop("optimizer_", None)
        for name, value in objs.items():
            setattr(self, name, value)
        if module_state is not None:
            # rebuild what was fitted, whatever set_params changed since
            current = {k: getattr(self, k) for k in getattr(self, "_build_params", {})}
            vars(self).update(getattr(self, "_build_params", {}))
            try:
                with torch_rng(0, torch.device("cpu")):
                    module, _ = self._build_network(self.input_shape_, weights=None)
                self.module_ = self._place_module(module)
                self.module_.load_state_dict(module_state)
                self.module_.eval()
                self.optimizer_ = self._make_optimizer()
            finally:
                vars(self).update(current)
            if self.optimizer_ is not None and optimizer_state is not None:
                self.optimizer_.load_state_dict(optimizer_state)
                # a state saved on another device names that device's kernels
                fast_kernels(self.optimizer_, self.device_)
            self._after_unpickle()
        if FITTED_NAMES not in vars(self):
            # pickled before fits recorded the private attributes they create:
            # in a fitted pickle, every private one but scikit-learn's is a fit's
            setattr(self, FITTED_NAMES, tuple(sorted(
                k for k in vars(self) if k.startswith("_") and k not in _SKLEARN_CONFIG
            )))

    def _after_unpickle(self):
        """Restore what the network's rebuild needs besides weights (hook)."""
