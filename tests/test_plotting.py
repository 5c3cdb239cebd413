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
from sklearn_meta.plotting._embedding import _UNLABELLED

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


def test_training_curve_missing_metric_lists_only_curves(finetuned):
    with pytest.raises(ValueError) as info:
        TrainingCurveDisplay.from_estimator(finetuned, metric="f1")
    message = str(info.value)
    assert "which FineTuneClassifier's history_ lacks" in message  # not "fineTune..."
    available = message.split("Keys available: ")[1].split("]")[0]
    assert "'train_loss'" in available and "'valid_acc'" in available
    for bookkeeping in ("dur", "epoch", "batch", "_best", "epoch_data", "complete"):
        assert bookkeeping not in available
    rows = [{"iter": 100, "train_loss": 1.0, "train_loss_best": True, "dur": 0.1}]
    with pytest.raises(
        ValueError, match=r"the history lacks. Keys available: \['train_loss'\]"
    ):
        TrainingCurveDisplay.from_history(rows, metric="score")


def test_training_curve_history_values_and_frames():
    torch = pytest.importorskip("torch")
    pd = pytest.importorskip("pandas")
    rows = [
        {"epoch": 1, "train_loss": torch.tensor(2.0), "valid_loss": np.float32(2.5)},
        {"epoch": 2, "train_loss": torch.tensor(1.0), "valid_loss": np.array(1.5)},
    ]
    disp = TrainingCurveDisplay.from_history(rows)
    assert_array_equal(disp.curves["train"], [2.0, 1.0])
    assert_array_equal(disp.curves["validation"], [2.5, 1.5])
    frame = pd.DataFrame(
        [
            {"epoch": 1, "train_loss": 2.0},
            {"epoch": 2, "train_loss": 1.0, "valid_loss": 1.5},
        ]
    )
    disp = TrainingCurveDisplay.from_history(frame)
    assert_array_equal(disp.x, [1, 2])
    assert_array_equal(disp.lines_["validation"].get_xydata(), [[2, 1.5]])
    with pytest.raises(TypeError, match="list of dicts .* or a pandas DataFrame"):
        TrainingCurveDisplay.from_history({"epoch": [1, 2], "train_loss": [2.0, 1.0]})


def test_training_curve_without_values_is_skipped_with_a_warning():
    rows = [
        {"epoch": 1, "train_loss": 2.0, "valid_loss": np.nan},
        {"epoch": 2, "train_loss": 1.0, "valid_loss": np.nan},
    ]
    with pytest.warns(UserWarning, match="'validation' has no finite value"):
        disp = TrainingCurveDisplay.from_history(rows)
    assert list(disp.lines_) == ["train"]
    assert _legend_texts(disp.ax_) == ["train"]
    with pytest.warns(UserWarning), pytest.raises(ValueError, match="no curve to draw"):
        TrainingCurveDisplay(
            [1, 2], {"train": [np.nan, np.nan]}, "epoch", "loss"
        ).plot()


def test_training_curve_of_a_grid_search(digits):
    from sklearn.model_selection import GridSearchCV

    X, y = digits
    X, y = X[:300], y[:300]
    grid = {"lr": [1e-3]}
    search = GridSearchCV(FineTuneClassifier(**SMALL, max_epochs=2), grid, cv=2)
    disp = TrainingCurveDisplay.from_estimator(search.fit(X, y))
    assert_array_equal(
        disp.curves["train"], _column(search.best_estimator_.history_, "train_loss")
    )
    assert _legend_texts(disp.ax_) == ["FineTuneClassifier train"]
    no_refit = GridSearchCV(FineTuneClassifier(**SMALL, max_epochs=1), grid, cv=2)
    with pytest.raises(ValueError, match="refit=False.*best_estimator_"):
        TrainingCurveDisplay.from_estimator(no_refit.set_params(refit=False).fit(X, y))
    with pytest.raises(NotFittedError):
        TrainingCurveDisplay.from_estimator(GridSearchCV(FineTuneClassifier(), grid))


def test_training_curve_style_aliases_and_label():
    rows = [{"epoch": e, "train_loss": 1 / e, "valid_loss": 2 / e} for e in (1, 2, 3)]
    disp = TrainingCurveDisplay.from_history(rows, c="k", lw=3, ls=":", ms=5)
    for line in disp.lines_.values():  # the user's style wins over the defaults
        assert to_rgba(line.get_color()) == to_rgba("k")
        assert line.get_linewidth() == 3 and line.get_linestyle() == ":"
        assert line.get_markersize() == 5
    with pytest.raises(TypeError, match="aliases"):
        TrainingCurveDisplay.from_history(rows, c="k", color="r")
    # label= names the curves instead of labelling them all alike
    labelled = TrainingCurveDisplay.from_history(rows, label="mine")
    assert _legend_texts(labelled.ax_) == ["mine train", "mine validation"]
    again = labelled.plot(label="again")
    assert _legend_texts(again.ax_) == ["again train", "again validation"]
    with pytest.raises(ValueError, match="both name='a' and label='b'"):
        TrainingCurveDisplay.from_history(rows, name="a", label="b")


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
        line, band = disp.lines_[way], disp.bands_[way]
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
    assert list(again.lines_) == list(again.bands_) == [5]
    assert_array_equal(again.lines_[5].get_ydata(), [0.6, 0.7])
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


def test_shot_curve_draws_the_same_episodes_sorted(digits, centroids, monkeypatch):
    from sklearn_meta import model_selection

    X, y = digits
    Xn, yn = X[y >= 5], y[y >= 5]
    calls = []

    def recording(*args, **kwargs):
        calls.append((kwargs["n_way"], kwargs["n_shot"], kwargs["random_state"]))
        return evaluate_episodes(*args, **kwargs)

    monkeypatch.setattr(model_selection, "evaluate_episodes", recording)
    kw = {"n_query": 3, "n_episodes": 5, "random_state": None}
    disp = ShotCurveDisplay.from_estimator(
        centroids, Xn, yn, n_shot=[5, 1, 5, 2], n_way=[3, 2], **kw
    )
    assert_array_equal(disp.n_shot, [1, 2, 5])  # sorted, each once
    assert_array_equal(disp.n_way, [2, 3])
    assert_array_equal(disp.lines_[2].get_xdata(), [1, 2, 5])
    assert len(calls) == 6 and calls[0][:2] == (3, 5)  # the largest one first
    seeds = {seed for _, _, seed in calls}
    assert len(seeds) == 1 and isinstance(seeds.pop(), int)  # one seed for all
    # the largest episode fails first, before any other point is computed
    calls.clear()
    with pytest.raises(ValueError, match="n_shot"):
        ShotCurveDisplay.from_estimator(centroids, Xn, yn, n_shot=[1, 2, 500], **kw)
    assert len(calls) == 1


def test_shot_curve_plot_style(digits):
    disp = ShotCurveDisplay(
        [3, 1, 2],
        [5, 10],
        [[0.7, 0.5, 0.6], [0.6, 0.4, 0.5]],
        np.zeros((2, 3)),
        np.ones((2, 3)),
    )
    disp.plot(line_kw={"ls": "--", "c": "k"}, fill_between_kw={"alpha": 0.5, "fc": "r"})
    assert list(disp.lines_) == list(disp.bands_) == [5, 10]
    line = disp.lines_[5]
    assert_array_equal(line.get_xdata(), [1, 2, 3])  # left to right
    assert_array_equal(line.get_ydata(), [0.5, 0.6, 0.7])
    assert line.get_linestyle() == "--" and to_rgba(line.get_color()) == to_rgba("k")
    band = disp.bands_[10]
    assert band.get_alpha() == 0.5
    assert_allclose(band.get_facecolor()[0][:3], to_rgba("r")[:3])
    # keywords override line_kw; label= is the name
    again = disp.plot(line_kw={"color": "k"}, color="b", label="mine")
    assert to_rgba(again.lines_[10].get_color()) == to_rgba("b")
    assert _legend_texts(again.ax_) == ["mine 5-way", "mine 10-way"]


def test_shot_curve_refuses_regressors(digits):
    X, y = digits
    with pytest.raises(
        ValueError, match="classifiers only; MAMLRegressor is a regressor"
    ):
        ShotCurveDisplay.from_estimator(MAMLRegressor(), X, y)
    pipe = make_pipeline(StandardScaler(), MAMLRegressor())
    with pytest.raises(ValueError, match="classifiers only"):
        ShotCurveDisplay.from_estimator(pipe, X, y)


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


# ------------------------------------------------------------- without matplotlib
def test_missing_matplotlib_says_how_to_install_it(monkeypatch, finetuned, digits):
    X, y = digits
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    # the package and its modules import without matplotlib
    for module in [m for m in sys.modules if m.startswith("sklearn_meta.plotting")]:
        monkeypatch.delitem(sys.modules, module)
    monkeypatch.setattr(sklearn_meta, "plotting", plotting)
    fresh = importlib.import_module("sklearn_meta.plotting")
    assert fresh is not plotting
    assert fresh.EmbeddingDisplay is not EmbeddingDisplay  # imported afresh
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
