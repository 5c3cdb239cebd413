"""Model selection and plots take image files and PIL images as the estimators do."""

import numpy as np
import pytest
from PIL import Image
from sklearn.datasets import load_digits
from sklearn.model_selection import GridSearchCV

from sklearn_meta import ProtoNetClassifier
from sklearn_meta.backbones import MLPBackbone
from sklearn_meta.model_selection import (
    ClassDisjointKFold,
    evaluate_episodes,
    make_episodic_scorer,
)


@pytest.fixture(scope="module")
def digit_files(tmp_path_factory):
    X, y = load_digits(return_X_y=True)
    images = np.round(X[:240] * (255 / 16)).astype(np.uint8).reshape(-1, 8, 8)
    folder = tmp_path_factory.mktemp("digits")
    paths = []
    for i, img in enumerate(images):
        Image.fromarray(img).save(folder / f"{i}.png")
        paths.append(str(folder / f"{i}.png"))
    return images, np.array(paths), y[:240]


def _protonet(**kw):
    return ProtoNetClassifier(
        backbone=MLPBackbone(hidden=(16,)), n_way=3, max_iter=5, device="cpu",
        random_state=0, **kw,
    )


def test_episodes_score_files_pil_images_and_arrays_alike(digit_files):
    images, paths, y = digit_files
    clf = _protonet().fit(paths[:120], y[:120])
    scores = [
        evaluate_episodes(clf, X, y, n_way=3, n_shot=1, n_episodes=8, random_state=0).scores
        for X in (images, paths, list(paths), [Image.open(p) for p in paths])
    ]
    for s in scores[1:]:
        np.testing.assert_array_equal(s, scores[0])


def test_a_search_indexes_an_array_of_paths(digit_files):
    images, paths, y = digit_files
    scorer = make_episodic_scorer(n_way=3, n_shot=1, n_episodes=5)
    kw = dict(cv=ClassDisjointKFold(2), scoring=scorer)
    on_paths = GridSearchCV(_protonet(), {"n_shot": [1, 2]}, **kw).fit(paths, y)
    on_arrays = GridSearchCV(_protonet(), {"n_shot": [1, 2]}, **kw).fit(images, y)
    np.testing.assert_array_equal(
        on_paths.cv_results_["mean_test_score"], on_arrays.cv_results_["mean_test_score"]
    )


def test_plots_draw_image_files(digit_files):
    pytest.importorskip("matplotlib").use("Agg")
    from sklearn_meta.plotting import EmbeddingDisplay, EpisodeDisplay

    images, paths, y = digit_files
    clf = _protonet().fit(paths, y)
    disp = EpisodeDisplay.from_estimator(clf, paths[:6], y[:6], list(paths[6:12]), y[6:12])
    from_arrays = EpisodeDisplay.from_estimator(clf, images[:6], y[:6], images[6:12], y[6:12])
    np.testing.assert_array_equal(disp.y_pred, from_arrays.y_pred)
    EmbeddingDisplay.from_estimator(clf, paths, y)


def test_episodes_index_a_series_of_paths_by_position(digit_files):
    import pandas as pd

    images, paths, y = digit_files
    clf = _protonet().fit(images[:120], y[:120])
    shuffled = pd.Series(paths, index=np.arange(len(paths))[::-1])  # labels != positions
    expected = evaluate_episodes(clf, images, y, n_way=3, n_shot=1, n_episodes=5,
                                 random_state=0).scores
    got = evaluate_episodes(clf, shuffled, y, n_way=3, n_shot=1, n_episodes=5,
                            random_state=0).scores
    np.testing.assert_array_equal(got, expected)
