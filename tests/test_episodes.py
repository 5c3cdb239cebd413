"""Tests of sklearn_meta._episodes: episode sampling and prototype helpers."""

import contextlib

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import sklearn_meta._episodes as episodes
from sklearn_meta._episodes import (
    COSINE_SCALE,
    EpisodeSampler,
    class_means,
    episode_logits,
)


@contextlib.contextmanager
def draw_path(path):
    """Force the dense-keys or Floyd's-algorithm code path of the sampler."""
    saved = episodes._DENSE_KEYS_MAX_ELEMENTS, episodes._DENSE_MAX_RATIO
    if path == "dense":
        episodes._DENSE_KEYS_MAX_ELEMENTS, episodes._DENSE_MAX_RATIO = 1 << 40, 1 << 40
    elif path == "floyd":
        episodes._DENSE_KEYS_MAX_ELEMENTS = 0
    try:
        yield
    finally:
        episodes._DENSE_KEYS_MAX_ELEMENTS, episodes._DENSE_MAX_RATIO = saved


@pytest.fixture(params=["auto", "dense", "floyd"])
def path(request):
    with draw_path(request.param):
        yield request.param


def gen(seed):
    return torch.Generator().manual_seed(seed)


def uneven_labels(sizes, seed=0):
    """Shuffled labels with ``sizes[c]`` samples of class ``c``."""
    y = np.repeat(np.arange(len(sizes)), sizes)
    return np.random.default_rng(seed).permutation(y)


def check_episodes(y, sampler, out, n_episodes, disjoint=True):
    """Assert every structural property of a batch of episodes."""
    y = torch.as_tensor(y)
    s_idx, q_idx, s_y, q_y = out
    n_way, n_shot, n_query = sampler.n_way_, sampler.n_shot_, sampler.n_query_
    assert s_idx.shape == s_y.shape == (n_episodes, n_way * n_shot)
    assert q_idx.shape == q_y.shape == (n_episodes, n_way * n_query)
    for t in out:
        assert t.dtype == torch.int64
        assert t.device == sampler.device

    # Episode-local labels are class-major 0..n_way-1.
    ways = torch.arange(n_way)
    assert torch.equal(s_y, ways.repeat_interleave(n_shot).expand(n_episodes, -1))
    assert torch.equal(q_y, ways.repeat_interleave(n_query).expand(n_episodes, -1))

    # Rows are valid and their true label matches their episode class.
    assert int(s_idx.min()) >= 0 and int(s_idx.max()) < len(y)
    assert int(q_idx.min()) >= 0 and int(q_idx.max()) < len(y)
    true_s = y[s_idx].reshape(n_episodes, n_way, n_shot)
    true_q = y[q_idx].reshape(n_episodes, n_way, n_query)
    episode_classes = true_s[:, :, 0]
    assert torch.equal(true_s, episode_classes.unsqueeze(-1).expand_as(true_s))
    assert torch.equal(true_q, episode_classes.unsqueeze(-1).expand_as(true_q))

    # Classes are distinct within an episode.
    sorted_classes = episode_classes.sort(dim=1).values
    assert bool((sorted_classes.diff(dim=1) > 0).all())

    # Support and query rows are distinct within an episode.
    if disjoint:
        rows = torch.cat([s_idx, q_idx], dim=1).sort(dim=1).values
        assert bool((rows.diff(dim=1) > 0).all())
    return episode_classes


# --------------------------------------------------------------------------
# Shapes, layout and episode structure


@pytest.mark.parametrize(
    "n_way, n_shot, n_query",
    [(2, 1, 1), (5, 1, 15), (5, 5, 15), (3, 4, 2), (10, 2, 3), (12, 3, 5)],
)
def test_shapes_and_layout(path, n_way, n_shot, n_query):
    extras = (0, 3, 7, 1, 0, 12, 2, 5, 9, 4, 0, 6)
    sizes = [n_shot + n_query + extra for extra in extras]
    y = uneven_labels(sizes)
    sampler = EpisodeSampler(y, n_way=n_way, n_shot=n_shot, n_query=n_query)
    effective = (sampler.n_way_, sampler.n_shot_, sampler.n_query_)
    assert effective == (n_way, n_shot, n_query)
    assert not sampler.shared_query_
    assert sampler.n_classes_ == len(sizes)
    assert sampler.counts_.tolist() == sizes
    out = sampler.sample(gen(1), n_episodes=7)
    check_episodes(y, sampler, out, 7)


def test_default_single_episode_and_tensor_input():
    y = torch.tensor([2, 0, 1, 1, 0, 2, 2, 1, 0])
    sampler = EpisodeSampler(y, n_way=3, n_shot=2, n_query=1)
    out = sampler.sample(gen(0))
    check_episodes(y, sampler, out, 1)
    # The whole data set is one episode: every row appears exactly once.
    rows = torch.cat(out[:2], dim=1).sort(dim=1).values
    assert torch.equal(rows[0], torch.arange(9))
    assert sampler.device == torch.device("cpu")
    assert "n_way_=3" in repr(sampler)


def test_order_and_offsets_group_rows_by_class():
    y = uneven_labels([3, 5, 4])
    sampler = EpisodeSampler(y, n_way=2, n_shot=1, n_query=2)
    grouped = torch.as_tensor(y)[sampler.order_]
    assert torch.equal(grouped, torch.tensor([0] * 3 + [1] * 5 + [2] * 4))
    assert sampler.offsets_.tolist() == [0, 3, 8]


def test_generator_none_uses_global_rng():
    y = uneven_labels([4, 4, 4])
    sampler = EpisodeSampler(y, n_way=2, n_shot=2, n_query=2)
    torch.manual_seed(3)
    a = sampler.sample(None, n_episodes=5)
    torch.manual_seed(3)
    b = sampler.sample(None, n_episodes=5)
    for x, z in zip(a, b):
        assert torch.equal(x, z)
    check_episodes(y, sampler, a, 5)


def test_returned_labels_are_writable():
    sampler = EpisodeSampler(uneven_labels([3, 3]), n_way=2, n_shot=1, n_query=2)
    _, _, s_y, q_y = sampler.sample(gen(0), n_episodes=3)
    s_y += 1  # would fail on an expanded (stride-0) view
    q_y[0, 0] = 5
    assert s_y.is_contiguous() and q_y[1, 0] == 0


# --------------------------------------------------------------------------
# Reproducibility and randomness


def test_reproducible_from_generator(path):
    y = uneven_labels([10, 25, 7, 12, 30, 9])
    sampler = EpisodeSampler(y, n_way=4, n_shot=3, n_query=4)
    a = sampler.sample(gen(42), n_episodes=20)
    b = sampler.sample(gen(42), n_episodes=20)
    c = sampler.sample(gen(43), n_episodes=20)
    for x, z in zip(a, b):
        assert torch.equal(x, z)
    assert not torch.equal(a[0], c[0])
    assert not torch.equal(a[1], c[1])
    # Consecutive draws from one generator differ too.
    g = gen(42)
    first, second = sampler.sample(g, 20), sampler.sample(g, 20)
    assert torch.equal(first[0], a[0])
    assert not torch.equal(first[0], second[0])


def test_class_choice_is_uniform(path):
    n_classes, n_way, n_episodes = 10, 3, 20000
    y = uneven_labels([4 + 3 * c for c in range(n_classes)])  # uneven sizes
    sampler = EpisodeSampler(y, n_way=n_way, n_shot=1, n_query=1)
    s_idx, _, _, _ = sampler.sample(gen(0), n_episodes=n_episodes)
    classes = torch.as_tensor(y)[s_idx]
    freq = torch.bincount(classes.reshape(-1), minlength=n_classes) / n_episodes
    np.testing.assert_allclose(freq.numpy(), n_way / n_classes, atol=0.02)
    # Each class is equally likely in each episode slot.
    first_slot = torch.bincount(classes[:, 0], minlength=n_classes) / n_episodes
    np.testing.assert_allclose(first_slot.numpy(), 1 / n_classes, atol=0.015)


def test_sample_choice_within_class_is_uniform(path):
    n_classes, size, n_way, n_shot, n_query = 5, 8, 2, 2, 3
    n_episodes = 20000
    y = uneven_labels([size] * n_classes, seed=1)
    sampler = EpisodeSampler(y, n_way=n_way, n_shot=n_shot, n_query=n_query)
    s_idx, q_idx, _, _ = sampler.sample(gen(5), n_episodes=n_episodes)
    p_class = n_way / n_classes
    in_support = torch.bincount(s_idx.reshape(-1), minlength=len(y)).double()
    in_query = torch.bincount(q_idx.reshape(-1), minlength=len(y)).double()
    expected_s = n_episodes * p_class * n_shot / size
    expected_q = n_episodes * p_class * n_query / size
    np.testing.assert_allclose(in_support.numpy(), expected_s, rtol=0.08)
    np.testing.assert_allclose(in_query.numpy(), expected_q, rtol=0.08)


# --------------------------------------------------------------------------
# Property test


@settings(max_examples=25, deadline=None)
@given(
    n_way=st.integers(2, 6),
    n_shot=st.integers(1, 4),
    n_query=st.integers(1, 4),
    extra_classes=st.integers(0, 4),
    extras=st.lists(st.integers(0, 9), min_size=10, max_size=10),
    label_seed=st.integers(0, 2**16),
    seed=st.integers(0, 2**31 - 1),
    n_episodes=st.integers(1, 9),
    path=st.sampled_from(["auto", "dense", "floyd"]),
)
def test_episode_properties(
    n_way, n_shot, n_query, extra_classes, extras, label_seed, seed, n_episodes, path
):
    n_classes = n_way + extra_classes
    sizes = [n_shot + n_query + extras[c] for c in range(n_classes)]
    y = uneven_labels(sizes, seed=label_seed)
    with draw_path(path):
        sampler = EpisodeSampler(y, n_way=n_way, n_shot=n_shot, n_query=n_query)
        out = sampler.sample(gen(seed), n_episodes=n_episodes)
        again = sampler.sample(gen(seed), n_episodes=n_episodes)
    check_episodes(y, sampler, out, n_episodes)
    for x, z in zip(out, again):
        assert torch.equal(x, z)


# --------------------------------------------------------------------------
# Validation


def test_too_few_classes_message():
    y = uneven_labels([30] * 7)
    msg = r"n_way=20 needs at least 20 classes; y has 7\. Lower n_way or add classes\."
    with pytest.raises(ValueError, match=msg):
        EpisodeSampler(y, n_way=20, n_shot=5, n_query=15)


def test_too_few_samples_message():
    y = uneven_labels([20, 20, 20, 2, 25])
    msg = (
        r"n_shot=5 \+ n_query=15 needs 20 samples per class; class 3 has 2\. "
        r"Lower n_shot/n_query or drop that class\."
    )
    with pytest.raises(ValueError, match=msg):
        EpisodeSampler(y, n_way=3, n_shot=5, n_query=15)


def test_too_few_samples_names_user_label_and_counts_others():
    y = uneven_labels([20, 3, 20, 2, 25])
    names = ["ant", "bee", "cat", "dog", "eel"]
    with pytest.raises(ValueError, match=r"class 'bee' has 3 \(1 other class is also"):
        EpisodeSampler(y, n_way=3, n_shot=5, n_query=15, class_names=names)
    with pytest.raises(ValueError, match=r"class 40 has 3 .*drop those classes"):
        EpisodeSampler(
            y, n_way=3, n_shot=5, n_query=15, class_names=np.array([10, 40, 7, 8, 9])
        )


def test_empty_class_index_is_not_dropped_silently():
    y = np.array([0] * 5 + [2] * 5 + [3] * 5)  # class 1 has no sample
    with pytest.raises(ValueError, match="class 1 has 0"):
        EpisodeSampler(y, n_way=2, n_shot=2, n_query=2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_way=0, n_shot=1, n_query=1), "n_way must be a positive integer"),
        (dict(n_way=2, n_shot=1.5, n_query=1), "n_shot must be a positive integer"),
        (dict(n_way=2, n_shot=1, n_query=True), "n_query must be a positive integer"),
    ],
)
def test_invalid_sizes(kwargs, match):
    with pytest.raises(ValueError, match=match):
        EpisodeSampler(uneven_labels([5, 5]), **kwargs)


@pytest.mark.parametrize(
    "y, match",
    [
        (np.array([0.0, 1.0, 1.0]), "integer class indices"),
        (torch.tensor([0.0, 1.0]), "integer class indices"),
        (np.array([0, -1, 1]), "found -1"),
        (np.zeros((2, 2), dtype=int), "must be 1-D"),
        (np.array([], dtype=int), "empty"),
    ],
)
def test_invalid_labels(y, match):
    with pytest.raises(ValueError, match=match):
        EpisodeSampler(y, n_way=2, n_shot=1, n_query=1)


def test_invalid_n_episodes_and_class_names():
    sampler = EpisodeSampler(uneven_labels([3, 3]), n_way=2, n_shot=1, n_query=1)
    with pytest.raises(ValueError, match="n_episodes must be a positive integer"):
        sampler.sample(gen(0), n_episodes=0)
    with pytest.raises(ValueError, match="class_names has 1 entries"):
        EpisodeSampler(
            uneven_labels([3, 3]), n_way=2, n_shot=1, n_query=1, class_names=["a"]
        )


# --------------------------------------------------------------------------
# adapt_small


def test_adapt_small_shrinks_episode(path):
    y = uneven_labels([3, 6, 4])
    sampler = EpisodeSampler(y, n_way=5, n_shot=5, n_query=15, adapt_small=True)
    assert (sampler.n_way_, sampler.n_shot_, sampler.n_query_) == (3, 2, 1)
    assert sampler.min_count_ == 3 and not sampler.shared_query_
    out = sampler.sample(gen(0), n_episodes=50)
    check_episodes(y, sampler, out, 50)


def test_adapt_small_drops_short_classes_instead_of_shrinking(path):
    # 136 classes of 20 images and one of 3: the short class is left out and
    # every episode keeps the requested 20-way 5-shot 5-query shape.
    sizes = [20] * 136
    sizes[41] = 3
    y = uneven_labels(sizes)
    sampler = EpisodeSampler(y, n_way=20, n_shot=5, n_query=5, adapt_small=True)
    assert (sampler.n_way_, sampler.n_shot_, sampler.n_query_) == (20, 5, 5)
    assert sampler.dropped_classes_ == [41]
    assert isinstance(sampler.dropped_classes_, list)
    assert not sampler.shared_query_
    assert sampler.n_classes_ == 135 and 41 not in sampler.classes_.tolist()
    assert sampler.min_count_ == 20
    out = sampler.sample(gen(0), n_episodes=300)
    classes = check_episodes(y, sampler, out, 300)
    assert 41 not in set(classes.reshape(-1).tolist())
    assert not bool(torch.isin(out[0], torch.as_tensor(np.flatnonzero(y == 41))).any())


def test_adapt_small_dropped_classes_are_sorted_and_n_way_caps(path):
    # two eligible classes (1 and 3) are enough; 0, 2 and 4 are short and
    # index 5 has no sample at all (skipped, not listed)
    y = np.repeat(np.arange(6), [2, 6, 1, 9, 4, 0])
    sampler = EpisodeSampler(y, n_way=5, n_shot=2, n_query=3, adapt_small=True)
    assert (sampler.n_way_, sampler.n_shot_, sampler.n_query_) == (2, 2, 3)
    assert sampler.dropped_classes_ == [0, 2, 4]
    assert sampler.classes_.tolist() == [1, 3]
    classes = check_episodes(y, sampler, sampler.sample(gen(0), 40), 40)
    assert set(classes.reshape(-1).tolist()) == {1, 3}


def test_adapt_small_one_eligible_class_shrinks_over_all(path):
    # a single eligible class is not enough: the old shrinking applies to
    # every present class and nothing is dropped
    y = uneven_labels([3, 20, 4])
    sampler = EpisodeSampler(y, n_way=3, n_shot=5, n_query=5, adapt_small=True)
    assert (sampler.n_way_, sampler.n_shot_, sampler.n_query_) == (3, 2, 1)
    assert sampler.dropped_classes_ == []
    assert sampler.n_classes_ == 3
    check_episodes(y, sampler, sampler.sample(gen(0), 30), 30)


def test_dropped_classes_empty_without_adapt_small_or_short_classes():
    y = uneven_labels([6, 6, 6])
    assert EpisodeSampler(y, n_way=2, n_shot=2, n_query=2).dropped_classes_ == []
    sampler = EpisodeSampler(y, n_way=2, n_shot=2, n_query=2, adapt_small=True)
    assert sampler.dropped_classes_ == []


def test_adapt_small_keeps_request_when_data_suffice():
    y = uneven_labels([10, 10, 10])
    sampler = EpisodeSampler(y, n_way=2, n_shot=2, n_query=3, adapt_small=True)
    assert (sampler.n_way_, sampler.n_shot_, sampler.n_query_) == (2, 2, 3)


def test_adapt_small_two_classes(path):
    y = uneven_labels([2, 5])
    sampler = EpisodeSampler(y, n_way=5, n_shot=3, n_query=3, adapt_small=True)
    assert (sampler.n_way_, sampler.n_shot_, sampler.n_query_) == (2, 1, 1)
    out = sampler.sample(gen(0), n_episodes=30)
    classes = check_episodes(y, sampler, out, 30)
    assert set(classes.reshape(-1).tolist()) == {0, 1}


def test_adapt_small_min_count_one_shares_the_row(path):
    y = np.array([0, 1, 1, 1, 2, 2])  # class 0 has a single sample
    sampler = EpisodeSampler(y, n_way=3, n_shot=4, n_query=4, adapt_small=True)
    assert (sampler.n_way_, sampler.n_shot_, sampler.n_query_) == (3, 1, 1)
    assert sampler.min_count_ == 1 and sampler.shared_query_
    out = sampler.sample(gen(0), n_episodes=200)
    classes = check_episodes(y, sampler, out, 200, disjoint=False)
    s_idx, q_idx = out[0], out[1]
    single = classes == 0
    # The single-sample class reuses its row; the others still give two rows.
    assert torch.equal(s_idx[single], q_idx[single])
    assert bool((s_idx[single] == 0).all())
    assert bool((s_idx[~single] != q_idx[~single]).all())


def test_adapt_small_all_singletons():
    y = np.array([1, 0, 2])
    sampler = EpisodeSampler(y, n_way=2, n_shot=1, n_query=1, adapt_small=True)
    out = sampler.sample(gen(0), n_episodes=10)
    assert torch.equal(out[0], out[1])
    check_episodes(y, sampler, out, 10, disjoint=False)


def test_adapt_small_single_class_raises():
    with pytest.raises(ValueError, match="single class"):
        EpisodeSampler(np.zeros(10, dtype=int), n_way=2, n_shot=1, n_query=1,
                       adapt_small=True)
    with pytest.raises(ValueError, match="class 'only'"):
        EpisodeSampler(np.full(4, 1), n_way=2, n_shot=1, n_query=1, adapt_small=True,
                       class_names=["unused", "only"])


def test_adapt_small_skips_empty_class_indices():
    y = np.array([0, 0, 0, 2, 2, 2, 2])
    sampler = EpisodeSampler(y, n_way=3, n_shot=1, n_query=1, adapt_small=True)
    assert sampler.n_way_ == 2 and sampler.n_classes_ == 2
    assert sampler.classes_.tolist() == [0, 2]
    classes = check_episodes(y, sampler, sampler.sample(gen(0), 20), 20)
    assert set(classes.reshape(-1).tolist()) == {0, 2}


# --------------------------------------------------------------------------
# Scale: one call draws a large batch


def test_large_batch_in_one_call():
    n_classes, size = 4112, 20
    y = torch.arange(n_classes).repeat_interleave(size)
    sampler = EpisodeSampler(y, n_way=20, n_shot=5, n_query=15)
    out = sampler.sample(gen(0), n_episodes=1000)
    assert out[0].shape == (1000, 100)
    assert out[1].shape == (1000, 300)
    check_episodes(y, sampler, out, 1000)


def test_large_class_uses_bounded_memory():
    # One huge class among small ones: the within-class draw must not build
    # n_episodes * n_way * max_count random keys.
    small = np.repeat(np.arange(1, 6), 10)
    y = np.concatenate([np.zeros(200_000, dtype=np.int64), small])
    sampler = EpisodeSampler(y, n_way=3, n_shot=2, n_query=3)
    out = sampler.sample(gen(0), n_episodes=100)
    check_episodes(y, sampler, out, 100)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("adapt", ["off", "drop", "shrink"])
def test_cuda_sampling_does_not_sync(path, adapt):
    # "drop": a single-sample class among full ones is left out; "shrink":
    # every class is short, so episodes shrink and the single-sample class
    # shares its row (the cyclic-wrap path)
    size = 3 if adapt == "shrink" else 20
    y = torch.arange(300, device="cuda").repeat_interleave(size)
    if adapt != "off":
        y = torch.cat([y, torch.tensor([300], device="cuda")])
    sampler = EpisodeSampler(y, n_way=20, n_shot=5, n_query=15,
                             adapt_small=adapt != "off")
    assert sampler.dropped_classes_ == ([300] if adapt == "drop" else [])
    assert sampler.shared_query_ == (adapt == "shrink")
    g = torch.Generator(device="cuda").manual_seed(0)
    torch.cuda.synchronize()
    torch.cuda.set_sync_debug_mode("error")
    try:
        out = sampler.sample(g, n_episodes=64)
    finally:
        torch.cuda.set_sync_debug_mode("default")
    check_episodes(y.cpu(), sampler, tuple(t.cpu() for t in out), 64,
                   disjoint=adapt != "shrink")
    with pytest.raises(ValueError, match="generator is on cpu"):
        sampler.sample(gen(0))


# --------------------------------------------------------------------------
# class_means and episode_logits


def numpy_class_means(z, y, n_classes):
    out = np.zeros((n_classes, z.shape[1]))
    for c in range(n_classes):
        if (y == c).any():
            out[c] = z[y == c].mean(axis=0)
    return out


def test_class_means_matches_numpy_loop():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(30, 4)).astype(np.float32)
    y = rng.integers(0, 6, size=30)
    y[y == 4] = 5  # class 4 empty -> zero prototype
    got = class_means(torch.from_numpy(z), torch.from_numpy(y), 6)
    np.testing.assert_allclose(got.numpy(), numpy_class_means(z, y, 6), atol=1e-6)
    assert torch.equal(got[4], torch.zeros(4))


def test_class_means_batched():
    rng = np.random.default_rng(1)
    z = rng.normal(size=(3, 12, 5)).astype(np.float32)
    y = rng.integers(0, 4, size=(3, 12))
    got = class_means(torch.from_numpy(z), torch.from_numpy(y), 4)
    assert got.shape == (3, 4, 5)
    for e in range(3):
        np.testing.assert_allclose(
            got[e].numpy(), numpy_class_means(z[e], y[e], 4), atol=1e-6
        )
    # A 1-D y is shared by every episode.
    shared = class_means(torch.from_numpy(z), torch.from_numpy(y[0]), 4)
    np.testing.assert_allclose(
        shared[2].numpy(), numpy_class_means(z[2], y[0], 4), atol=1e-6
    )


def test_class_means_is_differentiable_and_validates():
    z = torch.randn(6, 3, requires_grad=True)
    class_means(z, torch.tensor([0, 0, 1, 1, 1, 2]), 3).sum().backward()
    weights = torch.tensor([0.5, 0.5, 1 / 3, 1 / 3, 1 / 3, 1.0])
    expected = weights.unsqueeze(1).expand(6, 3)
    torch.testing.assert_close(z.grad, expected)
    with pytest.raises(ValueError, match="does not match"):
        class_means(torch.zeros(4, 2), torch.zeros(5, dtype=torch.int64), 2)
    with pytest.raises(ValueError, match=r"shape \(n, d\)"):
        class_means(torch.zeros(4), torch.zeros(4, dtype=torch.int64), 2)


@pytest.mark.parametrize("batched", [False, True])
def test_episode_logits_euclidean_matches_cdist(batched):
    g = gen(0)
    shape = (4,) if batched else ()
    z_s = torch.randn(shape + (15, 16), generator=g) * 3 + 1
    y_s = torch.arange(5).repeat_interleave(3)
    z_q = torch.randn(shape + (20, 16), generator=g) * 3
    logits = episode_logits(z_s, y_s, z_q, 5)
    assert logits.shape == shape + (20, 5)
    protos = class_means(z_s, y_s, 5)
    expected = -torch.cdist(z_q, protos) ** 2
    torch.testing.assert_close(logits, expected, atol=1e-4, rtol=1e-4)
    assert bool((logits <= 0).all())
    # Identical query and prototype: clamped at exactly zero distance.
    same = episode_logits(z_s[..., :1, :], y_s[:1], z_s[..., :1, :], 1)
    assert bool((same == 0).all())


@pytest.mark.parametrize("batched", [False, True])
def test_episode_logits_cosine(batched):
    g = gen(1)
    shape = (3,) if batched else ()
    z_s = torch.randn(shape + (8, 6), generator=g)
    y_s = torch.arange(4).repeat(2)
    z_q = torch.randn(shape + (5, 6), generator=g)
    logits = episode_logits(z_s, y_s, z_q, 4, metric="cosine")
    protos = class_means(z_s, y_s, 4)
    expected = COSINE_SCALE * torch.nn.functional.cosine_similarity(
        z_q.unsqueeze(-2), protos.unsqueeze(-3), dim=-1
    )
    torch.testing.assert_close(logits, expected, atol=1e-5, rtol=1e-5)
    assert COSINE_SCALE == 10.0
    assert float(logits.abs().max()) <= COSINE_SCALE + 1e-5


def test_episode_logits_validation():
    z = torch.zeros(4, 2)
    y = torch.tensor([0, 0, 1, 1])
    with pytest.raises(ValueError, match="metric must be"):
        episode_logits(z, y, z, 2, metric="manhattan")
    with pytest.raises(ValueError, match="both have shape"):
        episode_logits(z, y, z.unsqueeze(0), 2)


def test_sampler_and_logits_end_to_end():
    # Well separated clusters: prototypes from support classify the query.
    n_classes, size = 6, 12
    y = torch.arange(n_classes).repeat_interleave(size)
    x = torch.nn.functional.one_hot(y, n_classes).float() * 5
    x = x + 0.1 * torch.randn(x.shape, generator=gen(0))
    sampler = EpisodeSampler(y, n_way=4, n_shot=3, n_query=5)
    s_idx, q_idx, s_y, q_y = sampler.sample(gen(1), n_episodes=10)
    logits = episode_logits(x[s_idx], s_y, x[q_idx], sampler.n_way_)
    assert logits.shape == (10, 20, 4)
    assert torch.equal(logits.argmax(-1), q_y)
