"""Argument checks shared by the loaders, with the messages they raise."""

from numbers import Integral

import numpy as np


def check_choice(name, value, allowed):
    """Raise a ValueError unless ``value`` is one of the strings ``allowed``."""
    if not isinstance(value, str) or value not in allowed:
        raise ValueError(
            f"{name} must be one of {', '.join(repr(a) for a in allowed)}; "
            f"got {value!r}"
        )


def check_int(name, value, minimum):
    """``value`` as an int, or a ValueError unless it is an int >= ``minimum``."""
    is_int = isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))
    if not is_int or value < minimum:
        raise ValueError(f"{name} must be an int >= {minimum}; got {value!r}")
    return int(value)


def check_bool(name, value):
    """Raise a ValueError unless ``value`` is True or False (numpy's too)."""
    if not isinstance(value, (bool, np.bool_)):
        raise ValueError(f"{name} must be True or False; got {value!r}")  # noqa: TRY004
