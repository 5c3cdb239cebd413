"""EpisodeDisplay draws exactly the images and predictions it is given."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_meta import ProtoNetClassifier
from sklearn_meta.plotting import EpisodeDisplay

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.colors import to_rgba


def _episode(X, y, classes, n_query=3):
    support = np.array([np.flatnonzero(y == c)[0] for c in classes])
    query = np.concatenate([np.flatnonzero(y == c)[1 : 1 + n_query] for c in classes])
    return X[support], y[support], X[query], y[query]


def test_episode_titles_are_the_predictions(digits, centroids):
    X, y = digits
    Xs, ys, Xq, yq = _episode(X, y, [5, 6, 7, 8, 9])
    disp = EpisodeDisplay.from_estimator(centroids, Xs, ys, Xq, yq)
    y_pred = centroids.adapt(Xs, ys).predict(Xq)
    assert_array_equal(disp.y_pred, y_pred)
    assert disp.accuracy == np.mean(y_pred == yq)
    assert 0 < disp.accuracy < 1  # some right, some wrong: both colours are tested
    assert_array_equal(disp.images, np.concatenate([Xs, Xq]).reshape(-1, 8, 8))
    assert len(disp.axes_) == 5 + 15
    assert all(ax.figure is disp.figure_ for ax in disp.axes_)
    assert [ax.get_title() for ax in disp.axes_[:5]] == [f"support: {c}" for c in ys]
    queries = disp.axes_[5:]
    assert [ax.get_title() for ax in queries] == [f"pred: {p}" for p in y_pred]
    for ax, p, t in zip(queries, y_pred, yq):
        color = to_rgba("tab:green" if p == t else "tab:red")
        assert to_rgba(ax.title.get_color()) == color
        assert to_rgba(ax.spines["left"].get_edgecolor()) == color
        assert ax.get_xlabel() == ("" if p == t else f"true: {t}")
        assert ax.get_xticks().size == 0 and ax.get_yticks().size == 0
    for ax, image in zip(disp.axes_, disp.images):
        assert_array_equal(ax.get_images()[0].get_array(), image)
        assert ax.get_images()[0].get_cmap().name == "gray_r"
    assert disp.figure_.get_suptitle().startswith("query accuracy")


def test_episode_without_truth_and_in_a_subfigure(digits, centroids):
    X, y = digits
    Xs, ys, Xq, _ = _episode(X, y, [5, 6], n_query=2)
    fig = plt.figure(layout="constrained")
    left, right = fig.subfigures(1, 2)
    disp = EpisodeDisplay.from_estimator(centroids, Xs, ys, Xq, fig=left, n_cols=2)
    assert disp.figure_ is left and disp.accuracy is None
    assert len(left.axes) == len(disp.axes_) == 2 + 4 and not right.axes
    title = disp.axes_[2].title
    assert to_rgba(title.get_color()) not in (to_rgba("tab:green"), to_rgba("tab:red"))
    assert fig.get_suptitle() == ""


def test_episode_image_shapes():
    rng = np.random.RandomState(0)
    labels = ["a", "b"]
    grey = rng.rand(4, 1, 6, 6)  # (N, C, H, W) with one channel, as Omniglot
    disp = EpisodeDisplay.from_predictions(grey[:2], labels, grey[2:], labels, labels)
    assert disp.images.shape == (4, 6, 6)
    assert_array_equal(disp.images, grey[:, 0])
    assert disp.accuracy == 1.0
    flat = grey.reshape(4, 36)  # rows of pixels: a square
    assert_array_equal(
        EpisodeDisplay.from_predictions(flat[:2], labels, flat[2:], labels).images,
        grey[:, 0],
    )
    rows = grey.reshape(4, 36)  # not square as (4, 9): given explicitly
    wide = EpisodeDisplay.from_predictions(
        rows[:2], labels, rows[2:], labels, image_shape=(4, 9)
    )
    assert wide.images.shape == (4, 4, 9)
    rgb = rng.randn(4, 3, 5, 5)  # normalised RGB, shown as HWC in [0, 1]
    disp = EpisodeDisplay.from_predictions(rgb[:2], labels, rgb[2:], ["a", "a"], labels)
    assert disp.images.shape == (4, 5, 5, 3)
    assert disp.images.min() == 0 and disp.images.max() == 1
    assert disp.accuracy == 0.5
    assert [ax.get_title() for ax in disp.axes_[2:]] == ["pred: a", "pred: a"]
    as_rows = EpisodeDisplay.from_predictions(
        rgb.reshape(4, -1)[:2],
        labels,
        rgb.reshape(4, -1)[2:],
        labels,
        image_shape=(3, 5, 5),
    )
    assert_array_equal(as_rows.images, disp.images)
    with pytest.raises(ValueError, match=r"Pass image_shape=\(H, W\) for grey"):
        EpisodeDisplay.from_predictions(rng.rand(2, 7), labels, rng.rand(2, 7), labels)
    with pytest.raises(
        ValueError, match="holds 25 values, but each sample of X_support"
    ):
        EpisodeDisplay.from_predictions(
            flat[:2], labels, flat[2:], labels, image_shape=(5, 5)
        )


def test_episode_through_a_pipeline_shows_the_raw_images(digits):
    X, y = digits
    pipe = make_pipeline(StandardScaler(), ProtoNetClassifier(backbone="identity"))
    pipe.fit(X[y < 5], y[y < 5])
    Xs, ys, Xq, yq = _episode(X, y, [5, 6, 7])
    disp = EpisodeDisplay.from_estimator(pipe, Xs, ys, Xq, yq)
    scaler, final = pipe[0], pipe[-1]
    expected = final.adapt(scaler.transform(Xs), ys).predict(scaler.transform(Xq))
    assert_array_equal(disp.y_pred, expected)
    assert_array_equal(disp.images[:3], Xs.reshape(-1, 8, 8))


def test_episode_errors_name_the_fix(digits, centroids):
    X, y = digits
    Xs, ys, Xq, yq = _episode(X, y, [5, 6])
    with pytest.raises(TypeError, match="adapt\\(\\) method.*LogisticRegression"):
        EpisodeDisplay.from_estimator(LogisticRegression(), Xs, ys, Xq, yq)
    with pytest.raises(ValueError, match="y_support has 1 entries but X_support has 2"):
        EpisodeDisplay.from_estimator(centroids, Xs, ys[:1], Xq, yq)
    with pytest.raises(ValueError, match="y_query has 2 entries but X_query has 6"):
        EpisodeDisplay.from_estimator(centroids, Xs, ys, Xq, yq[:2])
    with pytest.raises(ValueError, match="y_pred has 1 entries"):
        EpisodeDisplay.from_predictions(Xs, ys, Xq, yq[:1])


def test_episode_colour_scale_is_shared():
    labels = ["r", "g", "b"]
    rgb = np.zeros((6, 3, 4, 4))
    for i in range(6):
        rgb[i, i % 3] = 1.0
    query = rgb[3:].copy()
    query[0, 0, 0, 0] = 1.01  # a float error above 1: clipped, not divided by 255
    disp = EpisodeDisplay.from_predictions(rgb[:3], labels, query, labels)
    expected = rgb.transpose(0, 2, 3, 1)
    assert_array_equal(disp.images, expected)
    # 0-255 values, as ints or floats, on one scale for support and query
    u8 = (rgb * 255).astype(np.uint8)
    dark = u8[3:] // 2  # the queries alone never reach 255
    disp = EpisodeDisplay.from_predictions(u8[:3], labels, dark, labels)
    assert_allclose(disp.images[:3], expected[:3])
    assert_allclose(disp.images[3:], (dark / 255).transpose(0, 2, 3, 1))
    disp = EpisodeDisplay.from_predictions(u8[:3] * 1.0, labels, dark * 1.0, labels)
    assert_allclose(disp.images[3:], (dark / 255).transpose(0, 2, 3, 1))
    # standardised images: one stretch from the overall minimum to maximum
    rng = np.random.RandomState(0)
    support, query = rng.randn(2, 3, 4, 4), rng.randn(2, 3, 4, 4) / 10
    disp = EpisodeDisplay.from_predictions(support, [0, 1], query, [0, 1])
    both = np.concatenate([support, query])
    stretched = (both - both.min()) / (both.max() - both.min())
    assert_allclose(disp.images, stretched.transpose(0, 2, 3, 1))
    # grey images: one scale (vmin, vmax) for all of them
    grey = rng.rand(4, 6, 6) * 0.5
    disp = EpisodeDisplay.from_predictions(grey[:2], [0, 1], grey[2:], [0, 1])
    limits = {ax.get_images()[0].get_clim() for ax in disp.axes_}
    assert limits == {(grey.min(), grey.max())}


def test_episode_rows_of_colour_pixels_need_a_shape():
    rng = np.random.RandomState(0)
    rows = rng.rand(4, 3 * 4 * 4)  # 48 values: RGB 4x4, or a 6x8 grey image, ...
    with pytest.raises(ValueError, match=r"image_shape=\(3, 4, 4\) for square RGB"):
        EpisodeDisplay.from_predictions(rows[:2], [0, 1], rows[2:], [0, 1])
    disp = EpisodeDisplay.from_predictions(
        rows[:2], [0, 1], rows[2:], [0, 1], image_shape=(6, 8)
    )
    assert disp.images.shape == (4, 6, 8)


def test_episode_pipeline_uses_the_input_shape_of_its_last_step():
    rng = np.random.RandomState(0)
    X, y = rng.rand(40, 6 * 10), np.arange(40) % 4
    net = ProtoNetClassifier(backbone="identity", input_shape=(1, 6, 10))
    pipe = make_pipeline(StandardScaler(), net).fit(X, y)
    disp = EpisodeDisplay.from_estimator(pipe, X[:4], y[:4], X[4:8], y[4:8])
    assert disp.images.shape == (8, 6, 10)
    assert_array_equal(disp.images[0], X[0].reshape(6, 10))
    # a step that changes the features: the input_shape is not that of X
    reduced = make_pipeline(
        PCA(30), ProtoNetClassifier(backbone="identity", input_shape=(1, 5, 6))
    ).fit(X, y)
    with pytest.raises(ValueError, match="Cannot tell the image shape"):
        EpisodeDisplay.from_estimator(reduced, X[:4], y[:4], X[4:8], y[4:8])


def test_episode_display_checks_when_it_draws():
    grey, other = np.zeros((2, 8, 8)), np.zeros((3, 9, 9))
    # the constructor only stores: mistakes are reported by plot
    disp = EpisodeDisplay(grey, [0, 1], np.zeros((3, 8, 8)), [0, 1, 1], [0, 1])
    with pytest.raises(
        ValueError, match="y_query has 2 entries but query_images has 3"
    ):
        disp.plot()
    with pytest.raises(ValueError, match="y_query has 2 entries"):
        disp.accuracy  # noqa: B018
    shapes = EpisodeDisplay(grey, [0, 1], other, [0, 1, 1])
    with pytest.raises(
        ValueError,
        match=r"support images have shape \(8, 8\) but the query images \(9, 9\)",
    ):
        shapes.plot()
    colour = EpisodeDisplay(grey, [0, 1], np.zeros((3, 8, 8, 3)), [0, 1, 1])
    with pytest.raises(ValueError, match="give images of one shape"):
        colour.images  # noqa: B018
    with pytest.raises(
        ValueError, match=r"X_support holds images of shape \(8, 8\) but X_query"
    ):
        EpisodeDisplay.from_predictions(grey, [0, 1], other, [0, 1, 1])
    with pytest.raises(ValueError, match="must have shape \\(n, H, W\\)"):
        EpisodeDisplay(np.zeros((2, 64)), [0, 1], np.zeros((1, 64)), [0]).plot()


def test_episode_layout(digits):
    X, y = digits
    Xs, ys, Xq, yq = _episode(X, y, [5, 6, 7], n_query=1)
    disp = EpisodeDisplay.from_predictions(Xs, ys, Xq, yq, yq)
    grid = disp.axes_[0].get_subplotspec().get_gridspec()
    assert grid.get_geometry() == (2, 3)  # no empty column, no spacer row
    # the queries fill rows of 5 when there are that many
    Xs, ys, Xq, yq = _episode(X, y, [5, 6, 7], n_query=3)
    disp = EpisodeDisplay.from_predictions(Xs, ys, Xq, yq, yq)
    assert disp.axes_[0].get_subplotspec().get_gridspec().get_geometry() == (3, 5)
    # drawing again on a figure clears it first, a SubFigure as well
    fig = plt.figure()
    disp.plot(fig=fig)
    disp.plot(fig=fig)
    assert len(fig.axes) == len(disp.axes_) == 3 + 9
    sub = plt.figure().subfigures(1, 2)[1]
    disp.plot(fig=sub, n_cols=3)
    disp.plot(fig=sub, n_cols=3)
    assert len(sub.axes) == 12 and sub.get_suptitle().startswith("query accuracy")
