"""Images as users have them: files, PIL images, arrays of many sizes, datasets.

What counts as images is a 1-D sequence (list, tuple, 1-D numpy array of
``str`` / object, pandas Series) whose elements are all file paths (``str``
or ``os.PathLike``), all PIL images, or all arrays / tensors of two or more
dimensions; or a :class:`torch.utils.data.Dataset` yielding ``(image,
label)`` pairs. Everything else is rows or N-D arrays, as before.

:func:`decode_images` turns such a sequence into one channels-first array
``(n, C, H, W)``, one rule for every source, so that the same pictures as
paths, PIL images or uint8 arrays give the same array:

* pixel scale: files, PIL images and uint8 arrays keep their 0-255 values
  as uint8 (the estimators read them as floats in [0, 1], torchvision's
  convention, a batch at a time); 16-bit images become floats in [0, 1];
  float arrays are taken as given;
* channels: three where the fit's images hold colour (or the network
  needs three), else one; an alpha channel is dropped; grey becomes
  colour by repetition, colour becomes grey by ITU-R 601-2 luma (PIL's
  weights);
* size: resized to ``image_size`` with antialiasing when one is given,
  otherwise all images must share a size.
"""

from __future__ import annotations

import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from numbers import Integral

import numpy as np
import torch

__all__ = [
    "DatasetImages",
    "apply_geometry",
    "check_image_size",
    "convert_channels",
    "dataset_arrays",
    "decode_images",
    "disk_array",
    "free_memory",
    "image_sequence_kind",
    "is_dataset",
    "is_pil_image",
    "one_column",
    "resize_batch",
]

#: ITU-R 601-2 luma weights, as PIL's convert("L") uses them (in 1/1000)
_LUMA = (299, 587, 114)

#: files decoded at once by the decoding threads, and the most threads
_BLOCK = 64
_MAX_THREADS = 8

#: PIL modes read as one grey channel; 16- and 32-bit modes become floats
_GREY_MODES = {"1", "L", "LA", "La"}
_WIDE_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N"}


def is_pil_image(item):
    """Whether ``item`` is a PIL image."""
    try:
        from PIL import Image
    except ImportError:  # pragma: no cover - PIL comes with torchvision
        return False
    return isinstance(item, Image.Image)


def _item_kind(item):
    if isinstance(item, (str, os.PathLike)):
        return "path"
    if is_pil_image(item):
        return "PIL image"
    if isinstance(item, (np.ndarray, torch.Tensor)) and item.ndim >= 2:
        return "array"
    return None


def is_dataset(X):
    """Whether ``X`` is a torch map-style dataset (and not an array or tensor)."""
    return isinstance(X, torch.utils.data.Dataset) and not isinstance(X, torch.Tensor)


def image_sequence_kind(X):
    """``"path"``, ``"PIL image"`` or ``"array"`` when ``X`` is a 1-D sequence of images.

    Returns None for anything else (rows, N-D arrays, an empty sequence),
    which keeps scikit-learn's own checks of ``X``.

    Raises
    ------
    ValueError
        When ``X`` mixes images of different kinds, or images and other values.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_meta._images import image_sequence_kind
    >>> image_sequence_kind(["a.png", "b.jpg"])
    'path'
    >>> image_sequence_kind([np.zeros((8, 8)), np.zeros((9, 9))])
    'array'
    >>> image_sequence_kind([[0.0, 1.0], [2.0, 3.0]]) is None
    True
    """
    if isinstance(X, DatasetImages):
        return X.kind
    X = one_column(X)
    if hasattr(X, "to_numpy") and getattr(X, "ndim", None) == 1:  # a pandas Series
        X = X.to_numpy()
    if isinstance(X, np.ndarray):
        if X.ndim != 1 or X.dtype.kind not in "OUS":
            return None
    elif not isinstance(X, (list, tuple)):
        return None
    if len(X) == 0:
        return None
    kinds = {}
    for i, item in enumerate(X):
        kinds.setdefault(_item_kind(item), i)
    images = [k for k in kinds if k is not None]
    if not images:
        return None
    if len(kinds) > 1:
        (a, i), (b, j) = sorted(kinds.items(), key=lambda kv: kv[1])[:2]
        a, b = a or f"a {type(X[i]).__name__}", b or f"a {type(X[j]).__name__}"
        raise ValueError(
            f"X mixes kinds of samples: X[{i}] is {_article(a)} and X[{j}] is "
            f"{_article(b)}. Pass images of one kind: all file paths, all PIL images, or "
            "all arrays of two or more dimensions."
        )
    return images[0]


def one_column(X):
    """The column of a one-column DataFrame or ``(n, 1)`` array of str/object, else ``X``."""
    shape = getattr(X, "shape", ())
    if len(shape) != 2 or shape[1] != 1:
        return X
    if hasattr(X, "iloc"):
        return X.iloc[:, 0]
    if isinstance(X, np.ndarray) and X.dtype.kind in "OUS":
        return X[:, 0]
    return X


def _article(kind):
    return kind if kind.startswith("a ") else f"a {kind}" if kind != "array" else "an array"


def check_image_size(image_size):
    """``(H, W)`` from ``image_size`` (an int or a pair of positive ints), or None."""
    if image_size is None:
        return None
    if isinstance(image_size, Integral) and not isinstance(image_size, bool):
        size = (int(image_size),) * 2
    else:
        try:
            size = tuple(int(s) for s in image_size if isinstance(s, Integral)
                         and not isinstance(s, bool))
            size = size if len(size) == len(image_size) else ()
        except TypeError:
            size = ()
    if len(size) != 2 or min(size) < 1:
        raise ValueError(
            f"image_size must be a positive int or a pair (H, W) of positive ints; got "
            f"{image_size!r}."
        )
    return size


# ----------------------------------------------------------------- decoding
def _open(path, index, *, load=True):
    """The PIL image of a file: decoded, or (``load=False``) its header only."""
    from PIL import Image, UnidentifiedImageError

    name = os.fspath(path)
    if not os.path.exists(name):
        raise ValueError(f"X[{index}]: there is no file at {name!r}.")
    if os.path.isdir(name):
        raise ValueError(
            f"X[{index}]: {name!r} is a folder, not an image file. Pass the files; for a "
            "folder of class folders, use torchvision's ImageFolder and "
            "sklearn_meta.datasets.dataset_to_paths."
        )
    try:
        with Image.open(name) as img:
            if not load:
                return img.mode, (img.size[1], img.size[0])
            img.load()
            return img.copy() if img.mode != "P" else img.convert("RGBA")
    except Image.DecompressionBombError as exc:
        raise ValueError(
            f"X[{index}]: {name!r} is too large for PIL to decode safely ({exc}). Shrink "
            "it, or raise PIL.Image.MAX_IMAGE_PIXELS if you trust the file."
        ) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
        raise ValueError(
            f"X[{index}]: {name!r} could not be decoded as an image ({type(exc).__name__}: "
            f"{exc}). Pass PNG, JPEG, BMP, TIFF or WebP files, or remove this one."
        ) from None


def _header(item, kind, index):
    """``(colour, eight_bit, (H, W))`` of one image, its pixels left undecoded."""
    if kind == "array":
        # the shape and dtype say it: no pixel is copied or converted here
        arr = item.detach().cpu().numpy() if isinstance(item, torch.Tensor) else np.asarray(item)
        try:
            c, h, w = _channels_first(arr, tensor=isinstance(item, torch.Tensor)).shape
        except ValueError as exc:
            raise ValueError(f"X[{index}]: {exc}.") from None
        return c in (3, 4), arr.dtype == np.uint8, (h, w)
    if kind == "path":
        mode, hw = _open(item, index, load=False)
    else:
        mode, hw = item.mode, (item.size[1], item.size[0])
    wide = mode in _WIDE_MODES or mode == "F"
    return not (wide or mode in _GREY_MODES), not wide, hw


def _pil_array(img):
    """An ``(H, W)`` or ``(H, W, 3)`` array of a PIL image, by the module's rules."""
    mode = img.mode
    if mode in _GREY_MODES:
        return np.asarray((img.convert("LA") if mode == "La" else img).convert("L"))
    if mode in _WIDE_MODES:
        return np.asarray(img, dtype=np.float32) / np.float32(65535.0)
    if mode == "F":
        return np.asarray(img, dtype=np.float32)
    return np.asarray(img.convert("RGB"))


def _channels_first(arr, *, tensor):
    """``(C, H, W)`` of a 2-D or 3-D image of 1 to 4 channels.

    numpy images are read as ``(H, W, C)``, as PIL and imageio give them,
    and tensors as ``(C, H, W)``, as torchvision gives them, each unless
    only the other axis can hold channels.
    """
    if arr.ndim == 2:
        return arr[None]
    first, last = arr.ndim == 3 and arr.shape[0] <= 4, arr.ndim == 3 and arr.shape[-1] <= 4
    if not (first or last):
        raise ValueError(
            "an image array must be (H, W), (H, W, C) or (C, H, W) with 1 to 4 channels; "
            f"got shape {arr.shape}"
        )
    if last and not (tensor and first):
        arr = np.moveaxis(arr, -1, 0)
    return arr


def _scaled(arr):
    """uint8 stays; 16-bit becomes [0, 1]; bool and other numbers become float32."""
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype == np.uint16:
        return arr.astype(np.float32) / np.float32(65535.0)
    return arr.astype(np.float32)


def _as_chw(item, kind, index):
    if kind == "path":
        arr = _pil_array(_open(item, index))
    elif kind == "PIL image":
        arr = _pil_array(item)
    else:
        arr = item.detach().cpu().numpy() if isinstance(item, torch.Tensor) else np.asarray(item)
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"X[{index}] is an array of dtype {arr.dtype}; images need numbers.")
    try:
        arr = _channels_first(_scaled(arr), tensor=isinstance(item, torch.Tensor))
    except ValueError as exc:
        raise ValueError(f"X[{index}]: {exc}.") from None
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        raise ValueError(f"X[{index}] holds NaN or infinite values.")
    if arr.shape[0] in (2, 4):  # grey or colour with alpha: the alpha goes
        arr = arr[:-1]
    return np.ascontiguousarray(arr)


def _to_channels(arr, channels):
    """One ``(C, H, W)`` image with ``channels`` channels (:func:`convert_channels`)."""
    return arr if arr.shape[0] == channels else convert_channels(arr[None], channels)[0]


def _tensor(arr):
    """A tensor of ``arr``, copied when numpy holds it read-only (as PIL's arrays are)."""
    return torch.from_numpy(np.require(arr, requirements=["C", "W"]))


def convert_channels(images, channels):
    """``(n, C, H, W)`` images with ``channels`` channels, by the rule of :func:`decode_images`."""
    if images.shape[1] == channels or images.shape[1] not in (1, 3):
        return images
    if channels == 3:
        return np.repeat(images, 3, axis=1)
    if images.dtype == np.uint8:
        w = np.asarray(_LUMA, dtype=np.uint32)[None, :, None, None]
        return (((images.astype(np.uint32) * w).sum(1, keepdims=True) + 500) // 1000).astype(
            np.uint8
        )
    w = np.asarray(_LUMA, dtype=np.float32)[None, :, None, None] / 1000
    return (images * w).sum(1, keepdims=True, dtype=np.float32)


def resize_batch(images, size):
    """Resize ``(n, C, H, W)`` images to ``size`` ``(H, W)`` with antialiasing.

    uint8 stays uint8 (rounded), floats stay float32; bilinear, as
    torchvision's ``Resize`` with ``antialias=True``.
    """
    from torchvision.transforms.v2 import functional as TF

    images = np.asarray(images)
    if tuple(images.shape[-2:]) == tuple(size):
        return images
    out = np.empty((images.shape[0], images.shape[1], *size), dtype=images.dtype)
    for start in range(0, images.shape[0], 256):
        chunk = _tensor(images[start : start + 256])
        out[start : start + 256] = TF.resize(chunk, list(size), antialias=True).numpy()
    return out


def apply_geometry(images, geometry):
    """``geometry`` (a resize and crop of one ``(C, H, W)`` tensor) on each of ``images``."""
    if geometry is None:
        return images
    return np.stack([np.ascontiguousarray(geometry(_tensor(a)).numpy()) for a in images])


def _resize_one(arr, size, geometry):
    if size is not None:
        return resize_batch(arr[None], size)[0]
    if geometry is not None:
        return np.ascontiguousarray(geometry(_tensor(arr)).numpy())
    return arr


def decode_images(
    X, kind, *, channels=None, size=None, geometry=None, min_channels=1, allocate=None,
    stop=None,
):
    """Decode a sequence of images into one ``(n, C, H, W)`` array.

    Parameters
    ----------
    X : sequence
        Images of one ``kind`` (see :func:`image_sequence_kind`).
    kind : {"path", "PIL image", "array"}
    channels : {1, 3} or None, default=None
        The channels to convert to (a fitted model's); None decides them:
        three when any image holds colour or ``min_channels`` is 3, else one.
    size : (int, int) or None, default=None
        Resize every image to ``(H, W)`` with antialiasing.
    geometry : callable or None, default=None
        Applied to each ``(C, H, W)`` tensor when ``size`` is None (a
        pretrained network's own resize and crop).
    min_channels : {1, 3}, default=1
        3 when the network needs colour images.
    allocate : callable or None, default=None
        ``allocate(shape, dtype)`` gives the array the images are decoded
        into (:func:`disk_array` for a set larger than memory); None:
        ``np.empty``.
    stop : callable or None, default=None
        Checked after each image: when it returns True (Ctrl-C during a fit),
        decoding stops with ``KeyboardInterrupt``.

    Returns
    -------
    images : ndarray of shape (n, C, H, W)
        uint8 when every image was 8-bit, else float32 (8-bit images then
        scaled to [0, 1]).

    Raises
    ------
    ValueError
        Naming the first file or item that cannot be read, or ``image_size``
        when the images differ in size and nothing resizes them.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_meta._images import decode_images
    >>> imgs = [np.zeros((8, 8), np.uint8), np.zeros((6, 10, 3), np.uint8)]
    >>> decode_images(imgs, "array", size=(4, 4)).shape
    (2, 3, 4, 4)
    """
    if hasattr(X, "iloc"):  # a Series: by position, whatever its index
        X = X.to_numpy()
    n = len(X)
    headers = []
    for i, item in enumerate(X):
        if stop is not None and stop():
            raise KeyboardInterrupt(f"Ctrl-C while reading the images (at X[{i}])")
        headers.append(_header(item, kind, i))
    if channels is None:
        colour = min_channels == 3 or any(h[0] for h in headers)
        channels = 3 if colour else 1
    if size is None and geometry is None:
        sizes = {}
        for i, h in enumerate(headers):
            sizes.setdefault(tuple(h[2]), i)
        if len(sizes) > 1:
            _differ(sizes)
    eight_bit = all(h[1] for h in headers)
    del headers
    # one array filled image by image: the decoded set is held once; files
    # are decoded by a few threads (PIL releases the GIL), a block at a time
    def one(i):
        return _resize_one(_to_channels(_as_chw(X[i], kind, i), channels), size, geometry)

    out = None
    for i, img in _in_order(one, n, threads=kind == "path"):
        if stop is not None and stop():
            raise KeyboardInterrupt(f"Ctrl-C while decoding the images (at X[{i}])")
        if out is None:
            out = (allocate or np.empty)(
                (n, *img.shape), np.dtype(np.uint8 if eight_bit else np.float32)
            )
        elif img.shape != out.shape[1:]:
            _differ({out.shape[2:]: 0, img.shape[1:]: i})
        if img.dtype == np.uint8 and not eight_bit:
            img = img.astype(np.float32) / np.float32(255.0)
        out[i] = img
    return out


def _in_order(fn, n, *, threads):
    """``(i, fn(i))`` for i in 0..n-1, in order; with ``threads``, a block at a time on a pool."""
    if not threads or n < 2 * _BLOCK:
        for i in range(n):
            yield i, fn(i)
        return
    workers = min(_MAX_THREADS, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sklearn_meta_decode") as pool:
        for start in range(0, n, _BLOCK):
            block = range(start, min(n, start + _BLOCK))
            yield from zip(block, pool.map(fn, block))


def _differ(sizes):
    shown = ", ".join(f"{h}x{w} (X[{i}])" for (h, w), i in list(sizes.items())[:3])
    raise ValueError(
        f"The images of X differ in size: {shown}{', ...' if len(sizes) > 3 else ''}. "
        "Pass image_size=(H, W) (or an int) to resize them all, with antialiasing, the "
        "same way in training and prediction."
    )


def disk_array(shape, dtype):
    """An array in a temporary file, paged in by the operating system as it is read.

    The file has no name (it lives in ``TMPDIR``) and goes when the array does.
    """
    with tempfile.TemporaryFile(prefix="sklearn_meta_images_") as f:
        return np.memmap(f, dtype=dtype, mode="w+", shape=shape)


def free_memory(device):
    """Bytes free on ``device``: CUDA memory, or the host's available memory."""
    if device.type == "cuda":
        return torch.cuda.mem_get_info(device)[0]
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        return float("inf")


class DatasetImages:
    """The images of a map-style dataset, read one at a time as they are indexed.

    Nothing is held: a fit reads the dataset twice, once for the sizes and
    colour of its images and once for their pixels, so that the decoded set
    is held once, as uint8.
    """

    def __init__(self, dataset):
        self.dataset = dataset
        self.kind = _item_kind(self[0]) if len(dataset) else None

    def __len__(self):
        return len(self.dataset)

    def __getitem__(self, i):
        item = self.dataset[i]
        return item[0] if isinstance(item, (tuple, list)) else item


def _labels_without_images(dataset):
    """An ``ImageFolder``'s ``targets``, read without decoding a picture; else None."""
    targets = getattr(dataset, "targets", None)
    if targets is None or len(targets) != len(dataset):
        return None
    if getattr(dataset, "target_transform", None) is not None:
        return None  # the labels the dataset yields are not its targets
    return np.asarray([t.item() if isinstance(t, torch.Tensor) else t for t in targets])


def dataset_arrays(dataset, n_extra=0):
    """The images and labels of a dataset of ``(image, label[, extra...])`` items.

    With ``n_extra=None`` only the images are wanted (prediction): an item
    may be an image or a tuple that starts with one.

    Returns
    -------
    images : DatasetImages
        The images, read from the dataset as they are indexed.
    columns : list of ndarray
        The labels, then each extra column (a task for ``MAMLRegressor``).
        An ``ImageFolder``'s class indices become its class names (``-1``,
        the mark of unlabelled rows, stays).
    """
    try:
        n = len(dataset)
    except TypeError:
        raise ValueError(
            f"X is a {type(dataset).__name__} without a length; pass a map-style dataset "
            "(one with __len__ and __getitem__), such as torchvision's ImageFolder."
        ) from None
    if n == 0:
        raise ValueError(f"X is an empty {type(dataset).__name__}: it holds no image.")
    images = DatasetImages(dataset)
    if images.kind is None:
        raise ValueError(
            f"X is a dataset whose first item holds a {type(images[0]).__name__}, not an "
            "image: its items must start with a PIL image, an array or a tensor of two or "
            "more dimensions, or a file path."
        )
    if n_extra is None:
        return images, []
    labels = _labels_without_images(dataset) if n_extra == 0 else None
    if labels is not None:
        columns = [labels]
    else:
        columns = [[] for _ in range(1 + n_extra)]
        for i in range(n):
            item = dataset[i]
            if not isinstance(item, (tuple, list)) or len(item) != 2 + n_extra:
                want = "(image, label)" if n_extra == 0 else "(image, target, group)"
                size = f" of length {len(item)}" if hasattr(item, "__len__") else ""
                raise ValueError(
                    f"X is a dataset whose items must be {want}; item {i} is "
                    f"{type(item).__name__}{size}."
                )
            for col, value in zip(columns, item[1:]):
                col.append(value.item() if isinstance(value, torch.Tensor) else value)
        columns = [np.asarray(c) for c in columns]
    # class indices name the classes only as the dataset stores them
    names = getattr(dataset, "classes", None)
    if getattr(dataset, "target_transform", None) is not None:
        names = None
    labels = columns[0]
    if names is not None and n_extra == 0 and labels.dtype.kind in "iu":
        names = np.asarray(list(names))
        if labels.size and labels.max() < len(names):
            named = np.empty(len(labels), dtype=object)
            known = labels >= 0
            named[known] = names[labels[known]]
            named[~known] = -1
            columns[0] = named.astype(names.dtype) if known.all() else named
    return images, columns
