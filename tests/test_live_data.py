"""Robinhood bars: parsed by the live layer, validated by the shared validator; the data layer never imports live."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pandas as pd
import pytest

from maml_strategy.data import load_ohlcv
from maml_strategy.errors import DataError
from maml_strategy.live import load_robinhood_ohlcv
from maml_strategy.live.parse import from_robinhood_historicals


def test_data_layer_never_imports_live() -> None:
    code = ("import sys, maml_strategy.data as d; d.load_ohlcv; "
            "print(sorted(m for m in sys.modules if m.startswith('maml_strategy.live')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_robinhood_source_points_at_the_live_api() -> None:
    with pytest.raises(DataError, match="maml_strategy.live.load_robinhood_ohlcv"):
        load_ohlcv("SPY", source="robinhood")


def test_robinhood_string_prices() -> None:
    recs = [
        {"begins_at": f"2020-01-0{i}T00:00:00Z", "open_price": "10.5", "high_price": "11.0",
         "low_price": "10.0", "close_price": "10.75", "volume": 100, "session": "reg"}
        for i in range(2, 7)
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        df = from_robinhood_historicals(recs, "SPY")
    assert df["close"].dtype == np.float64 and df["close"].iloc[0] == 10.75
    assert df.index.tz is None and df.index[0] == pd.Timestamp("2020-01-02")


def test_robinhood_none_raises() -> None:
    with pytest.raises(DataError, match="no historicals"):
        from_robinhood_historicals(None, "SPY")
    with pytest.raises(DataError, match="no historicals"):
        from_robinhood_historicals([None], "SPY")


def test_robinhood_missing_field_raises() -> None:
    with pytest.raises(DataError, match="lack field"):
        from_robinhood_historicals([{"begins_at": "2020-01-02T00:00:00Z", "open_price": "1"}], "SPY")


def test_robinhood_bad_bar_is_caught_by_the_shared_validator() -> None:
    rec = [{"begins_at": "2020-01-02T00:00:00Z", "open_price": "10", "high_price": "11",
            "low_price": "9", "close_price": "-5", "volume": 1}]
    with pytest.raises(DataError, match=r"\[robinhood:SPY\].*negative prices"):
        from_robinhood_historicals(rec, "SPY")


def test_load_robinhood_ohlcv_offline() -> None:
    """Goes through the client's historicals (network replaced) and slices the dates."""
    recs = [
        {"begins_at": f"2020-01-{d:02d}T00:00:00Z", "open_price": "300.5", "high_price": "301.0",
         "low_price": "299.0", "close_price": "300.75", "volume": 1000, "interpolated": d == 6}
        for d in (2, 3, 6, 7, 8)
    ]

    class Client:
        def get_historicals(self, symbol, interval="day", span="5year"):
            return from_robinhood_historicals(recs, symbol, interval=interval)

    df = load_robinhood_ohlcv("SPY", end="2020-01-07", client=Client())
    assert list(df.index.strftime("%Y-%m-%d")) == ["2020-01-02", "2020-01-03", "2020-01-07"]  # interpolated dropped
    assert df["close"].dtype == np.float64 and df["close"].iloc[0] == 300.75
    with pytest.raises(DataError, match="no bars"):
        load_robinhood_ohlcv("SPY", "2021-01-01", client=Client())
