"""Domain-adaptation losses: one criterion per method.

Each criterion is an :class:`torch.nn.Module` (its domain head, random maps
and adversarial head are part of the fitted network and of its state dict)
called as ``criterion(f_s, f_t, logits_s, logits_t, coeff)``: the features
and class logits of a source and a target minibatch, and the coefficient of
the gradient reversal layer at this point of training. It returns the
adaptation loss, which the estimator adds to the classification loss times
``trade_off``.

* :class:`DANNLoss`: a domain classifier behind a gradient reversal layer
  (Ganin et al. 2016).
* :class:`CDANLoss`: the domain classifier sees the multilinear map of
  features and predictions, randomized for wide heads, optionally with
  entropy weights (CDAN / CDAN+E, Long et al. 2018).
* :class:`MMDLoss`: multi-kernel maximum mean discrepancy (DAN, Long et al.
  2015), the linear-time unbiased estimate.
* :class:`CORALLoss`: distance of the feature covariances (Deep CORAL, Sun
  & Saenko 2016).
* :class:`MDDLoss`: margin disparity discrepancy with an adversarial head
  (Zhang et al. 2019).
* :class:`MCCLoss`: minimum class confusion of the target predictions (Jin
  et al. 2020).
* :class:`BNMLoss`: batch nuclear-norm maximization of the target
  predictions (Cui et al. 2020).

MCC and BNM read the target predictions alone: they need no domain head and
no gradient reversal, and add to the classification loss as they are.

Every domain head outputs logits and is trained with
:func:`torch.nn.functional.binary_cross_entropy_with_logits` (source 0,
target 1); the test suite checks that the gradient reaching the features is
reversed and not zero.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from .._precision import float32_math

__all__ = [
    "BNMLoss",
    "CDANLoss",
    "CORALLoss",
    "DANNLoss",
    "MCCLoss",
    "MDDLoss",
    "MMDLoss",
    "bnm",
    "grad_reverse",
    "grl_coeff",
    "make_criterion",
    "mcc",
]


class _GradReverse(torch.autograd.Function):
    """Identity forward; the gradient times ``-coeff`` backward."""

    @staticmethod
    def forward(ctx, x, coeff):
        ctx.coeff = float(coeff)
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad_out):
        return -ctx.coeff * grad_out, None


def grad_reverse(x, coeff=1.0):
    """The gradient reversal layer of Ganin et al. (2016).

    Parameters
    ----------
    x : torch.Tensor
        Input.
    coeff : float, default=1.0
        The gradient flowing back is multiplied by ``-coeff``.

    Returns
    -------
    torch.Tensor
        ``x`` itself in the forward pass.
    """
    return _GradReverse.apply(x, coeff)


def grl_coeff(progress, alpha=10.0):
    """Ganin et al.'s schedule of the reversal coefficient, ``2/(1+exp(-alpha p))-1``.

    It rises from 0 at the start of training (``progress=0``) to about 1 at
    the end (``progress=1``), so the noisy domain signal of the first steps
    does not swamp the classifier.

    Parameters
    ----------
    progress : float
        Share of training done, in [0, 1].
    alpha : float, default=10.0
        Steepness (10 in the paper).

    Returns
    -------
    float
    """
    return 2.0 / (1.0 + math.exp(-alpha * progress)) - 1.0


def _domain_head(in_features, hidden):
    """An MLP ending in ONE logit per row (never a softmax over one output)."""
    return nn.Sequential(
        nn.Linear(in_features, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, 1),
    )


def _domain_bce(d_s, d_t, w_s=None, w_t=None):
    """Binary cross-entropy of domain logits, source = 0 and target = 1.

    Each domain weighs one half, whatever the sizes of the two batches; with
    weights, each domain's weights are normalised to sum to one first.
    """
    l_s = F.binary_cross_entropy_with_logits(d_s, torch.zeros_like(d_s), reduction="none")
    l_t = F.binary_cross_entropy_with_logits(d_t, torch.ones_like(d_t), reduction="none")
    if w_s is None:
        return 0.5 * (l_s.mean() + l_t.mean())
    return 0.5 * ((w_s / w_s.sum() * l_s).sum() + (w_t / w_t.sum() * l_t).sum())


class DANNLoss(nn.Module):
    """Domain-adversarial loss (DANN; Ganin et al. 2016).

    A domain classifier (two hidden layers of ``hidden`` units, one logit)
    learns to tell source from target features; behind the gradient
    reversal layer the feature extractor learns to make it fail.

    Parameters
    ----------
    n_features : int
        Width of the features.
    hidden : int, default=256
        Width of the domain classifier's hidden layers.
    """

    def __init__(self, n_features, hidden=256):
        super().__init__()
        self.domain_head = _domain_head(n_features, hidden)

    def domain_logits(self, f, coeff):
        """Domain logits (target = positive) of features ``f`` behind the GRL."""
        return self.domain_head(grad_reverse(f, coeff)).squeeze(1)

    @float32_math
    def forward(self, f_s, f_t, logits_s, logits_t, coeff):
        d = self.domain_logits(torch.cat([f_s, f_t]), coeff)
        return _domain_bce(d[: len(f_s)], d[len(f_s) :])


class CDANLoss(nn.Module):
    """Conditional domain-adversarial loss (CDAN, CDAN+E; Long et al. 2018).

    The domain classifier sees the multilinear map ``f ⊗ g`` of the features
    ``f`` and the class probabilities ``g`` (the outer product, flattened).
    When ``n_features * n_classes`` exceeds ``max_features`` (4096 in the
    paper), the randomized map ``(R_f f) ⊙ (R_g g) / sqrt(d)`` with fixed
    Gaussian matrices of ``d = random_dim`` columns (1024 in the paper)
    replaces it; the matrices are buffers, saved with the network. As in the
    authors' code, ``g`` is detached: the adversarial gradient reaches the
    features only.

    With ``entropy=True`` (CDAN+E) each row is weighted by ``1 + exp(-H(g))``,
    so that confident predictions count more; the weights are normalised
    within each domain and not differentiated.

    Parameters
    ----------
    n_features : int
        Width of the features.
    n_classes : int
        Number of classes.
    hidden : int, default=256
        Width of the domain classifier's hidden layers.
    entropy : bool, default=False
        Entropy conditioning (CDAN+E).
    max_features : int, default=4096
        Largest multilinear map used as it is.
    random_dim : int, default=1024
        Output width of the randomized map.
    """

    def __init__(
        self, n_features, n_classes, hidden=256, entropy=False, max_features=4096,
        random_dim=1024,
    ):
        super().__init__()
        self.entropy = entropy
        self.randomized = n_features * n_classes > max_features
        if self.randomized:
            # drawn from the global generator, which the estimator seeds
            self.register_buffer("R_f", torch.randn(n_features, random_dim))
            self.register_buffer("R_g", torch.randn(n_classes, random_dim))
            width = random_dim
        else:
            width = n_features * n_classes
        self.domain_head = _domain_head(width, hidden)

    def multilinear(self, f, g):
        """The (randomized) multilinear map of features ``f`` and probabilities ``g``."""
        if self.randomized:
            return (f @ self.R_f) * (g @ self.R_g) / math.sqrt(self.R_f.shape[1])
        return torch.bmm(g.unsqueeze(2), f.unsqueeze(1)).flatten(1)

    @float32_math
    def forward(self, f_s, f_t, logits_s, logits_t, coeff):
        f = torch.cat([f_s, f_t])
        g = F.softmax(torch.cat([logits_s, logits_t]), dim=1).detach()
        h = self.multilinear(f, g)
        d = self.domain_head(grad_reverse(h, coeff)).squeeze(1)
        n_s = len(f_s)
        if not self.entropy:
            return _domain_bce(d[:n_s], d[n_s:])
        w = 1.0 + torch.exp(-entropy(g))
        return _domain_bce(d[:n_s], d[n_s:], w[:n_s], w[n_s:])


def entropy(p, eps=1e-8):
    """Shannon entropy (nats) of each row of probabilities ``p``.

    Parameters
    ----------
    p : torch.Tensor of shape (n, n_classes)
        Probabilities.
    eps : float, default=1e-8
        Guards the logarithm.

    Returns
    -------
    torch.Tensor of shape (n,)
    """
    return -(p * torch.log(p + eps)).sum(dim=1)


def _gaussian_kernels(x, y, kernel_mul=2.0, kernel_num=5):
    """Sum of Gaussian kernels between rows of ``x`` and ``y``.

    The bandwidths are ``base * kernel_mul**k``, ``k`` centred on 0, where
    ``base`` is the mean squared distance of the pooled rows (detached): the
    kernel family of DAN's code.
    """
    pooled = torch.cat([x, y])
    d2 = torch.cdist(pooled, pooled).square()
    n = pooled.shape[0]
    base = d2.detach().sum() / (n * n - n)
    base = base.clamp_min(1e-12)
    offsets = [kernel_mul ** (k - kernel_num // 2) for k in range(kernel_num)]
    return d2, sum(torch.exp(-d2 / (base * o)) for o in offsets)


def mk_mmd(x, y, *, linear=True, kernel_mul=2.0, kernel_num=5):
    """Multi-kernel MMD² between two samples (Long et al. 2015).

    Parameters
    ----------
    x, y : torch.Tensor of shape (n, d) and (m, d)
        The two samples.
    linear : bool, default=True
        The linear-time unbiased estimate of DAN (eq. 4 of the paper; pairs
        up ``min(n, m)`` rows, an even number of them), else the quadratic
        unbiased estimate.
    kernel_mul : float, default=2.0
        Ratio of consecutive bandwidths.
    kernel_num : int, default=5
        Number of Gaussian kernels (equal weights).

    Returns
    -------
    torch.Tensor
        A scalar.
    """
    if linear:
        m = 2 * (min(len(x), len(y)) // 2)
        if m < 2:
            return x.new_zeros(())
        x, y = x[:m], y[:m]
        _, k = _gaussian_kernels(x, y, kernel_mul, kernel_num)
        i = torch.arange(0, m, 2, device=x.device)
        j = i + 1
        # quad-tuples (x_2i-1, x_2i, y_2i-1, y_2i): k(x,x') + k(y,y') - k(x,y') - k(x',y)
        kxx = k[i, j]
        kyy = k[m + i, m + j]
        kxy = k[i, m + j]
        kyx = k[j, m + i]
        return (kxx + kyy - kxy - kyx).mean()
    n, m = len(x), len(y)
    _, k = _gaussian_kernels(x, y, kernel_mul, kernel_num)
    kxx = (k[:n, :n].sum() - k[:n, :n].diagonal().sum()) / (n * (n - 1))
    kyy = (k[n:, n:].sum() - k[n:, n:].diagonal().sum()) / (m * (m - 1))
    kxy = k[:n, n:].mean()
    return kxx + kyy - 2 * kxy


class MMDLoss(nn.Module):
    """Multi-kernel MMD between source and target features (DAN; Long et al. 2015).

    Five Gaussian kernels of bandwidths ``base * 2**k``, ``k = -2..2``, equal
    weights, the linear-time unbiased estimate. DAN learns the kernel weights
    by maximising test power in an outer step; equal weights are what the
    authors' later code uses. The features (the last layer before the head)
    are adapted; DAN adapts fc6-fc8 of AlexNet.

    Parameters
    ----------
    linear : bool, default=True
        Linear-time estimate (the paper's), else the quadratic one.
    """

    def __init__(self, linear=True):
        super().__init__()
        self.linear = linear

    @float32_math
    def forward(self, f_s, f_t, logits_s, logits_t, coeff):
        return mk_mmd(f_s, f_t, linear=self.linear)


def coral(f_s, f_t):
    """Deep CORAL loss ``||C_s - C_t||_F^2 / (4 d^2)`` (Sun & Saenko 2016).

    Parameters
    ----------
    f_s, f_t : torch.Tensor of shape (n, d) and (m, d)
        Source and target features.

    Returns
    -------
    torch.Tensor
        A scalar.
    """
    d = f_s.shape[1]

    def cov(f):
        n = f.shape[0]
        fc = f - f.mean(dim=0, keepdim=True)
        return fc.T @ fc / max(n - 1, 1)

    return (cov(f_s) - cov(f_t)).square().sum() / (4 * d * d)


class CORALLoss(nn.Module):
    """Deep CORAL: align second-order statistics (Sun & Saenko 2016)."""

    @float32_math
    def forward(self, f_s, f_t, logits_s, logits_t, coeff):
        return coral(f_s, f_t)


class MDDLoss(nn.Module):
    """Margin disparity discrepancy (MDD; Zhang et al. 2019).

    An adversarial head ``f'`` of the same form as the classifier (linear)
    sees the features behind the gradient reversal layer. With ``ŷ`` the
    classifier's predicted classes, the loss is
    ``margin * CE(f'(x_s), ŷ_s) - log(1 - softmax(f'(x_t))[ŷ_t])``: the
    adversarial head lowers it (agree with the classifier on the source,
    disagree on the target: it maximises the disparity), the features raise
    it through the reversal (they minimise the disparity). ``margin`` is
    the paper's γ.

    Parameters
    ----------
    n_features : int
        Width of the features.
    n_classes : int
        Number of classes.
    margin : float, default=4.0
        The margin factor γ.
    """

    def __init__(self, n_features, n_classes, margin=4.0):
        super().__init__()
        self.margin = margin
        self.adv_head = nn.Linear(n_features, n_classes)

    @float32_math
    def forward(self, f_s, f_t, logits_s, logits_t, coeff):
        adv = self.adv_head(grad_reverse(torch.cat([f_s, f_t]), coeff))
        adv_s, adv_t = adv[: len(f_s)], adv[len(f_s) :]
        pred_s = logits_s.detach().argmax(1)
        pred_t = logits_t.detach().argmax(1)
        source = F.cross_entropy(adv_s, pred_s)
        p_t = F.softmax(adv_t, dim=1).gather(1, pred_t.unsqueeze(1)).squeeze(1)
        target = -torch.log((1.0 - p_t).clamp_min(1e-6)).mean()
        return self.margin * source + target


def mcc(logits, temperature=2.5):
    """Minimum class confusion of a batch of target logits (Jin et al. 2020).

    With ``Y = softmax(logits / temperature)`` (``n`` rows, ``k`` classes),
    each row is weighted by ``w_i = 1 + exp(-H(Y_i))``, rescaled to sum to
    ``n`` (confident rows count more; the weights are not differentiated).
    The class confusion ``C = Y^T diag(w) Y`` has each column divided by its
    sum (the paper's category normalisation), and the loss is the mean over
    classes of the off-diagonal mass: ``(sum(C) - trace(C)) / k``. It is 0
    when no two classes share a row, and ``(k - 1) / k`` when every row is
    uniform.

    Parameters
    ----------
    logits : torch.Tensor of shape (n, n_classes)
        Class logits of target rows.
    temperature : float, default=2.5
        The temperature ``T`` that rescales the logits (2.5 in the paper).

    Returns
    -------
    torch.Tensor
        A scalar.
    """
    n, k = logits.shape
    p = F.softmax(logits / temperature, dim=1)
    w = 1.0 + torch.exp(-entropy(p.detach()))
    w = n * w / w.sum()
    confusion = (p * w.unsqueeze(1)).T @ p
    confusion = confusion / confusion.sum(dim=0, keepdim=True)
    return (confusion.sum() - confusion.trace()) / k


class MCCLoss(nn.Module):
    """Minimum Class Confusion (MCC; Jin et al. 2020), on the target predictions.

    See :func:`mcc`. The source rows are not read: their cross-entropy is
    the classification loss the estimator adds it to.

    Parameters
    ----------
    temperature : float, default=2.5
        Temperature of the target predictions (2.5 in the paper).
    """

    def __init__(self, temperature=2.5):
        super().__init__()
        self.temperature = temperature

    @float32_math
    def forward(self, f_s, f_t, logits_s, logits_t, coeff):
        return mcc(logits_t, self.temperature)


def bnm(logits):
    """Batch nuclear-norm maximization loss ``-||softmax(logits)||_* / n`` (Cui et al. 2020).

    The nuclear norm (sum of singular values) of the ``n x k`` prediction
    matrix grows with both the confidence of each row and the number of
    classes the batch predicts: maximising it sharpens the predictions
    without letting them collapse onto a few classes.

    Parameters
    ----------
    logits : torch.Tensor of shape (n, n_classes)
        Class logits of target rows.

    Returns
    -------
    torch.Tensor
        A scalar, at most 0.
    """
    p = F.softmax(logits, dim=1)
    return -torch.linalg.matrix_norm(p, ord="nuc") / p.shape[0]


class BNMLoss(nn.Module):
    """Batch Nuclear-norm Maximization (BNM; Cui et al. 2020), on the target predictions.

    See :func:`bnm`. The source rows are not read.
    """

    @float32_math
    def forward(self, f_s, f_t, logits_s, logits_t, coeff):
        return bnm(logits_t)


#: methods whose loss goes through the gradient reversal layer
ADVERSARIAL = frozenset({"dann", "cdan", "cdan+e", "mdd"})


def make_criterion(method, n_features, n_classes, *, hidden=256, margin=4.0, temperature=2.5):
    """The criterion of ``method`` (None for source-only).

    Parameters
    ----------
    method : {"dann", "cdan", "cdan+e", "mmd", "coral", "mdd", "mcc", "bnm"} or None
        The adaptation method.
    n_features : int
        Width of the features.
    n_classes : int
        Number of classes.
    hidden : int, default=256
        Width of the domain classifiers' hidden layers.
    margin : float, default=4.0
        MDD's γ.
    temperature : float, default=2.5
        MCC's temperature.

    Returns
    -------
    torch.nn.Module or None
    """
    if method is None:
        return None
    if method == "dann":
        return DANNLoss(n_features, hidden)
    if method in ("cdan", "cdan+e"):
        return CDANLoss(n_features, n_classes, hidden, entropy=method == "cdan+e")
    if method == "mmd":
        return MMDLoss()
    if method == "coral":
        return CORALLoss()
    if method == "mdd":
        return MDDLoss(n_features, n_classes, margin)
    if method == "mcc":
        return MCCLoss(temperature)
    if method == "bnm":
        return BNMLoss()
    raise ValueError(f"unknown method {method!r}")
