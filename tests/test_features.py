"""Tests of maml_strategy.features.extractor: shapes, causality, window == full history."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from maml_strategy.errors import ConfigError, DataError
from maml_strategy.features.extractor import (
    CROSS_FEATURE_NAMES,
    FEATURE_NAMES,
    FeatureRow,
    Features,
    MultiTimeframeExtractor,
    flat_feature_names,
)

TOL = 1e-9


@pytest.fixture(scope="module")
def ext() -> MultiTimeframeExtractor:
    return MultiTimeframeExtractor()


@pytest.fixture(scope="module")
def spy_feats(spy: pd.DataFrame, ext: MultiTimeframeExtractor) -> Features:
    return ext.transform(spy)


@pytest.fixture(scope="module")
def synth() -> pd.DataFrame:
    from maml_strategy.data import synthetic_ohlcv

    return synthetic_ohlcv(1400, seed=3).drop(columns="regime")


def assert_same(a: np.ndarray, b: np.ndarray) -> None:
    """Equal within TOL, NaN == NaN."""
    assert a.shape == b.shape
    assert np.array_equal(np.isnan(a), np.isnan(b))
    m = ~np.isnan(a)
    if m.any():
        assert np.max(np.abs(a[m] - b[m])) <= TOL


# The names and column order before the features were named where computed (PR "arch");
# models on disk rely on this order, so it must never change silently.
PREVIOUS_FEATURE_NAMES = (
    "ret_1", "ret_3", "ret_5", "ret_10", "ret_15", "ret_23", "vol_5", "vol_10", "vol_20", "vol_ratio_5_20",
    "downside_vol_20", "efficiency_10", "parkinson_vol_10", "atr_pct_14", "atr_pct_5", "range_pct_1", "rsi_14",
    "rsi_7", "macd_line", "macd_signal", "macd_hist", "bb_pctb_20", "bb_width_20", "sma_ratio_5", "sma_ratio_10",
    "sma_ratio_20", "sma_cross_5_20", "dist_high_10", "dist_low_10", "dist_high_24", "dist_low_24", "range_pos_20",
    "volume_z_20", "volume_ratio_5_20", "skew_20", "kurt_20", "up_frac_10", "up_frac_20", "gap_1", "body_1",
    "close_loc_1", "autocorr_20", "max_drawdown_24", "trend_tstat_20", "trend_r2_20",
)
PREVIOUS_CROSS_FEATURE_NAMES = (
    "trend_agreement", "momentum_agreement", "vol_ratio_fast_mid", "vol_ratio_mid_slow", "vol_ratio_fast_slow",
    "rsi_spread_fast_slow", "range_pos_spread_fast_slow", "trend_strength_mean",
)


def test_names_and_column_order_unchanged(synth: pd.DataFrame, ext: MultiTimeframeExtractor) -> None:
    from maml_strategy.features.block import LOOKBACK, block_columns

    assert FEATURE_NAMES == PREVIOUS_FEATURE_NAMES
    assert CROSS_FEATURE_NAMES == PREVIOUS_CROSS_FEATURE_NAMES
    x = np.linspace(1.0, 2.0, LOOKBACK)[None, :]
    assert tuple(block_columns(x, x * 1.1, x * 0.9, x, x)) == PREVIOUS_FEATURE_NAMES
    frame = ext.transform(synth).to_frame()
    assert list(frame.columns) == [f"{tf}:{n}" for tf in "DWM" for n in PREVIOUS_FEATURE_NAMES] + [
        f"cross:{n}" for n in PREVIOUS_CROSS_FEATURE_NAMES
    ]
    # each name labels the column it describes (independent pandas formulas on the daily block)
    ok = ext.transform(synth).valid
    c, o, h, lo = synth["close"], synth["open"], synth["high"], synth["low"]
    lc = np.log(c)
    expected = {
        "D:ret_1": lc.diff(),
        "D:ret_10": lc.diff(10),
        "D:range_pct_1": (h - lo) / c,
        "D:gap_1": np.log(o / c.shift(1)),
        "D:up_frac_10": (lc.diff() > 0).astype(float).rolling(10).mean(),
        "D:sma_ratio_20": np.log(c / c.rolling(20).mean()),
        "D:vol_20": lc.diff().rolling(20).std(),
    }
    for name, series in expected.items():
        assert np.allclose(frame[name][ok], series[ok], atol=1e-9), name


# ------------------------------------------------------------------- shape
def test_names_and_shapes(synth: pd.DataFrame, ext: MultiTimeframeExtractor) -> None:
    assert len(FEATURE_NAMES) == 45 == len(set(FEATURE_NAMES))
    assert len(CROSS_FEATURE_NAMES) == 8 == len(set(CROSS_FEATURE_NAMES))
    assert ext.feature_names == FEATURE_NAMES and ext.cross_feature_names == CROSS_FEATURE_NAMES
    assert ext.n_timeframes == 3 and ext.n_features == 143
    assert ext.window <= 600 and ext.min_history == ext.window
    f = ext.transform(synth)
    n = len(synth)
    assert f.per_tf.shape == (n, 3, 45) and f.cross.shape == (n, 8) and f.valid.shape == (n,)
    assert f.per_tf.dtype == np.float64 and f.cross.dtype == np.float64 and f.valid.dtype == bool
    assert f.index.equals(synth.index) and len(f) == n
    flat = f.flat()
    assert flat.shape == (n, 143) and flat.dtype == np.float64
    assert_same(flat[:, :45], f.per_tf[:, 0])
    assert_same(flat[:, 90:135], f.per_tf[:, 2])
    assert_same(flat[:, 135:], f.cross)
    assert list(f.to_frame().columns) == ext.flat_feature_names == flat_feature_names()
    assert ext.flat_feature_names[0] == "D:ret_1" and ext.flat_feature_names[-1] == "cross:trend_strength_mean"
    row = ext.transform_last(synth)
    assert isinstance(row, FeatureRow) and row.per_tf.shape == (3, 45) and row.cross.shape == (8,)
    assert row.flat().shape == (143,) and row.valid and row.timestamp == synth.index[-1]


def test_valid_mask_and_bounds(synth: pd.DataFrame, ext: MultiTimeframeExtractor) -> None:
    f = ext.transform(synth)
    flat = f.flat()
    assert np.array_equal(f.valid, np.isfinite(flat).all(axis=1))
    first = int(np.argmax(f.valid))
    assert 0 < first <= ext.min_history and f.valid[first:].all() and not f.valid[:first].any()
    assert np.abs(flat[f.valid]).max() <= 10.0
    # daily block is available long before the monthly one
    assert np.isfinite(f.per_tf[30, 0]).all() and np.isnan(f.per_tf[30, 2]).all()


def test_scale_free(synth: pd.DataFrame, ext: MultiTimeframeExtractor) -> None:
    scaled = synth.copy()
    scaled[["open", "high", "low", "close"]] *= 37.0
    scaled["volume"] *= 11.0
    a, b = ext.transform(synth).flat(), ext.transform(scaled).flat()
    assert np.array_equal(np.isnan(a), np.isnan(b))
    # exact up to rounding, except volume_z_20 which uses log(1 + volume)
    assert np.nanmax(np.abs(a - b)) < 1e-5


@pytest.mark.parametrize("tfs", [("D",), ("D", "W"), ("W", "M"), ("M",)])
def test_timeframe_subsets(synth: pd.DataFrame, tfs: tuple[str, ...]) -> None:
    ext = MultiTimeframeExtractor(tfs)
    f = ext.transform(synth)
    assert f.flat().shape == (len(synth), 45 * len(tfs) + 8) and f.timeframes == tfs
    t = len(synth) - 1
    assert_same(ext.transform_last(synth.iloc[t - ext.window + 1 :]).flat(), f.flat()[t])
    full = MultiTimeframeExtractor().transform(synth)
    k = [("D", "W", "M").index(tf) for tf in tfs]
    assert_same(f.per_tf, full.per_tf[:, k])


def test_config_and_input_errors(synth: pd.DataFrame, ext: MultiTimeframeExtractor) -> None:
    for bad in [(), ("H",), ("M", "D"), ("D", "D")]:
        with pytest.raises(ConfigError):
            MultiTimeframeExtractor(bad)
    with pytest.raises(DataError, match="volume"):
        ext.transform(synth.drop(columns="volume"))
    with pytest.raises(DataError, match="DatetimeIndex"):
        ext.transform(synth.reset_index(drop=True))
    with pytest.raises(DataError, match="increasing"):
        ext.transform(synth.iloc[::-1])
    with pytest.raises(DataError, match="no rows"):
        ext.transform_last(synth.iloc[:0])
    bad = synth.copy()
    bad.iloc[5, 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        ext.transform(bad)
    bad = synth.copy()
    bad.iloc[-5, 3] = -1.0
    with pytest.raises(DataError, match="positive"):
        ext.transform_last(bad)
    with pytest.raises(DataError):
        ext.transform(synth["close"])  # type: ignore[arg-type]


def test_short_history_gives_nan_rows(synth: pd.DataFrame, ext: MultiTimeframeExtractor) -> None:
    f = ext.transform(synth.iloc[:50])
    assert not f.valid.any()
    row = ext.transform_last(synth.iloc[:50])
    assert not row.valid and np.isfinite(row.per_tf[0]).all() and np.isnan(row.per_tf[1:]).all()
    assert_same(row.flat(), f.flat()[-1])


def test_higher_timeframe_visible_next_period(synth: pd.DataFrame, ext: MultiTimeframeExtractor) -> None:
    """Weekly/monthly blocks change only on the first row of a new period."""
    f = ext.transform(synth)
    idx = synth.index
    week = idx.to_period("W-FRI").asi8
    month = idx.to_period("M").asi8
    for k, key in ((1, week), (2, month)):
        block = f.per_tf[:, k]
        ok = np.isfinite(block).all(axis=1)
        changed = np.r_[False, np.any(block[1:] != block[:-1], axis=1)] & ok & np.r_[False, ok[:-1]]
        new_period = np.r_[False, key[1:] != key[:-1]]
        assert changed.any() and not (changed & ~new_period).any()


def test_weekly_block_matches_pandas_resample(synth: pd.DataFrame, ext: MultiTimeframeExtractor) -> None:
    """Independent check of the weekly aggregation against pandas' W-FRI resample."""
    from maml_strategy.features.block import block as _block

    f = ext.transform(synth)
    wk = synth.resample("W-FRI").agg(
        {"open": "first", "high": "max", "low": "min", "close": "last", "volume": "sum"}
    ).dropna()
    t = len(synth) - 1  # the last row sees weekly bars up to the previous week
    prev = wk[wk.index < synth.index[t].to_period("W-FRI").start_time].iloc[-24:]
    expect = _block(*(prev[c].to_numpy()[None, :] for c in ("open", "high", "low", "close", "volume")))[0]
    assert_same(f.per_tf[t, 1], expect)


# ---------------------------------------------------------------- real data
def test_spy_transform_last_equals_transform(
    spy: pd.DataFrame, spy_feats: Features, ext: MultiTimeframeExtractor
) -> None:
    flat = spy_feats.flat()
    rng = np.random.default_rng(1)
    w = ext.window
    for t in list(rng.integers(w - 1, len(spy), 25)) + [w - 1, len(spy) - 1]:
        t = int(t)
        row = ext.transform_last(spy.iloc[t - w + 1 : t + 1])
        assert row.valid
        assert_same(row.flat(), flat[t])
    # a longer input gives the same row, prefixes at the very start too
    assert_same(ext.transform_last(spy.iloc[:3000]).flat(), flat[2999])
    for t in (0, 23, 200, 520):
        assert_same(ext.transform_last(spy.iloc[: t + 1]).flat(), flat[t])


def test_spy_causality(spy: pd.DataFrame, spy_feats: Features, ext: MultiTimeframeExtractor) -> None:
    flat = spy_feats.flat()
    rng = np.random.default_rng(2)
    for t in rng.integers(ext.window, len(spy), 20):
        t = int(t)
        assert_same(ext.transform(spy.iloc[:t]).flat()[t - 1], flat[t - 1])
    t = 5000
    shocked = spy.copy()
    shocked.iloc[t + 1 :, :5] *= np.linspace(0.5, 2.0, len(spy) - t - 1)[:, None]
    g = ext.transform(shocked).flat()
    assert_same(g[: t + 1], flat[: t + 1])
    assert not np.allclose(g[t + 1 :], flat[t + 1 :])


def test_spy_features_finite_and_bounded(spy_feats: Features, ext: MultiTimeframeExtractor) -> None:
    flat = spy_feats.flat()
    v = spy_feats.valid
    first = int(np.argmax(v))
    assert first <= ext.min_history and v[first:].all()
    assert np.isfinite(flat[v]).all() and np.abs(flat[v]).max() <= 10.0
    # no constant columns on 30 years of data
    assert (flat[v].std(axis=0) > 0).all()


def test_spy_transform_speed(spy: pd.DataFrame, ext: MultiTimeframeExtractor) -> None:
    t0 = time.perf_counter()
    ext.transform(spy)
    assert time.perf_counter() - t0 < 2.0  # ~0.1 s on one core
    w = spy.iloc[-ext.window :]
    t0 = time.perf_counter()
    for _ in range(20):
        ext.transform_last(w)
    assert (time.perf_counter() - t0) / 20 < 0.01  # ~0.6 ms; loose bound for shared CI


def test_transform_last_arrays(synth: pd.DataFrame, ext: MultiTimeframeExtractor) -> None:
    flat = ext.transform(synth).flat()
    arr = synth[["open", "high", "low", "close", "volume"]].to_numpy()
    for t in (len(synth) - 1, 900, 40):
        lo = max(0, t - ext.window + 1)
        row = ext.transform_last_arrays(synth.index[lo : t + 1], arr[lo : t + 1])
        assert_same(row.flat(), flat[t])
        assert row.timestamp == synth.index[t]
    assert_same(ext.transform_last_arrays(synth.index.values, arr).flat(), flat[-1])
    with pytest.raises(DataError, match="shape"):
        ext.transform_last_arrays(synth.index, arr[:, :4])
    with pytest.raises(DataError, match="no rows"):
        ext.transform_last_arrays(synth.index[:0], arr[:0])


@pytest.mark.realdata
def test_transform_rows_do_not_depend_on_later_bars_bitwise():
    """A row computed on the full history equals, bit for bit, the row computed on data cut at that row.

    (BLAS matrix products are not row-independent; the extractor must not use them.)
    """
    import numpy as np

    from maml_strategy.data import load_ohlcv

    df = load_ohlcv("SPY", "1995-01-01", "2012-12-31")
    ex = MultiTimeframeExtractor()
    full = ex.transform(df).flat()
    for cut in ("2001-09-10", "2008-10-10"):
        part = ex.transform(df.loc[:cut]).flat()
        assert np.array_equal(np.nan_to_num(full[: len(part)], nan=123.0), np.nan_to_num(part, nan=123.0))
