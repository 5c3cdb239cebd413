"""What images go through before the network: resolved once per fit from ``preprocess``.

Two parts, applied at two places:

* the **geometry** (resize and crop) runs on the host, on each decoded image
  before the images are stacked, because images of many sizes cannot be
  stacked before it; it is a picklable callable on one ``(C, H, W)`` tensor,
  uint8 or float, returning the same dtype;
* the **layer** (normalisation, or the user's transform) runs on float
  batches ``(N, C, H, W)`` on the device. It sits in front of the backbone,
  inside ``module_.features``, so training, inference, ``transform``,
  ``get_feature_extractor`` (a fitted estimator as ``backbone=``) and the
  MAML family's functional calls all go through it. It holds no trainable
  parameters.

:func:`resolve_preprocess` turns the ``preprocess`` parameter (with
``backbone``, ``weights`` and ``image_size``) into a :class:`Preprocessing`:

* ``"auto"``: a torchvision backbone with ``weights`` gets those weights'
  resize, crop and normalisation, read from ``weights.transforms()`` (which
  downloads nothing); a local state-dict file for a torchvision architecture
  gets the preprocessing of that architecture's ``DEFAULT`` weights. An
  explicit ``image_size`` replaces the resize and crop and keeps the
  normalisation. A fitted sklearn_meta estimator as ``backbone`` brings its
  own (its layer is already in its feature extractor). Anything else: none.
* None: nothing (a fitted estimator's layer is taken out of its features).
* a callable (a ``torchvision.transforms.v2`` transform): the layer.
"""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass, field

import torch
from torch import nn

from .backbones import TorchvisionBackbone, module_blocks

__all__ = [
    "Normalize",
    "Preprocessed",
    "Preprocessing",
    "Resize",
    "ResizeCrop",
    "TransformLayer",
    "resolve_preprocess",
]

#: backbone names that are not torchvision models
_OWN_NAMES = frozenset({"auto", "mlp", "conv4", "identity"})


# ------------------------------------------------------------------ geometry
def _interpolation(name):
    from torchvision.transforms import InterpolationMode

    return InterpolationMode(name)


class ResizeCrop:
    """Resize the shorter side to ``resize``, then crop ``crop`` from the centre.

    What torchvision's classification weights were evaluated with. Applied
    to one ``(C, H, W)`` image (uint8 or float); returns the same dtype.

    Parameters
    ----------
    resize : int
        Length of the shorter side after resizing.
    crop : int or (int, int)
        Size of the centre crop.
    interpolation : str, default="bilinear"
        A ``torchvision.transforms.InterpolationMode`` value.
    antialias : bool, default=True
        Whether downsizing is antialiased.

    Examples
    --------
    >>> import torch
    >>> from sklearn_meta._preprocess import ResizeCrop
    >>> ResizeCrop(32, 28)(torch.zeros(3, 64, 48, dtype=torch.uint8)).shape
    torch.Size([3, 28, 28])
    """

    def __init__(self, resize, crop, interpolation="bilinear", antialias=True):
        self.resize = int(resize)
        self.crop = _pair(crop)
        self.interpolation = str(interpolation)
        self.antialias = bool(antialias)

    def __call__(self, image):
        # the functions weights.transforms() itself calls, for the same pixels
        from torchvision.transforms import functional as F

        image = F.resize(
            image, [self.resize], interpolation=_interpolation(self.interpolation),
            antialias=self.antialias,
        )
        return F.center_crop(image, list(self.crop))

    def __repr__(self):
        return (
            f"ResizeCrop(resize={self.resize}, crop={self.crop}, "
            f"interpolation={self.interpolation!r}, antialias={self.antialias})"
        )


class Resize:
    """Resize one ``(C, H, W)`` image to exactly ``size``, with antialiasing.

    Parameters
    ----------
    size : int or (int, int)
        ``(H, W)``, or one side of a square.

    Examples
    --------
    >>> import torch
    >>> from sklearn_meta._preprocess import Resize
    >>> Resize((20, 30))(torch.zeros(1, 64, 48)).shape
    torch.Size([1, 20, 30])
    """

    def __init__(self, size):
        self.size = _pair(size)

    def __call__(self, image):
        from torchvision.transforms.v2 import functional as F

        return F.resize(image, list(self.size), antialias=True)

    def __repr__(self):
        return f"Resize(size={self.size})"


def _pair(size):
    if isinstance(size, (list, tuple)):
        return (int(size[0]), int(size[-1]))
    return (int(size), int(size))


# ------------------------------------------------------------------- layers
class Normalize(nn.Module):
    """Subtract ``mean`` and divide by ``std``, per channel, on float batches.

    The statistics are buffers (moved with the network, not trainable, not
    in its state dict: they follow from the configuration). A one-channel
    batch broadcasts to as many channels as ``mean`` has.

    Parameters
    ----------
    mean, std : sequence of float
        One value per channel.

    Examples
    --------
    >>> import torch
    >>> from sklearn_meta._preprocess import Normalize
    >>> Normalize([0.5, 0.5, 0.5], [0.25, 0.25, 0.25])(torch.ones(2, 3, 4, 4))[0, :, 0, 0]
    tensor([2., 2., 2.])
    """

    def __init__(self, mean, std):
        super().__init__()
        mean = torch.tensor([float(m) for m in mean], dtype=torch.float32).view(-1, 1, 1)
        std = torch.tensor([float(s) for s in std], dtype=torch.float32).view(-1, 1, 1)
        self.register_buffer("mean", mean, persistent=False)
        self.register_buffer("std", std, persistent=False)

    def forward(self, x):
        return (x - self.mean) / self.std

    def extra_repr(self):
        mean = [round(v, 6) for v in self.mean.flatten().tolist()]
        std = [round(v, 6) for v in self.std.flatten().tolist()]
        return f"mean={mean}, std={std}"


class TransformLayer(nn.Module):
    """A user's transform of float batches, as a layer of the network.

    Parameters
    ----------
    transform : callable
        Maps a float ``(N, C, H, W)`` tensor to a float tensor (a
        ``torchvision.transforms.v2`` transform, for instance). An
        ``nn.Module`` is registered as a submodule, so its buffers move with
        the network; it must hold no parameters.

    Examples
    --------
    >>> import torch
    >>> from torchvision.transforms import v2
    >>> from sklearn_meta._preprocess import TransformLayer
    >>> layer = TransformLayer(v2.Normalize([0.5], [0.5]))
    >>> layer(torch.ones(1, 1, 2, 2)).flatten().tolist()
    [1.0, 1.0, 1.0, 1.0]
    """

    def __init__(self, transform):
        super().__init__()
        self.transform = transform

    def forward(self, x):
        return self.transform(x)


class Preprocessed(nn.Module):
    """A feature extractor with its preprocessing layer in front.

    ``blocks`` are the body's, so ``freeze=k`` counts the same blocks with
    or without the layer.

    Parameters
    ----------
    layer : torch.nn.Module
        Applied to float batches first.
    body : torch.nn.Module
        The backbone.

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> from sklearn_meta._preprocess import Normalize, Preprocessed
    >>> net = Preprocessed(Normalize([0.5], [0.5]), nn.Flatten())
    >>> net(torch.ones(2, 1, 2, 2)).shape
    torch.Size([2, 4])
    """

    def __init__(self, layer, body):
        super().__init__()
        self.layer = layer
        self.body = body

    @property
    def blocks(self):
        return module_blocks(self.body)

    def forward(self, x):
        return self.body(self.layer(x))


# ------------------------------------------------------------- the record
@dataclass
class Preprocessing:
    """What a fit applies to its images before the network.

    Plain data (numbers, strings, the geometry object, the user's
    transform), so that it pickles and skops-saves without torch state; the
    layer is built from it when the network is.

    Attributes
    ----------
    geometry : callable or None
        Applied by the decoder to each ``(C, H, W)`` image on the host, in
        ``fit`` and at prediction, before the images are stacked; returns
        the same dtype.
    mean, std : list of float or None
        The per-channel normalisation, when there is one.
    transform : callable or None
        The user's transform (a copy), when there is one.
    channels : int or None
        The number of channels the preprocessing needs (3 for ImageNet
        normalisation), or None when any number works.
    keeps_backbone_layer : bool
        Whether a layer already in the backbone (a fitted estimator's) stays.
    description : dict
        What :meth:`describe` returns.

    Examples
    --------
    >>> from sklearn_meta._preprocess import resolve_preprocess
    >>> resolve_preprocess("auto", "conv4", None, None).describe()
    {'source': None}
    """

    geometry: object = None
    mean: list | None = None
    std: list | None = None
    transform: object = None
    channels: int | None = None
    keeps_backbone_layer: bool = False
    description: dict = field(default_factory=lambda: {"source": None})

    @property
    def layer(self):
        """A fresh layer for float batches on the device, or None."""
        if self.mean is not None:
            return Normalize(self.mean, self.std)
        if self.transform is not None:
            return TransformLayer(copy.deepcopy(self.transform))
        return None

    def describe(self):
        """A plain dict saying what was applied (the fitted ``preprocess_``).

        Returns
        -------
        dict
            ``"source"`` is None (nothing), ``"weights"`` (torchvision
            weights), ``"user"`` (the ``preprocess`` transform) or
            ``"backbone"`` (a fitted estimator's); the other keys say what.
        """
        return copy.deepcopy(self.description)

    def body_shape(self, input_shape):
        """The sample shape the backbone receives: ``input_shape`` through the layer.

        Parameters
        ----------
        input_shape : tuple of int
            Shape of one sample as the network receives it.

        Returns
        -------
        tuple of int
        """
        input_shape = tuple(int(s) for s in input_shape)
        layer = self.layer
        if layer is None:
            return input_shape
        layer.eval()
        try:
            with torch.no_grad():
                out = layer(torch.zeros(2, *input_shape))
        except Exception as exc:
            raise ValueError(
                f"preprocess={self.description.get('transform', layer)} cannot take "
                f"batches of samples of shape {input_shape} ({exc}). Pass a transform of "
                "float batches of shape (N, C, H, W)."
            ) from exc
        if not isinstance(out, torch.Tensor) or out.ndim < 2 or out.shape[0] != 2:
            raise ValueError(
                "preprocess must map a float batch (N, C, H, W) to a float tensor with the "
                f"same N; it returned {type(out).__name__} for samples of shape {input_shape}."
            )
        return tuple(out.shape[1:])

    def attach(self, features):
        """``features`` with this preprocessing's layer in front.

        Parameters
        ----------
        features : torch.nn.Module
            A freshly built backbone (possibly a fitted estimator's feature
            extractor, already :class:`Preprocessed`).

        Returns
        -------
        torch.nn.Module
        """
        layer = self.layer
        if layer is None and self.keeps_backbone_layer:
            return features
        body = features.body if isinstance(features, Preprocessed) else features
        return body if layer is None else Preprocessed(layer, body)


# -------------------------------------------------------------- resolution
def _torchvision_name(backbone):
    if isinstance(backbone, TorchvisionBackbone):
        return backbone.name
    if isinstance(backbone, str) and backbone not in _OWN_NAMES:
        return backbone
    return None


def _torchvision_weights(name, weights):
    """The torchvision weights entry for ``weights`` of model ``name``, and the file, if any.

    A local file stands for the architecture's ``DEFAULT`` weights. None when
    ``name`` has no weights or ``weights`` names none of them (building the
    backbone then says what is wrong).
    """
    import torchvision

    try:
        enum = torchvision.models.get_model_weights(name)
    except (ValueError, KeyError):
        return None, None
    path = os.path.expanduser(os.fspath(weights))
    if os.path.isfile(path):
        return enum.DEFAULT, os.path.abspath(path)
    try:
        return enum.verify(weights), None
    except (ValueError, KeyError, TypeError):
        return None, None


def _from_weights(entry, path, image_size):
    """The Preprocessing of torchvision weights ``entry``."""
    transforms = entry.transforms()
    mean, std = getattr(transforms, "mean", None), getattr(transforms, "std", None)
    if mean is None or std is None:
        return Preprocessing(keeps_backbone_layer=True)
    resize = getattr(transforms, "resize_size", None)
    crop = getattr(transforms, "crop_size", None)
    interpolation = getattr(transforms, "interpolation", None)
    interpolation = getattr(interpolation, "value", "bilinear")
    antialias = bool(getattr(transforms, "antialias", True))
    geometry = None
    if image_size is None and resize and crop:
        geometry = ResizeCrop(resize[0], crop, interpolation, antialias)
    description = {
        "source": "weights",
        "weights": f"{type(entry).__name__}.{entry.name}",
        **({"weights_file": path} if path is not None else {}),
        "resize": None if geometry is None else geometry.resize,
        "crop": None if geometry is None else list(geometry.crop),
        "interpolation": None if geometry is None else interpolation,
        "mean": [float(m) for m in mean],
        "std": [float(s) for s in std],
    }
    return Preprocessing(
        geometry=geometry, mean=description["mean"], std=description["std"],
        channels=len(mean), description=description,
    )


def _from_fitted(backbone, image_size):
    """What a fitted estimator used as ``backbone`` brings (its layer is in its features)."""
    inner = getattr(backbone, "_preprocessing", None)
    # the size its images were resized to comes along, unless image_size says otherwise
    resized = getattr(backbone, "image_size_", None) if image_size is None else None
    if inner is None or inner.description.get("source") is None:
        if resized is None:
            return Preprocessing(keeps_backbone_layer=True)
        return Preprocessing(
            geometry=Resize(resized), keeps_backbone_layer=True,
            description={"source": "backbone", "backbone": type(backbone).__name__,
                         "backbone_source": None, "resize": list(resized)},
        )
    geometry = inner.geometry if image_size is None else None
    if resized is not None:
        geometry = Resize(resized)
    description = {
        **inner.describe(),
        "source": "backbone",
        "backbone": type(backbone).__name__,
        "backbone_source": inner.description["source"],
    }
    if image_size is not None:
        description.update(resize=None, crop=None, interpolation=None)
    elif resized is not None:
        description.update(resize=list(resized), crop=None)
    return Preprocessing(
        geometry=geometry, channels=inner.channels, keeps_backbone_layer=True,
        description=description,
    )


def _from_user(transform):
    if any(True for _ in TransformLayer(transform).parameters()):
        raise ValueError(
            "preprocess must hold no trainable parameters: it runs in front of the network "
            "in training and inference and is never trained. Put learned layers in the "
            "backbone instead."
        )
    return Preprocessing(
        transform=copy.deepcopy(transform),
        description={"source": "user", "transform": repr(transform)},
    )


def resolve_preprocess(preprocess, backbone, weights, image_size):
    """Resolve the ``preprocess`` parameter into what a fit applies.

    Parameters
    ----------
    preprocess : "auto", None or callable
        The estimator's parameter (see the module docstring).
    backbone : str, config, torch.nn.Module or fitted estimator
        The estimator's ``backbone``.
    weights : str, path-like or None
        The estimator's ``weights``: a torchvision weights name or a local
        state-dict file. Nothing is downloaded.
    image_size : int, (int, int) or None
        An explicit size replaces the weights' resize and crop.

    Returns
    -------
    Preprocessing

    Examples
    --------
    >>> from sklearn_meta._preprocess import resolve_preprocess
    >>> p = resolve_preprocess("auto", "resnet18", "IMAGENET1K_V1", None)
    >>> p.geometry, p.channels
    (ResizeCrop(resize=256, crop=(224, 224), interpolation='bilinear', antialias=True), 3)
    >>> p.describe()["mean"]
    [0.485, 0.456, 0.406]
    >>> resolve_preprocess("auto", "resnet18", "IMAGENET1K_V1", 64).geometry is None
    True
    """
    fitted = hasattr(backbone, "get_feature_extractor") and not isinstance(backbone, nn.Module)
    if preprocess is None or not isinstance(preprocess, str):
        result = Preprocessing() if preprocess is None else _from_user(preprocess)
        if fitted:
            # its layer is taken out, but its network still takes the channels it took
            inner = getattr(backbone, "_preprocessing", None)
            result.channels = None if inner is None else inner.channels
        return result
    if fitted:
        return _from_fitted(backbone, image_size)
    name = _torchvision_name(backbone)
    if name is None or weights is None:
        return Preprocessing(keeps_backbone_layer=True)
    entry, path = _torchvision_weights(name, weights)
    if entry is None:
        return Preprocessing(keeps_backbone_layer=True)
    return _from_weights(entry, path, image_size)
