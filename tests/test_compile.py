"""``compile=True``: the feature extractor compiled in place, the model unchanged.

One tiny fit, marked ``compile`` (deselect with ``-m "not compile"``): the
first call waits for torch's compiler, a few seconds on a small MLP.
"""

import pickle
import shutil

import numpy as np
import pytest
import torch
from numpy.testing import assert_allclose, assert_array_equal
from sklearn.base import clone
from sklearn.datasets import load_digits

from sklearn_meta import ProtoNetClassifier
from sklearn_meta.backbones import MLPBackbone


def _why_not():
    """Why torch.compile cannot run here, or None."""
    if not hasattr(torch, "compile"):
        return "this torch has no torch.compile"
    if shutil.which("c++") is None and shutil.which("g++") is None:
        return "torch.compile's CPU backend needs a C++ compiler, and none is on PATH"
    return None


@pytest.mark.compile
@pytest.mark.skipif(_why_not() is not None, reason=str(_why_not()))
def test_compiled_fit_agrees_with_eager_and_saves_plain_names():
    X, y = load_digits(return_X_y=True)
    X = (X / 16.0).astype(np.float32)
    eager = ProtoNetClassifier(MLPBackbone(hidden=(16,)), n_way=5, n_shot=2, n_query=2,
                               max_iter=5, device="cpu", random_state=0).fit(X, y)
    compiled = clone(eager).set_params(compile=True).fit(X, y)
    assert compiled.module_.features._compiled_call_impl is not None
    # compiled kernels may round differently: the documented tolerance
    assert_allclose(compiled.predict_proba(X[:50]), eager.predict_proba(X[:50]), atol=1e-4)
    names = list(compiled.module_.state_dict())
    assert names == list(eager.module_.state_dict())
    assert not any("_orig_mod" in n for n in names)
    again = pickle.loads(pickle.dumps(compiled))
    assert_array_equal(again.predict_proba(X[:50]), compiled.predict_proba(X[:50]))
    # adapt's copy-on-write copies and feature extractors run eagerly, on their own weights
    novel = compiled.adapt(X[:20], y[:20])
    assert_array_equal(novel.predict(X[:20]), novel.predict(X[:20]))
    features = compiled.get_feature_extractor()
    assert_allclose(features(torch.from_numpy(X[:5])).detach().numpy(),
                    compiled.transform(X[:5]), atol=1e-5)
