"""The displays of sklearn_meta.plotting draw exactly the data they are given."""

import importlib
import sys

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.decomposition import PCA
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sklearn_meta
from sklearn_meta import FineTuneClassifier, MAMLRegressor, ProtoNetClassifier, plotting
from sklearn_meta.backbones import MLPBackbone
from sklearn_meta.datasets import make_sinusoids
from sklearn_meta.model_selection import evaluate_episodes
from sklearn_meta.plotting import (
    EmbeddingDisplay,
    EpisodeDisplay,
    ShotCurveDisplay,
    TrainingCurveDisplay,
)

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.colors import to_rgba

SMALL = {"backbone": MLPBackbone(hidden=(16,)), "device": "cpu", "random_state": 0}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def finetuned(digits):
    X, y = digits
    return FineTuneClassifier(**SMALL, max_epochs=3, early_stopping=True).fit(X, y)


@pytest.fixture(scope="module")
def protonet(digits):
    X, y = digits
    clf = ProtoNetClassifier(**SMALL, n_way=5, max_iter=300, early_stopping=True)
    return clf.fit(X[y < 7], y[y < 7])


@pytest.fixture(scope="module")
def centroids(digits):
    """ProtoNet without a backbone (nearest class mean), fitted in milliseconds."""
    X, y = digits
    return ProtoNetClassifier(backbone="identity", device="cpu").fit(X[y < 5], y[y < 5])


def _column(history, key):
    return np.array([row[key] for row in history], dtype=float)


def _legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


# ---------------------------------------------------------------- training curves
def test_training_curve_epochs_equal_the_history(finetuned):
    disp = TrainingCurveDisplay.from_estimator(finetuned)
    h = finetuned.history_
    assert isinstance(disp.figure_, matplotlib.figure.Figure)
    assert disp.ax_.figure is disp.figure_
    assert disp.ax_.get_xlabel() == "epoch"
    assert disp.ax_.get_ylabel() == "loss"
    assert list(disp.lines_) == ["train", "validation"]
    assert_array_equal(disp.x, _column(h, "epoch"))
    for label, key in (("train", "train_loss"), ("validation", "valid_loss")):
        assert_array_equal(disp.curves[label], _column(h, key))
        assert_array_equal(disp.lines_[label].get_xdata(), _column(h, "epoch"))
        assert_array_equal(disp.lines_[label].get_ydata(), _column(h, key))
    assert _legend_texts(disp.ax_) == [
        "FineTuneClassifier train",
        "FineTuneClassifier validation",
    ]


def test_training_curve_meta_updates_and_accuracy(protonet):
    disp = TrainingCurveDisplay.from_estimator(protonet, metric="score")
    h = protonet.history_
    assert disp.ax_.get_xlabel() == "meta-update"
    assert disp.ax_.get_ylabel() == "accuracy"
    assert_array_equal(disp.lines_["train"].get_xdata(), _column(h, "iter"))
    assert_array_equal(disp.lines_["train"].get_ydata(), _column(h, "train_acc"))
    assert_array_equal(disp.lines_["validation"].get_ydata(), _column(h, "valid_acc"))
    # "acc" is an alias; any other string is a history key
    alias = TrainingCurveDisplay.from_estimator(protonet, metric="acc")
    assert_array_equal(alias.curves["train"], disp.curves["train"])
    dur = TrainingCurveDisplay.from_estimator(protonet, metric="dur")
    assert list(dur.curves) == ["dur"] and dur.ax_.get_ylabel() == "dur"
    assert_array_equal(dur.curves["dur"], _column(h, "dur"))


def test_training_curve_reads_the_last_step_of_a_pipeline(digits):
    X, y = digits
    pipe = make_pipeline(StandardScaler(), FineTuneClassifier(**SMALL, max_epochs=2))
    disp = TrainingCurveDisplay.from_estimator(pipe.fit(X, y), name="scaled")
    assert list(disp.lines_) == ["train"]  # no validation without early stopping
    assert_array_equal(
        disp.lines_["train"].get_ydata(), _column(pipe[-1].history_, "train_loss")
    )
    assert _legend_texts(disp.ax_) == ["scaled train"]


def test_training_curves_overlay_on_one_ax(finetuned, protonet):
    fig, ax = plt.subplots()
    a = TrainingCurveDisplay.from_estimator(
        finetuned, metric="score", ax=ax, name="fine-tune"
    )
    b = TrainingCurveDisplay.from_estimator(
        protonet, metric="score", ax=ax, name="protonet"
    )
    assert a.ax_ is b.ax_ is ax and a.figure_ is fig
    assert len(ax.get_lines()) == 4
    assert _legend_texts(ax) == [
        "fine-tune train",
        "fine-tune validation",
        "protonet train",
        "protonet validation",
    ]
    # one colour per estimator, the validation curve dashed
    assert a.lines_["train"].get_color() == a.lines_["validation"].get_color()
    assert a.lines_["train"].get_color() != b.lines_["train"].get_color()
    assert a.lines_["validation"].get_linestyle() == "--"


def test_training_curve_skips_rows_without_the_value():
    rows = [
        {"epoch": 1, "train_loss": 2.0},
        {"epoch": 2, "train_loss": 1.5, "valid_loss": 1.7},
        {"epoch": 3, "train_loss": 1.0},
        {"epoch": 4, "train_loss": 0.5, "valid_loss": 1.1},
    ]
    disp = TrainingCurveDisplay.from_history(rows)
    assert_array_equal(disp.curves["validation"], [np.nan, 1.7, np.nan, 1.1])
    assert_array_equal(disp.lines_["validation"].get_xdata(), [2, 4])
    assert_array_equal(disp.lines_["validation"].get_ydata(), [1.7, 1.1])
    assert _legend_texts(disp.ax_) == ["train", "validation"]


def test_training_curve_redraws_from_its_values(finetuned):
    disp = TrainingCurveDisplay.from_estimator(finetuned)
    again = TrainingCurveDisplay(disp.x, disp.curves, disp.xlabel, disp.ylabel).plot(
        name="again", color="k"
    )
    assert again.ax_ is not disp.ax_
    assert_array_equal(
        again.lines_["train"].get_ydata(), disp.lines_["train"].get_ydata()
    )
    assert to_rgba(again.lines_["validation"].get_color()) == to_rgba("k")


def test_training_curve_errors_name_the_fix(finetuned, centroids):
    with pytest.raises(ValueError, match=r"Keys available: \[.*'train_loss'"):
        TrainingCurveDisplay.from_estimator(finetuned, metric="f1")
    X, y, groups = make_sinusoids(n_tasks=20, n_samples=20, random_state=0)
    reg = MAMLRegressor(**SMALL, n_shot=5, n_query=5, max_iter=20).fit(
        X, y, groups=groups
    )
    with pytest.raises(ValueError, match=r"train_acc or valid_acc.*'train_loss'"):
        TrainingCurveDisplay.from_estimator(reg, metric="score")
    with pytest.raises(ValueError, match="empty: nothing was trained"):
        TrainingCurveDisplay.from_estimator(centroids)  # identity: no weights
    with pytest.raises(TypeError, match="LogisticRegression has none"):
        TrainingCurveDisplay.from_estimator(LogisticRegression())
    with pytest.raises(NotFittedError):
        TrainingCurveDisplay.from_estimator(ProtoNetClassifier())
    with pytest.raises(ValueError, match="has shape \\(2,\\) but x has shape \\(3,\\)"):
        TrainingCurveDisplay([1, 2, 3], {"train": [1.0, 0.5]}, "epoch", "loss").plot()


# -------------------------------------------------------------------- embedding
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
    assert_allclose(face[20:], np.tile(plotting._UNLABELLED, (20, 1)))
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


# -------------------------------------------------------------------- shot curve
def test_shot_curve_equals_evaluate_episodes(digits, centroids):
    X, y = digits
    Xn, yn = X[y >= 5], y[y >= 5]
    disp = ShotCurveDisplay.from_estimator(
        centroids,
        Xn,
        yn,
        n_shot=[1, 3],
        n_way=[2, 5],
        n_query=5,
        n_episodes=30,
        random_state=0,
    )
    assert_array_equal(disp.n_shot, [1, 3])
    assert_array_equal(disp.n_way, [2, 5])
    assert disp.mean.shape == disp.ci_low.shape == disp.ci_high.shape == (2, 2)
    for i, way in enumerate([2, 5]):
        for j, shot in enumerate([1, 3]):
            res = evaluate_episodes(
                centroids,
                Xn,
                yn,
                n_way=way,
                n_shot=shot,
                n_query=5,
                n_episodes=30,
                random_state=0,
            )
            assert_array_equal(disp.results[i][j].scores, res.scores)
            assert (disp.mean[i, j], disp.ci_low[i, j], disp.ci_high[i, j]) == (
                res.mean,
                res.ci_low,
                res.ci_high,
            )
        line, band = disp.lines_[i], disp.bands_[i]
        assert_array_equal(line.get_xdata(), [1, 3])
        assert_array_equal(line.get_ydata(), disp.mean[i])
        verts = band.get_paths()[0].vertices
        for j, shot in enumerate([1, 3]):
            at = verts[verts[:, 0] == shot, 1]
            assert_allclose(
                [at.min(), at.max()], [disp.ci_low[i, j], disp.ci_high[i, j]]
            )
        assert band.get_facecolor()[0][:3] == pytest.approx(
            to_rgba(line.get_color())[:3]
        )
    assert disp.ax_.get_xlabel() == "support examples per class (n_shot)"
    assert disp.ax_.get_ylabel() == "accuracy"
    assert _legend_texts(disp.ax_) == [
        "ProtoNetClassifier 2-way",
        "ProtoNetClassifier 5-way",
    ]


def test_shot_curves_overlay_and_pipeline(digits, centroids):
    X, y = digits
    Xn, yn = X[y >= 5], y[y >= 5]
    pipe = make_pipeline(StandardScaler(), ProtoNetClassifier(backbone="identity"))
    pipe.fit(X[y < 5], y[y < 5])
    _, ax = plt.subplots()
    kw = {"n_shot": 2, "n_way": 3, "n_query": 5, "n_episodes": 20, "random_state": 1}
    a = ShotCurveDisplay.from_estimator(centroids, Xn, yn, ax=ax, name="raw", **kw)
    b = ShotCurveDisplay.from_estimator(pipe, Xn, yn, ax=ax, name="scaled", **kw)
    assert a.mean.shape == (1, 1) and a.ax_ is b.ax_ is ax
    assert b.mean[0, 0] == evaluate_episodes(pipe, Xn, yn, **kw).mean
    assert _legend_texts(ax) == ["raw 3-way", "scaled 3-way"]
    assert len(ax.get_lines()) == 2 and len(ax.collections) == 2
    # a display redraws from its values alone; one n_way may be given 1-D
    again = ShotCurveDisplay([1, 2], 5, [0.6, 0.7], [0.5, 0.6], [0.7, 0.8]).plot()
    assert_array_equal(again.lines_[0].get_ydata(), [0.6, 0.7])
    assert _legend_texts(again.ax_) == ["5-way"]


def test_shot_curve_errors_name_the_fix(digits, centroids):
    X, y = digits
    with pytest.raises(ValueError, match="n_shot must be an int or a 1-D sequence"):
        ShotCurveDisplay.from_estimator(centroids, X, y, n_shot=[0, 1])
    with pytest.raises(ValueError, match="n_way must be an int"):
        ShotCurveDisplay.from_estimator(centroids, X, y, n_way=2.5)
    with pytest.raises(TypeError, match="adapt"):
        ShotCurveDisplay.from_estimator(LogisticRegression(), X, y, n_shot=1)
    with pytest.raises(ValueError, match="mean has shape \\(3,\\), but 2 n_way and 3"):
        ShotCurveDisplay(
            [1, 2, 5], [2, 5], [0.5, 0.6, 0.7], np.zeros((2, 3)), np.ones((2, 3))
        ).plot()


# ---------------------------------------------------------------------- episode
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
        rgb.reshape(4, -1)[:2], labels, rgb.reshape(4, -1)[2:], labels
    )
    assert_array_equal(as_rows.images, disp.images)
    with pytest.raises(ValueError, match="pass image_shape"):
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


# ------------------------------------------------------------- without matplotlib
def test_missing_matplotlib_says_how_to_install_it(monkeypatch, finetuned, digits):
    X, y = digits
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    # the module itself imports without matplotlib
    monkeypatch.delitem(sys.modules, "sklearn_meta.plotting")
    monkeypatch.setattr(sklearn_meta, "plotting", plotting)
    fresh = importlib.import_module("sklearn_meta.plotting")
    assert fresh is not plotting
    match = r'pip install "sklearn-meta\[plot\]"'
    with pytest.raises(ImportError, match=match):
        fresh.TrainingCurveDisplay.from_estimator(finetuned)
    with pytest.raises(
        ImportError, match="EmbeddingDisplay.from_embedding needs matplotlib"
    ):
        fresh.EmbeddingDisplay.from_embedding(X[:5], y[:5])
    with pytest.raises(ImportError, match=match):
        fresh.ShotCurveDisplay([1], [5], [0.5], [0.4], [0.6]).plot()
    with pytest.raises(ImportError, match=match):
        fresh.EpisodeDisplay.from_predictions(X[:2], y[:2], X[2:4], y[2:4])
