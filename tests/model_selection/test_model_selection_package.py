"""The public face of sklearn_meta.model_selection, kept across its reorganisation."""

import pickle

import numpy as np
import pytest
from sklearn.datasets import load_digits
from sklearn.metrics import f1_score

from sklearn_meta import ProtoNetClassifier, model_selection
from sklearn_meta.model_selection import make_da_scorer, make_episodic_scorer

PUBLIC = [
    "ClassDisjointKFold",
    "DomainShuffleSplit",
    "evaluate_episodes",
    "make_da_scorer",
    "make_episodic_scorer",
]


def test_public_names():
    assert sorted(model_selection.__all__) == PUBLIC
    for name in PUBLIC:
        obj = getattr(model_selection, name)
        assert obj.__module__.startswith("sklearn_meta.model_selection")
        assert obj.__doc__


def as_single_module_pickle(obj):
    """A protocol-0 pickle of ``obj`` naming its class as the single module did."""
    data = pickle.dumps(obj, protocol=0)
    # protocol 0 names a class as the GLOBAL opcode "c", its module, a newline
    where = b"c" + type(obj).__module__.encode() + b"\n"
    assert data.count(where) == 1
    return data.replace(where, b"csklearn_meta.model_selection\n")


@pytest.mark.parametrize(
    "scorer",
    [
        make_episodic_scorer(f1_score, n_way=3, n_episodes=5, average="macro"),
        make_da_scorer("iwv", random_state=3),
    ],
    ids=repr,
)
def test_scorers_pickled_by_the_single_module_still_load(scorer):
    old = as_single_module_pickle(scorer)
    assert b"csklearn_meta.model_selection\n" in old
    loaded = pickle.loads(old)
    assert type(loaded) is type(scorer)
    assert repr(loaded) == repr(scorer)
    assert vars(loaded).keys() == vars(scorer).keys()


def test_an_old_episodic_scorer_scores_as_a_new_one():
    X, y = load_digits(return_X_y=True)
    clf = ProtoNetClassifier(backbone="identity", device="cpu").fit(X[y < 5], y[y < 5])
    scorer = make_episodic_scorer(n_way=3, n_query=3, n_episodes=10)
    loaded = pickle.loads(as_single_module_pickle(scorer))
    assert loaded(clf, X[y >= 5], y[y >= 5]) == scorer(clf, X[y >= 5], y[y >= 5])
    assert np.isfinite(loaded(clf, X[y >= 5], y[y >= 5]))
