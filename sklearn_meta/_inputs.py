"""Input shapes: what a backbone consumes, from what a user passes.

Shared by the estimators and :mod:`sklearn_meta.plotting` (which draws the
images a model was fitted on).
"""

from __future__ import annotations

import numpy as np

__all__ = ["as_image_batch", "normalise_input_shape"]


def normalise_input_shape(input_shape, name="input_shape"):
    """``(C, H, W)`` from ``input_shape`` (or ``(H, W)``), and whether it was ``(H, W, C)``."""
    try:
        shape = tuple(int(s) for s in input_shape)
    except (TypeError, ValueError):
        shape = ()
    if len(shape) == 2:
        shape = (1, *shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(
            f"{name} must be (C, H, W) or (H, W) of positive ints; got {input_shape!r}."
        )
    # (H, W, C) with C in {1, 3}: read it as 4-D image arrays are read
    if shape[2] in (1, 3) and shape[0] not in (1, 3):
        return (shape[2], shape[0], shape[1]), True
    return shape, False


def as_image_batch(X, input_shape, *, name="input_shape"):
    """Reshape validated samples into what a backbone consumes.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features) or (n_samples, H, W) or (n_samples, C, H, W)
        Validated float32 array. A 4-D array whose last axis has 1 or 3
        channels while its second has neither is taken as channels-last.
    input_shape : tuple or None
        ``(C, H, W)`` (or ``(H, W)``) of the flattened images in a 2-D ``X``.
        An ``(H, W, C)`` whose last entry is 1 or 3 while its first is
        neither is read as rows flattened from channels-last images, as a
        4-D array of that shape would be. ``None`` with a 2-D ``X`` means
        tabular rows.
    name : str, default="input_shape"
        Name of the parameter in error messages.

    Returns
    -------
    X : ndarray
        ``(n_samples, n_features)`` for tabular data, else ``(n_samples, C, H, W)``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_meta._inputs import as_image_batch
    >>> as_image_batch(np.zeros((5, 12), np.float32), (3, 2, 2)).shape
    (5, 3, 2, 2)
    >>> as_image_batch(np.zeros((5, 12), np.float32), (2, 2, 3)).shape
    (5, 3, 2, 2)
    """
    if X.ndim == 2:
        if input_shape is None:
            return X
        shape, channels_last = normalise_input_shape(input_shape, name)
        if int(np.prod(shape)) != X.shape[1]:
            raise ValueError(
                f"{name}={tuple(input_shape)} holds {int(np.prod(shape))} values per "
                f"image, but X has {X.shape[1]} features. Pass the (C, H, W) of the "
                "flattened images, or input_shape=None for tabular data."
            )
        if channels_last:
            c, h, w = shape
            return X.reshape(X.shape[0], h, w, c).transpose(0, 3, 1, 2).copy()
        return X.reshape(X.shape[0], *shape)
    # reshape / copy (not views) so that the strides are the standard ones:
    # torch picks its convolution kernels from the strides, and a one-channel
    # channels-last view would train differently from the same images as NCHW
    if X.ndim == 3:
        X = X.reshape(X.shape[0], 1, *X.shape[1:])
    elif X.ndim == 4:
        if X.shape[1] not in (1, 3) and X.shape[3] in (1, 3):
            X = X.transpose(0, 3, 1, 2).copy()
    else:
        raise ValueError(
            f"X must be 2-D (n_samples, n_features), 3-D (n_samples, H, W) or 4-D "
            f"(n_samples, C, H, W); got an array of shape {X.shape}."
        )
    if input_shape is not None and tuple(X.shape[1:]) != normalise_input_shape(
        input_shape, name
    )[0]:
        raise ValueError(
            f"{name}={tuple(input_shape)} does not match the image arrays of "
            f"shape {X.shape[1:]} (as (C, H, W)). Drop {name} or fix it."
        )
    return X


