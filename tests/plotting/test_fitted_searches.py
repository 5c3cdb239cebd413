"""A fitted GridSearchCV / RandomizedSearchCV is accepted wherever a fitted model is.

The displays and the episodic scoring functions use its ``best_estimator_``;
an unfitted search, or one fitted with ``refit=False``, gets an error that
names ``.best_estimator_`` and ``refit=True``.
"""

import numpy as np
import pytest
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GridSearchCV, RandomizedSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_meta import ProtoNetClassifier
from sklearn_meta.model_selection import (
    ClassDisjointKFold,
    evaluate_episodes,
    make_episodic_scorer,
)
from sklearn_meta.plotting import (
    EmbeddingDisplay,
    EpisodeDisplay,
    ShotCurveDisplay,
    TrainingCurveDisplay,
)

EPISODES = dict(n_way=3, n_shot=1, n_query=5, n_episodes=20, random_state=0)


def _model():
    return ProtoNetClassifier(backbone="identity", device="cpu")


@pytest.fixture(scope="module")
def data(digits):
    X, y = digits
    return X[y < 6], y[y < 6], X[y >= 6], y[y >= 6]


@pytest.fixture(scope="module", params=["grid", "randomized", "pipeline"])
def search(request, data):
    X, y, _, _ = data
    scoring = make_episodic_scorer(**{**EPISODES, "n_episodes": 10})
    cv = ClassDisjointKFold(2)
    if request.param == "grid":
        search = GridSearchCV(_model(), {"n_way": [2, 3]}, cv=cv, scoring=scoring)
    elif request.param == "randomized":
        search = RandomizedSearchCV(
            _model(), {"n_way": [2, 3]}, n_iter=2, cv=cv, scoring=scoring, random_state=0
        )
    else:
        pipe = make_pipeline(StandardScaler(), _model())
        search = GridSearchCV(pipe, {"protonetclassifier__n_way": [2, 3]}, cv=cv,
                              scoring=scoring)
    return search.fit(X, y)


def test_scoring_a_search_scores_its_best_estimator(search, data):
    _, _, X_new, y_new = data
    by_search = evaluate_episodes(search, X_new, y_new, **EPISODES)
    by_best = evaluate_episodes(search.best_estimator_, X_new, y_new, **EPISODES)
    assert_array_equal(by_search.scores, by_best.scores)
    scorer = make_episodic_scorer(**EPISODES)
    assert scorer(search, X_new, y_new) == scorer(search.best_estimator_, X_new, y_new)


def test_displays_draw_the_best_estimator_of_a_search(search, data):
    X, y, X_new, y_new = data
    best = search.best_estimator_
    shots = dict(n_shot=(1, 2), n_way=3, n_query=5, n_episodes=10, random_state=0)
    disp = ShotCurveDisplay.from_estimator(search, X_new, y_new, **shots)
    ref = ShotCurveDisplay.from_estimator(best, X_new, y_new, **shots)
    assert_array_equal(disp.mean, ref.mean)
    assert disp.name == "ProtoNetClassifier"
    support = np.concatenate([np.flatnonzero(y_new == c)[:1] for c in (6, 7, 8)])
    query = np.concatenate([np.flatnonzero(y_new == c)[1:3] for c in (6, 7, 8)])
    args = (X_new[support], y_new[support], X_new[query], y_new[query])
    disp = EpisodeDisplay.from_estimator(search, *args)
    assert_array_equal(disp.y_pred, EpisodeDisplay.from_estimator(best, *args).y_pred)
    disp = EmbeddingDisplay.from_estimator(search, X[:50], y[:50])
    assert disp.embedding.shape == (50, 2)
    with pytest.raises(ValueError, match="history_ is empty"):  # identity: nothing trained
        TrainingCurveDisplay.from_estimator(search)


def _calls(X, y):
    shots = dict(n_shot=1, n_way=3, n_query=5, n_episodes=5, random_state=0)
    return {
        "evaluate_episodes": lambda s: evaluate_episodes(s, X, y, **EPISODES),
        "make_episodic_scorer": lambda s: make_episodic_scorer(**EPISODES)(s, X, y),
        "ShotCurveDisplay": lambda s: ShotCurveDisplay.from_estimator(s, X, y, **shots),
        "EpisodeDisplay": lambda s: EpisodeDisplay.from_estimator(s, X[:3], y[:3], X[3:6]),
        "EmbeddingDisplay": lambda s: EmbeddingDisplay.from_estimator(s, X, y),
        "TrainingCurveDisplay": lambda s: TrainingCurveDisplay.from_estimator(s),
    }


@pytest.mark.parametrize(
    "name",
    ["evaluate_episodes", "make_episodic_scorer", "ShotCurveDisplay", "EpisodeDisplay",
     "EmbeddingDisplay", "TrainingCurveDisplay"],
)
def test_an_unfitted_or_refit_false_search_names_best_estimator(name, data):
    X, y, X_new, y_new = data
    call = _calls(X_new, y_new)[name]
    unfitted = GridSearchCV(_model(), {"n_way": [2, 3]}, cv=ClassDisjointKFold(2))
    with pytest.raises(NotFittedError, match=r"not fitted.*refit=True.*\.best_estimator_"):
        call(unfitted)
    no_refit = GridSearchCV(
        _model(), {"n_way": [2, 3]}, cv=ClassDisjointKFold(2), refit=False,
        scoring=make_episodic_scorer(**{**EPISODES, "n_episodes": 5}),
    ).fit(X, y)
    with pytest.raises(ValueError, match=r"refit=False.*refit=True.*\.best_estimator_"):
        call(no_refit)
