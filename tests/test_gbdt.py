"""Gradient-boosted-trees control (maml_strategy.learners.gbdt): fit, early stopping, adapt, persistence, bad input."""

from __future__ import annotations

import builtins
import json

import numpy as np
import pytest
import torch

from maml_strategy.errors import ConfigError, DataError, ModelError
from maml_strategy.features.scaler import FeatureScaler
from maml_strategy.learners.gbdt import GBDTConfig, GBDTModel, require_lightgbm, score_predictions, select_gbdt_params, train_gbdt

D = 6
FAST = GBDTConfig(num_leaves=7, learning_rate=0.1, n_estimators=200, min_data_in_leaf=20, early_stopping_rounds=10,
                  num_threads=1)


def _data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, D))
    y = 0.6 * x[:, 0] - 0.4 * np.tanh(2 * x[:, 1]) + rng.normal(scale=1.0, size=n)
    return x, y


@pytest.fixture(scope="module")
def fitted() -> tuple[GBDTModel, dict[str, np.ndarray]]:
    pytest.importorskip("lightgbm")
    xt, yt = _data(1500, 0)
    xv, yv = _data(400, 1)
    xh, yh = _data(600, 2)
    scaler = FeatureScaler().fit(xt)
    names = [f"f{i}" for i in range(D)]
    model = train_gbdt(xt, yt, xv, yv, FAST, scaler=scaler, feature_names=names, seed=0)
    return model, {"xt": xt, "yt": yt, "xv": xv, "yv": yv, "xh": xh, "yh": yh}


def test_planted_signal_gives_positive_heldout_ic(fitted):
    model, d = fitted
    s = score_predictions(model.predict(d["xh"]).numpy(), d["yh"])
    assert s["ic"] > 0.25, s
    assert s["rel_mse"] < 1.0 and s["dir_acc"] > 0.55
    assert model.kind == "gbdt" and model.feature_names == [f"f{i}" for i in range(D)]
    assert 1 <= model.history["best_iteration"] < FAST.n_estimators
    assert model.booster.num_trees() == model.history["best_iteration"]  # only the kept trees are stored


def test_predict_accepts_tensor_or_array_and_returns_1d_tensor(fitted):
    model, d = fitted
    x = d["xh"][:5]
    a = model.predict(x)
    t = model.predict(torch.from_numpy(x.astype(np.float32)))
    assert isinstance(a, torch.Tensor) and a.shape == (5,) and a.dtype == torch.float32
    assert t.shape == (5,)
    torch.testing.assert_close(a, t, atol=1e-4, rtol=0)  # float32 input rounds features only slightly
    assert model.predict(x[0]).shape == (1,)
    with pytest.raises(DataError, match="shape"):
        model.predict(np.zeros((2, D + 1)))


def test_save_load_roundtrip_identical(fitted, tmp_path):
    model, d = fitted
    p = tmp_path / "g.pt"
    model.save(p)
    loaded = GBDTModel.load(p)
    assert torch.equal(loaded.predict(d["xh"]), model.predict(d["xh"]))
    assert loaded.config == model.config and loaded.feature_names == model.feature_names
    np.testing.assert_array_equal(loaded.scaler.center, model.scaler.center)
    assert loaded.history["best_iteration"] == model.history["best_iteration"]
    from maml_strategy.learners import load_learner

    assert isinstance(load_learner(p), GBDTModel)


def test_corrupt_file_raises_model_error(fitted, tmp_path):
    model, _ = fitted
    p = tmp_path / "g.pt"
    model.save(p)
    raw = bytearray(p.read_bytes())
    flipped = tmp_path / "flipped.pt"
    mid = len(raw) // 2
    flipped.write_bytes(bytes(raw[:mid]) + bytes(b ^ 0xFF for b in raw[mid : mid + 64]) + bytes(raw[mid + 64 :]))
    with pytest.raises(ModelError):
        GBDTModel.load(flipped)
    truncated = tmp_path / "trunc.pt"
    truncated.write_bytes(bytes(raw[: len(raw) // 3]))
    with pytest.raises(ModelError):
        GBDTModel.load(truncated)
    # edited JSON (a leaf value changed) without updating the digest
    payload = torch.load(p, weights_only=True)
    meta = json.loads(payload["meta"])
    meta["booster"] = meta["booster"].replace("leaf_value=", "leaf_value=1", 1)
    payload["meta"] = json.dumps(meta, sort_keys=True, separators=(",", ":"))
    edited = tmp_path / "edited.pt"
    torch.save(payload, edited)
    with pytest.raises(ModelError, match="integrity"):
        GBDTModel.load(edited)


def test_garbage_booster_with_valid_digest_raises_model_error(fitted, tmp_path):
    from maml_strategy.learners.persistence import payload_digest

    model, _ = fitted
    p = tmp_path / "g.pt"
    model.save(p)
    payload = torch.load(p, weights_only=True)
    meta = json.loads(payload["meta"])
    meta["booster"] = "tree\nversion=v4\nnum_class=1\nTree=0\nnum_leaves=oops\n"
    payload["meta"] = json.dumps(meta, sort_keys=True, separators=(",", ":"))
    payload["sha256"] = payload_digest(payload["meta"], payload["tensors"])  # a consistent but broken file
    torch.save(payload, p)
    with pytest.raises(ModelError, match="LightGBM"):
        GBDTModel.load(p)


def test_static_file_is_not_a_gbdt_file(tmp_path):
    pytest.importorskip("lightgbm")
    from maml_strategy.learners.persistence import write_model_file

    p = tmp_path / "s.pt"
    write_model_file(p, kind="static", meta={}, tensors={"model.w": torch.ones(1)})
    with pytest.raises(ModelError, match="static"):
        GBDTModel.load(p)


def test_missing_lightgbm_gives_one_line_error_naming_the_extra(monkeypatch):
    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "lightgbm" or name.startswith("lightgbm."):
            raise ImportError("No module named 'lightgbm'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ConfigError) as info:
        require_lightgbm()
    msg = str(info.value)
    assert 'pip install -e ".[trees]"' in msg and "\n" not in msg
    assert info.value.__cause__ is None and info.value.__suppress_context__
    x, y = _data(500, 0)
    with pytest.raises(ConfigError, match=r"\.\[trees\]"):
        train_gbdt(x, y, x, y, FAST)


def test_adapt_returns_new_booster_and_leaves_stored_model_untouched(fitted):
    model, d = fitted
    before = model.booster.model_to_string()
    pred_before = model.predict(d["xh"])
    sx, sy = d["xv"][:32], d["yv"][:32] + 2.0  # a shifted regime
    params = model.adapt(torch.from_numpy(sx), torch.from_numpy(sy), steps=5, lr=0.2)
    assert params is not None and params.base is model.booster
    assert model.booster.model_to_string() == before
    assert torch.equal(model.predict(d["xh"]), pred_before)
    assert params.delta.num_trees() == 5
    assert model.support_loss(sx, sy, params) < model.support_loss(sx, sy)
    assert model.adapt(sx, sy, steps=0) is None
    assert model.adapt(sx, sy) is None  # default finetune_rounds=0: the static gbdt never adapts
    with pytest.raises(ConfigError, match="steps"):
        model.adapt(sx, sy, steps=-1)
    with pytest.raises(ConfigError, match="GBDTAdapted"):
        model.predict(sx, params.delta)


def test_adapt_equals_lightgbm_continued_training_when_that_works():
    lgb = pytest.importorskip("lightgbm")
    xt, yt = _data(1500, 0)
    xv, yv = _data(400, 1)
    m = train_gbdt(xt, yt, xv, yv, GBDTConfig(**{**FAST.to_dict(), "feature_fraction": 0.8}), seed=0)
    sx, sy = xv[:32], yv[:32] + 2.0
    ours = m.adapt(sx, sy, steps=5, lr=0.2)
    c = m.config
    p = dict(c.to_lgb_params(), num_leaves=c.finetune_num_leaves, learning_rate=0.2, min_data_in_leaf=8,
             min_data_in_bin=1, feature_pre_filter=False, bagging_fraction=1.0, bagging_freq=0, num_threads=1)
    ref = lgb.train(p, lgb.Dataset(sx, sy, params={"min_data_in_bin": 1, "feature_pre_filter": False}),
                    num_boost_round=5, init_model=m.booster)
    assert ref.num_trees() == m.booster.num_trees() + 5
    np.testing.assert_allclose(m.predict(xv, ours).numpy(), ref.predict(xv), atol=1e-5)


def test_early_stopping_uses_only_the_validation_arrays():
    pytest.importorskip("lightgbm")
    xt, yt = _data(1500, 0)
    xv, yv = _data(400, 1)
    cfg = GBDTConfig(num_leaves=7, learning_rate=0.1, n_estimators=300, min_data_in_leaf=20, early_stopping_rounds=15,
                     num_threads=1)
    a = train_gbdt(xt, yt, xv, yv, cfg, seed=0)
    b = train_gbdt(xt, yt, xv, yv, cfg, seed=0)
    assert a.history["best_iteration"] == b.history["best_iteration"]  # deterministic
    assert a.booster.model_to_string() == b.booster.model_to_string()
    # validation rows with no signal (labels pure noise): a different stopping point, same training rows
    rng = np.random.default_rng(5)
    c = train_gbdt(xt, yt, xv, rng.normal(size=len(yv)), cfg, seed=0)
    assert c.history["best_iteration"] != a.history["best_iteration"]
    # the trees up to the shorter run are identical: validation data never enter the fit itself
    k = min(a.history["best_iteration"], c.history["best_iteration"])
    np.testing.assert_array_equal(a.booster.predict(xt[:50], num_iteration=k), c.booster.predict(xt[:50], num_iteration=k))


def test_select_gbdt_params_prefers_the_informative_candidate():
    pytest.importorskip("lightgbm")
    xt, yt = _data(1500, 0)
    xv, yv = _data(400, 1)
    base = GBDTConfig(learning_rate=0.1, n_estimators=150, early_stopping_rounds=10, feature_fraction=0.8, num_threads=1)
    # min_data_in_leaf=700 allows only one split per tree: strictly less capacity than 20
    grid = [{"num_leaves": 7, "min_data_in_leaf": 700}, {"num_leaves": 7, "min_data_in_leaf": 20}]
    best, table = select_gbdt_params(xt, yt, xv, yv, grid, base=base, refine_feature_fraction=(0.5,))
    assert len(table) == 3 and {"ic", "rel_mse", "dir_acc", "best_iteration", "fit_seconds"} <= set(table[0])
    assert best.min_data_in_leaf == 20
    assert table[1]["ic"] > table[0]["ic"]
    with pytest.raises(ConfigError, match="empty"):
        select_gbdt_params(xt, yt, xv, yv, [], base=base)


def test_config_and_input_validation():
    with pytest.raises(ConfigError, match="num_leaves"):
        GBDTConfig(num_leaves=1)
    with pytest.raises(ConfigError, match="objective"):
        GBDTConfig(objective="l1")
    with pytest.raises(ConfigError, match="unknown"):
        GBDTConfig.from_dict({"leaves": 3})
    pytest.importorskip("lightgbm")
    x, y = _data(500, 0)
    bad = x.copy()
    bad[3, 2] = np.nan
    with pytest.raises(DataError, match="NaN"):
        train_gbdt(bad, y, x, y, FAST)
    with pytest.raises(DataError, match="rows"):
        train_gbdt(x, y[:-1], x, y, FAST)
    with pytest.raises(DataError, match="min_data_in_leaf"):
        train_gbdt(x[:30], y[:30], x, y, FAST)
    huber = train_gbdt(x, y, *_data(200, 3), GBDTConfig(**{**FAST.to_dict(), "objective": "huber"}))
    assert huber.predict(x[:2]).shape == (2,)


def test_split_window_keeps_training_labels_out_of_the_validation_years():
    from maml_strategy.learners.gbdt import split_window

    n, h, vp = 40, 5, 30
    x = np.arange(n, dtype=float)[:, None]
    valid = np.ones(n, bool)
    valid[3] = False
    xt, yt, xv, yv = split_window(x, np.arange(n, dtype=float), valid, vp, h)
    assert xt[:, 0].max() + h < vp and 3 not in xt[:, 0] and len(xt) == vp - h - 1
    assert xv[:, 0].min() == vp and len(yv) == n - vp


def test_a_gbdt_section_in_the_strategy_yaml_changes_the_trained_model(tmp_path) -> None:
    """``gbdt: {num_leaves: 2}`` in a strategy file reaches LightGBM through backtest.train (not a hard-coded default)."""
    pytest.importorskip("lightgbm")
    import yaml

    from maml_strategy.backtest import custom_period, train_models
    from maml_strategy.backtest.train import cache_key
    from maml_strategy.config import load_config
    from maml_strategy.data import synthetic_ohlcv
    from tests.helpers import TINY

    path = tmp_path / "stumps.yaml"
    path.write_text(yaml.safe_dump({**TINY, "gbdt": {"num_leaves": 2, "min_data_in_leaf": 20}}))
    cfg = load_config(path)
    assert cfg.gbdt == GBDTConfig(num_leaves=2, min_data_in_leaf=20)
    with pytest.raises(ConfigError, match="gbdt.num_leave"):
        load_config(None, **{**TINY, "gbdt": {"num_leave": 2}})
    df = synthetic_ohlcv(1500, seed=3, start="2000-01-03").drop(columns=["regime"])
    period = custom_period("2000-01-03", "2004-12-31", "2005-01-03", "2005-10-31")
    assert cache_key(df, cfg, period, 0) != cache_key(df, load_config(None, **TINY), period, 0)
    gbdt = train_models(df, cfg, period, seed=0, cache_dir=None).gbdt
    assert gbdt is not None and gbdt.config.num_leaves == 2
    leaves = [t["num_leaves"] for t in gbdt.booster.dump_model()["tree_info"]]
    assert leaves and max(leaves) == 2  # the default (15 leaves) grows larger trees on these rows


def test_gbdt_has_the_learner_protocol_and_adapts_in_batches(fitted):
    """adapt_batch = adapt per task; the adaptation planner (precomputed path, adapt=True) runs on LightGBM."""
    from maml_strategy.config import load_config
    from maml_strategy.dataset import symbol_features
    from maml_strategy.data import synthetic_ohlcv
    from maml_strategy.learners.protocol import LearnerProtocol
    from maml_strategy.precompute import AdaptationPlanner, Precomputed

    model, d = fitted
    assert isinstance(model, LearnerProtocol)
    sx = np.stack([d["xv"][:32], d["xv"][32:64]])
    sy = np.stack([d["yv"][:32] + 2.0, d["yv"][32:64] - 2.0])
    batch = model.adapt_batch(sx, sy, steps=3, lr=0.2)
    for n in range(2):
        one = model.adapt(sx[n], sy[n], steps=3, lr=0.2)
        assert torch.equal(model.predict(d["xh"], model.task_params(batch, n)), model.predict(d["xh"], one))
    before, after = model.task_losses(sx, sy), model.task_losses(sx, sy, batch)
    assert before.shape == (2,) and bool((after < before).all())

    cfg = load_config()
    sf = symbol_features(synthetic_ohlcv(1500, seed=5).drop(columns="regime"), cfg)
    pre = Precomputed.from_symbol_features(sf)
    ok = np.isfinite(sf.x).all(axis=1) & np.isfinite(sf.y)
    half = int(ok.sum()) // 2
    trees = train_gbdt(sf.x[ok][:half], sf.y[ok][:half], sf.x[ok][half:], sf.y[ok][half:], FAST, seed=0)
    planner = AdaptationPlanner(trees, pre, 0, support_size=32, horizon=cfg.features.lag,
                                vol_window=cfg.features.vol_window, steps=2, lr=0.1)
    t = int(np.flatnonzero(pre.transition)[-1])
    plan = planner.get(t)
    assert plan is not None and len(plan.support) == 32 and plan.loss_after < plan.loss_before
