"""Tests of HierarchicalTimeframeNet."""

from __future__ import annotations

import pytest
import torch
from torch.func import functional_call, grad, vmap

from maml_strategy.errors import ConfigError, DataError
from maml_strategy.model import HierarchicalTimeframeNet


def test_default_shapes() -> None:
    net = HierarchicalTimeframeNet()
    assert net.input_dim == 3 * 45 + 8
    out = net(torch.randn(5, net.input_dim))
    assert out.shape == (5,)
    assert out.dtype == torch.float32


def test_wrong_input_dim_raises() -> None:
    net = HierarchicalTimeframeNet(2, 4, 3, 16)
    with pytest.raises(DataError, match="expects x"):
        net(torch.randn(2, 10))


@pytest.mark.parametrize("kwargs", [dict(num_timeframes=0), dict(hidden_dim=-1), dict(features_per_tf=2.5), dict(tf_hidden_dim=0)])
def test_bad_kwargs_raise(kwargs) -> None:
    with pytest.raises(ConfigError):
        HierarchicalTimeframeNet(**kwargs)


def test_no_batchnorm_or_rnn() -> None:
    net = HierarchicalTimeframeNet()
    bad = (torch.nn.modules.batchnorm._BatchNorm, torch.nn.RNNBase, torch.nn.Dropout)
    assert not any(isinstance(m, bad) for m in net.modules())


def test_no_cross_features() -> None:
    net = HierarchicalTimeframeNet(num_timeframes=2, features_per_tf=3, cross_tf_features=0, hidden_dim=8)
    assert net(torch.randn(4, 6)).shape == (4,)


def test_attention_is_distribution() -> None:
    net = HierarchicalTimeframeNet(3, 5, 2, 16)
    a = net.timeframe_attention(torch.randn(7, 17))
    assert a.shape == (7, 3)
    torch.testing.assert_close(a.sum(1), torch.ones(7))


def test_rows_are_independent() -> None:
    """No cross-sample mixing (e.g. no batch statistics)."""
    net = HierarchicalTimeframeNet(2, 4, 2, 16)
    x = torch.randn(6, 10)
    torch.testing.assert_close(net(x)[:3], net(x[:3]))


def test_vmap_over_param_sets_and_double_backward() -> None:
    net = HierarchicalTimeframeNet(2, 4, 2, 16)
    params = {k: v.detach() for k, v in net.named_parameters()}
    stacked = {k: torch.stack([v, v + 0.01]) for k, v in params.items()}
    x = torch.randn(5, 10)
    out = vmap(lambda p: functional_call(net, p, (x,)))(stacked)
    assert out.shape == (2, 5)
    torch.testing.assert_close(out[0], net(x))
    # second-order: gradient of a gradient norm
    p = {k: v.clone().requires_grad_(True) for k, v in params.items()}
    g = grad(lambda q: functional_call(net, q, (x,)).pow(2).mean())(p)
    total = sum(v.pow(2).sum() for v in g.values())
    total.backward()
    assert all(v.grad is not None for v in p.values())
