"""Input handling: from what a user passes to batches on the device.

:class:`InputMixin` gives every estimator one way in:

* ``_validate_X`` / ``_validate_X_y`` check what was passed (numpy, pandas,
  lists; dense, finite; 2-D rows with an optional ``input_shape``, or N-D
  image arrays), set or check ``n_features_in_`` and ``input_shape_``, and
  shape it into what a backbone consumes (:func:`as_image_batch`);
* ``_device_data(X, *arrays)`` is the one entry point that turns validated
  samples (and their targets) into tensors on the device;
* ``_batched`` runs inference in fixed-size chunks: only the last chunk is
  padded, so a row's output does not depend on the rows predicted with it,
  and memory stays at the output plus one chunk.

:func:`normalise_input_shape` is shared with :mod:`sklearn_meta.plotting`
(which draws the images a model was fitted on).
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import scipy.sparse as sp
import torch
from sklearn.utils.validation import (
    check_array,
    check_consistent_length,
    column_or_1d,
    validate_data,
)

from ._devices import resolve_device
from ._images import (
    apply_geometry,
    check_image_size,
    convert_channels,
    dataset_arrays,
    decode_images,
    disk_array,
    free_memory,
    image_sequence_kind,
    is_dataset,
    is_pil_image,
    one_column,
    resize_batch,
)
from ._precision import at_precision
from ._training import reset_fitted_state

__all__ = [
    "InputMixin",
    "PixelTensor",
    "as_image_batch",
    "batch_to",
    "encode_groups",
    "host_copy",
    "normalise_input_shape",
    "rows_of",
    "stored",
    "to_float",
    "uses_batch_statistics",
]

#: how every estimator checks X: dense, finite, rows or N-D images; uint8
#: pixels stay uint8 (read as [0, 1] a batch at a time), the rest float32
_CHECK_ARRAY = dict(dtype=[np.float32, np.uint8], allow_nd=True, ensure_all_finite=True)

#: rows per inference chunk (see InputMixin._batched)
_INFER_CHUNK_CPU = 64
_INFER_CHUNK_CUDA = 1024

#: above this many bytes a training set that may stream stays in host memory
_DEVICE_DATA_LIMIT = 2 * 1024**3

#: storage="auto" keeps decoded images in a file above this share of the free memory
_FREE_SHARE = 0.5


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
        if X.shape[1] not in (1, 3, 4) and X.shape[3] in (1, 3, 4):
            # channels-last, as numpy and PIL give images; an alpha channel goes
            X = X[..., :3].transpose(0, 3, 1, 2).copy()
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


def uses_batch_statistics(module):
    """Whether ``module`` normalises with batch statistics in eval mode.

    Batch-norm layers built with ``track_running_stats=False`` (as MAML
    networks often are) normalise every forward pass with the statistics of
    the batch itself, so padding a batch would change its outputs.

    Parameters
    ----------
    module : torch.nn.Module

    Returns
    -------
    bool

    Examples
    --------
    >>> from torch import nn
    >>> from sklearn_meta._inputs import uses_batch_statistics
    >>> uses_batch_statistics(nn.BatchNorm1d(3, track_running_stats=False))
    True
    >>> uses_batch_statistics(nn.BatchNorm1d(3))
    False
    """
    return any(
        isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and not m.track_running_stats
        for m in module.modules()
    )



def encode_groups(groups, n_samples):
    """The task of each row as codes ``0..n_tasks-1``, and the tasks' names.

    Parameters
    ----------
    groups : array-like of shape (n_samples,)
        The task (group) of each row: numbers or strings, one kind.
    n_samples : int
        The number of rows of ``X``.

    Returns
    -------
    codes : ndarray of shape (n_samples,), dtype int64
    names : ndarray of shape (n_tasks,)
        The sorted distinct groups.

    Examples
    --------
    >>> from sklearn_meta._inputs import encode_groups
    >>> encode_groups(["b", "a", "b"], 3)
    (array([1, 0, 1]), array(['a', 'b'], dtype='<U1'))
    """
    groups = column_or_1d(groups, warn=True)
    if len(groups) != n_samples:
        raise ValueError(f"groups has {len(groups)} entries but X has {n_samples} rows.")
    if groups.dtype.kind == "f" and not np.isfinite(groups).all():
        raise ValueError("groups holds NaN or infinite values: give every row a task.")
    try:
        names, codes = np.unique(groups, return_inverse=True)
    except TypeError:
        raise ValueError(
            "groups must name the task of every row with values of one kind (all "
            "numbers or all strings); got a mix, or None."
        ) from None
    return codes.astype(np.int64), names

def _images_of(X):
    """A dataset's images, read as they are indexed (its labels are not wanted); else ``X``."""
    return dataset_arrays(X, None)[0] if is_dataset(X) else X


def _fitted_channels(backbone):
    """The channels of a fitted sklearn_meta estimator given as backbone, else None."""
    if isinstance(backbone, torch.nn.Module) or not hasattr(backbone, "input_shape_"):
        return None
    shape = backbone.input_shape_
    return shape[0] if len(shape) == 3 else None


def _warn_if_0_255(X):
    """Warn when float images look like 0..255 pixels (floats are taken as given)."""
    if X.dtype.kind != "f" or X.size == 0:
        return
    low, high = float(X.min()), float(X.max())
    if low >= 0 and 1.5 < high <= 255:
        warnings.warn(
            f"X holds float images with values up to {high:g}: floats are taken as given, "
            "while files, PIL images and uint8 arrays are read as [0, 1]. If these are "
            "0-255 pixels, divide them by 255 (or pass uint8), or predictions on files "
            "will not match.",
            UserWarning,
            stacklevel=5,
        )


def _module_channels(backbone):
    """3 when a module given as backbone starts with a convolution of three channels, else 1."""
    if isinstance(backbone, torch.nn.Module):
        first = next((m for m in backbone.modules() if isinstance(m, torch.nn.Conv2d)), None)
        if first is not None and first.in_channels == 3:
            return 3
    return 1


def to_float(batch):
    """A batch as float32: uint8 pixels become [0, 1], floats pass unchanged."""
    if batch.dtype == torch.uint8:
        return batch.float().div_(255.0)
    return batch


class PixelTensor:
    """Images kept as stored, read as float32 batches on a device.

    The storage is uint8 (read as [0, 1]) or float32, on the device or in
    host memory (pinned, or a file the operating system pages in); indexing
    gathers the rows asked for where they are stored and gives them as
    float32 on ``device`` (``X_t[rows]``), so the whole set is never held
    there as float32. :func:`rows_of` takes a subset without copying.
    """

    dtype = torch.float32

    def __init__(self, data, device=None, rows=None):
        self.data = data
        self.device = torch.device(device) if device is not None else data.device
        self.rows = rows  # which rows of data this holds, in order; None: all

    @property
    def shape(self):
        n = len(self.data) if self.rows is None else len(self.rows)
        return torch.Size((n, *self.data.shape[1:]))

    @property
    def ndim(self):
        return self.data.ndim

    def __len__(self):
        return self.shape[0]

    def _where(self, index):
        """``index`` as rows of ``data``, on its device."""
        if isinstance(index, torch.Tensor) and index.device != self.data.device:
            index = index.to(self.data.device)
        if self.rows is None:
            return index
        if isinstance(index, int):
            return int(self.rows[index])
        return self.rows[index]

    def __getitem__(self, index):
        return to_float(self.data[self._where(index)].to(self.device, non_blocking=True))

    def take(self, index):
        """The rows ``index`` as a PixelTensor over the same storage."""
        rows = self._where(index)
        if not isinstance(rows, torch.Tensor):
            rows = torch.arange(len(self.data), device=self.data.device)[rows]
        return PixelTensor(self.data, self.device, rows)

    def to(self, device, non_blocking=False):
        return PixelTensor(self.data, device, self.rows)


def batch_to(X_t, rows, device):
    """The rows ``rows`` of device or host samples, as float32 on ``device``.

    uint8 pixels travel as uint8 and become floats where they arrive.
    """
    if isinstance(X_t, PixelTensor):
        return X_t.to(device)[rows]
    return X_t[rows].to(device, non_blocking=True)


def host_copy(X_t):
    """A copy of device samples in host memory, kept as they are stored."""
    data = stored(X_t).detach().to("cpu", copy=True)
    return PixelTensor(data, "cpu") if isinstance(X_t, PixelTensor) else data


def stored(X_t):
    """The tensor that holds device samples as stored (uint8 pixels stay uint8)."""
    if isinstance(X_t, PixelTensor):
        return X_t.data if X_t.rows is None else X_t.data[X_t.rows]
    return X_t


def rows_of(X_t, rows):
    """The rows ``rows`` of device samples, kept as they are stored (a hold-out split)."""
    if isinstance(X_t, PixelTensor):
        return X_t.take(rows)
    return X_t[rows]


class InputMixin:
    """Validation, shapes, device tensors and chunked inference (mixin of the base).

    The estimator provides ``input_shape`` (parameter), ``device_`` and
    ``module_`` (fitted); validating with ``reset`` forgets a previous fit.
    """

    def _check_dense(self, X):
        if sp.issparse(X):
            raise ValueError(
                f"{type(self).__name__} does not take sparse input: the networks need "
                "dense arrays. Convert X with X.toarray(), or reduce it first (e.g. "
                "TruncatedSVD in a Pipeline)."
            )

    def _check_X(self, X, *, reset, y=None):
        """validate_data for rows; for N-D images n_features_in_ is C*H*W."""
        self._check_dense(X)
        if isinstance(X, (str, os.PathLike)) or is_pil_image(X):
            raise ValueError(
                f"X is one image ({type(X).__name__}); pass a sequence of samples, "
                "e.g. [X]."
            )
        if isinstance(X, torch.Tensor):
            # as numpy, so that uint8 pixels stay uint8 (scikit-learn's checks
            # would turn a tensor into floats of 0..255)
            X = X.detach().cpu().numpy()
        if getattr(X, "ndim", 0) > 2 and getattr(X, "dtype", None) == np.uint16:
            X = X.astype(np.float32) / np.float32(65535.0)  # 16-bit images, as files
        ndim = getattr(X, "ndim", None)
        if ndim is None and isinstance(X, (list, tuple)):
            X = np.asarray(X)
            ndim = X.ndim
        if ndim is not None and ndim > 2:
            X = check_array(X, **_CHECK_ARRAY)
            if y is not None:
                y = np.asarray(y)
                check_consistent_length(X, y)
            if reset:
                self.n_features_in_ = int(np.prod(X.shape[1:]))
                vars(self).pop("feature_names_in_", None)
            return X, y
        if y is None:
            return validate_data(self, X, reset=reset, **_CHECK_ARRAY), None
        return validate_data(self, X, y, reset=reset, **_CHECK_ARRAY)

    def _decode(self, X, kind, *, reset):
        """Decode a sequence of images by the rules of :mod:`sklearn_meta._images`.

        A pretrained network's own resize and crop (its preprocessing's
        ``geometry``) apply to each image unless ``image_size`` resizes them.
        """
        prep = self._input_preprocessing(reset=reset)
        X = one_column(X)
        stop = self._interrupted
        if reset:
            return decode_images(
                X, kind, channels=_fitted_channels(self.backbone),
                size=check_image_size(self.image_size), geometry=prep.geometry,
                min_channels=prep.channels or _module_channels(self.backbone),
                allocate=self._allocate, stop=stop,
            )
        if len(self.input_shape_) != 3:
            raise ValueError(
                f"{type(self).__name__} was fitted on rows of {self.n_features_in_} "
                f"features; X is a sequence of {kind}s. Pass rows as in fit."
            )
        return decode_images(
            X, kind, channels=self.input_shape_[0], size=self.image_size_,
            geometry=prep.geometry, allocate=self._allocate, stop=stop,
        )

    def _interrupted(self):
        """Whether Ctrl-C asked the fit under way to stop (decoding checks it)."""
        return self._run is not None and self._run.sigint.requested

    def _allocate(self, shape, dtype):
        """The array decoded images go into: in memory, or a file (``storage``)."""
        mode = self.storage
        if mode == "auto":
            nbytes = int(np.prod(shape)) * np.dtype(dtype).itemsize
            device = resolve_device(self.device)
            mode = "stream" if nbytes > _FREE_SHARE * free_memory(device) else "device"
        return disk_array(shape, dtype) if mode == "stream" else np.empty(shape, dtype)

    def _unpack_dataset(self, X, y, n_extra=0):
        """``(images, y, *extra)`` of a dataset ``X``; anything else passes through."""
        if not is_dataset(X):
            return (X, y) + (None,) * n_extra
        images, columns = dataset_arrays(X, n_extra)
        return (images, columns[0] if y is None else y, *columns[1:])

    def _validate_X(self, X, *, reset):
        """Validate ``X`` (sets or checks ``n_features_in_``) and shape it."""
        X = _images_of(X)
        kind = image_sequence_kind(X)
        if kind is not None:
            X = self._decode(X, kind, reset=reset)
        X, _ = self._check_X(X, reset=reset)
        return self._shape_X(X, reset=reset, decoded=kind is not None)

    def _validate_rows(self, X, rows):
        """``_validate_X(X)[rows]``, decoding only those rows of a sequence of images."""
        X = _images_of(X)
        if image_sequence_kind(X) is not None:
            X = one_column(X)
            items = X.iloc[rows] if hasattr(X, "iloc") else [X[i] for i in rows]
            return self._validate_X(items, reset=False)
        return self._validate_X(X, reset=False)[rows]

    def _validate_X_y(self, X, y, *, reset=True):
        """Validate ``X, y``; with ``reset``, forget any previous fit first.

        A dataset ``X`` gives its images, and its labels where ``y`` is None.
        """
        X, y = self._unpack_dataset(X, y)
        if y is None:
            raise ValueError(
                f"{type(self).__name__} requires y to be passed, but the target y is None. "
                "Pass the labels, or a dataset of (image, label) pairs as X."
            )
        kind = image_sequence_kind(X)
        if kind is not None:  # decoded before anything is forgotten
            X = self._decode(X, kind, reset=reset)
        if reset:
            reset_fitted_state(self)
            self.storage_ = "stream" if isinstance(X, np.memmap) else "device"
        X, y = self._check_X(X, reset=reset, y=y)
        return self._shape_X(X, reset=reset, decoded=kind is not None), y

    def _shape_X(self, X, *, reset, decoded=False):
        """Shape validated samples for the network; resize images as the fit did.

        Image arrays are resized to ``image_size_``, or go through the
        network's own resize and crop, as decoded files (``decoded``) were.
        """
        if not reset and X.ndim == 2 and self.input_shape is None and len(self.input_shape_) == 3:
            # rows flattened from the images the model was fitted on, in
            # their layout (channels-last arrays flatten as H, W, C)
            if X.shape[1] == int(np.prod(self.input_shape_)):
                c, h, w = self.input_shape_
                if getattr(self, "_channels_last_input", False):
                    return X.reshape(X.shape[0], h, w, c).transpose(0, 3, 1, 2).copy()
                return X.reshape(X.shape[0], c, h, w)
        if reset:
            self._channels_last_input = bool(
                X.ndim == 4 and X.shape[1] not in (1, 3, 4) and X.shape[3] in (1, 3, 4)
            )
        X = as_image_batch(X, self.input_shape)
        if reset:
            size = check_image_size(self.image_size)
            if size is not None and X.ndim != 4:
                raise ValueError(
                    f"image_size={self.image_size!r} resizes images, but X holds rows of "
                    f"{X.shape[1]} features. Pass images (or input_shape for flattened "
                    "images), or image_size=None."
                )
            self.image_size_ = size
        if X.ndim == 4 and not decoded:
            channels = _fitted_channels(self.backbone) if reset else self.input_shape_[0]
            if channels is not None:
                X = convert_channels(X, channels)
            if reset:
                _warn_if_0_255(X)
            if self.image_size_ is not None:
                X = resize_batch(X, self.image_size_)
            else:
                X = apply_geometry(X, self._input_preprocessing(reset=reset).geometry)
        if reset:
            self.input_shape_ = tuple(X.shape[1:])
        elif tuple(X.shape[1:]) != self.input_shape_:
            hint = " Pass image_size to resize images to one size." if X.ndim == 4 else ""
            raise ValueError(
                f"X has samples of shape {X.shape[1:]}, but {type(self).__name__} "
                f"was fitted on samples of shape {self.input_shape_}.{hint}"
            )
        return X

    def _to_tensor(self, X):
        """Host samples as a float32 tensor (uint8 pixels scaled to [0, 1])."""
        return to_float(torch.from_numpy(np.ascontiguousarray(X)))

    def _device_data(self, X, *arrays, stream=False):
        """Validated samples (and arrays of targets) as tensors on ``device_``.

        The one entry point from host data to the device. uint8 pixels
        become a :class:`PixelTensor` that stays uint8 and gives float32
        batches in [0, 1]; other samples become float32; each array keeps its
        dtype. Images decoded to a file (``storage_ == "stream"``) stay
        there, and with ``stream=True`` a training set larger than 2 GiB
        stays in pinned host memory: their batches travel to the device as
        they are used.
        """
        X = np.ascontiguousarray(X)
        x = torch.from_numpy(X if X.dtype == np.uint8 else X.astype(np.float32, copy=False))
        rest = [torch.from_numpy(np.ascontiguousarray(a)).to(self.device_) for a in arrays]
        on_host = self.device_.type != "cpu" and (
            self.storage_ == "stream"
            or (stream and x.numel() * x.element_size() > _DEVICE_DATA_LIMIT)
        )
        if on_host and self.storage_ != "stream":
            x = x.pin_memory()
        elif not on_host:
            x = x.to(self.device_)
        if x.dtype == torch.uint8 or on_host:
            return (PixelTensor(x, self.device_), *rest)
        return (x, *rest)

    # ------------------------------------------------------------- inference
    def _chunk_size(self, n):
        if uses_batch_statistics(self.module_):
            # the output depends on the batch: predict it in as few, equal
            # batches as memory allows and never pad
            return max(1, n)
        return _INFER_CHUNK_CUDA if self.device_.type == "cuda" else _INFER_CHUNK_CPU

    @at_precision
    def _batched(self, fn, X, *, reduce=None):
        """Apply ``fn`` to ``X`` on the device in eval mode, in fixed-size chunks.

        Every chunk has the same number of rows (only the last one is padded,
        by a copy of that chunk alone), so a sample gets the same output
        whether it is predicted alone or among many: float32 kernels round
        differently for different batch shapes. Networks that normalise with
        batch statistics are run unpadded instead. ``reduce`` maps each
        chunk's output before it goes back to the host (``predict`` keeps
        only the argmax). Peak memory is the result plus one chunk.
        """
        n = X.shape[0]
        chunk = self._chunk_size(n)
        out = None
        self.module_.eval()
        with torch.inference_mode():
            for start in range(0, n, chunk):
                xb = X[start : start + chunk]
                m = xb.shape[0]
                if m < chunk and chunk != n:
                    xb = np.concatenate([xb, np.zeros((chunk - m, *xb.shape[1:]), xb.dtype)])
                xb = to_float(torch.from_numpy(xb).to(self.device_, non_blocking=True))
                res = fn(xb)[:m]
                res = reduce(res) if reduce is not None else res.double()
                res = res.cpu().numpy()
                if out is None:
                    out = np.empty((n, *res.shape[1:]), dtype=res.dtype)
                out[start : start + m] = res
        return out
