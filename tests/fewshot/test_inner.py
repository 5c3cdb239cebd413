"""Shortcuts of the inner loop with a zero head give the plain loop's results."""

import pytest
import torch
import torch.nn.functional as F

from sklearn_meta.backbones import Conv4Backbone
from sklearn_meta.fewshot._inner import ClassifierTasks, gradient_steps, map_tasks


def _problem():
    torch.manual_seed(0)
    features = Conv4Backbone(channels=4, n_blocks=2, norm="instance").build((1, 8, 8)).double()
    meta = dict(features.named_parameters())
    xs, xq = torch.randn(2, 6, 1, 8, 8, dtype=torch.double), torch.randn(2, 9, 1, 8, 8,
                                                                         dtype=torch.double)
    ys, yq = torch.tensor([[0, 1, 2] * 2] * 2), torch.tensor([[0, 1, 2] * 3] * 2)
    return features, meta, (xs, ys, xq, yq)


def _meta_gradient(one, meta, data, vectorize):
    loss, logits = map_tasks(one, *data, vectorize=vectorize)
    grads = torch.autograd.grad(loss.mean(), list(meta.values()), allow_unused=True)
    return loss, logits, grads


def _assert_same(result, reference):
    (loss1, logits1, g1), (loss0, logits0, g0) = result, reference
    assert float(loss0.detach().mean()) > 0 and torch.isfinite(logits0).all()
    torch.testing.assert_close(loss1, loss0, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(logits1, logits0, rtol=1e-12, atol=1e-12)
    for a, b in zip(g1, g0):
        assert b is not None and float(b.abs().max()) > 0
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("vectorize", [False, True])
def test_zero_head_without_support_embedding_gives_the_same_meta_gradient(vectorize):
    # two backtracking steps: the first step is not taken on the head alone, and
    # with n_features the zero head is made without embedding the support
    features, meta, data = _problem()
    lrs = {k: 0.4 for k in (*meta, "head.weight", "head.bias")}
    results = []
    for n_features in (None, 16):  # None: the support is embedded to shape the head
        engine = ClassifierTasks(features, {}, head="zero", head_only=False,
                                 n_features=n_features, backtrack=True)
        assert not engine._head_moves_first(meta, lrs, 2)

        def one(a, b, c, d, engine=engine):
            return engine.query_loss(meta, lrs, a, b, c, d, 3, 2, first_order=False)

        results.append(_meta_gradient(one, meta, data, vectorize))
    _assert_same(results[1], results[0])


@pytest.mark.parametrize("vectorize", [False, True])
@pytest.mark.parametrize("first_order", [False, True])
@pytest.mark.parametrize(("n_steps", "backtrack"), [(1, False), (2, False), (3, False),
                                                    (1, True)])
def test_zero_head_first_step_on_the_head_alone_is_the_plain_loop(
    vectorize, first_order, n_steps, backtrack
):
    # With a zero head the first step's gradient is zero for every feature
    # parameter: the loop takes that step on the support embedding alone. The
    # reference runs every step on every parameter from the zero head.
    features, meta, data = _problem()
    lrs = {k: 0.4 for k in (*meta, "head.weight", "head.bias")}
    engine = ClassifierTasks(features, {}, head="zero", head_only=False, n_features=16,
                             backtrack=backtrack)
    assert engine._head_moves_first(meta, lrs, n_steps)

    def shortcut(xs, ys, xq, yq):
        return engine.query_loss(meta, lrs, xs, ys, xq, yq, 3, n_steps,
                                 first_order=first_order)

    def plain(xs, ys, xq, yq):
        start = {**meta, "head.weight": xs.new_zeros(3, 16), "head.bias": xs.new_zeros(3)}

        def loss(p):
            return F.cross_entropy(engine.logits(p, xs), ys)

        fast = gradient_steps(loss, start, lrs, n_steps, first_order=first_order,
                              backtrack=backtrack)
        logits = engine.logits(fast, xq)
        return F.cross_entropy(logits, yq), logits

    _assert_same(_meta_gradient(shortcut, meta, data, vectorize),
                 _meta_gradient(plain, meta, data, vectorize))


def test_zero_head_first_step_keeps_the_plain_loop_where_it_differs():
    features, meta, _ = _problem()
    lrs = {k: 0.4 for k in (*meta, "head.weight", "head.bias")}
    zero = ClassifierTasks(features, {}, head="zero", head_only=False)
    assert zero._head_moves_first(meta, lrs, 1)
    # no steps; a halved step size would carry into the second step
    assert not zero._head_moves_first(meta, lrs, 0)
    assert not ClassifierTasks(features, {}, head="zero", head_only=False,
                               backtrack=True)._head_moves_first(meta, lrs, 2)
    # learned feature step sizes (Meta-SGD) get a zero gradient from the first step
    learned = {k: torch.full((), 0.4, requires_grad=True) for k in lrs}
    assert not zero._head_moves_first(meta, learned, 1)
    # the other heads, and ANIL (features not adapted)
    assert not ClassifierTasks(features, {}, head="proto", head_only=False)._head_moves_first(
        meta, lrs, 1)
    assert not ClassifierTasks(features, {}, head="zero", head_only=True)._head_moves_first(
        meta, lrs, 1)


def _shortcut_and_plain(engine, meta, lrs, n_steps, *, first_order, detach_head=False):
    """One task's query loss through the engine, and through the plain loop."""
    from sklearn_meta.fewshot._inner import HEAD

    def shortcut(xs, ys, xq, yq):
        fast = engine.adapt(meta, lrs, xs, ys, 3, n_steps, first_order=first_order,
                            detach_head=detach_head)
        logits = engine.logits(fast, xq)
        return F.cross_entropy(logits, yq), logits, fast[HEAD[0]]

    def plain(xs, ys, xq, yq):
        like = next(iter(meta.values()))
        start = {**meta, HEAD[0]: like.new_zeros(3, 16), HEAD[1]: like.new_zeros(3)}

        def loss(p):
            return F.cross_entropy(engine.logits(p, xs), ys)

        fast = gradient_steps(loss, start, lrs, n_steps, first_order=first_order,
                              backtrack=engine.backtrack)
        logits = engine.logits(fast, xq)
        return F.cross_entropy(logits, yq), logits, fast[HEAD[0]]

    return shortcut, plain


def test_zero_head_first_step_under_bf16_autocast_keeps_a_float32_head():
    # precision="bf16": the embedding is bfloat16, the head float32 as in the plain loop
    features, meta, data = _problem()
    features.float()
    meta = dict(features.named_parameters())
    data = tuple(d.float() if d.is_floating_point() else d for d in data)
    lrs = {k: 0.4 for k in (*meta, "head.weight", "head.bias")}
    engine = ClassifierTasks(features, {}, head="zero", head_only=False, n_features=16)
    shortcut, plain = _shortcut_and_plain(engine, meta, lrs, 1, first_order=False)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        results = [map_tasks(fn, *data, vectorize=False) for fn in (shortcut, plain)]
    (loss1, logits1, w1), (loss0, logits0, w0) = results
    assert w1.dtype == w0.dtype == torch.float32
    assert torch.equal(w1, w0) and torch.equal(logits1, logits0) and torch.equal(loss1, loss0)


@pytest.mark.parametrize("case", ["rejected_backtrack", "tensor_step_sizes", "detach_head"])
def test_zero_head_first_step_matches_the_plain_loop_in_corner_cases(case):
    features, meta, data = _problem()
    lrs = {k: 0.4 for k in (*meta, "head.weight", "head.bias")}
    backtrack = case == "rejected_backtrack"
    if backtrack:  # a step this long raises the support loss: it is not taken
        lrs = {k: 1e4 for k in lrs}
    if case == "tensor_step_sizes":  # Meta-SGD's step sizes at evaluation: detached tensors
        lrs = {k: torch.full_like(v, 0.3) for k, v in meta.items()}
        lrs.update({"head.weight": torch.full((1, 16), 0.3, dtype=torch.double),
                    "head.bias": torch.full((1,), 0.3, dtype=torch.double)})
    engine = ClassifierTasks(features, {}, head="zero", head_only=False, n_features=16,
                             backtrack=backtrack)
    assert engine._head_moves_first(meta, lrs, 1)
    shortcut, plain = _shortcut_and_plain(engine, meta, lrs, 1, first_order=False,
                                          detach_head=case == "detach_head")
    results = []
    for fn in (shortcut, plain):
        loss, logits, w = map_tasks(fn, *data, vectorize=False)
        grads = torch.autograd.grad(loss.mean(), list(meta.values()), allow_unused=True)
        results.append((loss, logits, w, grads))
    (loss1, logits1, w1, g1), (loss0, logits0, w0, g0) = results
    # the rejected step leaves the head zero: constant logits, zero meta-gradient
    assert (float(w0.detach().abs().max()) == 0.0) == backtrack
    torch.testing.assert_close(w1, w0, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(logits1, logits0, rtol=1e-12, atol=1e-12)
    for a, b in zip(g1, g0):
        assert b is not None and (float(b.abs().max()) > 0) != backtrack
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
