"""Data layer: loading, the auto search order, and one test per bad-input case."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from maml_strategy.data import (
    DataWarning,
    load_ohlcv,
    normalise_yfinance,
    synthetic_ohlcv,
    validate_ohlcv,
)
from maml_strategy.errors import DataError


def _frame(n: int = 5) -> pd.DataFrame:
    idx = pd.bdate_range("2020-01-01", periods=n)
    close = np.linspace(100, 104, n)
    return pd.DataFrame(
        {"Date": idx.strftime("%Y-%m-%d"), "Open": close, "High": close + 1, "Low": close - 1,
         "Close": close, "Volume": np.full(n, 1000.0)}
    )


def _validate_quiet(df: pd.DataFrame, **kw) -> pd.DataFrame:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return validate_ohlcv(df, **kw)


# --- real data ---------------------------------------------------------------------------

def test_spy_2008_has_253_rows(spy_csv: Path) -> None:
    df = load_ohlcv("SPY", "2008-01-01", "2008-12-31")
    assert len(df) == 253
    assert list(df.columns) == ["open", "high", "low", "close", "volume", "adj_close"]
    assert all(df[c].dtype == np.float64 for c in df.columns)
    assert df.index.is_monotonic_increasing and df.index.is_unique and df.index.tz is None


def test_gspc_clean_from_1990(spy_csv: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = load_ohlcv("GSPC", "1990-01-01", "2023-12-28")
    assert (df[["open", "high", "low", "close"]] > 0).all().all()
    assert df.index[0] == pd.Timestamp("1990-01-02")


def test_gspc_zero_prices_1970s_raise(spy_csv: Path) -> None:
    with pytest.raises(DataError, match="zero or negative prices"):
        load_ohlcv("GSPC", "1970-01-01", "1975-12-31")


def test_auto_search_env_var_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    raw = _frame(10)
    raw.to_csv(tmp_path / "ZZZ.csv", index=False)
    monkeypatch.setenv("MAML_STRATEGY_DATA", str(tmp_path))
    df = load_ohlcv("zzz")
    assert len(df) == 10


def test_explicit_path_and_lowercase_format(tmp_path: Path) -> None:
    raw = _frame(6)
    raw.columns = [c.lower() for c in raw.columns]
    p = tmp_path / "x.csv"
    raw.to_csv(p, index=False)
    assert len(load_ohlcv("ANY", path=p)) == 6


def test_missing_everywhere_lists_places(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import yfinance

    def boom(*a, **k):
        raise ConnectionError("no network")

    monkeypatch.setattr(yfinance, "download", boom)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MAML_STRATEGY_DATA", raising=False)
    with pytest.raises(DataError) as err:
        load_ohlcv("NOPE")
    msg = str(err.value)
    assert "$MAML_STRATEGY_DATA" in msg and "./data cache" in msg and "../shared/data" in msg
    assert "yfinance" in msg and "no network" in msg


def test_yfinance_multiindex_normalised_and_cached(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import yfinance

    base = _frame(5).set_index("Date")
    base.index = pd.to_datetime(base.index)
    base["Adj Close"] = base["Close"] * 0.9
    cols = pd.MultiIndex.from_product([["Open", "High", "Low", "Close", "Volume", "Adj Close"], ["QQQ"]],
                                      names=["Price", "Ticker"])
    raw = pd.DataFrame(base[["Open", "High", "Low", "Close", "Volume", "Adj Close"]].to_numpy(), index=base.index,
                       columns=cols)
    calls = {}

    def fake_download(symbol, **kw):
        calls.update(kw)
        return raw

    monkeypatch.setattr(yfinance, "download", fake_download)
    monkeypatch.chdir(tmp_path)
    df = load_ohlcv("QQQ", source="yfinance")
    assert calls["auto_adjust"] is False
    np.testing.assert_allclose(df["adj_close"], base["Close"] * 0.9)
    assert (tmp_path / "data" / "QQQ.csv").is_file()
    # second load finds the cache through the auto search without the network
    monkeypatch.setattr(yfinance, "download", lambda *a, **k: (_ for _ in ()).throw(AssertionError("network")))
    assert len(load_ohlcv("QQQ")) == 5


def test_normalise_yfinance_flat_columns_passthrough() -> None:
    df = _frame(3).set_index("Date")
    assert list(normalise_yfinance(df, "X").columns) == list(df.columns)


# --- one test per bad-input case ----------------------------------------------------------

def test_clean_frame_passes_without_warnings() -> None:
    df = _validate_quiet(_frame())
    assert list(df.columns) == ["open", "high", "low", "close", "volume"]


def test_string_columns_coerced_with_warning() -> None:
    raw = _frame().astype({"Close": str})
    with pytest.warns(DataWarning, match="column 'close' held text; converted 5 values"):
        df = validate_ohlcv(raw)
    assert df["close"].dtype == np.float64


def test_unparseable_strings_become_nan_rows_dropped() -> None:
    raw = _frame().astype({"Close": object})
    raw.loc[2, "Close"] = "n/a"
    with pytest.warns(DataWarning) as rec:
        df = validate_ohlcv(raw)
    msgs = [str(w.message) for w in rec]
    assert any("1 value(s) were not numbers" in m for m in msgs)
    assert any("dropped 1 row(s) with missing prices" in m for m in msgs)
    assert len(df) == 4


def test_nan_rows_dropped_with_count() -> None:
    raw = _frame()
    raw.loc[[1, 3], "Open"] = np.nan
    with pytest.warns(DataWarning, match="dropped 2 row"):
        df = validate_ohlcv(raw)
    assert len(df) == 3


def test_nan_volume_set_to_zero() -> None:
    raw = _frame()
    raw.loc[0, "Volume"] = np.nan
    with pytest.warns(DataWarning, match="set missing volume to 0 on 1 row"):
        df = validate_ohlcv(raw)
    assert df["volume"].iloc[0] == 0.0


def test_missing_column_raises() -> None:
    with pytest.raises(DataError, match=r"missing column\(s\) \['volume'\]"):
        validate_ohlcv(_frame().drop(columns=["Volume"]))


def test_no_date_raises() -> None:
    with pytest.raises(DataError, match="no date column"):
        validate_ohlcv(_frame().drop(columns=["Date"]))


def test_bad_date_raises() -> None:
    raw = _frame()
    raw.loc[1, "Date"] = "not a date"
    with pytest.raises(DataError, match="could not be parsed"):
        validate_ohlcv(raw)


def test_unsorted_dates_sorted_with_warning() -> None:
    raw = _frame().iloc[[0, 2, 1, 3, 4]]
    with pytest.warns(DataWarning, match="sorted 5 rows"):
        df = validate_ohlcv(raw)
    assert df.index.is_monotonic_increasing


def test_identical_duplicates_dropped() -> None:
    raw = pd.concat([_frame(), _frame().iloc[[2]]]).sort_values("Date", kind="stable")
    with pytest.warns(DataWarning, match="dropped 1 duplicate"):
        df = validate_ohlcv(raw)
    assert len(df) == 5 and df.index.is_unique


def test_conflicting_duplicates_raise() -> None:
    dup = _frame().iloc[[2]].copy()
    dup["Close"] += 0.5
    with pytest.raises(DataError, match="more than once with different prices"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DataWarning)
            validate_ohlcv(pd.concat([_frame(), dup]))


@pytest.mark.parametrize("value", [0.0, -1.0])
def test_non_positive_prices_raise(value: float) -> None:
    raw = _frame()
    raw.loc[2, "Low"] = value
    with pytest.raises(DataError, match="zero or negative prices"):
        validate_ohlcv(raw)


def test_negative_volume_raises() -> None:
    raw = _frame()
    raw.loc[2, "Volume"] = -5
    with pytest.raises(DataError, match="negative volume"):
        validate_ohlcv(raw)


def test_high_below_low_raises() -> None:
    raw = _frame()
    raw.loc[2, ["High", "Low"]] = [90.0, 95.0]
    with pytest.raises(DataError, match="high < low"):
        validate_ohlcv(raw)


def test_open_outside_range_widened() -> None:
    raw = _frame()
    raw.loc[1, "Open"] = raw.loc[1, "High"] + 0.5
    with pytest.warns(DataWarning, match="widened high/low on 1 row"):
        df = validate_ohlcv(raw)
    assert df["high"].iloc[1] == raw.loc[1, "Open"]


def test_too_few_rows_raises() -> None:
    with pytest.raises(DataError, match="5 valid row\\(s\\), but 100 are needed"):
        validate_ohlcv(_frame(), min_rows=100)


def test_requested_range_too_short_raises(spy_csv: Path) -> None:
    with pytest.raises(DataError, match="rows between"):
        load_ohlcv("SPY", "2008-01-01", "2008-01-31", min_rows=100)


def test_range_outside_data_raises(spy_csv: Path) -> None:
    with pytest.raises(DataError, match="no rows between"):
        load_ohlcv("SPY", "2030-01-01", "2031-01-01")


def test_not_a_frame_raises() -> None:
    with pytest.raises(DataError, match="expected a pandas DataFrame"):
        validate_ohlcv([1, 2, 3])  # type: ignore[arg-type]


def test_input_not_modified() -> None:
    raw = _frame().iloc[[1, 0, 2, 3, 4]]
    before = raw.copy()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        validate_ohlcv(raw)
    pd.testing.assert_frame_equal(raw, before)


def test_tz_aware_index_converted() -> None:
    raw = _frame().set_index("Date")
    raw.index = pd.to_datetime(raw.index).tz_localize("America/New_York")
    with pytest.warns(DataWarning, match="timezone-aware"):
        df = validate_ohlcv(raw)
    assert df.index.tz is None


# --- synthetic ---------------------------------------------------------------------------

def test_synthetic_is_valid_and_deterministic() -> None:
    a = synthetic_ohlcv(500, seed=3)
    b = synthetic_ohlcv(500, seed=3)
    pd.testing.assert_frame_equal(a, b)
    _validate_quiet(a.drop(columns=["regime"]))
    assert set(a["regime"]) <= {"bull_low_vol", "bull_high_vol", "bear_low_vol", "bear_high_vol",
                                "sideways_low_vol", "sideways_high_vol"}


def test_synthetic_plan_respected() -> None:
    df = synthetic_ohlcv(100, regimes=[("bull_low_vol", 30), ("bear_high_vol", 20)])
    assert (df["regime"].iloc[:30] == "bull_low_vol").all()
    assert (df["regime"].iloc[30:50] == "bear_high_vol").all()
    with pytest.raises(DataError, match="unknown regime"):
        synthetic_ohlcv(10, regimes=[("up", 5)])
