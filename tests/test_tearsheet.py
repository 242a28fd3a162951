"""quantstats tearsheet: written offline, agrees with our metrics, clear message when the extra is missing."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from maml_strategy.backtest.metrics import performance
from maml_strategy.backtest.tearsheet import INSTALL_HINT, write_tearsheet
from maml_strategy.errors import ConfigError, DataError


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
