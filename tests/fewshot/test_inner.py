"""The inner loop's zero head skips the support's first embedding, with the same results."""

import pytest
import torch

from sklearn_meta.backbones import Conv4Backbone
from sklearn_meta.fewshot._inner import ClassifierTasks, map_tasks


@pytest.mark.parametrize("vectorize", [False, True])
def test_zero_head_without_support_embedding_gives_the_same_meta_gradient(vectorize):
    torch.manual_seed(0)
    features = Conv4Backbone(channels=4, n_blocks=2, norm="instance").build((1, 8, 8)).double()
    meta = dict(features.named_parameters())
    lrs = {k: 0.4 for k in (*meta, "head.weight", "head.bias")}
    xs, xq = torch.randn(2, 6, 1, 8, 8, dtype=torch.double), torch.randn(2, 9, 1, 8, 8,
                                                                         dtype=torch.double)
    ys, yq = torch.tensor([[0, 1, 2] * 2] * 2), torch.tensor([[0, 1, 2] * 3] * 2)
    results = []
    for n_features in (None, 16):  # None: the support is embedded to shape the head
        engine = ClassifierTasks(features, {}, head="zero", head_only=False,
                                 n_features=n_features)

        def one(a, b, c, d, engine=engine):
            loss, logits = engine.query_loss(meta, lrs, a, b, c, d, 3, 2, first_order=False)
            return loss, logits

        loss, logits = map_tasks(one, xs, ys, xq, yq, vectorize=vectorize)
        grads = torch.autograd.grad(loss.mean(), list(meta.values()))
        results.append((loss, logits, grads))
    (loss0, logits0, g0), (loss1, logits1, g1) = results
    assert float(loss0.detach().mean()) > 0 and torch.isfinite(logits0).all()
    torch.testing.assert_close(loss1, loss0, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(logits1, logits0, rtol=1e-12, atol=1e-12)
    for a, b in zip(g1, g0):
        assert float(b.abs().max()) > 0
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
