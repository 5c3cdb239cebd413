"""TrainingCurveDisplay draws exactly the history it is given."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_meta import FineTuneClassifier, MAMLRegressor, ProtoNetClassifier
from sklearn_meta.backbones import MLPBackbone
from sklearn_meta.datasets import make_sinusoids
from sklearn_meta.plotting import TrainingCurveDisplay

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt
from matplotlib.colors import to_rgba

SMALL = {"backbone": MLPBackbone(hidden=(16,)), "device": "cpu", "random_state": 0}


def _column(history, key):
    return np.array([row[key] for row in history], dtype=float)


def _legend_texts(ax):
    return [t.get_text() for t in ax.get_legend().get_texts()]


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
