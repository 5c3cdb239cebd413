"""The sinusoid regression tasks of MAML (Finn et al., 2017, section 5.1)."""

from numbers import Real

import numpy as np
from sklearn.utils import check_random_state

from ._validation import check_bool, check_int


def _check_range(name, value):
    """``(low, high)`` as floats, finite, with ``low <= high``."""
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(
            f"{name} must be a pair (low, high) of real numbers; got {value!r}"
        ) from None
    if not (np.isfinite(low) and np.isfinite(high)):
        raise ValueError(f"{name} must be finite; got {value!r}")
    if low > high:
        raise ValueError(f"{name} must have low <= high; got {value!r}")
    return low, high


def make_sinusoids(
    n_tasks=100,
    n_samples=20,
    *,
    amplitude_range=(0.1, 5.0),
    phase_range=(0.0, np.pi),
    x_range=(-5.0, 5.0),
    noise=0.0,
    random_state=None,
    return_params=False,
):
    """Generate the sinusoid regression tasks of Finn et al. (2017).

    Each task is a sine wave ``y = A sin(x - phase)`` with its own amplitude
    ``A`` and phase, drawn uniformly from ``amplitude_range`` and
    ``phase_range``; its inputs ``x`` are drawn uniformly from ``x_range``.
    The defaults are those of the MAML paper (section 5.1). The rows of all
    tasks are stacked, and ``groups`` says which task each row comes from:
    the scikit-learn group convention, as in
    ``MAMLRegressor().fit(X, y, groups=groups)`` or
    :class:`~sklearn.model_selection.GroupKFold`.

    Parameters
    ----------
    n_tasks : int, default=100
        Number of tasks (sine waves).
    n_samples : int, default=20
        Number of points per task. Few-shot regression adapts on ``K`` of
        them and evaluates on the others, so draw at least ``K`` plus the
        query points (the paper uses K = 5, 10 and 20).
    amplitude_range : tuple of float (low, high), default=(0.1, 5.0)
        Amplitudes are drawn from ``U(low, high)``; ``low == high`` fixes
        them.
    phase_range : tuple of float (low, high), default=(0.0, pi)
        Phases, in radians, are drawn from ``U(low, high)``.
    x_range : tuple of float (low, high), default=(-5.0, 5.0)
        Inputs are drawn from ``U(low, high)``, independently for each row.
    noise : float, default=0.0
        Standard deviation of the Gaussian noise added to ``y``.
    random_state : int, RandomState instance or None, default=None
        Determines the random draws. Pass an int for the same tasks at every
        call.
    return_params : bool, default=False
        If True, also return the amplitude and the phase of every task.

    Returns
    -------
    X : ndarray of shape (n_tasks * n_samples, 1), float64
        The inputs ``x``, task after task.
    y : ndarray of shape (n_tasks * n_samples,), float64
        The targets ``A sin(x - phase)``, plus noise if ``noise > 0``.
    groups : ndarray of shape (n_tasks * n_samples,), int64
        The task of each row, ``0 .. n_tasks - 1``; the rows of a task are
        contiguous.
    amplitude : ndarray of shape (n_tasks,), float64
        The amplitude ``A`` of each task. Only returned if
        ``return_params=True``.
    phase : ndarray of shape (n_tasks,), float64
        The phase of each task, in radians. Only returned if
        ``return_params=True``.

    Raises
    ------
    ValueError
        If ``n_tasks`` or ``n_samples`` is not a positive int, a range is not
        a finite pair with ``low <= high``, or ``noise`` is negative.

    See Also
    --------
    sklearn.model_selection.GroupKFold : Folds that keep the rows of a task
        together, so that test tasks are new tasks.

    Notes
    -----
    Without noise, ``y == amplitude[groups] * np.sin(X[:, 0] - phase[groups])``
    holds exactly. The draws are made in this order: amplitudes, phases,
    inputs (task after task), then the noise, so changing ``noise`` does not
    change ``X``, the amplitudes or the phases.

    References
    ----------
    .. [1] Finn, C., Abbeel, P. and Levine, S. (2017). "Model-agnostic
       meta-learning for fast adaptation of deep networks". ICML, section 5.1.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_meta.datasets import make_sinusoids
    >>> X, y, groups = make_sinusoids(n_tasks=3, n_samples=4, random_state=0)
    >>> X.shape, y.shape
    ((12, 1), (12,))
    >>> groups
    array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
    >>> X, y, groups, amplitude, phase = make_sinusoids(
    ...     n_tasks=3, n_samples=4, random_state=0, return_params=True
    ... )
    >>> amplitude.round(2), phase.round(2)
    (array([2.79, 3.6 , 3.05]), array([1.71, 1.33, 2.03]))
    >>> bool(np.all(y == amplitude[groups] * np.sin(X[:, 0] - phase[groups])))
    True
    """
    n_tasks = check_int("n_tasks", n_tasks, 1)
    n_samples = check_int("n_samples", n_samples, 1)
    amplitude_range = _check_range("amplitude_range", amplitude_range)
    phase_range = _check_range("phase_range", phase_range)
    x_range = _check_range("x_range", x_range)
    if (
        isinstance(noise, (bool, np.bool_))
        or not isinstance(noise, Real)
        or not np.isfinite(noise)
        or noise < 0
    ):
        raise ValueError(f"noise must be a finite float >= 0; got {noise!r}")
    check_bool("return_params", return_params)
    rng = check_random_state(random_state)

    amplitude = rng.uniform(*amplitude_range, size=n_tasks)
    phase = rng.uniform(*phase_range, size=n_tasks)
    x = rng.uniform(*x_range, size=n_tasks * n_samples)
    groups = np.repeat(np.arange(n_tasks, dtype=np.int64), n_samples)
    y = amplitude[groups] * np.sin(x - phase[groups])
    if noise > 0:
        y += rng.normal(scale=noise, size=y.shape)
    X = x.reshape(-1, 1)
    if return_params:
        return X, y, groups, amplitude, phase
    return X, y, groups
