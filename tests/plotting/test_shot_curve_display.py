"""ShotCurveDisplay draws exactly the scores of evaluate_episodes."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_meta import MAMLRegressor, ProtoNetClassifier
from sklearn_meta.model_selection import evaluate_episodes
from sklearn_meta.plotting import ShotCurveDisplay

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.colors import to_rgba


def _legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


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
