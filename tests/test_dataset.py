"""The one dataset pipeline: label masking at window ends, pooled symbols, symbol-balanced tasks, no look-ahead."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pandas as pd
import pytest
import torch

from maml_strategy.backtest import custom_period, train_models
from maml_strategy.config import StrategyConfig
from maml_strategy.data import synthetic_ohlcv
from maml_strategy.dataset import pool_windows, symbol_features
from maml_strategy.tasks import TaskSampler
from tests.helpers import tiny_config

CFG = StrategyConfig()


@pytest.fixture(scope="module")
def feats():
    return {f"S{i}": symbol_features(synthetic_ohlcv(1500 + 300 * i, seed=40 + i).drop(columns="regime"), CFG, f"S{i}")
            for i in range(3)}


def test_labels_never_cross_their_window(feats) -> None:
    windows = {"fit": ("2002-01-01", "2003-06-30"), "val": ("2003-07-01", "2004-06-30")}
    pooled = pool_windows(feats, windows, fit_window="fit", cfg=CFG)
    h = CFG.features.horizon
    for name, (a, b) in windows.items():
        rows = np.flatnonzero(np.isfinite(pooled.labels[name]))
        assert len(rows)
        dates = pd.DatetimeIndex(pooled.dates[rows])
        assert dates.min() >= pd.Timestamp(a) and dates.max() <= pd.Timestamp(b)
        for sid, sym in enumerate(pooled.symbols):  # the label's horizon ends inside the window
            sf = feats[sym]
            mine = rows[pooled.symbol_id[rows] == sid]
            last = pd.Timestamp(pooled.dates[mine].max())
            assert sf.pos(last) + h <= sf.pos(b, side="right") - 1
    assert set(pooled.symbols) == set(feats)


def test_segments_are_clipped_and_tagged_with_their_symbol(feats) -> None:
    pooled = pool_windows(feats, {"w": ("2002-01-01", "2004-12-31")}, fit_window="w", cfg=CFG)
    for seg, sym in zip(pooled.segments["w"], pooled.segment_symbol["w"]):
        ids = set(pooled.symbol_id[seg.start_pos : seg.end_pos + 1])
        assert ids == {pooled.symbols.index(sym)}
        assert pd.Timestamp("2002-01-01") <= seg.start and seg.end <= pd.Timestamp("2004-12-31")


def test_sampler_balances_symbols_within_a_regime() -> None:
    class Seg:
        def __init__(self, a: int, b: int) -> None:
            self.regime, self.start_pos, self.end_pos = "bull_low_vol", a, b

    x = np.random.default_rng(0).normal(size=(1000, 4))
    y = np.random.default_rng(1).normal(size=1000)
    # symbol A has 9 segments, B has 1: sampling must still pick B about half of the time
    segs = [Seg(100 * i, 100 * i + 60) for i in range(10)]
    groups = ["A"] * 9 + ["B"]
    sampler = TaskSampler(segs, x, y, support_size=8, query_size=4, horizon=2, groups=groups, seed=0)
    batch = sampler.sample(400)
    count = Counter("B" if sid == 9 else "A" for sid in batch.segment_ids)
    assert 150 < count["B"] < 250


def test_universe_models_ignore_prices_after_train_end() -> None:
    period = custom_period("2002-01-01", "2005-12-31", "2006-01-01", "2006-12-31")
    cfg = tiny_config()
    frames = {f"S{i}": synthetic_ohlcv(2000, seed=60 + i).drop(columns="regime") for i in range(2)}
    other = {k: v.copy() for k, v in frames.items()}
    after = other["S1"].index > period.train_end
    for col in ("open", "high", "low", "close"):
        other["S1"].loc[after, col] *= 1.7
    a = train_models(frames, cfg, period, seed=0, cache_dir=None)
    b = train_models(other, cfg, period, seed=0, cache_dir=None)
    for m in ("maml", "static"):
        pa, pb = getattr(a, m).model.state_dict(), getattr(b, m).model.state_dict()
        assert all(torch.equal(pa[k], pb[k]) for k in pa)
    assert a.history["symbols"] == ["S0", "S1"]
