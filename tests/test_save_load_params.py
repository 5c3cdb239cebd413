"""save_params / load_params round-trips what predicts, for every estimator.

Parameters saved outside a fit hold the network's state dict and what the
model derived from it (prototypes, adapted parameters): loaded into a twin
fitted on other data of the same shape and classes, with another seed, they
make it predict exactly as the saved model did. The file loads with
``torch.load(weights_only=True)``; a plain state dict still loads; saving
never computes what the model has not; loading into an unfitted estimator
says that it is not fitted.
"""

import functools
import warnings

import numpy as np
import pytest
import torch
from numpy.testing import assert_array_equal
from sklearn.exceptions import NotFittedError
from skorch.callbacks import Checkpoint

from sklearn_meta import (
    DomainAdaptedClassifier,
    FineTuneClassifier,
    MAMLClassifier,
    MAMLRegressor,
    ProtoNetClassifier,
    ReptileClassifier,
)
from sklearn_meta.backbones import MLPBackbone

PREFIX = "sklearn_meta:"


@functools.cache
def _digits():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X, y = (X / 16.0).astype(np.float32), y
    keep = y < 5
    return X[keep], y[keep]


@functools.cache
def _shift():
    from sklearn_meta.datasets import make_digits_shift

    Xs, ys, Xt, _ = make_digits_shift(random_state=0)
    return np.concatenate([Xs, Xt]), np.concatenate([ys, np.full(len(Xt), -1)])


@functools.cache
def _sinusoids():
    from sklearn_meta.datasets import make_sinusoids

    X, y, groups = make_sinusoids(n_tasks=60, n_samples=20, random_state=0)
    return X.astype(np.float32), y.astype(np.float32), groups


def _rows(n, part):
    """Two different subsets of the rows (every class keeps rows in both)."""
    return np.arange(n) if part == 0 else np.arange(n)[np.arange(n) % 3 != 0]


def _episodic(cls, **kw):
    def make(seed):
        return cls(backbone=MLPBackbone(hidden=(32,)), n_way=3, n_shot=2, n_query=2,
                   max_iter=30, device="cpu", random_state=seed, **kw)
    return make


CASES = {
    "protonet": (_episodic(ProtoNetClassifier), "classes"),
    "maml": (_episodic(MAMLClassifier, meta_batch_size=2), "classes"),
    "reptile": (_episodic(ReptileClassifier), "classes"),
    "maml_regressor": (
        lambda seed: MAMLRegressor(backbone=MLPBackbone(hidden=(32,)), n_shot=5, n_query=5,
                                   meta_batch_size=4, max_iter=30, device="cpu",
                                   random_state=seed),
        "tasks",
    ),
    "finetune": (
        lambda seed: FineTuneClassifier(backbone=MLPBackbone(hidden=(32,)), max_epochs=2,
                                        device="cpu", random_state=seed),
        "classes",
    ),
    "domain_adapted": (
        lambda seed: DomainAdaptedClassifier(backbone=MLPBackbone(hidden=(32,)), method="mmd",
                                             max_epochs=2, device="cpu", random_state=seed),
        "shift",
    ),
}


def _fit(name, est, part=0):
    kind = CASES[name][1]
    if kind == "tasks":
        X, y, groups = _sinusoids()
        rows = _rows(len(y), part)
        return est.fit(X[rows], y[rows], groups=groups[rows])
    X, y = _shift() if kind == "shift" else _digits()
    rows = _rows(len(y), part)
    return est.fit(X[rows], y[rows])


def _out(name, est):
    if CASES[name][1] == "tasks":
        return est.predict(_sinusoids()[0])
    X = _shift()[0] if CASES[name][1] == "shift" else _digits()[0]
    return est.predict_proba(X)


@pytest.mark.parametrize("name", sorted(CASES))
def test_loaded_twin_predicts_as_the_saved_model(name, tmp_path):
    make = CASES[name][0]
    saved = _fit(name, make(0))
    expected = _out(name, saved)  # predicting adapts the MAML family's head
    saved.save_params(f_params=tmp_path / "params.pt")
    # what f_params holds is tensors, read without unpickling code
    state = torch.load(tmp_path / "params.pt", weights_only=True)
    assert all(isinstance(v, torch.Tensor) for v in state.values())
    derived = {k for k in state if k.startswith(PREFIX)}
    if name in ("finetune", "domain_adapted"):
        assert not derived  # their network is all that predicts
    else:
        assert derived

    twin = _fit(name, make(1), part=1)  # other data, of the same shape and classes
    assert not np.array_equal(_out(name, twin), expected)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # nothing stale is left to warn about
        twin.load_params(f_params=tmp_path / "params.pt")
    assert_array_equal(_out(name, twin), expected)
    for key, value in saved.module_.state_dict().items():
        assert torch.equal(twin.module_.state_dict()[key], value), key


@pytest.mark.parametrize("name", sorted(CASES))
def test_a_plain_state_dict_still_loads(name, tmp_path):
    make = CASES[name][0]
    saved = _fit(name, make(0))
    torch.save(saved.module_.state_dict(), tmp_path / "net.pt")
    twin = _fit(name, make(1), part=1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # what the old network derived may be stale
        twin.load_params(f_params=tmp_path / "net.pt")
    for key, value in saved.module_.state_dict().items():
        assert torch.equal(twin.module_.state_dict()[key], value), key


@pytest.mark.parametrize("name", sorted(CASES))
def test_loading_into_an_unfitted_estimator_says_so(name, tmp_path):
    make = CASES[name][0]
    _fit(name, make(0)).save_params(f_params=tmp_path / "params.pt")
    with pytest.raises(NotFittedError, match="is not fitted"):
        make(0).load_params(f_params=tmp_path / "params.pt")


@pytest.mark.parametrize("name", ["protonet", "maml", "maml_regressor"])
def test_derived_state_that_does_not_fit_changes_nothing(name, tmp_path):
    make = CASES[name][0]
    saved = _fit(name, make(0))
    _out(name, saved)
    saved.save_params(f_params=tmp_path / "params.pt")
    state = torch.load(tmp_path / "params.pt", weights_only=True)
    key = next(k for k in state if k.startswith(PREFIX) and state[k].dim() >= 1
               and state[k].dtype.is_floating_point)
    state[key] = torch.cat([state[key], state[key][:1]])  # one row too many
    torch.save(state, tmp_path / "bad.pt")
    twin = _fit(name, make(1), part=1)
    before = _out(name, twin)
    net = {k: v.clone() for k, v in twin.module_.state_dict().items()}
    with pytest.raises(ValueError, match="do not fit"):
        twin.load_params(f_params=tmp_path / "bad.pt")
    assert_array_equal(_out(name, twin), before)
    for k, v in net.items():
        assert torch.equal(twin.module_.state_dict()[k], v), k


@pytest.mark.parametrize("name", ["maml", "reptile"])
def test_saving_never_adapts_the_head(name, tmp_path):
    """An unadapted head stays so: the file says what it would adapt to."""
    make = CASES[name][0]
    saved = _fit(name, make(0))
    saved.save_params(f_params=tmp_path / "params.pt")
    assert not saved._head.built
    # a twin fitted on the same data adapts its own head from the loaded
    # network to the same model, silently
    same = _fit(name, make(1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        same.load_params(f_params=tmp_path / "params.pt")
    assert_array_equal(_out(name, same), _out(name, saved))
    # on other data it cannot: it says so
    other = _fit(name, make(1), part=1)
    with pytest.warns(UserWarning, match="had not adapted its head"):
        other.load_params(f_params=tmp_path / "params.pt")


@pytest.mark.parametrize("name", ["protonet", "maml"])
def test_a_checkpoint_during_a_fit_holds_the_network_alone(name, tmp_path):
    make = CASES[name][0]
    cp = Checkpoint(monitor=None, dirname=str(tmp_path), f_optimizer=None,
                    f_history=None, f_criterion=None)
    est = make(0).set_params(max_iter=200, callbacks=[cp])
    _fit(name, est)
    state = torch.load(tmp_path / "params.pt", weights_only=True)
    assert not any(k.startswith(PREFIX) for k in state)
    assert set(state) == set(est.module_.state_dict())


def test_safetensors_round_trip(tmp_path):
    pytest.importorskip("safetensors")
    make = CASES["maml"][0]
    saved = _fit("maml", make(0)).build_head()
    saved.save_params(f_params=tmp_path / "params.safetensors", use_safetensors=True)
    twin = _fit("maml", make(1), part=1)
    twin.load_params(f_params=tmp_path / "params.safetensors", use_safetensors=True)
    assert_array_equal(_out("maml", twin), _out("maml", saved))
