"""Feature extractors that every estimator of the package can use.

A backbone is named by a string (``"mlp"``, ``"conv4"``, ``"identity"``, or
any torchvision classification model such as ``"resnet18"``), by a small
config object (:class:`MLPBackbone`, :class:`Conv4Backbone`,
:class:`TorchvisionBackbone`), by an :class:`torch.nn.Module` (copied, never
trained in place), or by a fitted estimator of this package (its trained
feature extractor is copied).

Config objects are scikit-learn estimators holding parameters only, so nested
names such as ``backbone__hidden=(64, 64)`` work in ``set_params``, ``clone``
and ``GridSearchCV``. Their ``build(input_shape)`` returns a fresh module
whose output is a flat ``(batch, n_features)`` embedding.
"""

from __future__ import annotations

import copy
import os
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from torch import nn

from ._base import Interval, StrOptions

__all__ = [
    "MLPBackbone",
    "Conv4Backbone",
    "TorchvisionBackbone",
    "IdentityBackbone",
    "build_backbone",
]


def _param_children(module):
    """Direct children of ``module`` that hold parameters, in order."""
    return [m for m in module.children() if any(True for _ in m.parameters())]


class _Blocks(nn.Sequential):
    """``nn.Sequential`` whose children are the freezable blocks, in order."""

    @property
    def blocks(self):
        return _param_children(self)


class _BackboneConfig(BaseEstimator):
    def build(self, input_shape):  # pragma: no cover - abstract
        raise NotImplementedError

    def _check(self):
        self._validate_params()


class IdentityBackbone(_BackboneConfig):
    """No learned features: samples are flattened as they are.

    With :class:`~sklearn_meta.ProtoNetClassifier` this gives exactly
    scikit-learn's :class:`~sklearn.neighbors.NearestCentroid`.

    Examples
    --------
    >>> from sklearn_meta.backbones import IdentityBackbone
    >>> IdentityBackbone().build((1, 2, 3))
    _Blocks(
      (0): Flatten(start_dim=1, end_dim=-1)
    )
    """

    def build(self, input_shape):
        """Return a module that flattens its input.

        Parameters
        ----------
        input_shape : tuple
            Shape of one sample.

        Returns
        -------
        torch.nn.Module
        """
        return _Blocks(nn.Flatten())


class MLPBackbone(_BackboneConfig):
    """Fully connected feature extractor for tabular rows (or flattened images).

    Parameters
    ----------
    hidden : tuple of int, default=(128,)
        Width of each hidden layer; the embedding has ``hidden[-1]`` features.
    activation : {"relu", "gelu", "tanh"}, default="relu"
        Non-linearity after each layer.
    dropout : float, default=0.0
        Dropout probability after each activation.
    batch_norm : bool, default=False
        Batch normalisation before each activation.

    Examples
    --------
    >>> import torch
    >>> from sklearn_meta.backbones import MLPBackbone
    >>> net = MLPBackbone(hidden=(32, 16)).build((64,))
    >>> net(torch.zeros(2, 64)).shape
    torch.Size([2, 16])
    """

    _parameter_constraints = {
        "hidden": [tuple, list],
        "activation": [StrOptions({"relu", "gelu", "tanh"})],
        "dropout": [Interval(Real, 0, 1, closed="left")],
        "batch_norm": ["boolean"],
    }

    def __init__(self, hidden=(128,), *, activation="relu", dropout=0.0, batch_norm=False):
        self.hidden = hidden
        self.activation = activation
        self.dropout = dropout
        self.batch_norm = batch_norm

    def build(self, input_shape):
        """Build a fresh, randomly initialised module.

        Parameters
        ----------
        input_shape : tuple
            Shape of one sample; images are flattened.

        Returns
        -------
        torch.nn.Module
        """
        self._check()
        if len(self.hidden) == 0 or any(int(h) < 1 for h in self.hidden):
            raise ValueError(f"hidden must hold positive layer widths; got {self.hidden!r}.")
        act = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh}[self.activation]
        width = int(np.prod(input_shape))
        layers = [nn.Flatten()]
        for h in self.hidden:
            block = [nn.Linear(width, int(h))]
            if self.batch_norm:
                block.append(nn.BatchNorm1d(int(h)))
            block.append(act())
            if self.dropout:
                block.append(nn.Dropout(self.dropout))
            layers.append(nn.Sequential(*block))
            width = int(h)
        return _Blocks(*layers)


class Conv4Backbone(_BackboneConfig):
    """The four-block convolutional embedding of the few-shot literature.

    Each block is a 3x3 convolution, batch normalisation, ReLU and 2x2 max
    pooling (Vinyals et al. 2016; Snell et al. 2017). Pooling is skipped once
    the feature map is 1x1, so images from 8x8 up to 84x84 (and larger) work:
    28x28 Omniglot gives a 64-d embedding, 84x84 miniImageNet 1600-d.

    Parameters
    ----------
    channels : int, default=64
        Filters in every block.
    n_blocks : int, default=4
        Number of blocks.
    batch_norm : bool, default=True
        Batch normalisation in every block.

    Examples
    --------
    >>> import torch
    >>> from sklearn_meta.backbones import Conv4Backbone
    >>> net = Conv4Backbone().build((1, 28, 28))
    >>> net(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 64])
    """

    _parameter_constraints = {
        "channels": [Interval(Integral, 1, None, closed="left")],
        "n_blocks": [Interval(Integral, 1, None, closed="left")],
        "batch_norm": ["boolean"],
    }

    def __init__(self, channels=64, *, n_blocks=4, batch_norm=True):
        self.channels = channels
        self.n_blocks = n_blocks
        self.batch_norm = batch_norm

    def build(self, input_shape):
        """Build a fresh, randomly initialised module.

        Parameters
        ----------
        input_shape : tuple
            ``(C, H, W)`` of one image.

        Returns
        -------
        torch.nn.Module
        """
        self._check()
        if len(input_shape) != 3:
            raise ValueError(
                "The conv4 backbone needs images: pass input_shape=(C, H, W) with "
                f"flattened images, or N-D image arrays; got samples of shape {input_shape}. "
                "For tabular data use backbone='mlp'."
            )
        c, h, w = input_shape
        blocks = []
        for _ in range(self.n_blocks):
            block = [nn.Conv2d(c, self.channels, 3, padding=1)]
            if self.batch_norm:
                block.append(nn.BatchNorm2d(self.channels))
            block.append(nn.ReLU())
            if min(h, w) >= 2:
                block.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            blocks.append(nn.Sequential(*block))
            c = self.channels
        return _Blocks(*blocks, nn.Flatten())


class _ChannelAdapter(nn.Module):
    """Repeat a single channel to the three a torchvision model expects."""

    def __init__(self, model, repeat):
        super().__init__()
        self.repeat = repeat
        self.model = model

    @property
    def blocks(self):
        return _param_children(self.model)

    def forward(self, x):
        if self.repeat:
            x = x.expand(-1, 3, -1, -1)
        return torch.flatten(self.model(x), 1)


_CLASSIFIER_ATTRS = ("fc", "classifier", "head", "heads")


class TorchvisionBackbone(_BackboneConfig):
    """Any torchvision classification model, without its classifier.

    Parameters
    ----------
    name : str, default="resnet18"
        A name from :func:`torchvision.models.list_models`.

    Notes
    -----
    The final classifier (``fc``, ``classifier``, ``head`` or ``heads``) is
    replaced by the identity, so the module returns the pooled features.
    One-channel images are repeated to three channels. Pretrained weights
    expect the preprocessing they were trained with (for ImageNet weights,
    ``weights.transforms()``); scale your inputs accordingly.

    Examples
    --------
    >>> import torch
    >>> from sklearn_meta.backbones import TorchvisionBackbone
    >>> net = TorchvisionBackbone("resnet18").build((3, 32, 32))
    >>> net(torch.zeros(2, 3, 32, 32)).shape
    torch.Size([2, 512])
    """

    _parameter_constraints = {"name": [str]}

    def __init__(self, name="resnet18"):
        self.name = name

    def build(self, input_shape, weights=None):
        """Build the model, load ``weights`` and drop its classifier.

        Parameters
        ----------
        input_shape : tuple
            ``(C, H, W)`` of one image, with C of 1 or 3.
        weights : str or None, default=None
            A torchvision weights name (``"DEFAULT"``, ``"IMAGENET1K_V1"``),
            a local file holding the model's state dict, or None.

        Returns
        -------
        torch.nn.Module
        """
        import torchvision

        self._check()
        if self.name not in torchvision.models.list_models():
            raise ValueError(
                f"backbone={self.name!r} is neither 'mlp', 'conv4', 'identity' nor a "
                "torchvision classification model; see torchvision.models.list_models()."
            )
        if len(input_shape) != 3 or input_shape[0] not in (1, 3):
            raise ValueError(
                f"torchvision model {self.name!r} needs images with 1 or 3 channels: pass "
                f"input_shape=(C, H, W) or N-D image arrays; got samples of shape {input_shape}."
            )
        local = weights is not None and os.path.isfile(str(weights))
        tv_weights = None if (weights is None or local) else weights
        try:
            model = torchvision.models.get_model(self.name, weights=tv_weights)
        except (OSError, RuntimeError) as exc:  # offline, or a broken cache
            raise ValueError(
                f"Could not fetch torchvision weights {weights!r} for {self.name!r} ({exc}). "
                "Without a network, pass weights= the path of a local state-dict file."
            ) from exc
        except (ValueError, KeyError) as exc:
            raise ValueError(
                f"weights={weights!r} is not a weights name of {self.name!r} nor an existing "
                f"file ({exc})."
            ) from exc
        if local:
            model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        for attr in _CLASSIFIER_ATTRS:
            if isinstance(getattr(model, attr, None), nn.Module):
                setattr(model, attr, nn.Identity())
                break
        return _ChannelAdapter(model, repeat=input_shape[0] == 1)


_NAMED = {"mlp": MLPBackbone, "conv4": Conv4Backbone, "identity": IdentityBackbone}


def _load_local(module, weights):
    if weights is None:
        return module, False
    if not os.path.isfile(str(weights)):
        raise ValueError(
            f"weights={weights!r}: only torchvision models take weights names; for this "
            "backbone pass the path of a local state-dict file, or None."
        )
    module.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
    return module, True


def build_backbone(backbone, input_shape, *, weights=None):
    """Resolve a ``backbone`` parameter into a fresh feature extractor.

    Call it under :func:`sklearn_meta._base.torch_rng` so that random
    initialisation follows ``random_state``.

    Parameters
    ----------
    backbone : str, config object, torch.nn.Module or fitted estimator
        ``"auto"`` picks ``"conv4"`` for images and ``"mlp"`` for rows.
    input_shape : tuple
        Shape of one sample as the module receives it.
    weights : str or None, default=None
        torchvision weights name or local state-dict file.

    Returns
    -------
    module : torch.nn.Module
        Maps ``(batch, *input_shape)`` to ``(batch, n_features)``.
    n_features : int
        Width of the embedding.
    pretrained : bool
        Whether the module starts from learned weights.
    """
    input_shape = tuple(int(s) for s in input_shape)
    if isinstance(backbone, str):
        if backbone == "auto":
            backbone = "conv4" if len(input_shape) == 3 else "mlp"
        cls = _NAMED.get(backbone)
        backbone = cls() if cls is not None else TorchvisionBackbone(backbone)
    if isinstance(backbone, TorchvisionBackbone):
        module, pretrained = backbone.build(input_shape, weights=weights), weights is not None
    elif isinstance(backbone, _BackboneConfig):
        module, pretrained = _load_local(backbone.build(input_shape), weights)
    elif isinstance(backbone, nn.Module):
        module, _ = _load_local(copy.deepcopy(backbone), weights)
        pretrained = True
    elif hasattr(backbone, "_feature_extractor"):
        fitted_shape = getattr(backbone, "input_shape_", None)
        if fitted_shape is not None and tuple(fitted_shape) != input_shape:
            raise ValueError(
                f"The backbone estimator was fitted on samples of shape {tuple(fitted_shape)}, "
                f"but this data has samples of shape {input_shape}."
            )
        module, _ = _load_local(backbone._feature_extractor(), weights)
        pretrained = True
    else:
        raise ValueError(
            "backbone must be 'auto', 'mlp', 'conv4', 'identity', a torchvision model "
            "name, a backbone config (MLPBackbone, ...), a torch.nn.Module or a fitted "
            f"sklearn_meta estimator; got {type(backbone).__name__}."
        )
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = module(torch.zeros(2, *input_shape))
    except RuntimeError as exc:
        raise ValueError(
            f"The backbone cannot take samples of shape {input_shape}: {exc}"
        ) from exc
    module.train(was_training)
    if out.ndim != 2:
        raise ValueError(
            f"The backbone must return (batch, n_features) embeddings; it returned shape "
            f"{tuple(out.shape)} for samples of shape {input_shape}. Add nn.Flatten()."
        )
    return module, int(out.shape[1]), pretrained


def module_blocks(module):
    """The ordered blocks of a feature extractor that ``freeze=int`` counts."""
    blocks = getattr(module, "blocks", None)
    if blocks is None:
        blocks = _param_children(module)
    return list(blocks) or [module]
