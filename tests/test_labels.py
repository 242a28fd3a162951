"""The causal rules of maml_strategy.features.labels have one home, and every gap calls it."""

from __future__ import annotations

import numpy as np
import pytest

import maml_strategy.features as features
from maml_strategy.config import FeatureConfig, StrategyConfig
from maml_strategy.data import synthetic_ohlcv
from maml_strategy.dataset import feature_layout, pool_windows, symbol_features
from maml_strategy.features import MultiTimeframeExtractor, before_validation, known_at, support_history
from maml_strategy.learners.gbdt import split_window
from maml_strategy.precompute import support_positions
from maml_strategy.strategy import MAMLRegimeStrategy
from maml_strategy.learners.static import time_split


def test_the_unused_copy_of_the_support_rule_is_gone() -> None:
    assert not hasattr(features, "known_label_positions")
    assert not hasattr(features.labels, "known_label_positions")
    assert "known_label_positions" not in features.__all__


@pytest.mark.parametrize("lag", [1, 5, 6])
def test_static_and_gbdt_splits_keep_the_same_training_rows(lag: int) -> None:
    n, first_val = 60, 45
    positions = np.arange(n)
    train, val = time_split(n, positions, (n - first_val) / n, horizon=lag)
    assert val[0] == first_val
    xt, _, xv, _ = split_window(positions[:, None].astype(float), positions.astype(float), np.ones(n, bool),
                                first_val, lag)
    assert train.tolist() == xt[:, 0].astype(int).tolist() == list(range(first_val - lag))
    assert len(xv) == n - first_val
    # the last training label is known by the last bar before validation, not on its first bar
    assert known_at(train[-1], first_val - 1, lag) and not before_validation(train[-1] + 1, first_val, lag)


def test_the_split_gap_is_the_window_mask_of_the_dataset() -> None:
    """A training window that ends the bar before validation keeps the same rows as before_validation."""
    cfg = StrategyConfig()
    df = synthetic_ohlcv(900, seed=3).drop(columns="regime")
    sf = symbol_features(df, cfg, "SYN")
    first_val = 800
    windows = {"fit": (df.index[0], df.index[first_val - 1]), "val": (df.index[first_val], df.index[-1])}
    pooled = pool_windows([sf], windows, fit_window="fit", cfg=cfg, min_rows=10)
    pos = np.arange(len(df))
    kept = np.isfinite(pooled.labels["fit"])
    assert kept.any()
    np.testing.assert_array_equal(kept, np.isfinite(sf.y) & before_validation(pos, first_val, cfg.features.lag))


def test_support_positions_use_only_known_labels() -> None:
    rng = np.random.default_rng(0)
    valid = rng.random(300) < 0.8
    for t in range(0, 300, 7):
        sup = support_positions(t, 10, valid, support_size=16, horizon=6, vol_window=20)
        assert len(sup) <= 16 and known_at(sup, t, 6).all() and valid[sup].all()
        assert (sup >= 30).all() and (np.diff(sup) > 0).all()


def test_feature_names_have_one_spelling() -> None:
    cfg = StrategyConfig()
    names, n_cross, _ = feature_layout(cfg)
    assert names == MultiTimeframeExtractor(timeframes=tuple(cfg.features.timeframes)).flat_feature_names
    assert names[0] == "D:ret_1" and names[-1].startswith("cross:") and n_cross == 8


def test_the_warm_up_is_one_support_history() -> None:
    cfg = StrategyConfig(features=FeatureConfig(label="tradable"))
    k = support_history(cfg.maml.support_size, cfg.features.lag, cfg.features.vol_window)
    assert k == cfg.maml.support_size + 6 + 20 + 2
    assert MAMLRegimeStrategy.warmup_bars(cfg, precomputed=True) == k
    assert MAMLRegimeStrategy.warmup_bars(cfg, precomputed=False) > k
