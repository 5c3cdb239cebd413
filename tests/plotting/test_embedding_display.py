"""EmbeddingDisplay draws exactly the embedding it is given."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_meta import ProtoNetClassifier
from sklearn_meta.plotting import EmbeddingDisplay
from sklearn_meta.plotting._embedding import _UNLABELLED

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.colors import to_rgba


def _legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


def test_embedding_is_the_pca_of_transform(digits, protonet):
    X, y = digits
    X, y = X[:200], y[:200]
    disp = EmbeddingDisplay.from_estimator(protonet, X, y, random_state=0)
    expected = PCA(2, random_state=0).fit_transform(protonet.transform(X))
    assert_allclose(disp.embedding, expected, rtol=1e-6, atol=1e-6)
    assert_array_equal(disp.scatter_.get_offsets(), disp.embedding)
    assert (disp.ax_.get_xlabel(), disp.ax_.get_ylabel()) == ("PC 1", "PC 2")
    assert disp.method == "pca"
    # one tab10 colour per class, in the legend as in the points
    tab10 = matplotlib.colormaps["tab10"]
    assert_allclose(disp.scatter_.get_facecolors(), tab10(y))
    assert _legend_texts(disp.ax_) == [str(c) for c in range(10)]


def test_embedding_tsne_is_seeded(digits, centroids):
    X, y = digits
    X, y = X[:60], y[:60]
    a = EmbeddingDisplay.from_estimator(centroids, X, y, method="tsne", random_state=0)
    b = EmbeddingDisplay.from_embedding(X, y, method="tsne", random_state=0)
    assert (a.ax_.get_xlabel(), a.ax_.get_ylabel()) == ("t-SNE 1", "t-SNE 2")
    assert_allclose(a.embedding, b.embedding)  # identity backbone: the pixels
    assert_array_equal(a.scatter_.get_offsets(), a.embedding)


def test_embedding_of_two_features_is_drawn_as_it_is():
    Z = np.random.RandomState(0).randn(30, 2)
    disp = EmbeddingDisplay.from_embedding(Z, method="tsne")
    assert disp.method is None
    assert_array_equal(disp.embedding, Z)
    assert_array_equal(disp.scatter_.get_offsets(), Z)
    assert disp.ax_.get_xlabel() == "dimension 1"
    assert disp.legend_ is None  # nothing to explain without y or domains


def test_embedding_domains_markers_and_unlabelled_rows():
    rng = np.random.RandomState(0)
    Z = rng.randn(40, 2)
    y = np.r_[np.repeat([0, 1], 10), np.full(20, -1)]  # target rows unlabelled
    domain = np.r_[np.ones(20, int), np.full(20, -2)]  # sklearn_meta's convention
    disp = EmbeddingDisplay.from_embedding(Z, y, sample_domain=domain, name="adapted")
    assert disp.ax_.get_title() == "adapted"
    assert _legend_texts(disp.ax_) == ["0", "1", "unlabelled", "source", "target"]
    face = disp.scatter_.get_facecolors()
    assert_allclose(face[20:], np.tile(_UNLABELLED, (20, 1)))
    assert_allclose(face[:10], np.tile(matplotlib.colormaps["tab10"](0), (10, 1)))
    paths = disp.scatter_.get_paths()
    assert len(paths) == 40
    assert_array_equal(paths[0].vertices, paths[19].vertices)
    assert_array_equal(paths[20].vertices, paths[39].vertices)
    assert paths[0].vertices.shape != paths[20].vertices.shape  # circle, triangle
    # values outside the source/target convention are named as they are
    other = EmbeddingDisplay.from_embedding(
        Z, sample_domain=np.repeat([0, 1, 2, 3], 10)
    )
    assert _legend_texts(other.ax_) == ["domain 0", "domain 1", "domain 2", "domain 3"]
    two = EmbeddingDisplay.from_embedding(
        Z, sample_domain=np.repeat([1, 2, -1, -2], 10)
    )
    assert _legend_texts(two.ax_) == ["source 1", "source 2", "target -1", "target -2"]


def test_embedding_before_and_after_side_by_side(digits, centroids, protonet):
    X, y = digits
    X, y = X[:150], y[:150]
    fig, (left, right) = plt.subplots(1, 2, layout="constrained")
    before = EmbeddingDisplay.from_estimator(centroids, X, y, ax=left, name="pixels")
    after = EmbeddingDisplay.from_estimator(protonet, X, y, ax=right, name="ProtoNet")
    assert before.figure_ is after.figure_ is fig
    assert (left.get_title(), right.get_title()) == ("pixels", "ProtoNet")
    assert_array_equal(left.collections[0].get_offsets(), before.embedding)
    assert_array_equal(right.collections[0].get_offsets(), after.embedding)
    # same classes, same colours on both sides
    assert_allclose(before.scatter_.get_facecolors(), after.scatter_.get_facecolors())
    assert not np.allclose(before.embedding, after.embedding)


def test_embedding_through_a_pipeline_and_capped_legend(digits):
    X, y = digits
    X, y = X[:120], y[:120]
    pipe = make_pipeline(StandardScaler(), ProtoNetClassifier(backbone="identity"))
    disp = EmbeddingDisplay.from_estimator(pipe.fit(X, y), X, y, random_state=0)
    expected = PCA(2, random_state=0).fit_transform(StandardScaler().fit_transform(X))
    assert_allclose(disp.embedding, expected, rtol=1e-5, atol=1e-5)
    many = np.arange(120) % 25
    capped = EmbeddingDisplay(disp.embedding, many).plot(max_legend_classes=10)
    texts = _legend_texts(capped.ax_)
    assert texts[:9] == [str(c) for c in range(9)]
    assert texts[9:] == ["... 16 more classes"]
    assert len(np.unique(capped.scatter_.get_facecolors(), axis=0)) == 25


def test_embedding_errors_name_the_fix(digits):
    X, y = digits
    with pytest.raises(TypeError, match="transform\\(\\), which LogisticRegression"):
        EmbeddingDisplay.from_estimator(LogisticRegression(), X, y)
    with pytest.raises(ValueError, match="y has 10 entries but Z has 1797 rows"):
        EmbeddingDisplay.from_embedding(X, y[:10])
    with pytest.raises(ValueError, match="sample_domain has 3 entries"):
        EmbeddingDisplay.from_embedding(X, sample_domain=[1, 1, -2])
    with pytest.raises(ValueError, match="method must be 'pca' or 'tsne'; got 'umap'"):
        EmbeddingDisplay.from_embedding(X, method="umap")
    with pytest.raises(ValueError, match="must have shape \\(n_samples, 2\\)"):
        EmbeddingDisplay(X).plot()
    with pytest.raises(ValueError, match="y has 3 entries but embedding has 5 rows"):
        EmbeddingDisplay(np.zeros((5, 2)), y=[0, 1, 2]).plot()


def _inside(inner, outer):
    return (
        inner.x0 >= outer.x0 - 1
        and inner.x1 <= outer.x1 + 1
        and inner.y0 >= outer.y0 - 1
        and inner.y1 <= outer.y1 + 1
    )


@pytest.mark.parametrize("layout", [None, "constrained"])
def test_embedding_legends_side_by_side_stay_clear(layout):
    rng = np.random.RandomState(0)
    Z = rng.randn(120, 2)
    y = np.where(np.arange(120) < 60, np.arange(120) % 10, -1)
    domain = np.where(y == -1, -1, 1)
    fig, (before, after) = plt.subplots(1, 2, layout=layout)  # the user guide's
    a = EmbeddingDisplay.from_embedding(Z, y, sample_domain=domain, ax=before)
    b = EmbeddingDisplay.from_embedding(-Z, y, sample_domain=domain, ax=after)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    figure_box = fig.bbox
    for disp in (a, b):
        box = disp.legend_.get_window_extent(renderer)
        assert _inside(box, figure_box)  # nothing clipped
        if layout is None:  # no room made beside the axes: the legend is inside
            assert _inside(box, disp.ax_.get_window_extent(renderer))
        else:  # constrained layout makes room on the right
            assert box.x0 >= disp.ax_.get_window_extent(renderer).x1
    assert (
        a.legend_.get_window_extent(renderer).x1 <= after.get_window_extent(renderer).x0
    )
    assert len(_legend_texts(a.ax_)) == 10 + 3
    # a display that makes its own figure puts the legend beside the axes
    own = EmbeddingDisplay.from_embedding(Z, y, sample_domain=domain)
    own.figure_.canvas.draw()
    box = own.legend_.get_window_extent()
    assert box.x0 >= own.ax_.get_window_extent().x1
    assert _inside(box, own.figure_.bbox)


def test_embedding_style_keywords():
    Z = np.random.RandomState(0).randn(40, 2)
    y = np.arange(40) % 4
    disp = EmbeddingDisplay.from_embedding(Z, y, edgecolor="k", lw=2, s=5, alpha=0.5)
    assert_allclose(disp.scatter_.get_edgecolors(), [to_rgba("k", 0.5)])
    assert_array_equal(disp.scatter_.get_linewidths(), [2])
    assert_array_equal(disp.scatter_.get_sizes(), [5])
    with pytest.raises(TypeError, match="aliases"):
        EmbeddingDisplay.from_embedding(Z, y, lw=1, linewidths=2)
    for colour in ("c", "color", "fc", "facecolors"):
        with pytest.raises(ValueError, match="colour of a point shows its class"):
            EmbeddingDisplay.from_embedding(Z, y, **{colour: "red"})
    plain = EmbeddingDisplay.from_embedding(Z, color="red", marker="x")  # no y
    assert_allclose(plain.scatter_.get_facecolors(), [to_rgba("red")])
    with pytest.raises(ValueError, match="marker of a point shows its domain"):
        EmbeddingDisplay.from_embedding(Z, y, sample_domain=y % 2 + 1, marker="x")
    crosses = EmbeddingDisplay.from_embedding(Z, y, marker="s")
    square = matplotlib.markers.MarkerStyle("s")
    square = square.get_path().transformed(square.get_transform())
    assert_array_equal(crosses.scatter_.get_paths()[0].vertices, square.vertices)
    assert crosses.legend_.legend_handles[0].get_marker() == "s"
    viridis = EmbeddingDisplay.from_embedding(Z, y, cmap="viridis")
    expected = matplotlib.colormaps["viridis"](np.linspace(0, 1, 4))[y]
    assert_allclose(viridis.scatter_.get_facecolors(), expected)
    set1 = EmbeddingDisplay.from_embedding(Z, y, cmap="Set1")  # qualitative: its own
    assert_allclose(set1.scatter_.get_facecolors(), matplotlib.colormaps["Set1"](y))


def test_embedding_label_inputs():
    Z = np.random.RandomState(0).randn(30, 2)
    y = np.arange(30) % 3
    column = EmbeddingDisplay.from_embedding(Z, y.reshape(-1, 1))
    flat = EmbeddingDisplay.from_embedding(Z, y)
    assert_allclose(column.scatter_.get_facecolors(), flat.scatter_.get_facecolors())
    # missing labels are unlabelled rows, grey, as -1 is
    missing = np.where(np.arange(30) < 10, np.nan, y)
    disp = EmbeddingDisplay.from_embedding(Z, missing)
    assert _legend_texts(disp.ax_) == ["0", "1", "2", "unlabelled"]
    assert_allclose(disp.scatter_.get_facecolors()[:10], np.tile(_UNLABELLED, (10, 1)))
    objects = np.array([None, "a", "b"] * 10, dtype=object)
    disp = EmbeddingDisplay.from_embedding(Z, objects)
    assert _legend_texts(disp.ax_) == ["a", "b", "unlabelled"]
    with pytest.raises(ValueError, match="no rows: there is no point to draw"):
        EmbeddingDisplay.from_embedding(np.zeros((0, 5)), np.zeros(0))
    with pytest.raises(ValueError, match="no rows"):
        EmbeddingDisplay(np.zeros((0, 2))).plot()
    with pytest.raises(ValueError, match="y must be 1-D"):
        EmbeddingDisplay(Z, np.zeros((30, 2))).plot()
