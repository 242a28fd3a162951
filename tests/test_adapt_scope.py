"""Adaptation scopes (maml.adapt_scope: all / head / bias) and the proximal inner loss (maml.proximal).

Tiny float64 nets with fixed seeds; every check compares against an independent
computation (a plain autograd loop, finite differences, the previous inner loop).
"""

from __future__ import annotations

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.func import functional_call, grad, vmap

from maml_strategy.errors import ConfigError
from maml_strategy.learners.inner import ADAPT_SCOPE_PARAMS, inner_loop, scope_names
from maml_strategy.learners.maml import MAML, MAMLConfig
from maml_strategy.model import HierarchicalTimeframeNet
from maml_strategy.learners.persistence import read_model_file, write_model_file
from maml_strategy.tasks import TaskBatch

TINY = dict(num_timeframes=2, features_per_tf=3, cross_tf_features=1, hidden_dim=4)  # D = 7
SMALL = dict(num_timeframes=2, features_per_tf=3, cross_tf_features=1, hidden_dim=16)
HEAD = ["head_out.weight", "head_out.bias"]


def _maml(scope: str = "all", proximal: float = 0.0, *, dims: dict = TINY, double: bool = True, **cfg) -> MAML:
    torch.manual_seed(0)
    net = HierarchicalTimeframeNet(**dims)
    net = net.double() if double else net
    cfg.setdefault("inner_lr", 0.2)
    cfg.setdefault("inner_steps", 2)
    return MAML(net, MAMLConfig(adapt_scope=scope, proximal=proximal, **cfg))


def _batch(n: int, k: int, q: int, d: int, dtype: torch.dtype = torch.float64, seed: int = 0) -> TaskBatch:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n, d, generator=g, dtype=dtype)
    sx = torch.randn(n, k, d, generator=g, dtype=dtype)
    qx = torch.randn(n, q, d, generator=g, dtype=dtype)
    sy, qy = (sx * w[:, None]).sum(-1), (qx * w[:, None]).sum(-1)
    return TaskBatch(sx, sy, qx, qy, ["t"] * n, np.zeros((n, k), np.int64), np.zeros((n, q), np.int64), [0] * n)


def _plain_loop(maml: MAML, x: torch.Tensor, y: torch.Tensor, steps: int, lr: float, names: list[str],
                proximal: float = 0.0) -> dict[str, torch.Tensor]:
    """Reference: autograd.grad on fresh leaves, ``p - lr * g``, on a copy of the net."""
    net = copy.deepcopy(maml.model)
    start = {n: p.detach().clone() for n, p in net.named_parameters()}
    ps = dict(start)
    for _ in range(steps):
        leaves = {n: v.requires_grad_(True) if n in names else v for n, v in ((n, v.detach().clone()) for n, v in ps.items())}
        loss = maml.loss_fn(functional_call(net, leaves, (x,)), y)
        if proximal:
            loss = loss + 0.5 * proximal * sum(((leaves[n] - start[n]) ** 2).sum() for n in names)
        gs = torch.autograd.grad(loss, [leaves[n] for n in names])
        with torch.no_grad():
            ps = {n: leaves[n] - lr * gs[names.index(n)] if n in names else leaves[n] for n in leaves}
    return ps


def _old_inner_loop(model, params, x, y, loss_fn, lrs, *, first_order=False):
    """The inner loop as it was before scopes (copied verbatim): the default must not change it."""
    names = list(params)
    grad_fn = grad(lambda p: loss_fn(functional_call(model, p, (x,)), y))
    for lr in lrs:
        grads = grad_fn(params)
        if first_order:
            grads = {n: g.detach() for n, g in grads.items()}
        if isinstance(lr, (int, float)):
            params = {n: params[n] - lr * grads[n] for n in names}
        else:
            params = {n: params[n] - lr[i] * grads[n] for i, n in enumerate(names)}
    return params


# ---------------------------------------------------------------- scopes select parameters
def test_scope_names_follow_the_output_layer() -> None:
    net = HierarchicalTimeframeNet(**TINY)
    assert scope_names(net, "all") == [n for n, _ in net.named_parameters()]
    assert scope_names(net, "head") == HEAD == list(ADAPT_SCOPE_PARAMS["head"])
    assert scope_names(net, "bias") == ["head_out.bias"]
    assert net.head_out.weight.shape == (1, TINY["hidden_dim"])  # the last layer, Linear(H, 1)
    with pytest.raises(ConfigError, match="adapt_scope='all'"):
        scope_names(torch.nn.Linear(3, 1), "head")
    with pytest.raises(ConfigError, match="adapt_scope"):
        MAMLConfig(adapt_scope="body")
    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(ConfigError, match="proximal"):
            MAMLConfig(proximal=bad)


@pytest.mark.parametrize("scope", ["head", "bias"])
def test_restricted_scope_changes_only_its_parameters(scope: str) -> None:
    maml = _maml(scope, dims=SMALL, double=False, inner_lr=0.05, inner_steps=5)
    x, y = torch.randn(24, 7), torch.randn(24) + 1.0
    meta = maml.parameters_dict()
    adapted = maml.adapt(x, y)
    stacked = maml.adapt_batch(x[None].repeat(2, 1, 1), y[None].repeat(2, 1))
    wanted = set(ADAPT_SCOPE_PARAMS[scope])
    for n, v in meta.items():
        for got in (adapted[n], stacked[n][1]):
            if n in wanted:
                assert not torch.equal(got, v), n
            else:
                assert torch.equal(got, v), n
    assert maml.support_loss(x, y, adapted) < maml.support_loss(x, y)


def test_bias_recalibration_moves_the_mean_prediction_toward_shifted_labels() -> None:
    maml = _maml("bias", dims=SMALL, double=False, inner_lr=0.1, inner_steps=5)
    g = torch.Generator().manual_seed(3)
    x = torch.randn(32, 7, generator=g)
    before = maml.predict(x)
    c = 2.0
    y = before + c + 0.1 * torch.randn(32, generator=g)
    after = maml.predict(x, maml.adapt(x, y))
    gap_before, gap_after = abs(float(y.mean() - before.mean())), abs(float(y.mean() - after.mean()))
    assert gap_after < 0.5 * gap_before
    shift = after - before  # a pure level shift: every prediction moves by the same amount, toward +c
    torch.testing.assert_close(shift, shift.mean().expand_as(shift), rtol=0, atol=1e-5)
    assert 0 < float(shift.mean()) < c
    # MSE on the bias alone: each step closes 2 * lr of the gap, so 5 steps leave (1 - 0.2)^5 of it
    assert gap_after == pytest.approx(gap_before * 0.8**5, rel=1e-4)


def test_proximal_keeps_adapted_parameters_closer_to_the_meta_parameters() -> None:
    x, y = torch.randn(24, 7), torch.randn(24)

    def distance(proximal: float) -> float:
        maml = _maml("all", proximal, dims=SMALL, double=False, inner_lr=0.1, inner_steps=10)
        meta, adapted = maml.parameters_dict(), maml.adapt(x, y)
        return float(sum(((adapted[n] - meta[n]) ** 2).sum() for n in meta)) ** 0.5

    d0, d1, d5 = distance(0.0), distance(1.0), distance(5.0)
    assert d5 < d1 < d0
    assert d5 < 0.8 * d0


# ---------------------------------------------------------------- same numbers everywhere
@pytest.mark.parametrize("scope,proximal", [("all", 0.0), ("head", 0.0), ("bias", 0.0), ("all", 2.0), ("head", 2.0)])
def test_adapt_equals_plain_loop_and_adapt_batch(scope: str, proximal: float) -> None:
    maml = _maml(scope, proximal, dims=SMALL, double=False, inner_lr=0.05, inner_steps=4)
    b = _batch(3, 16, 4, 7, torch.float32, seed=1)
    names = scope_names(maml.model, scope)
    stacked = maml.adapt_batch(b.support_x, b.support_y)
    for t in range(3):
        got = maml.adapt(b.support_x[t], b.support_y[t])
        ref = _plain_loop(maml, b.support_x[t], b.support_y[t], 4, 0.05, names, proximal)
        for n in ref:
            assert torch.equal(got[n], ref[n]), (n, t)  # the live path is the plain loop, bit for bit
            torch.testing.assert_close(stacked[n][t], got[n], rtol=1e-5, atol=1e-6)
        with torch.no_grad():  # and the meta-training loop (torch.func) up to rounding
            meta_loop = inner_loop(maml.model, maml.parameters_dict(), b.support_x[t], b.support_y[t], maml.loss_fn,
                                   [0.05] * 4, adapt_names=None if scope == "all" else names, proximal=proximal)
        for n in ref:
            torch.testing.assert_close(meta_loop[n], got[n], rtol=1e-5, atol=1e-6)


def test_default_config_reproduces_the_previous_numbers() -> None:
    assert MAMLConfig().adapt_scope == "all" and MAMLConfig().proximal == 0.0
    torch.manual_seed(0)
    maml = MAML(HierarchicalTimeframeNet(**SMALL), MAMLConfig())  # float32, the shipped defaults
    b = _batch(4, 32, 8, 7, torch.float32, seed=2)
    base = maml.parameters_dict()
    lrs = [maml.config.inner_lr] * maml.config.inner_steps
    # the meta-training inner loop is unchanged, bit for bit (single task and under vmap)
    with torch.no_grad():
        new = inner_loop(maml.model, base, b.support_x[0], b.support_y[0], maml.loss_fn, lrs)
        old = _old_inner_loop(maml.model, base, b.support_x[0], b.support_y[0], maml.loss_fn, lrs)
        new_b = vmap(lambda sx, sy: inner_loop(maml.model, base, sx, sy, maml.loss_fn, lrs))(b.support_x, b.support_y)
        old_b = vmap(lambda sx, sy: _old_inner_loop(maml.model, base, sx, sy, maml.loss_fn, lrs))(b.support_x, b.support_y)
    assert all(torch.equal(new[n], old[n]) and torch.equal(new_b[n], old_b[n]) for n in base)
    assert all(torch.equal(maml.adapt_batch(b.support_x, b.support_y)[n], old_b[n]) for n in base)
    # adapt: the plain loop exactly; the previous torch.func adapt within float32 rounding
    got = maml.adapt(b.support_x[0], b.support_y[0])
    ref = _plain_loop(maml, b.support_x[0], b.support_y[0], 5, 0.01, list(base))
    for n in base:
        assert torch.equal(got[n], ref[n]), n
        torch.testing.assert_close(got[n], old[n], rtol=1e-5, atol=1e-7)
    # meta-gradients of the default config equal the previous loop's
    def meta_grad(loop) -> torch.Tensor:
        params = dict(maml.model.named_parameters())

        def one(sx, sy, qx, qy):
            return maml.loss_fn(functional_call(maml.model, loop(maml.model, params, sx, sy, maml.loss_fn, lrs), (qx,)), qy)

        loss = vmap(one)(b.support_x, b.support_y, b.query_x, b.query_y).mean()
        return torch.cat([g.reshape(-1) for g in torch.autograd.grad(loss, list(params.values()))])

    torch.testing.assert_close(meta_grad(inner_loop), meta_grad(_old_inner_loop), rtol=0, atol=0)
    maml.model.zero_grad(set_to_none=True)
    maml.meta_loss(b).backward()
    torch.testing.assert_close(torch.cat([p.grad.reshape(-1) for p in maml.model.parameters()]),
                               meta_grad(_old_inner_loop), rtol=0, atol=0)


def test_learned_inner_lrs_with_a_scope() -> None:
    maml = _maml("head", dims=SMALL, double=False, learn_inner_lr=True, inner_lr=0.05, inner_steps=3)
    assert maml.inner_lrs is not None and maml.inner_lrs.shape[1] == len(list(maml.model.parameters()))
    with torch.no_grad():
        maml.inner_lrs.mul_(torch.linspace(0.5, 1.5, maml.inner_lrs.shape[1], dtype=maml.inner_lrs.dtype))
    b = _batch(2, 16, 4, 7, torch.float32, seed=4)
    stacked = maml.adapt_batch(b.support_x, b.support_y)
    got = maml.adapt(b.support_x[1], b.support_y[1])
    for n, v in got.items():
        torch.testing.assert_close(stacked[n][1], v, rtol=1e-5, atol=1e-6)
    assert [n for n, v in got.items() if not torch.equal(v, maml.parameters_dict()[n])] == HEAD


# ---------------------------------------------------------------- meta-gradients
def _central_difference(maml: MAML, batch: TaskBatch, coords: list[tuple[int, int]], eps: float = 1e-6) -> torch.Tensor:
    params = list(maml.model.parameters())
    out = []
    with torch.no_grad():
        for i, j in coords:
            flat = params[i].view(-1)
            old = flat[j].item()
            flat[j] = old + eps
            up = maml.evaluate(batch)
            flat[j] = old - eps
            down = maml.evaluate(batch)
            flat[j] = old
            out.append((up - down) / (2 * eps))
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("scope,proximal", [("head", 0.0), ("bias", 0.0), ("all", 3.0), ("head", 3.0)])
def test_meta_gradient_of_each_inner_loop_matches_finite_differences(scope: str, proximal: float) -> None:
    maml = _maml(scope, proximal, inner_lr=0.3, inner_steps=3)
    batch = _batch(3, 6, 5, 7)
    maml.model.zero_grad(set_to_none=True)
    maml.meta_loss(batch).backward()
    params = list(maml.model.parameters())
    # two coordinates of every parameter tensor (the first and the last)
    coords = [(i, j) for i, p in enumerate(params) for j in sorted({0, p.numel() - 1})]
    analytic = torch.stack([params[i].grad.reshape(-1)[j] for i, j in coords])
    torch.testing.assert_close(analytic, _central_difference(maml, batch, coords), rtol=1e-5, atol=1e-8)
    # teeth: the scope / proximal term is part of meta-training (its meta-gradient differs from the plain one)
    plain = _maml("all", 0.0, inner_lr=0.3, inner_steps=3)
    plain.meta_loss(batch).backward()
    other = torch.stack([list(plain.model.parameters())[i].grad.reshape(-1)[j] for i, j in coords])
    assert (other - analytic).norm() > 1e-3 * analytic.norm()


# ---------------------------------------------------------------- files
def test_scope_and_proximal_are_saved_and_old_files_load_with_all(tmp_path: Path) -> None:
    maml = _maml("bias", 0.5, dims=SMALL, double=False)
    path = tmp_path / "m.pt"
    maml.save(path)
    loaded = MAML.load(path)
    assert loaded.config.adapt_scope == "bias" and loaded.config.proximal == 0.5
    x, y = torch.randn(20, 7), torch.randn(20)
    pa, pb = maml.adapt(x, y), loaded.adapt(x, y)
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert [k for k in pb if not torch.equal(pb[k], loaded.parameters_dict()[k])] == ["head_out.bias"]
    # a file written before the fields existed: no adapt_scope / proximal in its config
    meta, tensors = read_model_file(path, kind="maml")
    meta["config"] = {k: v for k, v in meta["config"].items() if k not in ("adapt_scope", "proximal")}
    old = tmp_path / "old.pt"
    write_model_file(old, kind="maml", meta=meta, tensors=tensors)
    legacy = MAML.load(old)
    assert legacy.config.adapt_scope == "all" and legacy.config.proximal == 0.0
    assert legacy.adapt_settings() == (None, 0.0)
