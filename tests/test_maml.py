"""Tests of MAML: meta-gradients, adaptation, persistence, training."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.func import functional_call

from maml_strategy.errors import ConfigError, ModelError
from maml_strategy.learners.maml import MAML, MAMLConfig
from maml_strategy.model import HierarchicalTimeframeNet
from maml_strategy.learners.persistence import payload_digest
from maml_strategy.tasks import TaskBatch, TaskSampler

TINY = dict(num_timeframes=2, features_per_tf=3, cross_tf_features=1, hidden_dim=4)  # D = 7
SMALL = dict(num_timeframes=2, features_per_tf=3, cross_tf_features=1, hidden_dim=16)


@dataclass
class Seg:
    regime: str
    start_pos: int
    end_pos: int


def _batch(n: int, k: int, q: int, d: int, dtype: torch.dtype = torch.float32, seed: int = 0) -> TaskBatch:
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(n, d, generator=g, dtype=dtype)
    sx = torch.randn(n, k, d, generator=g, dtype=dtype)
    qx = torch.randn(n, q, d, generator=g, dtype=dtype)
    sy = (sx * w[:, None]).sum(-1)
    qy = (qx * w[:, None]).sum(-1)
    return TaskBatch(sx, sy, qx, qy, ["t"] * n, np.zeros((n, k), np.int64), np.zeros((n, q), np.int64), [0] * n)


def _tiny_maml(first_order: bool = False, **cfg) -> MAML:
    torch.manual_seed(0)
    net = HierarchicalTimeframeNet(**TINY).double()
    return MAML(net, MAMLConfig(inner_lr=0.2, inner_steps=2, first_order=first_order, **cfg))


def _flat_grad(maml: MAML, batch: TaskBatch, first_order: bool) -> torch.Tensor:
    maml.model.zero_grad(set_to_none=True)
    maml.meta_loss(batch, first_order=first_order).backward()
    return torch.cat([p.grad.reshape(-1) for p in maml.model.parameters()])


def test_second_order_meta_gradient_matches_finite_differences() -> None:
    maml = _tiny_maml()
    batch = _batch(3, 6, 5, 7, torch.float64)
    analytic = _flat_grad(maml, batch, first_order=False)
    params = list(maml.model.parameters())
    numeric = torch.zeros_like(analytic)
    eps, i = 1e-6, 0
    with torch.no_grad():
        for p in params:
            flat = p.view(-1)
            for j in range(flat.numel()):
                old = flat[j].item()
                flat[j] = old + eps
                up = maml.evaluate(batch)
                flat[j] = old - eps
                down = maml.evaluate(batch)
                flat[j] = old
                numeric[i] = (up - down) / (2 * eps)
                i += 1
    torch.testing.assert_close(analytic, numeric, rtol=1e-5, atol=1e-7)
    # the first-order approximation is measurably different here, so the test has teeth
    fo = _flat_grad(maml, batch, first_order=True)
    assert (fo - analytic).norm() > 1e-3 * analytic.norm()


def test_first_order_equals_manual_fomaml() -> None:
    maml = _tiny_maml(first_order=True)
    batch = _batch(3, 6, 5, 7, torch.float64)
    got = _flat_grad(maml, batch, first_order=True)
    names = [n for n, _ in maml.model.named_parameters()]
    total = None
    for t in range(len(batch)):
        p = {n: v.detach().clone() for n, v in maml.model.named_parameters()}
        for _ in range(2):
            leaves = {n: v.requires_grad_(True) for n, v in p.items()}
            loss = torch.nn.functional.mse_loss(functional_call(maml.model, leaves, (batch.support_x[t],)), batch.support_y[t])
            g = torch.autograd.grad(loss, list(leaves.values()))
            p = {n: (leaves[n] - 0.2 * gi).detach() for n, gi in zip(names, g)}
        leaves = {n: v.requires_grad_(True) for n, v in p.items()}
        qloss = torch.nn.functional.mse_loss(functional_call(maml.model, leaves, (batch.query_x[t],)), batch.query_y[t])
        gq = torch.cat([gi.reshape(-1) for gi in torch.autograd.grad(qloss, list(leaves.values()))])
        total = gq if total is None else total + gq
    torch.testing.assert_close(got, total / len(batch), rtol=1e-10, atol=1e-12)


def test_adapt_lowers_support_loss_and_keeps_meta_params() -> None:
    torch.manual_seed(0)
    maml = MAML(HierarchicalTimeframeNet(), MAMLConfig())
    before = {k: v.detach().clone() for k, v in maml.model.state_dict().items()}
    x, y = torch.randn(32, maml.input_dim), torch.randn(32)
    params = maml.adapt(x, y)
    assert maml.support_loss(x, y, params) < maml.support_loss(x, y)
    for k, v in maml.model.state_dict().items():
        assert torch.equal(v, before[k]), k
    assert all(not v.requires_grad for v in params.values())
    # more steps, lower loss; steps=0 gives the meta-parameters back
    assert maml.support_loss(x, y, maml.adapt(x, y, steps=10)) < maml.support_loss(x, y, params)
    p0 = maml.adapt(x, y, steps=0)
    assert all(torch.equal(p0[k], before[k]) for k in p0)
    # numpy input and a single-row predict
    p_np = maml.adapt(x.numpy(), y.numpy())
    assert all(torch.equal(p_np[k], params[k]) for k in params)
    assert maml.predict(x[0].numpy(), params).shape == (1,)


def test_adapt_rejects_bad_input() -> None:
    from maml_strategy.errors import DataError

    maml = MAML(HierarchicalTimeframeNet(**SMALL), MAMLConfig())
    x, y = torch.randn(8, 7), torch.randn(8)
    with pytest.raises(DataError):
        maml.adapt(x[:, :5], y)
    with pytest.raises(DataError):
        maml.adapt(x, y[:5])
    x[0, 0] = float("nan")
    with pytest.raises(DataError, match="NaN"):
        maml.adapt(x, y)
    with pytest.raises(ConfigError):
        maml.adapt(torch.randn(8, 7), y, steps=-1)


@pytest.mark.parametrize(
    "kwargs",
    [dict(inner_lr=0), dict(outer_lr=-1.0), dict(inner_steps=0), dict(loss="l1"), dict(grad_clip=0.0),
     dict(patience=0), dict(num_threads=0), dict(first_order="yes"), dict(support_size=2.5), dict(device=3),
     dict(huber_delta=float("nan"))],
)
def test_config_validation(kwargs) -> None:
    with pytest.raises(ConfigError):
        MAMLConfig(**kwargs)


@pytest.mark.parametrize("device", ["nonsense"] + ([] if torch.cuda.is_available() else ["cuda:7"]))
def test_device_checked_when_the_model_is_built(device: str) -> None:
    cfg = MAMLConfig(device=device)  # the config itself never imports torch, so it cannot tell
    with pytest.raises(ConfigError, match="device="):
        MAML(HierarchicalTimeframeNet(**SMALL), cfg)


def test_config_roundtrip_and_unknown_keys() -> None:
    cfg = MAMLConfig(inner_steps=3, loss="huber")
    assert MAMLConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ConfigError, match="unknown"):
        MAMLConfig.from_dict({"inner_step": 3})


# ----------------------------------------------------------------- persistence
def _saved(tmp_path: Path, learn_inner_lr: bool = False) -> tuple[MAML, Path]:
    from maml_strategy.features.scaler import FeatureScaler

    torch.manual_seed(1)
    scaler = FeatureScaler().fit(np.random.default_rng(0).normal(size=(50, 7)))
    maml = MAML(HierarchicalTimeframeNet(**SMALL), MAMLConfig(learn_inner_lr=learn_inner_lr, inner_steps=3),
                scaler=scaler, feature_names=[f"f{i}" for i in range(7)])
    if learn_inner_lr:
        maml.inner_lrs = torch.rand_like(maml.inner_lrs) * 0.05
    path = tmp_path / "m.pt"
    maml.save(path)
    return maml, path


@pytest.mark.parametrize("learn_inner_lr", [False, True])
def test_save_load_bit_identical(tmp_path: Path, learn_inner_lr: bool) -> None:
    maml, path = _saved(tmp_path, learn_inner_lr)
    loaded = MAML.load(path)
    for (n1, p1), (n2, p2) in zip(maml.model.named_parameters(), loaded.model.named_parameters()):
        assert n1 == n2 and torch.equal(p1, p2)
    x, y = torch.randn(20, 7), torch.randn(20)
    assert torch.equal(maml.predict(x), loaded.predict(x))
    pa, pb = maml.adapt(x, y), loaded.adapt(x, y)
    assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert loaded.config == maml.config and loaded.feature_names == maml.feature_names
    np.testing.assert_array_equal(loaded.scaler.center, maml.scaler.center)
    np.testing.assert_array_equal(loaded.scaler.scale, maml.scaler.scale)
    if learn_inner_lr:
        assert torch.equal(loaded.inner_lrs, maml.inner_lrs)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="does not exist"):
        MAML.load(tmp_path / "nope.pt")


def test_truncated_file(tmp_path: Path) -> None:
    _, path = _saved(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelError, match="truncated"):
        MAML.load(path)


def test_tampered_tensor(tmp_path: Path) -> None:
    _, path = _saved(tmp_path)
    payload = torch.load(path, weights_only=True)
    name = next(k for k in payload["tensors"] if k.startswith("model."))
    payload["tensors"][name] = payload["tensors"][name] + 1e-3
    torch.save(payload, path)
    with pytest.raises(ModelError, match="integrity"):
        MAML.load(path)


def test_tampered_metadata(tmp_path: Path) -> None:
    _, path = _saved(tmp_path)
    payload = torch.load(path, weights_only=True)
    payload["meta"] = payload["meta"].replace('"inner_lr":0.01', '"inner_lr":0.5')
    torch.save(payload, path)
    with pytest.raises(ModelError, match="integrity"):
        MAML.load(path)


def test_flipped_byte(tmp_path: Path) -> None:
    _, path = _saved(tmp_path)
    data = bytearray(path.read_bytes())
    # flip a byte inside the largest stored tensor's data (w1 of the encoders)
    payload = torch.load(path, weights_only=True)
    raw = payload["tensors"]["model.encoders.w1"].numpy().tobytes()
    pos = bytes(data).find(raw)
    assert pos > 0
    data[pos + 5] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ModelError):
        MAML.load(path)


def test_wrong_kind(tmp_path: Path) -> None:
    from maml_strategy.learners import load_learner
    from maml_strategy.learners.static import StaticConfig, StaticModel

    static = StaticModel(HierarchicalTimeframeNet(**SMALL), StaticConfig())
    sp = tmp_path / "static.pt"
    static.save(sp)
    with pytest.raises(ModelError, match="holds a 'static' model.*load_learner"):
        MAML.load(sp)
    _, mp = _saved(tmp_path)
    with pytest.raises(ModelError, match="holds a 'maml' model"):
        StaticModel.load(mp)
    assert isinstance(load_learner(sp), StaticModel) and isinstance(load_learner(mp), MAML)


def _rewrite(path: Path, mutate) -> None:
    payload = torch.load(path, weights_only=True)
    mutate(payload)
    payload["sha256"] = payload_digest(payload["meta"], payload["tensors"])
    torch.save(payload, path)


def test_mismatched_shapes_and_format_version(tmp_path: Path) -> None:
    _, path = _saved(tmp_path)

    def widen(p):
        p["tensors"]["model.head_out.weight"] = torch.zeros(1, 99)

    _rewrite(path, widen)
    with pytest.raises(ModelError, match="shape"):
        MAML.load(path)
    _, path = _saved(tmp_path)
    _rewrite(path, lambda p: p.__setitem__("format_version", 99))
    with pytest.raises(ModelError, match="format version"):
        MAML.load(path)
    path.write_bytes(b"not a model at all")
    with pytest.raises(ModelError):
        MAML.load(path)


# ----------------------------------------------------------------- meta-training
def _sign_flip_family(n_seg: int = 12, seg_len: int = 70, seed: int = 0):
    """Per-regime linear tasks: y = s * (x0 + 0.5 x1) + noise with s = +1 (bull) / -1 (bear)."""
    rng = np.random.default_rng(seed)
    n = n_seg * seg_len
    X = rng.normal(size=(n, 7)).astype(np.float32)
    segs, y = [], np.empty(n)
    for i in range(n_seg):
        lo, hi = i * seg_len, (i + 1) * seg_len - 1
        regime = "bull" if i % 2 == 0 else "bear"
        s = 1.0 if regime == "bull" else -1.0
        y[lo : hi + 1] = s * (X[lo : hi + 1, 0] + 0.5 * X[lo : hi + 1, 1]) + 0.1 * rng.normal(size=seg_len)
        segs.append(Seg(regime, lo, hi))
    return segs, X, y


def _train(seed: int = 0, epochs: int = 6, **cfg) -> tuple[MAML, dict, TaskSampler]:
    segs, X, y = _sign_flip_family()
    config = MAMLConfig(inner_lr=0.1, inner_steps=3, num_tasks_per_batch=4, support_size=16, query_size=8,
                        steps_per_epoch=10, val_tasks=16, outer_lr=0.005, seed=seed, **cfg)
    train = TaskSampler(segs[:8], X, y, support_size=16, query_size=8, seed=seed)
    val = TaskSampler(segs[8:], X, y, support_size=16, query_size=8, seed=123)
    torch.manual_seed(seed)
    maml = MAML(HierarchicalTimeframeNet(**SMALL), config)
    hist = maml.meta_train(train, epochs, val_sampler=val, progress=False)
    return maml, hist, val


def test_meta_train_lowers_post_adaptation_query_loss() -> None:
    segs, X, y = _sign_flip_family()
    val = TaskSampler(segs[8:], X, y, support_size=16, query_size=8, seed=5).sample(16)
    torch.manual_seed(0)
    init = MAML(HierarchicalTimeframeNet(**SMALL), MAMLConfig(inner_lr=0.1, inner_steps=3))
    before = init.evaluate(val)
    maml, hist, _ = _train(epochs=8)
    after = maml.evaluate(val)
    assert after < 0.7 * before, (before, after)
    assert len(hist["train_query_loss"]) == len(hist["val_query_loss"]) >= 1
    assert hist["best_val_loss"] == min(hist["val_query_loss"])


def test_meta_train_deterministic() -> None:
    a, ha, _ = _train(seed=3, epochs=2)
    b, hb, _ = _train(seed=3, epochs=2)
    for (_, p), (_, q) in zip(a.model.named_parameters(), b.model.named_parameters()):
        assert torch.equal(p, q)
    assert ha["train_query_loss"] == hb["train_query_loss"]


def test_meta_train_variants_and_early_stopping() -> None:
    m, hist, _ = _train(epochs=2, first_order=True, loss="huber", learn_inner_lr=True)
    assert m.inner_lrs is not None and not torch.equal(m.inner_lrs, torch.full_like(m.inner_lrs, 0.1))
    assert (m.inner_lrs >= 0).all()
    # a tiny outer lr never improves by min_delta=1e9 -> stops after `patience` epochs
    _, hist, _ = _train(epochs=10, patience=2, min_delta=1e9)
    assert hist["stopped_early"] and len(hist["epoch"]) == 3


def test_meta_train_checks_sampler_sizes() -> None:
    segs, X, y = _sign_flip_family()
    s = TaskSampler(segs, X, y, support_size=8, query_size=8)
    maml = MAML(HierarchicalTimeframeNet(**SMALL), MAMLConfig(support_size=16, query_size=8))
    with pytest.raises(ConfigError, match="sizes"):
        maml.meta_train(s, 1, progress=False)
