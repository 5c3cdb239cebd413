"""Fitted models and figure clean-up shared by the tests of sklearn_meta.plotting.

The fixtures of ``tests/conftest.py`` (``digits``, one torch thread) apply here
too.
"""

import sys

import pytest

from sklearn_meta import FineTuneClassifier, ProtoNetClassifier
from sklearn_meta.backbones import MLPBackbone

SMALL = {"backbone": MLPBackbone(hidden=(16,)), "device": "cpu", "random_state": 0}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    pyplot = sys.modules.get("matplotlib.pyplot")  # None once blocked by a test
    if pyplot is not None:
        pyplot.close("all")


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
