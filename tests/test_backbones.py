"""``Conv4Backbone`` pools before its ReLU: the same function as the papers' order."""

import pytest
import torch
from torch import nn

from sklearn_meta.backbones import Conv4Backbone


@pytest.mark.parametrize("norm", ["batch", "instance"])
def test_conv4_pool_then_relu_equals_relu_then_pool(norm):
    torch.manual_seed(0)
    net = Conv4Backbone(channels=8, norm=norm).build((1, 28, 28)).double()
    # the same layers in the order of Vinyals et al. / Snell et al.: ReLU, then pooling
    papers = nn.Sequential(*[
        nn.Sequential(*[m for m in block if not isinstance(m, nn.ReLU)][:2], nn.ReLU(),
                      *[m for m in block if isinstance(m, nn.MaxPool2d)])
        for block in list(net)[:-1]
    ], nn.Flatten())
    assert any(isinstance(block[-1], nn.ReLU) for block in list(net)[:-1])
    x = torch.randn(6, 1, 28, 28, dtype=torch.double)
    out, ref = net(x), papers(x)
    assert out.shape == (6, 8)
    torch.testing.assert_close(out, ref, rtol=0, atol=0)
    g = torch.autograd.grad(out.square().sum(), list(net.parameters()))
    g_ref = torch.autograd.grad(ref.square().sum(), list(net.parameters()))
    for a, b in zip(g, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
