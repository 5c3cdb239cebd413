"""Training-time augmentation of image batches on the device (the ``augment`` parameter).

:func:`make_augmenter` turns the ``augment`` parameter into an object called
as ``aug(batch, generator)`` on a float batch of shape ``(N, C, H, W)`` (pixels
in [0, 1]) on any device; it returns a batch of the same shape. Every image
gets its own random parameters, and every draw comes from ``generator`` (a
:class:`torch.Generator` on the batch's device that the fit owns and seeds
from ``random_state``), so an augmented fit repeats bit for bit and torch's
global random streams are left as they were.

* ``"standard"`` (:class:`StandardAugment`): a random resized crop back to
  the batch's own size and a horizontal flip, for the whole batch in one
  ``affine_grid`` + ``grid_sample`` call with a matrix per image.
* any other callable (a ``torchvision.transforms.v2`` transform, say)
  (:class:`PerImageAugment`): applied to each image on its own. torchvision's
  random transforms draw from torch's global generator and give a whole batch
  one set of parameters; here each image's call runs under a seed drawn from
  ``generator``, inside a fork of the global generators.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ._devices import _RNG_LOCK, reseed_global

__all__ = ["PerImageAugment", "StandardAugment", "make_augmenter"]

#: candidate crops drawn per image, as torchvision's RandomResizedCrop tries
_CROP_TRIES = 10


def make_augmenter(augment):
    """The augmentation that the ``augment`` parameter names, or None.

    Parameters
    ----------
    augment : None, "standard" or callable
        ``None``: no augmentation. ``"standard"``: :class:`StandardAugment`.
        A callable (for example a ``torchvision.transforms.v2`` transform) is
        applied to each ``(C, H, W)`` image with its own parameters
        (:class:`PerImageAugment`).

    Returns
    -------
    callable or None
        Called as ``aug(batch, generator)`` on float batches of shape
        ``(N, C, H, W)``.

    Examples
    --------
    >>> import torch
    >>> from sklearn_meta._augment import make_augmenter
    >>> aug = make_augmenter("standard")
    >>> batch = torch.rand(4, 1, 28, 28)
    >>> aug(batch, torch.Generator().manual_seed(0)).shape
    torch.Size([4, 1, 28, 28])
    >>> make_augmenter(None) is None
    True
    """
    if augment is None:
        return None
    if isinstance(augment, str):
        if augment == "standard":
            return StandardAugment()
        raise ValueError(
            f"augment={augment!r} is not a policy; use None, 'standard' or a callable."
        )
    if not callable(augment):
        raise TypeError(
            f"augment must be None, 'standard' or a callable on (C, H, W) images; got "
            f"{type(augment).__name__}."
        )
    return PerImageAugment(augment)


class StandardAugment:
    """Random resized crop back to the image's size, then a random horizontal flip.

    For each image, as torchvision's ``RandomResizedCrop`` does: up to 10
    candidate crops of area ``U(scale) * H * W`` and aspect ratio
    log-uniform in ``ratio``, the first that fits inside the image taken (the
    whole image when none does), at a uniformly drawn position; the crop is
    resampled bilinearly to ``H x W`` and mirrored with probability ``flip``.
    Crops are never larger than the image, so resampling only ever enlarges
    and needs no antialiasing. Vectorised: one ``affine_grid`` +
    ``grid_sample`` call with a matrix per image, on the batch's device.

    The default ``scale=(0.5, 1)`` is gentler than ImageNet's ``(0.08, 1)``:
    few-shot images are small (28x28 characters, 84x84 photos), and a crop of
    8 % of a 28x28 character is an 8x8 patch that holds a stroke, not the
    character. Measured (benchmarks/README.md, "How far the standard
    augmentation crops"): ProtoNet on Omniglot lost 10 points of 5-way 1-shot
    accuracy with ``(0.08, 1)``, 4 with ``(0.25, 1)`` and none beyond the
    interval with ``(0.5, 1)``. Its crops still shift the image by up to
    about 30 % of a side and enlarge it up to about 1.6 times along one side.

    Parameters
    ----------
    scale : (float, float), default=(0.5, 1.0)
        Range of the crop's share of the image's area.
    ratio : (float, float), default=(3/4, 4/3)
        Range of the crop's width / height, drawn log-uniformly.
    flip : float, default=0.5
        Probability of a horizontal flip.

    Examples
    --------
    >>> import torch
    >>> from sklearn_meta._augment import StandardAugment
    >>> batch = torch.rand(8, 3, 32, 32)
    >>> out = StandardAugment()(batch, torch.Generator().manual_seed(0))
    >>> out.shape, bool(out.min() >= 0) and bool(out.max() <= 1)
    (torch.Size([8, 3, 32, 32]), True)
    """

    def __init__(self, scale=(0.5, 1.0), ratio=(3 / 4, 4 / 3), flip=0.5):
        self.scale = scale
        self.ratio = ratio
        self.flip = flip

    def __repr__(self):
        return f"StandardAugment(scale={self.scale}, ratio={self.ratio}, flip={self.flip})"

    def matrices(self, n, height, width, generator, device):
        """The ``(n, 2, 3)`` affine matrices (output -> input, normalised coordinates)."""
        u = torch.rand(n, 2 * _CROP_TRIES + 3, generator=generator, device=device)
        lo, hi = self.scale
        area = (lo + (hi - lo) * u[:, :_CROP_TRIES]) * (height * width)
        log_lo, log_hi = math.log(self.ratio[0]), math.log(self.ratio[1])
        r = torch.exp(log_lo + (log_hi - log_lo) * u[:, _CROP_TRIES : 2 * _CROP_TRIES])
        w = torch.sqrt(area * r)
        h = torch.sqrt(area / r)
        fits = (w <= width) & (h <= height)
        # the first candidate that fits; none: the whole image
        first = torch.where(fits, torch.arange(_CROP_TRIES, 0, -1, device=device), 0).argmax(1)
        any_fit = fits.any(1)
        pick = first.unsqueeze(1)
        w = torch.where(any_fit, w.gather(1, pick).squeeze(1), float(width))
        h = torch.where(any_fit, h.gather(1, pick).squeeze(1), float(height))
        x0 = (width - w) * u[:, -3]
        y0 = (height - h) * u[:, -2]
        mirror = torch.where(u[:, -1] < self.flip, -1.0, 1.0)
        theta = torch.zeros(n, 2, 3, device=device)
        theta[:, 0, 0] = w / width * mirror
        theta[:, 0, 2] = (2 * x0 + w) / width - 1
        theta[:, 1, 1] = h / height
        theta[:, 1, 2] = (2 * y0 + h) / height - 1
        return theta

    def __call__(self, batch, generator):
        n, _, height, width = batch.shape
        theta = self.matrices(n, height, width, generator, batch.device).to(batch.dtype)
        grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
        return F.grid_sample(
            batch, grid, mode="bilinear", padding_mode="border", align_corners=False
        )


class PerImageAugment:
    """A transform applied to each image of a batch with its own parameters.

    For each image a seed is drawn from the given generator; the transform
    runs on that ``(C, H, W)`` image with torch's global generators (the CPU
    one and the batch's CUDA device's) seeded by it, inside a fork that
    restores them afterwards, under the lock fits take for the global
    generators. So the transform's own random draws (torchvision's v2
    transforms make them from the global generator) differ from image to
    image, repeat for the same generator seed, and leave the user's random
    streams as they were. One image at a time: slower than ``"standard"`` on
    large batches.

    Parameters
    ----------
    transform : callable
        Takes a float ``(C, H, W)`` tensor, returns one of the same shape.

    Examples
    --------
    >>> import torch
    >>> from sklearn_meta._augment import PerImageAugment
    >>> aug = PerImageAugment(lambda img: img + 0.01 * torch.randn(img.shape))
    >>> out = aug(torch.zeros(3, 1, 4, 4), torch.Generator().manual_seed(0))
    >>> bool((out[0] != out[1]).any())
    True
    """

    def __init__(self, transform):
        self.transform = transform

    def __repr__(self):
        return f"PerImageAugment({self.transform!r})"

    def __call__(self, batch, generator):
        n = batch.shape[0]
        seeds = torch.randint(
            0, 2**62, (n,), generator=generator, device=generator.device
        ).tolist()
        device = batch.device
        devices = [device] if device.type == "cuda" else []
        out = []
        with _RNG_LOCK, torch.random.fork_rng(devices=devices):
            for image, seed in zip(batch, seeds):
                reseed_global(seed, device)
                res = self.transform(image)
                if not isinstance(res, torch.Tensor) or tuple(res.shape) != tuple(image.shape):
                    got = tuple(res.shape) if isinstance(res, torch.Tensor) else type(res).__name__
                    raise ValueError(
                        f"augment={self.transform!r} turned an image of shape "
                        f"{tuple(image.shape)} into {got}: augmentation must keep each "
                        "(C, H, W) image's shape and return a tensor. Resize with "
                        "image_size instead, or give the transform its output size."
                    )
                out.append(res.to(device=device, dtype=batch.dtype))
        return torch.stack(out)
