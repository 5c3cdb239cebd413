"""The training parts: the loop, epoch runners, early stopping, callbacks, the failure contract.

Each part takes what it needs as explicit arguments; the estimator base
(:mod:`sklearn_meta._base`) wires them together. See ``docs/developing.md``.
"""

from ._callbacks import CallbackNet, Callbacks
from ._contract import (
    FITTED_NAMES,
    FitRun,
    SigintFlag,
    fit_guard,
    fitted_state,
    reset_fitted_state,
)
from ._early_stopping import EarlyStopping
from ._loop import (
    EPOCHS,
    META_UPDATES,
    TrainingLoop,
    Unit,
    fold_cut_epoch,
    where_stopped,
)
from ._runners import EPOCH_UPDATES, EpisodeRunner, MinibatchRunner, data_key
from ._state import from_torch_bytes, host_copy, locked_state_dict, to_torch_bytes

__all__ = [
    "EPOCHS",
    "FITTED_NAMES",
    "EPOCH_UPDATES",
    "META_UPDATES",
    "CallbackNet",
    "Callbacks",
    "EarlyStopping",
    "EpisodeRunner",
    "FitRun",
    "MinibatchRunner",
    "SigintFlag",
    "TrainingLoop",
    "Unit",
    "fit_guard",
    "data_key",
    "fitted_state",
    "fold_cut_epoch",
    "from_torch_bytes",
    "host_copy",
    "locked_state_dict",
    "reset_fitted_state",
    "to_torch_bytes",
    "where_stopped",
]
