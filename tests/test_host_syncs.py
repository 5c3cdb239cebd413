"""The hot training loop never reads a tensor back to the host per update.

Every way Python code turns a tensor into a host value (``item``,
``tolist``, ``bool``/``float``/``int``/``index``, ``cpu``, ``numpy`` and
numpy's ``__array__``) is counted during fits of k and of 2k updates on the
CPU path: the counts must be equal. The training loop reads its metrics back
once per epoch (a block of 100 meta-updates, or an epoch of minibatches), so
within one epoch the count does not depend on the number of updates.

Not counted: reads made by ``torch.optim`` itself (Adam's bias correction
reads its step counters, which torch keeps in host memory unless the
optimiser is fused or capturable, so they cost no device synchronisation).
"""

import contextlib
import sys
from collections import Counter

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from sklearn_meta import DomainAdaptedClassifier, MAMLClassifier, ProtoNetClassifier
from sklearn_meta.backbones import MLPBackbone

_READS = ("item", "tolist", "__bool__", "__float__", "__int__", "__index__", "cpu", "numpy",
          "__array__")


@contextlib.contextmanager
def _count_reads(monkeypatch):
    counts = Counter()
    for name in _READS:
        original = getattr(torch.Tensor, name)

        def counted(self, *args, _name=name, _original=original, **kwargs):
            caller = sys._getframe(1).f_globals.get("__name__", "")
            if not caller.startswith("torch.optim"):
                counts[_name] += 1
            return _original(self, *args, **kwargs)

        monkeypatch.setattr(torch.Tensor, name, counted)
    try:
        yield counts
    finally:
        monkeypatch.undo()


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float32), y


def _fits(monkeypatch, make, fit, sizes):
    out = []
    for size in sizes:
        est = make(size)
        with _count_reads(monkeypatch) as counts:
            fit(est)
        out.append(counts)
    return out


@pytest.mark.parametrize("precision", ["float32", "bf16"])
@pytest.mark.parametrize("cls", [ProtoNetClassifier, MAMLClassifier])
def test_episodic_fit_reads_back_the_same_for_k_and_2k_updates(cls, precision, digits,
                                                               monkeypatch):
    X, y = digits

    def make(k):
        return cls(MLPBackbone(hidden=(16,)), n_way=5, n_shot=2, n_query=2, max_iter=k,
                   meta_batch_size=2, early_stopping=False, precision=precision, device="cpu",
                   random_state=0)

    few, many = _fits(monkeypatch, make, lambda est: est.fit(X, y), (15, 30))
    assert many == few, (few, many)


@pytest.mark.parametrize("precision", ["float32", "bf16"])
def test_domain_adapted_fit_reads_back_the_same_for_k_and_2k_minibatches(precision, digits,
                                                                         monkeypatch):
    X, y = digits
    y = y.copy()
    y[1000:] = -1  # the unlabelled target rows

    def make(batch_size):
        # one epoch of k or 2k minibatch updates
        return DomainAdaptedClassifier(MLPBackbone(hidden=(16,)), method="cdan+e",
                                       domain_hidden=16, max_epochs=1, batch_size=batch_size,
                                       early_stopping=False, precision=precision, device="cpu",
                                       random_state=0)

    few, many = _fits(monkeypatch, make, lambda est: est.fit(X, y), (128, 64))
    assert many == few, (few, many)
