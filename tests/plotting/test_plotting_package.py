"""sklearn_meta.plotting: its public names, and matplotlib as an optional extra."""

import importlib
import sys

import pytest

import sklearn_meta
from sklearn_meta import plotting
from sklearn_meta.plotting import EmbeddingDisplay


def test_public_names():
    assert plotting.__all__ == [
        "EmbeddingDisplay",
        "EpisodeDisplay",
        "ShotCurveDisplay",
        "TrainingCurveDisplay",
    ]
    assert {name for name in vars(plotting) if not name.startswith("_")} == set(
        plotting.__all__
    )
    for name in plotting.__all__:
        assert getattr(plotting, name).__name__ == name


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
