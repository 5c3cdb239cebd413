"""Models saved by an earlier release load and predict exactly as they did.

``fixtures/`` holds small fitted estimators written by
``fixtures/make_fixtures.py`` with the code of commit f422630 (see that
script): a pickle and a skops file of each, and an ``.npz`` with the rows to
predict on and what that code predicted. Loading them with today's code must
give the same outputs bit for bit, and the loaded models must train on
(``partial_fit``) and adapt as they did.

Regenerate only when a change of saved behaviour is intended, and say so.
"""

import pickle
from pathlib import Path

import numpy as np
import pytest
from numpy.testing import assert_array_equal

FIXTURES = Path(__file__).parent / "fixtures"

#: what the skops files name beyond skops' trusted types, as a careful user
#: checks them before trusting them
EXPECTED_UNTRUSTED = {
    "protonet": ["sklearn_meta.backbones.MLPBackbone",
                 "sklearn_meta.fewshot._protonet.ProtoNetClassifier"],
    "protonet_conv4": ["sklearn_meta.backbones.Conv4Backbone",
                       "sklearn_meta.fewshot._protonet.ProtoNetClassifier"],
    "maml": ["sklearn_meta.backbones.MLPBackbone", "sklearn_meta.fewshot._maml.MAMLClassifier"],
    "reptile": ["sklearn_meta.backbones.MLPBackbone",
                "sklearn_meta.fewshot._reptile.ReptileClassifier"],
    "maml_regressor": ["sklearn_meta.backbones.MLPBackbone",
                       "sklearn_meta.fewshot._maml_regressor.MAMLRegressor"],
    "finetune": ["sklearn_meta.backbones.MLPBackbone",
                 "sklearn_meta.transfer._finetune.FineTuneClassifier"],
    "finetune_conv4": ["sklearn_meta.backbones.Conv4Backbone",
                       "sklearn_meta.transfer._finetune.FineTuneClassifier"],
    "domain_adapted": ["sklearn_meta.backbones.MLPBackbone",
                       "sklearn_meta.transfer._domain.DomainAdaptedClassifier"],
}
NAMES = sorted(EXPECTED_UNTRUSTED)


@pytest.fixture(scope="module")
def sio():
    return pytest.importorskip("skops.io")


def _expected(name):
    with np.load(FIXTURES / f"{name}.npz", allow_pickle=False) as npz:
        return dict(npz)


def _load(name, how, sio):
    path = FIXTURES / f"{name}.{'pkl' if how == 'pickle' else 'skops'}"
    if how == "pickle":
        return pickle.loads(path.read_bytes())
    untrusted = sio.get_untrusted_types(file=path)
    assert sorted(untrusted) == sorted(EXPECTED_UNTRUSTED[name])
    return sio.load(path, trusted=untrusted)


def _check_outputs(est, X, expected, prefix=""):
    predicted = est.predict(X)
    want = expected[f"{prefix}predict"]
    if want.dtype.kind == "U":  # string labels, saved as unicode
        predicted = predicted.astype(str)
    assert_array_equal(predicted, want)
    if f"{prefix}predict_proba" in expected:
        assert_array_equal(est.predict_proba(X), expected[f"{prefix}predict_proba"])


def test_every_fixture_is_there_and_small():
    for name in NAMES:
        for suffix in ("pkl", "skops", "npz"):
            path = FIXTURES / f"{name}.{suffix}"
            assert path.stat().st_size < 200_000, path


@pytest.mark.parametrize("how", ["pickle", "skops"])
@pytest.mark.parametrize("name", NAMES)
def test_saved_model_predicts_as_when_it_was_saved(name, how, sio):
    expected = _expected(name)
    est = _load(name, how, sio)
    assert est.n_iter_ == int(expected["n_iter"])
    _check_outputs(est, expected["X_predict"], expected)


@pytest.mark.parametrize("how", ["pickle", "skops"])
@pytest.mark.parametrize("name", NAMES)
def test_saved_model_trains_on_and_adapts_as_it_did(name, how, sio):
    expected = _expected(name)
    est = _load(name, how, sio)
    if "X_support" in expected:
        adapted = est.adapt(expected["X_support"], expected["y_support"])
        _check_outputs(adapted, expected["X_query"], expected, prefix="adapted_")
        # adapting changed nothing in the loaded model
        _check_outputs(est, expected["X_predict"], expected)
    extra = {"groups": expected["groups_partial"]} if "groups_partial" in expected else {}
    y_partial = expected["y_partial"]
    if y_partial.dtype.kind == "U":
        y_partial = y_partial.astype(object)
    est.partial_fit(expected["X_partial"], y_partial, **extra)
    assert est.n_iter_ == int(expected["partial_fit_n_iter"])
    _check_outputs(est, expected["X_predict"], expected, prefix="partial_fit_")
