"""Device-side sampling of N-way K-shot episodes and prototype helpers.

The few-shot estimators train on *episodes*: small classification problems
made of ``n_way`` classes, each with ``n_shot`` labelled support samples and
``n_query`` query samples. This module draws batches of such episodes as row
indices into a data set that already lives on the compute device:

* the labels are moved to the device once and grouped by class once
  (:class:`EpisodeSampler`);
* a batch of episodes is then drawn with a handful of tensor operations,
  with no Python loop over samples, no ``DataLoader`` and no host-device
  synchronisation, so that sampling never stalls an accelerator;
* every draw comes from an explicit :class:`torch.Generator`, so a seed
  reproduces the same episodes.

:func:`class_means` and :func:`episode_logits` turn embedded episodes into
class prototypes and distance-based logits (prototypical networks).
"""

from __future__ import annotations

from numbers import Integral

import numpy as np
import torch

from ._precision import float32_math

__all__ = [
    "COSINE_SCALE",
    "EpisodeSampler",
    "class_means",
    "episode_logits",
    "prototype_logits",
]

#: Fixed factor applied to cosine similarities in :func:`episode_logits`, so
#: that logits in ``[-10, 10]`` give a usefully peaked softmax.
COSINE_SCALE = 10.0

# Two ways draw k distinct positions out of a population of up to `width`:
# dense random keys + topk (a few large kernels, memory rows * width) or a
# vectorised Floyd's algorithm (k small steps, memory rows * k). Dense keys
# are used when they fit in this many float32 elements and, on the CPU, only
# when the population is at most _DENSE_MAX_RATIO times k (there Floyd's
# algorithm is faster once the population is much larger than k; on an
# accelerator the few large kernels win).
_DENSE_KEYS_MAX_ELEMENTS = 1 << 24
_DENSE_MAX_RATIO = 4

#: class_means uses a one-hot matmul up to this many (sample, class) pairs
_ONE_HOT_MAX_ELEMENTS = 1 << 20


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer; got {value!r}.")
    return int(value)


def _format_class(index, class_names):
    if class_names is None:
        return f"class {index}"
    name = class_names[index]
    return f"class {name!r}" if isinstance(name, str) else f"class {name}"


def _as_label_tensor(y, device):
    """Return ``y`` as a 1-D int64 tensor on ``device`` (validated)."""
    if isinstance(y, torch.Tensor):
        if device is None:
            device = y.device
        if y.is_floating_point() or y.is_complex() or y.dtype == torch.bool:
            raise ValueError(
                f"y must hold integer class indices; got a tensor of dtype {y.dtype}."
            )
        y = y.detach()
    else:
        y = np.asarray(y)
        if y.dtype.kind not in "iu":
            raise ValueError(
                "y must hold integer class indices encoded 0..n_classes-1; got an "
                f"array of dtype {y.dtype}. Encode labels first (e.g. with "
                "sklearn.preprocessing.LabelEncoder)."
            )
        y = torch.from_numpy(y.astype(np.int64, copy=False))
    if device is None:
        device = torch.device("cpu")
    y = y.to(device=device, dtype=torch.int64)
    if y.ndim != 1:
        raise ValueError(f"y must be 1-D; got shape {tuple(y.shape)}.")
    if y.numel() == 0:
        raise ValueError("y is empty; episodes need at least one labelled sample.")
    return y, torch.device(device)


def _same_device(a, b):
    a, b = torch.device(a), torch.device(b)
    if a.type != b.type:
        return False
    if a.index is None or b.index is None:
        # "cuda" means the current device; only an explicit mismatch counts.
        if a.type == "cuda":
            current = torch.cuda.current_device()
            return (a.index if a.index is not None else current) == (
                b.index if b.index is not None else current
            )
        return True
    return a.index == b.index


def _draw_distinct(m, width, k, generator):
    """Uniform random ordered ``k``-subsets of ``range(m)``, batched.

    Parameters
    ----------
    m : torch.Tensor of int64, shape (*batch)
        Population size of each draw.
    width : int
        An upper bound of ``m`` (the padded population size).
    k : int
        Number of distinct positions drawn per batch element.
    generator : torch.Generator or None
        Source of randomness, on the device of ``m``.

    Returns
    -------
    positions : torch.Tensor of int64, shape (*batch, k)
        Where ``m >= k``: ``k`` distinct positions in ``range(m)``, a uniformly
        random ordered subset. Where ``m < k``: the first ``m`` entries are a
        random permutation of ``range(m)`` and the remaining ones are ``>= m``
        (placeholders the caller must replace).
    """
    device = m.device
    batch = tuple(m.shape)
    n_rows = int(np.prod(batch, dtype=np.int64)) if batch else 1
    width = max(int(width), k)
    dense = n_rows * width <= _DENSE_KEYS_MAX_ELEMENTS and (
        device.type != "cpu" or width <= _DENSE_MAX_RATIO * k
    )
    if dense:
        # One random key per candidate, candidates beyond the population get
        # a key larger than any uniform draw; the k smallest keys form a
        # uniformly random ordered subset.
        keys = torch.rand(batch + (width,), generator=generator, device=device)
        outside = torch.arange(width, device=device) >= m.unsqueeze(-1)
        keys.masked_fill_(outside, 2.0)
        return keys.topk(k, dim=-1, largest=False, sorted=True).indices

    # Floyd's algorithm, vectorised over the batch: k steps, each O(batch * k).
    # Step i draws t uniformly in [0, j] with j = m - k + i, and keeps j
    # instead when t was already taken. This yields a uniform k-subset.
    m_eff = torch.clamp(m, min=k)
    chosen = torch.empty(batch + (k,), dtype=torch.int64, device=device)
    for i in range(k):
        j = m_eff - (k - i)
        u = torch.rand(batch, generator=generator, device=device, dtype=torch.float64)
        t = torch.minimum((u * (j + 1).to(torch.float64)).to(torch.int64), j)
        if i:
            taken = (chosen[..., :i] == t.unsqueeze(-1)).any(dim=-1)
            t = torch.where(taken, j, t)
        chosen[..., i] = t
    # Random order, with positions outside the population moved last.
    keys = torch.rand(batch + (k,), generator=generator, device=device)
    keys.masked_fill_(chosen >= m.unsqueeze(-1), 2.0)
    return chosen.gather(-1, keys.argsort(dim=-1))


class EpisodeSampler:
    """Draws N-way K-shot episodes by index from labels held on a device.

    The labels are grouped by class once, at construction: the rows of the
    data set sorted by class (:attr:`order_`) and the offset of each class
    in that order (:attr:`offsets_`) stay on ``device``. Each call to
    :meth:`sample` then draws a whole batch of episodes with tensor
    operations only (random keys and ``topk``, or a vectorised Floyd's
    algorithm for very large classes), without synchronising with the host.

    Parameters
    ----------
    y : array-like or torch.Tensor of shape (n_samples,)
        Integer class index of every sample, already encoded as
        ``0..n_classes-1``. A tensor may live on any device.
    n_way : int
        Number of distinct classes per episode.
    n_shot : int
        Number of support samples per class and episode.
    n_query : int
        Number of query samples per class and episode.
    device : str or torch.device, default=None
        Device holding the sampler's tables and the returned indices.
        Defaults to the device of ``y`` when it is a tensor, else the CPU.
    adapt_small : bool, default=False
        If False, data too small for the requested episodes raise a
        ``ValueError``. If True, classes too small for the requested episodes
        are left out, and only when fewer than two classes remain does the
        episode shrink to what the data can supply (see Notes). Callers
        should report :attr:`dropped_classes_` and :attr:`shared_query_` to
        the user; shrunk episodes are meant for the tiny data sets of
        scikit-learn's estimator checks, not for real training.
    class_names : sequence, default=None
        The user's label of each class index, used to name classes in
        error messages.

    Attributes
    ----------
    n_way_ : int
        Effective number of classes per episode.
    n_shot_ : int
        Effective number of support samples per class.
    n_query_ : int
        Effective number of query samples per class.
    shared_query_ : bool
        True when a sampled class has a single sample, which is then used as
        both its support and its query sample: that class's query label is
        visible in the support set (``adapt_small`` only, and only when the
        episode had to shrink).
    dropped_classes_ : list of int
        Sorted class indices (in the encoding of ``y``) that have samples but
        fewer than ``n_shot + n_query`` of them and are therefore never
        sampled (``adapt_small`` only; empty when no class was left out).
    n_classes_ : int
        Number of classes episodes are drawn from.
    classes_ : torch.Tensor of int64, shape (n_classes_,)
        Class index (in the encoding of ``y``) of each sampled class.
    counts_ : torch.Tensor of int64, shape (n_classes_,)
        Number of samples of each class of :attr:`classes_`.
    min_count_ : int
        Size of the smallest class episodes are drawn from.
    order_ : torch.Tensor of int64, shape (n_samples,)
        Row indices of ``y`` sorted by class (stable).
    offsets_ : torch.Tensor of int64, shape (n_classes_,)
        Position in :attr:`order_` of the first row of each class.
    device : torch.device
        Device of all the tensors above and of the sampled indices.

    Notes
    -----
    With ``adapt_small=True`` nothing raises unless ``y`` has a single
    class. Call a class *eligible* when it has at least ``n_shot + n_query``
    samples. Then:

    * when at least two classes are eligible, episodes are drawn from the
      eligible classes only, with the requested shots and queries:
      ``n_way_ = min(n_way, n_eligible)``, ``n_shot_ = n_shot`` and
      ``n_query_ = n_query``. The other classes are never sampled and are
      listed in :attr:`dropped_classes_`. One short class among many thus
      costs that class, not the shape of every episode;
    * only when fewer than two classes are eligible does the episode shrink,
      over all the classes with samples (:attr:`dropped_classes_` is then
      empty): ``n_way_ = min(n_way, n_classes)`` and, with ``min_count`` the
      size of the smallest class,
      ``n_shot_ = max(1, min(n_shot, min_count - 1))`` and
      ``n_query_ = max(1, min(n_query, min_count - n_shot_))``, so every
      class can supply disjoint support and query samples when
      ``min_count >= 2``;
    * when, in that shrunk case, ``min_count == 1``: ``n_shot_ = n_query_ = 1``
      and a class with a single sample uses that same row as its support and
      its query sample (:attr:`shared_query_` is True; classes with two or
      more samples still give two distinct rows). Such episodes leak the
      query label into the support set; they only keep tiny fits running;
    * class indices with no sample at all are skipped in every case, and
      not listed in :attr:`dropped_classes_`.

    Without ``adapt_small``, no class is ever dropped silently: a class
    index with fewer than ``n_shot + n_query`` samples (including none)
    raises.

    Examples
    --------
    >>> import torch
    >>> y = torch.tensor([0, 0, 0, 1, 1, 1, 2, 2, 2])
    >>> sampler = EpisodeSampler(y, n_way=2, n_shot=1, n_query=2)
    >>> g = torch.Generator().manual_seed(0)
    >>> s_idx, q_idx, s_y, q_y = sampler.sample(g, n_episodes=4)
    >>> s_idx.shape, q_idx.shape
    (torch.Size([4, 2]), torch.Size([4, 4]))
    >>> q_y[0].tolist()
    [0, 0, 1, 1]
    >>> bool((y[s_idx][:, 0:1] == y[q_idx][:, 0:2]).all())
    True
    """

    def __init__(
        self,
        y,
        *,
        n_way,
        n_shot,
        n_query,
        device=None,
        adapt_small=False,
        class_names=None,
    ):
        n_way = _check_positive_int(n_way, "n_way")
        n_shot = _check_positive_int(n_shot, "n_shot")
        n_query = _check_positive_int(n_query, "n_query")
        y, device = _as_label_tensor(y, device)

        # One host round trip, at construction only.
        y_min, y_max = (int(v) for v in torch.aminmax(y))
        if y_min < 0:
            raise ValueError(
                f"y must hold class indices encoded 0..n_classes-1; found {y_min}."
            )
        n_labels = y_max + 1
        if class_names is not None and len(class_names) < n_labels:
            raise ValueError(
                f"class_names has {len(class_names)} entries but y has class "
                f"index {y_max}."
            )
        all_counts = torch.bincount(y, minlength=n_labels)
        counts_host = all_counts.tolist()

        if adapt_small:
            present = [c for c, n in enumerate(counts_host) if n > 0]
            # 1-way episodes (regression tasks) need one class; others two
            least = min(2, n_way)
            if len(present) < least:
                raise ValueError(
                    f"y has a single class ({_format_class(present[0], class_names)}"
                    "); episodes need at least 2 classes. Add samples of another "
                    "class."
                )
            needed = n_shot + n_query
            eligible = [c for c in present if counts_host[c] >= needed]
            if len(eligible) >= least:
                # Leave the short classes out rather than shrink every episode.
                dropped = [c for c in present if counts_host[c] < needed]
                sampled = eligible
                min_count = min(counts_host[c] for c in sampled)
                n_way_, n_shot_, n_query_ = min(n_way, len(sampled)), n_shot, n_query
            else:
                dropped, sampled = [], present
                min_count = min(counts_host[c] for c in sampled)
                n_way_ = min(n_way, len(sampled))
                n_shot_ = max(1, min(n_shot, min_count - 1))
                n_query_ = max(1, min(n_query, min_count - n_shot_))
        else:
            dropped = []
            sampled = list(range(n_labels))
            n_present = sum(n > 0 for n in counts_host)
            if n_present < n_way:
                raise ValueError(
                    f"n_way={n_way} needs at least {n_way} classes; y has "
                    f"{n_present}. Lower n_way or add classes."
                )
            needed = n_shot + n_query
            short = [c for c, n in enumerate(counts_host) if n < needed]
            if short:
                first = short[0]
                if len(short) == 1:
                    detail, fix = "", "drop that class"
                else:
                    detail = (
                        f" ({len(short) - 1} other class"
                        f"{'es are' if len(short) > 2 else ' is'} also short)"
                    )
                    fix = "drop those classes"
                raise ValueError(
                    f"n_shot={n_shot} + n_query={n_query} needs {needed} samples "
                    f"per class; {_format_class(first, class_names)} has "
                    f"{counts_host[first]}{detail}. Lower n_shot/n_query or {fix}."
                )
            min_count = min(counts_host)
            n_way_, n_shot_, n_query_ = n_way, n_shot, n_query

        self.n_way = n_way
        self.n_shot = n_shot
        self.n_query = n_query
        self.adapt_small = adapt_small
        self.device = device
        self.n_way_ = n_way_
        self.n_shot_ = n_shot_
        self.n_query_ = n_query_
        self.min_count_ = min_count
        self.dropped_classes_ = dropped
        self.shared_query_ = min_count < n_shot_ + n_query_
        self.n_classes_ = len(sampled)
        self._max_count = max(counts_host[c] for c in sampled)

        # Grouping by class: rows sorted by label, and where each class starts.
        self.order_ = torch.sort(y, stable=True).indices
        starts = torch.cumsum(all_counts, 0) - all_counts
        if len(sampled) == n_labels:
            self.classes_ = torch.arange(n_labels, device=device)
            self.counts_ = all_counts
            self.offsets_ = starts
        else:
            self.classes_ = torch.tensor(sampled, dtype=torch.int64, device=device)
            self.counts_ = all_counts[self.classes_]
            self.offsets_ = starts[self.classes_]

        # Episode-local labels, class-major, built once.
        ways = torch.arange(n_way_, device=device)
        self._support_y = ways.repeat_interleave(n_shot_)
        self._query_y = ways.repeat_interleave(n_query_)
        self._wrap = None
        if self.shared_query_:
            self._wrap = torch.arange(n_shot_ + n_query_, device=device)

    def __repr__(self):
        return (
            f"{type(self).__name__}(n_way_={self.n_way_}, n_shot_={self.n_shot_}, "
            f"n_query_={self.n_query_}, n_classes_={self.n_classes_}, "
            f"device={str(self.device)!r})"
        )

    def sample(self, generator, n_episodes=1):
        """Draw a batch of episodes.

        Parameters
        ----------
        generator : torch.Generator or None
            Source of randomness; it must live on :attr:`device`. The same
            generator state gives the same episodes. None uses torch's
            global generator for that device.
        n_episodes : int, default=1
            Number of episodes drawn at once.

        Returns
        -------
        support_idx : torch.Tensor of int64, shape (n_episodes, n_way_ * n_shot_)
            Row indices into the data of the support samples, class-major:
            the first ``n_shot_`` columns belong to episode class 0, the next
            ``n_shot_`` to episode class 1, and so on.
        query_idx : torch.Tensor of int64, shape (n_episodes, n_way_ * n_query_)
            Row indices of the query samples, in the same layout.
        support_y : torch.Tensor of int64, shape (n_episodes, n_way_ * n_shot_)
            Episode-local label (``0..n_way_-1``) of each support sample.
        query_y : torch.Tensor of int64, shape (n_episodes, n_way_ * n_query_)
            Episode-local label of each query sample.

        Notes
        -----
        Each episode's classes are a uniformly random ordered choice of
        ``n_way_`` distinct classes; within a class the ``n_shot_ + n_query_``
        samples are a uniformly random ordered choice of distinct rows, so
        support and query rows never overlap (except for single-sample
        classes under ``adapt_small``, see the class Notes).
        """
        n_episodes = _check_positive_int(n_episodes, "n_episodes")
        device = self.device
        if generator is not None and not _same_device(generator.device, device):
            raise ValueError(
                f"generator is on {generator.device} but the sampler's tables are "
                f"on {device}; create the generator with "
                f"torch.Generator(device={str(device)!r})."
            )
        n_way, n_shot, n_query = self.n_way_, self.n_shot_, self.n_query_
        per_class = n_shot + n_query

        # (E, n_way) indices into classes_.
        population = torch.full(
            (n_episodes,), self.n_classes_, dtype=torch.int64, device=device
        )
        ways = _draw_distinct(population, self.n_classes_, n_way, generator)

        # (E, n_way, per_class) positions within each chosen class.
        counts = self.counts_[ways]
        positions = _draw_distinct(counts, self._max_count, per_class, generator)
        if self._wrap is not None:
            # A class smaller than per_class only arises with adapt_small and
            # a single-sample class: reuse its valid positions cyclically.
            positions = positions.gather(-1, self._wrap % counts.unsqueeze(-1))

        rows = self.order_[self.offsets_[ways].unsqueeze(-1) + positions]
        support_idx = rows[..., :n_shot].reshape(n_episodes, n_way * n_shot)
        query_idx = rows[..., n_shot:].reshape(n_episodes, n_way * n_query)
        support_y = self._support_y.expand(n_episodes, -1).clone()
        query_y = self._query_y.expand(n_episodes, -1).clone()
        return support_idx, query_idx, support_y, query_y


@float32_math
def class_means(z, y, n_classes):
    """Mean embedding of every class (prototypes), batched over episodes.

    Parameters
    ----------
    z : torch.Tensor of shape (n, d) or (E, n, d)
        Embeddings, optionally for ``E`` episodes at once.
    y : torch.Tensor of int64, shape (n,) or (E, n)
        Class of each embedding, in ``0..n_classes-1``. A 1-D ``y`` is shared
        by all episodes.
    n_classes : int
        Number of classes (prototypes) per episode.

    Returns
    -------
    means : torch.Tensor of shape (n_classes, d) or (E, n_classes, d)
        Per-class mean of ``z``; a class without samples gets a zero vector.
        Differentiable with respect to ``z``.

    Examples
    --------
    >>> z = torch.tensor([[0.0, 2.0], [2.0, 4.0], [5.0, 5.0]])
    >>> class_means(z, torch.tensor([0, 0, 1]), 2)
    tensor([[1., 3.],
            [5., 5.]])
    """
    if z.ndim not in (2, 3):
        raise ValueError(
            f"z must have shape (n, d) or (E, n, d); got {tuple(z.shape)}."
        )
    batched = z.ndim == 3
    if not batched:
        z = z.unsqueeze(0)
    n_episodes, n, d = z.shape
    y = torch.as_tensor(y, device=z.device).to(torch.int64)
    if y.ndim == 1:
        y = y.unsqueeze(0).expand(n_episodes, -1)
    if y.shape != (n_episodes, n):
        raise ValueError(
            f"y has shape {tuple(y.shape)}, which does not match z {tuple(z.shape)}."
        )
    if n * n_classes <= _ONE_HOT_MAX_ELEMENTS:
        # a one-hot matmul: fast on every device and deterministic on CUDA
        one_hot = torch.nn.functional.one_hot(y, n_classes).to(z.dtype)  # (E, n, C)
        sums = one_hot.transpose(1, 2) @ z
        counts = one_hot.sum(1)
        means = sums / counts.clamp(min=1).unsqueeze(-1)
    else:  # many classes at once (prototypes of a whole data set)
        offsets = torch.arange(n_episodes, device=z.device).unsqueeze(1) * n_classes
        flat = (y + offsets).reshape(-1)
        sums = z.new_zeros(n_episodes * n_classes, d).index_add(0, flat, z.reshape(-1, d))
        counts = z.new_zeros(n_episodes * n_classes).index_add(
            0, flat, z.new_ones(flat.shape[0])
        )
        means = (sums / counts.clamp(min=1).unsqueeze(1)).reshape(n_episodes, n_classes, d)
    return means if batched else means[0]


@float32_math
def episode_logits(z_support, y_support, z_query, n_way, metric="euclidean"):
    """Prototype-based logits of query embeddings.

    Parameters
    ----------
    z_support : torch.Tensor of shape (n_support, d) or (E, n_support, d)
        Support embeddings.
    y_support : torch.Tensor of int64, shape (n_support,) or (E, n_support)
        Episode-local labels of the support embeddings, ``0..n_way-1``.
    z_query : torch.Tensor of shape (n_query, d) or (E, n_query, d)
        Query embeddings, with the same number of dimensions as
        ``z_support``.
    n_way : int
        Number of classes per episode.
    metric : {"euclidean", "cosine"}, default="euclidean"
        ``"euclidean"``: negative squared Euclidean distance to each class
        prototype, computed as ``|q|^2 - 2 q.p + |p|^2`` and clamped at 0
        (no square root). ``"cosine"``: cosine similarity to each prototype
        times the fixed scale :data:`COSINE_SCALE` (10).

    Returns
    -------
    logits : torch.Tensor of shape (n_query, n_way) or (E, n_query, n_way)
    """
    if z_support.ndim != z_query.ndim or z_support.ndim not in (2, 3):
        raise ValueError(
            "z_support and z_query must both have shape (n, d) or both (E, n, d); "
            f"got {tuple(z_support.shape)} and {tuple(z_query.shape)}."
        )
    prototypes = class_means(z_support, y_support, n_way)
    return prototype_logits(z_query, prototypes, metric)


@float32_math
def prototype_logits(z_query, prototypes, metric="euclidean"):
    """Logits of query embeddings against given class prototypes.

    Parameters
    ----------
    z_query : torch.Tensor of shape (n_query, d) or (E, n_query, d)
        Query embeddings.
    prototypes : torch.Tensor of shape (n_way, d) or (E, n_way, d)
        One prototype per class.
    metric : {"euclidean", "cosine"}, default="euclidean"
        As in :func:`episode_logits`.

    Returns
    -------
    logits : torch.Tensor of shape (n_query, n_way) or (E, n_query, n_way)
    """
    if metric == "euclidean":
        q_sq = (z_query * z_query).sum(-1, keepdim=True)
        p_sq = (prototypes * prototypes).sum(-1).unsqueeze(-2)
        cross = z_query @ prototypes.transpose(-1, -2)
        return -(q_sq - 2.0 * cross + p_sq).clamp(min=0.0)
    if metric == "cosine":
        q = torch.nn.functional.normalize(z_query, dim=-1)
        p = torch.nn.functional.normalize(prototypes, dim=-1)
        return COSINE_SCALE * (q @ p.transpose(-1, -2))
    raise ValueError(f"metric must be 'euclidean' or 'cosine'; got {metric!r}.")
