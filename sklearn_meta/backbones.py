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
import difflib
import math
import os
import re
from collections.abc import Mapping
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import BaseEstimator
from torch import nn

from ._sklearn import Interval, StrOptions

__all__ = [
    "MLPBackbone",
    "Conv4Backbone",
    "TorchvisionBackbone",
    "IdentityBackbone",
    "build_backbone",
    "has_batch_norm",
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
    norm : {"batch", "layer"} or None, default=None
        Normalisation before each activation: batch normalisation, layer
        normalisation (per sample, so it suits the MAML family), or none.

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
        "norm": [StrOptions({"batch", "layer"}), None],
    }

    def __init__(self, hidden=(128,), *, activation="relu", dropout=0.0, norm=None):
        self.hidden = hidden
        self.activation = activation
        self.dropout = dropout
        self.norm = norm

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
            if self.norm == "batch":
                block.append(nn.BatchNorm1d(int(h)))
            elif self.norm == "layer":
                block.append(nn.LayerNorm(int(h)))
            block.append(act())
            if self.dropout:
                block.append(nn.Dropout(self.dropout))
            layers.append(nn.Sequential(*block))
            width = int(h)
        return _Blocks(*layers)


class Conv4Backbone(_BackboneConfig):
    """The four-block convolutional embedding of the few-shot literature.

    Each block is a 3x3 convolution, a normalisation, ReLU and 2x2 max
    pooling (Vinyals et al. 2016; Snell et al. 2017; Finn et al. 2017); the
    pooling comes first, which computes the same function (ReLU and max pooling
    commute) on a quarter of the values. Pooling is skipped once
    the feature map is 1x1, so images from 8x8 up to 84x84 (and larger) work:
    28x28 Omniglot gives a 64-d embedding, 84x84 miniImageNet 1600-d.

    Parameters
    ----------
    channels : int, default=64
        Filters in every block.
    n_blocks : int, default=4
        Number of blocks.
    norm : {"batch", "instance", "group"} or None, default="batch"
        Normalisation in every block. ``"batch"`` is batch normalisation, as
        in the papers. ``"instance"`` normalises each channel of each sample
        over its positions, with a learned scale and shift (computed by
        :class:`torch.nn.GroupNorm` with one group per channel, whose
        gradients are exact under ``vmap``): what the MAML family uses, since
        its outputs and meta-gradients must not depend on which samples share
        a batch. ``"group"`` is group normalisation with 8 groups. None
        leaves it out.

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
        "norm": [StrOptions({"batch", "instance", "group"}), None],
    }

    def __init__(self, channels=64, *, n_blocks=4, norm="batch"):
        self.channels = channels
        self.n_blocks = n_blocks
        self.norm = norm

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
            if self.norm == "batch":
                block.append(nn.BatchNorm2d(self.channels))
            elif self.norm == "instance":
                block.append(nn.GroupNorm(self.channels, self.channels))
            elif self.norm == "group":
                block.append(nn.GroupNorm(math.gcd(8, self.channels), self.channels))
            # max pooling before the ReLU: the same outputs and gradients as
            # after it (the two commute), with the ReLU on a quarter of the values
            if min(h, w) >= 2:
                block.append(nn.MaxPool2d(2))
                h, w = h // 2, w // 2
            block.append(nn.ReLU())
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
_AUX_HEADS = ("AuxLogits", "aux1", "aux2")
_INIT_WEIGHTS = ("googlenet", "inception_v3")


def _drop_aux_heads(model):
    """Remove googlenet / inception_v3 auxiliary classifiers.

    With them, train mode returns ``(logits, aux_logits...)`` tuples instead of
    one tensor; they only serve ImageNet training.
    """
    if getattr(model, "aux_logits", False):
        model.aux_logits = False
        for attr in _AUX_HEADS:
            if hasattr(model, attr):
                setattr(model, attr, None)


class TorchvisionBackbone(_BackboneConfig):
    """Any torchvision classification model, without its classifier.

    Parameters
    ----------
    name : str, default="resnet18"
        A name from ``torchvision.models.list_models(module=torchvision.models)``.

    Notes
    -----
    The final classifier (``fc``, ``classifier``, ``head`` or ``heads``) is
    replaced by the identity, so the module returns the pooled features; the
    auxiliary classifiers of ``"googlenet"`` and ``"inception_v3"`` are
    dropped. One-channel images are repeated to three channels. Pretrained
    weights expect the preprocessing they were trained with (for ImageNet
    weights, ``weights.transforms()``): the estimators apply it themselves
    with their default ``preprocess="auto"``; a module built here by hand
    does not.

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
        weights : str, path-like or None, default=None
            A torchvision weights name (``"DEFAULT"``, ``"IMAGENET1K_V1"``),
            a local file holding the model's state dict (``~`` is expanded;
            a ``module.``-style key prefix and the classifier's keys are
            skipped), or None.

        Returns
        -------
        torch.nn.Module
        """
        import torchvision

        self._check()
        names = torchvision.models.list_models(module=torchvision.models)
        if self.name not in names:
            close = difflib.get_close_matches(self.name, [*_NAMED, *names], n=3)
            hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
            raise ValueError(
                f"backbone={self.name!r} is neither 'mlp', 'conv4', 'identity' nor a "
                "torchvision classification model; see "
                f"torchvision.models.list_models(module=torchvision.models).{hint}"
            )
        if len(input_shape) != 3 or input_shape[0] not in (1, 3):
            raise ValueError(
                f"torchvision model {self.name!r} needs images with 1 or 3 channels: pass "
                f"input_shape=(C, H, W) or N-D image arrays; got samples of shape {input_shape}."
            )
        path = _weights_file(weights, torchvision_name=self.name)
        tv_weights = weights if path is None else None
        # googlenet and inception_v3 warn unless init_weights is given, and refuse
        # it together with torchvision weights
        init = tv_weights is None and self.name in _INIT_WEIGHTS
        kwargs = {"init_weights": True} if init else {}
        try:
            model = torchvision.models.get_model(self.name, weights=tv_weights, **kwargs)
        except (OSError, RuntimeError) as exc:  # offline, or a broken cache
            raise ValueError(
                f"Could not fetch torchvision weights {weights!r} for {self.name!r} ({exc}). "
                "Without a network, pass weights= the path of a local state-dict file."
            ) from exc
        except (ValueError, KeyError) as exc:
            names = ["DEFAULT", *(w.name for w in torchvision.models.get_model_weights(self.name))]
            raise ValueError(
                f"weights={weights!r} is not a weights name of {self.name!r} ({', '.join(names)}) "
                f"nor an existing file (no file at {os.path.abspath(os.path.expanduser(weights))})."
                " Pass one of these weights names or the path of a local state-dict file."
            ) from exc
        _drop_aux_heads(model)
        classifier = next(
            (a for a in _CLASSIFIER_ATTRS if isinstance(getattr(model, a, None), nn.Module)), None
        )
        if classifier is not None:
            setattr(model, classifier, nn.Identity())
        if path is not None:
            # full torchvision state dicts hold the classifier and auxiliary heads dropped above
            ignore = tuple(f"{a}." for a in (classifier, *_AUX_HEADS) if a is not None)
            _load_state_dict(model, path, ignore=ignore)
        return _ChannelAdapter(model, repeat=input_shape[0] == 1)

    def _size_hint(self, module):
        """How to resize images that ``module`` (built by :meth:`build`) refuses."""
        import torchvision

        exact = getattr(module.model, "image_size", None)  # ViTs take exactly their image_size
        if exact:
            return f"Resize images to exactly {exact}x{exact}, or pick"
        weights = torchvision.models.get_model_weights(self.name)
        h, w = next(iter(weights)).meta.get("min_size", (1, 1))
        return f"Resize images to at least {h}x{w}, or pick" if h * w > 1 else "Pick"


_NAMED = {"mlp": MLPBackbone, "conv4": Conv4Backbone, "identity": IdentityBackbone}


def _weights_file(weights, torchvision_name=None):
    """The local file ``weights`` names; None for None or a torchvision weights name."""
    if weights is None:
        return None
    path = os.path.expanduser(os.fspath(weights))
    if os.path.isfile(path):
        return path
    if torchvision_name is not None and isinstance(weights, str):
        return None  # a weights name, checked by torchvision
    names = (
        f"or a weights name of {torchvision_name!r} such as 'DEFAULT'"
        if torchvision_name is not None
        else "or None; only torchvision models take weights names"
    )
    raise ValueError(
        f"weights={weights!r}: no file at {os.path.abspath(path)}. Pass the path of a local "
        f"state-dict file (saved with torch.save(module.state_dict(), path)) {names}."
    )


def _read_state_dict(path):
    """Load a state dict with ``weights_only=True``; never unpickle arbitrary objects."""
    save_hint = "save weights with torch.save(module.state_dict(), path)"
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        with open(path, "rb") as f:
            head = f.read(2)
        found = re.search(r"GLOBAL (\S+)", str(exc))
        # torch.save writes a zip archive whose pickle names the classes it needs;
        # pickle.dump and joblib.dump write a bare pickle: PROTO (0x80), version 2-5
        bare = len(head) == 2 and head[0] == 0x80 and 2 <= head[1] <= 5
        if found or bare:
            what = f"a pickled {found.group(1)}" if found else "an object pickled by pickle/joblib"
            raise ValueError(
                f"{path} holds {what}: a pickled object, not a state dict, and weights are only "
                "loaded with weights_only=True. To reuse a fitted sklearn_meta estimator pass "
                "it as backbone= itself; otherwise save its network's weights with "
                "torch.save(module.state_dict(), path)."
            ) from exc
        # weights_only errors wrap the unpickler's own, shorter message
        inner = exc.__cause__ or exc.__context__ or exc
        reason = f"{type(inner).__name__}: {str(inner).strip() or 'no data'}".splitlines()[0][:200]
        raise ValueError(
            f"could not read {path} as a torch state dict ({reason}); {save_hint}."
        ) from exc
    if isinstance(state, Mapping) and not all(isinstance(v, torch.Tensor) for v in state.values()):
        # a training checkpoint: {"state_dict": ..., "epoch": ...}
        state = next((state[k] for k in ("state_dict", "model_state_dict") if k in state), state)
    if not isinstance(state, Mapping) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise ValueError(
            f"{path} holds a {type(state).__name__}, not a state dict (a dict of named "
            f"tensors); {save_hint}."
        )
    return state


def _load_state_dict(module, path, ignore=()):
    """Load the state dict in file ``path`` into ``module``, in place.

    Keys may carry a prefix (``module.`` from DataParallel, ``features.``, ...):
    the prefix under which most keys match is stripped, and keys outside it
    (such as the head of a whole saved network) are left out. Keys starting
    with a prefix in ``ignore`` (dropped classifier heads) are left out too.
    """
    state = _read_state_dict(path)
    expected = module.state_dict()
    prefixes = {""} | {k[: m.end()] for k in state for m in re.finditer(r"\.", k)}

    def strip(prefix):
        return {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}

    # most matching keys first, then the shortest prefix
    prefix = max(sorted(prefixes, key=len), key=lambda p: len(strip(p).keys() & expected.keys()))
    found = {k: v for k, v in strip(prefix).items() if not k.startswith(ignore)}
    missing = [k for k in expected if k not in found]
    unexpected = [k for k in found if k not in expected]
    mismatched = [
        f"{k!r} {list(v.shape)} (expected {list(expected[k].shape)})"
        for k, v in found.items()
        if k in expected and v.shape != expected[k].shape
    ]
    if missing or unexpected or mismatched:
        listed = "; ".join(
            f"{name}: {', '.join(keys[:3])}{', ...' if len(keys) > 3 else ''}"
            for name, keys in [
                ("missing", [repr(k) for k in missing]),
                ("unexpected", [repr(k) for k in unexpected]),
                ("shape-mismatched", mismatched),
            ]
            if keys
        )
        raise ValueError(
            f"The weights in {path} were saved from a different architecture than this "
            f"backbone ({listed}). Pass the same backbone config the weights were saved from."
        )
    module.load_state_dict(found)


def _load_local(module, weights):
    path = _weights_file(weights)
    if path is not None:
        _load_state_dict(module, path)
    return module, path is not None


def _probe(module, input_shape, backbone):
    """Run two dummy samples through ``module``; return the embedding width."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            out = module(torch.zeros(2, *input_shape))
    except (RuntimeError, ValueError, AssertionError) as exc:
        if isinstance(backbone, TorchvisionBackbone):
            what, fix = repr(backbone.name), backbone._size_hint(module)
        else:
            what, fix = type(backbone).__name__, "Pass samples of the shape it expects, or pick"
        raise ValueError(
            f"The backbone {what} cannot take samples of shape {input_shape} ({exc}). {fix} "
            "another backbone such as 'resnet18' for images, 'conv4' for small images or "
            "'mlp' for rows."
        ) from exc
    finally:
        module.train(was_training)
    if not isinstance(out, torch.Tensor) or out.ndim != 2:
        got = tuple(out.shape) if isinstance(out, torch.Tensor) else type(out).__name__
        raise ValueError(
            f"The backbone must return (batch, n_features) embeddings; it returned {got} for "
            f"samples of shape {input_shape}. Add nn.Flatten()."
        )
    return int(out.shape[1])


def has_batch_norm(module):
    """Whether ``module`` holds any batch normalisation layer.

    Batch normalisation needs more than one sample per batch in train mode,
    and its running statistics change whenever the module trains.

    Parameters
    ----------
    module : torch.nn.Module
        The module to inspect, with all its submodules.

    Returns
    -------
    bool
        True when a ``BatchNorm1d``/``2d``/``3d``, ``SyncBatchNorm`` or lazy
        variant is among its submodules.

    Examples
    --------
    >>> from sklearn_meta.backbones import Conv4Backbone, MLPBackbone, has_batch_norm
    >>> has_batch_norm(Conv4Backbone().build((1, 28, 28)))
    True
    >>> has_batch_norm(MLPBackbone().build((64,)))
    False
    """
    return any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in module.modules())


def build_backbone(backbone, input_shape, *, weights=None):
    """Resolve a ``backbone`` parameter into a fresh feature extractor.

    Call it under :func:`sklearn_meta._devices.torch_rng` so that random
    initialisation follows ``random_state``.

    Parameters
    ----------
    backbone : str, config object, torch.nn.Module or fitted estimator
        ``"auto"`` picks ``"conv4"`` for images and ``"mlp"`` for rows.
    input_shape : tuple
        Shape of one sample as the module receives it.
    weights : str, path-like or None, default=None
        torchvision weights name or local state-dict file, always loaded with
        ``weights_only=True``. A prefix of its keys (``module.``,
        ``features.``, ...) is stripped when that makes them match.

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
        _drop_aux_heads(module)
        pretrained = True
    elif hasattr(backbone, "get_feature_extractor"):
        fitted_shape = getattr(backbone, "input_shape_", None)
        if fitted_shape is not None and tuple(fitted_shape) != input_shape:
            raise ValueError(
                f"The backbone estimator was fitted on samples of shape {tuple(fitted_shape)}, "
                f"but this data has samples of shape {input_shape}."
            )
        module, _ = _load_local(backbone.get_feature_extractor(), weights)
        pretrained = True
    else:
        raise ValueError(
            "backbone must be 'auto', 'mlp', 'conv4', 'identity', a torchvision model "
            "name, a backbone config (MLPBackbone, ...), a torch.nn.Module or a fitted "
            f"sklearn_meta estimator; got {type(backbone).__name__}."
        )
    return module, _probe(module, input_shape, backbone), pretrained


def module_blocks(module):
    """The ordered blocks of a feature extractor that ``freeze=int`` counts."""
    blocks = getattr(module, "blocks", None)
    if blocks is None:
        blocks = _param_children(module)
    return list(blocks) or [module]
