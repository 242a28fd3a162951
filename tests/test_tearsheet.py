"""quantstats tearsheet: written offline, agrees with our metrics and with run.py's summary.json, clear message
when the extra is missing."""

from __future__ import annotations

import json
import re
import socket
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from maml_strategy.backtest.metrics import performance
from maml_strategy.backtest.tearsheet import INSTALL_HINT, write_tearsheet
from maml_strategy.errors import ConfigError, DataError
from tests.helpers import load_script, tiny_config_file


@pytest.fixture(scope="module")
def returns() -> tuple[pd.Series, pd.Series]:
    idx = pd.bdate_range("2020-01-01", "2020-12-31")
    rng = np.random.default_rng(0)
    bench = pd.Series(rng.normal(0.0005, 0.015, len(idx)), index=idx, name="buy_and_hold")
    strat = (bench * (rng.random(len(idx)) > 0.3)).rename("maml")
    return strat, bench


def test_missing_library_names_the_extra(returns, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "quantstats", None)  # import quantstats -> ImportError
    with pytest.raises(ConfigError, match=r'pip install -e "\.\[report\]"') as info:
        write_tearsheet(*returns, tmp_path / "t.html", "x")
    assert str(info.value) == INSTALL_HINT and "\n" not in str(info.value)


def test_bad_input(returns, tmp_path: Path) -> None:
    with pytest.raises(DataError, match="Series of daily returns"):
        write_tearsheet(returns[0], "SPY", tmp_path / "t.html")  # a ticker would be downloaded: refused
    with pytest.raises(DataError, match="not fractional daily returns"):
        write_tearsheet(returns[0] * 100 + 100, returns[1], tmp_path / "t.html")


def test_tearsheet_offline_and_consistent(returns, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    qs = pytest.importorskip("quantstats")

    def no_network(*args, **kwargs):
        raise AssertionError("the tearsheet tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    monkeypatch.setattr(socket, "create_connection", no_network)
    strat, bench = returns
    path = write_tearsheet(strat, bench, tmp_path / "out" / "tearsheet.html", "MAML vs buy-and-hold")
    html = path.read_text()
    assert "MAML vs buy-and-hold" in html and "Sharpe" in html and "<svg" in html
    assert "maml" in html.lower() and "buy_and_hold" in html.lower()
    assert "favicon" not in html  # nothing fetched when the file is opened

    ours = performance(100_000 * (1 + strat).cumprod(), start_value=100_000)
    assert qs.stats.sharpe(strat, rf=0.0, periods=252) == pytest.approx(ours["sharpe"], rel=1e-9)
    assert -qs.stats.max_drawdown(strat) == pytest.approx(ours["max_drawdown"], rel=1e-9)


# ------------------------------------------------------------------ tearsheet = table
def metrics_table(html: str) -> dict[str, dict[str, str]]:
    """``{row label: {column: cell}}`` of the tearsheet's "Key Performance Metrics" table."""
    table = html[html.index("Key Performance Metrics"):]
    head = re.search(r"<thead>\s*<tr>(.*?)</tr>", table, re.S).group(1)
    columns = re.findall(r"<th>(.*?)</th>", head)[1:]
    body = table[table.index("<tbody>"):table.index("</tbody>")]
    rows = {}
    for cells in re.findall(r"<tr>((?:<td>[^<]*</td>)+)</tr>", body):
        label, *values = re.findall(r"<td>([^<]*)</td>", cells)
        rows[label] = dict(zip(columns, values))
    return rows


def _pct(cell: str) -> float:
    return float(cell.rstrip("%")) / 100.0


def _synthetic_csv(folder: Path) -> Path:
    from maml_strategy.data import synthetic_ohlcv

    df = synthetic_ohlcv(1850, seed=11, start="2000-01-03").drop(columns="regime")
    out = df.rename(columns=str.title).assign(**{"Adj Close": df["close"]})
    out.index.name = "Date"
    path = folder / "SYN.csv"
    out[["Open", "High", "Low", "Close", "Adj Close", "Volume"]].to_csv(path)
    return path


@pytest.mark.usefixtures("no_report_plots")
def test_run_tearsheet_agrees_with_summary(tmp_path: Path) -> None:
    """`run.py --tearsheet`: total return and Sharpe of MAML and buy-and-hold equal summary.json's (0.05 pp)."""
    pytest.importorskip("quantstats")
    script = load_script("run.py")
    out = tmp_path / "out"
    rc = script.main(["--symbol", "SYN", "--data", str(_synthetic_csv(tmp_path)), "--train-start", "2000-01-01",
                      "--train-end", "2005-12-31", "--test-start", "2006-01-01", "--test-end", "2006-12-31",
                      "--seeds", "1", "--config", str(tiny_config_file(tmp_path)), "--out", str(out),
                      "--cache-dir", "", "--tearsheet", "--quiet"])
    assert rc == 0
    summary = json.loads((out / "summary.json").read_text())
    html = (out / "tearsheet.html").read_text()
    rows = metrics_table(html)
    maml_col = next(c for c in rows["Sharpe"] if c.startswith("maml"))
    assert maml_col == "maml (seed 0)"
    for name, col in (("maml", maml_col), ("buy_and_hold", "buy_and_hold")):
        table = summary["strategies"][name]
        assert _pct(rows["Cumulative Return"][col]) == pytest.approx(table["total_return"], abs=0.0005), name
        assert float(rows["Sharpe"][col]) == pytest.approx(table["sharpe"], abs=0.0051), name  # 2 decimals shown
    assert summary["strategies"]["maml"]["total_return"] != summary["strategies"]["buy_and_hold"]["total_return"]
    first = pd.read_csv(out / "equity.csv", index_col=0, parse_dates=True).index[0]
    assert first.strftime("%e %b, %Y").strip() in html  # the date range starts on the first test day
    for label in ("3Y (ann.)", "5Y (ann.)", "10Y (ann.)", "1Y"):  # longer than the one-year window
        assert label not in rows
    assert "All-time (ann.)" in rows and "MTD" in rows
    assert "\ufe6a" not in html and "\u221a" not in html  # glyphs common fonts lack


def _fake_result(seeds: list[int]) -> Any:
    from maml_strategy.backtest.experiment import ExperimentResult
    from maml_strategy.backtest.periods import custom_period
    from maml_strategy.backtest.runner import BacktestResult

    idx = pd.bdate_range("2008-01-02", "2008-12-31")
    rng = np.random.default_rng(1)
    bench = 100_000 * (1 + pd.Series(rng.normal(0.0004, 0.012, len(idx)), index=idx)).cumprod()

    def run(kind: str, equity: pd.Series) -> BacktestResult:
        metrics = performance(equity, start_value=100_000)
        return BacktestResult(kind, equity, pd.DataFrame(), pd.DataFrame(), [], {**metrics, "start_value": 100_000})

    maml = [100_000 * (1 + pd.Series(rng.normal(0.0003 * (s + 1), 0.01, len(idx)), index=idx)).cumprod()
            for s in seeds]
    period = custom_period("2000-01-01", "2007-12-31", "2008-01-01", "2008-12-31", name="fake")
    return ExperimentResult("FAKE", period, seeds, runs={"maml": [run("maml", e) for e in maml],
                                                         "buy_and_hold": [run("buy_and_hold", bench) for _ in seeds]})


def test_several_seeds_are_the_mean_equity_labelled_so(tmp_path: Path) -> None:
    pytest.importorskip("quantstats")
    from maml_strategy.backtest.tearsheet import mean_equity, write_experiment_tearsheet

    res = _fake_result([0, 1, 2])
    summary = res.summary()
    rows = metrics_table(write_experiment_tearsheet(res, tmp_path / "t.html").read_text())
    col = "maml (mean equity of 3 seeds (0..2))"
    assert col in rows["Sharpe"]
    # the mean curve's total return is the table's mean total return (same start value on every seed) ...
    assert _pct(rows["Cumulative Return"][col]) == pytest.approx(summary["strategies"]["maml"]["total_return"],
                                                                 abs=0.0005)
    # ... and its Sharpe is the mean curve's, which is not the mean of per-seed Sharpes
    curve = performance(mean_equity(res, "maml"), start_value=100_000)
    assert float(rows["Sharpe"][col]) == pytest.approx(curve["sharpe"], abs=0.0051)
    assert float(rows["Sharpe"]["buy_and_hold"]) == pytest.approx(summary["strategies"]["buy_and_hold"]["sharpe"],
                                                                  abs=0.0051)
