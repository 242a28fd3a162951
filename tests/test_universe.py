"""Total-return price basis and universe loading: hand-computed adjustment, every bad-input case."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from maml_strategy.data import DataWarning, load_ohlcv, load_universe, resolve_universe, total_return_prices
from maml_strategy.data.synthetic import synthetic_ohlcv
from maml_strategy.errors import DataError


def _yahoo(df: pd.DataFrame, path: Path, adj_factor: np.ndarray | None = None) -> Path:
    out = pd.DataFrame({"Open": df["open"], "High": df["high"], "Low": df["low"], "Close": df["close"],
                        "Adj Close": df["close"] * (1.0 if adj_factor is None else adj_factor), "Volume": df["volume"]})
    out.index.name = "Date"
    out.to_csv(path)
    return path


@pytest.fixture()
def uni_dir(tmp_path: Path) -> Path:
    d = tmp_path / "uni"
    d.mkdir()
    for i, sym in enumerate(("AAA", "BBB", "CCC")):
        _yahoo(synthetic_ohlcv(400, seed=i).drop(columns="regime"), d / f"{sym}.csv")
    (d / "README.md").write_text("not a csv")
    return d


def test_total_return_scales_ohlc_by_adj_factor(tmp_path: Path) -> None:
    df = synthetic_ohlcv(60, seed=3).drop(columns="regime")
    factor = np.linspace(0.9, 1.0, len(df))  # dividends: older prices adjusted down
    path = _yahoo(df, tmp_path / "X.csv", factor)
    raw = load_ohlcv("X", path=path)
    tot = load_ohlcv("X", path=path, adjust="total")
    for col in ("open", "high", "low", "close"):
        np.testing.assert_allclose(tot[col].to_numpy(), raw[col].to_numpy() * factor, rtol=1e-6)
    np.testing.assert_array_equal(tot["volume"].to_numpy(), raw["volume"].to_numpy())
    # the total return over the window = the adj_close return
    r = tot["close"].iloc[-1] / tot["close"].iloc[0]
    assert r == pytest.approx(raw["adj_close"].iloc[-1] / raw["adj_close"].iloc[0], rel=1e-6)


def test_factor_jump_warns_with_date() -> None:
    idx = pd.bdate_range("2020-01-01", periods=4)
    df = pd.DataFrame({"open": 10.0, "high": 11.0, "low": 9.0, "close": 10.0, "volume": 1.0,
                       "adj_close": [5.0, 5.0, 8.0, 8.0]}, index=idx)
    with pytest.warns(DataWarning, match=str(idx[2].date())):
        total_return_prices(df, "SPIN")


def test_total_without_adj_close_is_a_clear_error() -> None:
    df = synthetic_ohlcv(30, seed=0).drop(columns="regime")
    with pytest.raises(DataError, match="--price-basis close"):
        total_return_prices(df, "NOADJ")


def test_unknown_price_basis(tmp_path: Path) -> None:
    path = _yahoo(synthetic_ohlcv(30, seed=0).drop(columns="regime"), tmp_path / "X.csv")
    with pytest.raises(DataError, match="'none'.*'total'"):
        load_ohlcv("X", path=path, adjust="dividends")


def test_directory_yaml_and_comma_specs(uni_dir: Path, tmp_path: Path) -> None:
    assert resolve_universe(uni_dir).symbols == ("AAA", "BBB", "CCC")
    frames = load_universe(uni_dir, adjust="total")
    assert list(frames) == ["AAA", "BBB", "CCC"] and all(len(f) == 400 for f in frames.values())
    y = tmp_path / "u.yaml"
    y.write_text("symbols: [ccc, AAA]\npath: uni\n")
    assert list(load_universe(y)) == ["CCC", "AAA"]
    assert resolve_universe("spy, qqq").symbols == ("SPY", "QQQ")


def test_every_failed_symbol_is_named_in_one_message(uni_dir: Path) -> None:
    (uni_dir / "BBB.csv").write_text("Date,Open,High\nnot,a,csv\n")
    y = uni_dir.parent / "u.yaml"
    y.write_text("symbols: [AAA, BBB, ZZZ]\npath: uni\n")
    with pytest.raises(DataError) as err:
        load_universe(y)
    msg = str(err.value)
    assert "2 of 3" in msg and "BBB" in msg and "ZZZ" in msg and "--skip-bad-symbols" in msg
    assert "\n" not in msg
    with pytest.warns(DataWarning, match="BBB"):
        frames = load_universe(y, skip_bad=True)
    assert list(frames) == ["AAA"]


def test_empty_directory_and_bad_yaml(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no .csv files"):
        resolve_universe(tmp_path / "empty")
    bad = tmp_path / "bad.yaml"
    bad.write_text("universe: [A]\n")
    with pytest.raises(DataError, match="symbols:"):
        resolve_universe(bad)
    with pytest.raises(DataError, match="not a ticker"):
        resolve_universe("SPY,$$$")


def test_subset_names_unknown_symbols(uni_dir: Path) -> None:
    uni = resolve_universe(uni_dir)
    assert uni.subset(["bbb"]).symbols == ("BBB",)
    with pytest.raises(DataError, match="not in the universe .*: NOPE"):
        uni.subset(["AAA", "NOPE"])


@pytest.mark.realdata
def test_shared_universe_symbol_found_by_search_order() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DataWarning)
        df = load_ohlcv("QQQ", "2020-01-01", "2020-12-31", adjust="total")
    assert len(df) == 253


def test_name_list_caps_at_ten() -> None:
    from maml_strategy.data.universe import name_list

    assert name_list(["A", "B"]) == "A, B"
    assert name_list([f"S{i}" for i in range(12)]).endswith("S9 and 2 more")
