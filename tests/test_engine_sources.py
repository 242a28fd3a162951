"""SignalEngine: one decision core over two row sources that share the one support rule."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
import torch

from maml_strategy.config import StrategyConfig
from maml_strategy.data import synthetic_ohlcv
from maml_strategy.dataset import symbol_features
from maml_strategy.engine import PrecomputedRows, SignalEngine, StreamingRows
from maml_strategy.features import FeatureScaler
from maml_strategy.precompute import Precomputed, support_positions


class _Linear:
    def __init__(self, scaler: FeatureScaler) -> None:
        self.scaler = scaler
        self.w = torch.zeros(scaler.n_features)

    def predict(self, x, params=None):
        return x @ self.w


@pytest.fixture(scope="module")
def series():
    cfg = StrategyConfig()
    df = synthetic_ohlcv(1100, seed=11).drop(columns="regime")
    sf = symbol_features(df, cfg, "SYN")
    scaler = FeatureScaler().fit(sf.x[np.isfinite(sf.x).all(axis=1)])
    return cfg, df, sf, scaler


def test_on_bar_is_a_short_decision_core() -> None:
    src = inspect.getsource(SignalEngine.on_bar)
    assert len(src.splitlines()) <= 30
    assert "precomputed" not in src.split('"""')[-1]  # no mode flag in the body


def test_streaming_support_is_the_precomputed_support_rule(series) -> None:
    cfg, df, sf, scaler = series
    engine = SignalEngine(_Linear(scaler), adapt=False, features=cfg.features, support_size=16)
    assert isinstance(engine.source, StreamingRows) and not isinstance(engine.source, PrecomputedRows)
    valid = np.isfinite(sf.x).all(axis=1) & np.isfinite(sf.y)
    valid[: engine.extractor.min_history - 1] = False  # streaming rows start once the feature window is full
    checked = 0
    for t, r in enumerate(df.itertuples()):
        engine.on_bar(r.Index, r.open, r.high, r.low, r.close, r.volume)
        if t % 37 or t < engine.extractor.min_history:
            continue
        xs, ys, ds = engine.support_window()
        sup = support_positions(t, 0, valid, support_size=16, horizon=cfg.features.lag,
                                vol_window=cfg.features.vol_window)
        assert [np.datetime64(d, "ns") for d in ds] == list(sf.index.values[sup])
        np.testing.assert_allclose(ys, sf.y[sup], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(xs, scaler.transform(sf.x[sup]), rtol=1e-5, atol=1e-5)
        checked += 1
    assert checked > 10


def test_both_sources_give_the_same_rows(series) -> None:
    cfg, df, sf, scaler = series
    pre = Precomputed.from_symbol_features(sf)
    stream = SignalEngine(_Linear(scaler), adapt=False, regime=cfg.regime, features=cfg.features)
    fast = SignalEngine(_Linear(scaler), adapt=False, regime=cfg.regime, features=cfg.features, precomputed=pre)
    assert isinstance(fast.source, PrecomputedRows)
    n_rows = 0
    for t, r in enumerate(df.itertuples()):
        bar = (r.open, r.high, r.low, r.close, r.volume)
        a, b = stream.source.row(r.Index, bar), fast.source.row(r.Index, bar)
        if t + 1 < stream.extractor.min_history:  # the streaming extractor waits for its whole window
            assert a.scaled is None
            continue
        assert (a.regime, a.transition, a.scaled is None) == (b.regime, b.transition, b.scaled is None)
        if a.scaled is not None:
            np.testing.assert_allclose(a.scaled, b.scaled, rtol=1e-5, atol=1e-5)
            n_rows += 1
    assert n_rows > 300


def test_locate_finds_rows_by_date_and_rejects_others(series) -> None:
    import pandas as pd

    from maml_strategy.errors import ConfigError

    _, df, sf, _ = series
    pre = Precomputed.from_symbol_features(sf).window(df.index[100], df.index[-1])
    assert pre.locate(df.index[100]) == 0
    assert pre.locate(df.index[150], 50) == 50  # the hint
    assert pre.locate(df.index[150], 7) == 50  # a wrong hint: searched
    assert pre.locate(pd.Timestamp(df.index[150].to_pydatetime())) == 50  # a microsecond-unit Timestamp
    for ts in (df.index[99], df.index[150] + pd.Timedelta(hours=1), df.index[-1] + pd.Timedelta(days=1)):
        with pytest.raises(ConfigError, match="not in the precomputed"):
            pre.locate(ts)


def test_list_ring_holds_what_the_numpy_ring_holds() -> None:
    from maml_strategy.engine import _ListRing, _Ring

    rng = np.random.default_rng(0)
    rings = [(_Ring(7, 5, np.float64), _ListRing(7, 5, np.float64)),
             (_Ring(7, 1, "datetime64[ns]"), _ListRing(7, 1, "datetime64[ns]"))]
    for t in range(40):
        bar = tuple(rng.normal(size=5).tolist())
        rings[0][0].append(bar), rings[0][1].append(bar)
        day = np.datetime64(1_600_000_000_000_000_000 + t * 86_400 * 10**9, "ns")
        rings[1][0].append(day), rings[1][1].append(day)
        for a, b in rings:
            assert len(a) == len(b)
            for n in (0, 1, 3, 7, 9):
                x, y = a.last(n), b.last(n)
                assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes()
