"""skorch callbacks on the estimators: initialised per fit, called at skorch's hooks.

A callback sees the estimator under skorch's names (:class:`CallbackNet`:
``net.history`` is ``history_``), so skorch's ``Checkpoint``,
``LoadInitState``, ``EarlyStopping``, ``LRScheduler`` and loggers work as
documented. A callback that raises ``KeyboardInterrupt`` (skorch's
``EarlyStopping`` does) stops training quietly, as in skorch.
"""

from __future__ import annotations

__all__ = ["CallbackNet", "Callbacks", "check_monitors"]


class CallbackNet:
    """What skorch callbacks see as ``net``: the estimator under skorch's names."""

    def __init__(self, estimator):
        object.__setattr__(self, "_est", estimator)

    @property
    def history(self):
        return self._est.history_

    def __getattr__(self, name):
        return getattr(self._est, name)

    def __setattr__(self, name, value):
        setattr(self._est, name, value)

    def __reduce__(self):
        # skorch's Checkpoint(f_pickle=...) pickles the net: write the estimator
        return _same, (self._est,)


def _same(obj):
    return obj


class Callbacks:
    """The initialised callbacks of one estimator (its ``callbacks_``), and their hooks."""

    def __init__(self, estimator, sigint):
        self.estimator = estimator
        self.sigint = sigint
        self._net = CallbackNet(estimator)
        _initialize(estimator)

    def notify(self, hook, **kwargs):
        """Call ``hook`` on every callback; True when one asked to stop.

        skorch callbacks stop training by raising ``KeyboardInterrupt``; a
        second real Ctrl-C goes through.
        """
        for _, cb in self.estimator.callbacks_:
            try:
                getattr(cb, hook)(self._net, **kwargs)
            except KeyboardInterrupt:
                if self.sigint.forced:
                    raise
                return True
        return False


def _initialize(est):
    """Set ``callbacks_``: the given skorch callbacks, initialised, with names.

    As in skorch, they are initialised when a fit starts; a ``partial_fit``
    goes on with those of the fit before it unless the callbacks given have
    changed since.
    """
    given = list(est.callbacks or [])
    before = getattr(est, "_callbacks_from", None)
    if (
        "callbacks_" in vars(est)
        and before is not None
        and len(before) == len(given)
        and all(a is b for a, b in zip(before, given))
    ):
        return
    from skorch.callbacks.scoring import ScoringBase

    named = []
    for i, cb in enumerate(given):
        name, cb = cb if isinstance(cb, tuple) else (type(cb).__name__, cb)
        if not hasattr(cb, "initialize"):
            raise ValueError(
                f"callbacks[{i}] is a {type(cb).__name__}; pass skorch callback "
                "objects (skorch.callbacks.*) or (name, callback) pairs."
            )
        if isinstance(cb, ScoringBase):
            raise ValueError(
                f"callbacks[{i}] is skorch's {type(cb).__name__}, which scores "
                "skorch's own data sets; it is not supported. The history has "
                "train_loss and, with early_stopping, valid_loss and valid_acc."
            )
        named.append((name, cb.initialize()))
    est.callbacks_ = named
    est._callbacks_from = given


def check_monitors(callbacks, *, validates):
    """Refuse callbacks that monitor a validation key this fit will never record.

    ``history_`` has ``valid_loss``, ``valid_acc`` and their ``*_best`` only
    in a fit that holds out validation data (``validates``). skorch's
    ``EarlyStopping()``, ``Checkpoint()`` and ``LRScheduler(monitor=...)``
    read their ``monitor`` key at the end of every epoch: without this
    check they fail with a bare ``KeyError`` after the first epoch.
    """
    if validates:
        return
    for name, cb in callbacks:
        monitor = getattr(cb, "monitor", None)
        if isinstance(monitor, str) and monitor.startswith("valid_"):
            raise ValueError(
                f"The callback {name} monitors {monitor!r}, which history_ records only "
                "when the fit holds out validation data, and this one holds out none. Set "
                "early_stopping=True (early_stopping='auto' holds data out above 10,000 "
                "samples only, partial_fit never), or monitor a key that every fit "
                "records, such as 'train_loss' or 'train_loss_best'."
            )
